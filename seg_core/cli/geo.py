"""`map`: georeferenced outputs for orthomosaics and GPS-tagged drone photos.

    python -m seg_core map --checkpoint PATH --out DIR [--gsd CM] [--flight-height M] INPUT...

Each input is sorted by its content: a GeoTIFF with a CRS is an orthomosaic (segmented window by
window into <stem>_classes.tif, <stem>_classes.geojson/.gpkg and <stem>_summary.json); anything
else is a photo (the `predict` files, plus a point on the flight layer when it carries GPS). The
photos together give flight.geojson, flight.gpkg and flight.csv. A bad input gets one sentence on
stderr and the others still run; exit 2 when nothing could be mapped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seg_core.cli.common import expand_inputs
from seg_core.core.progress import ConsoleProgress


def _map_mosaic(predictor, path: Path, out: Path, args, stop) -> dict:
    from seg_core.inference.mosaic import MosaicSettings, segment_mosaic
    from seg_core.inference.report import safe_stem
    from seg_core.inference.vectors import VectorSettings, write_class_polygons

    stem = safe_stem(path.name)
    settings = MosaicSettings(window=args.window, model_gsd_cm=args.model_gsd)
    progress = ConsoleProgress(f"map {path.name}")
    result = segment_mosaic(
        predictor,
        path,
        out / f"{stem}_classes.tif",
        settings,
        progress=progress,
        should_stop=lambda: stop.requested,
    )
    for notice in result.notices:
        progress.note(f"note: {notice}")
    summary = {
        "input": str(path),
        "raster_gsd": result.info.gsd.describe(),
        "model_gsd": result.model_gsd.describe(),
        "windows": result.windows_total,
        "windows_done": result.windows_done,
        "stopped": result.stopped,
        "flooded_share": result.flooded_share(),
        "area_m2": {k: round(v, 2) for k, v in result.class_areas_m2().items() if v},
        "seconds": round(result.seconds, 1),
        "notices": result.notices,
    }
    if not args.no_vectors:
        write_class_polygons(
            result.path, out / f"{stem}_classes.geojson", out / f"{stem}_classes.gpkg", VectorSettings()
        )
    (out / f"{stem}_summary.json").write_text(json.dumps(summary, indent=2))
    print(
        f"{path.name}: {result.windows_done}/{result.windows_total} windows at {result.model_gsd.describe()} "
        f"(raster {result.info.gsd.describe()}) -> {stem}_classes.tif"
        + ("" if args.no_vectors else ", .geojson, .gpkg")
        + (" [stopped: partial map kept]" if result.stopped else "")
    )
    return summary


def _map(args: argparse.Namespace) -> int:
    from seg_core.core.runtime import StopRequested
    from seg_core.data.geo import MosaicError, looks_georeferenced
    from seg_core.data.imageio import ImageReadError, load_rgb
    from seg_core.inference.flight import FlightSettings, flight_csv, flight_points, photo_record
    from seg_core.inference.predictor import Predictor
    from seg_core.inference.report import write_outputs
    from seg_core.inference.vectors import GeoJsonWriter, write_gpkg

    flight = FlightSettings(args.gsd, args.flight_height, args.sensor_width)
    if args.flight_height is not None and not args.flight_height > 0:
        raise ValueError(
            f"--flight-height {args.flight_height} must be a positive height above ground in metres"
        )
    predictor = Predictor.from_checkpoint(args.checkpoint, device=args.device)
    files = expand_inputs(args.inputs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stop = StopRequested()
    stop.install()  # SIGTERM/Ctrl-C: finish the current window, keep what is done
    mapped, records, failures = 0, [], []
    photos = ConsoleProgress("photos")
    for path in files:
        if stop.requested:
            break
        try:
            if path.suffix.lower() in (".tif", ".tiff") and looks_georeferenced(path):
                _map_mosaic(predictor, path, out, args, stop)
                mapped += 1
                continue
            loaded = load_rgb(path)
            mask = predictor.predict_full(loaded.pixels, name=path.name).mask
            record = photo_record(path, mask, flight)
        except (MosaicError, ImageReadError) as exc:
            failures.append(str(exc))
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        for notice in record.notices:
            photos.note(f"note: {notice}")
        write_outputs(out, path.name, loaded.pixels, mask, record.stats)
        records.append(record)
        mapped += 1
    if records:
        points = flight_points(records)
        (out / "flight.csv").write_text(flight_csv(records))
        geojson = GeoJsonWriter(out / "flight.geojson")
        for geometry, properties in points:
            geojson.write(geometry, properties)
        geojson.close()
        write_gpkg(points, out / "flight.gpkg", layer="photos", geometry_type="Point")
        print(
            f"{len(records)} photo(s), {len(points)} with a GPS position -> flight.geojson, flight.gpkg, flight.csv"
        )
    if failures:
        print(f"{len(failures)} input(s) could not be mapped", file=sys.stderr)
    return 0 if mapped else 2


def _geo_demo(args: argparse.Namespace) -> int:
    from seg_core.data.geodemo import write_demo_flight, write_demo_orthomosaic

    out = Path(args.out)
    mosaic = write_demo_orthomosaic(out / "demo_ortho.tif", cols=args.cols, rows=args.rows)
    photos = write_demo_flight(out / "flight", count=args.photos)
    print(
        f"wrote {mosaic} ({args.cols}x{args.rows} scenes, UTM 15N) and {len(photos)} GPS-tagged photos in {out / 'flight'}"
    )
    print(
        f"map them: python -m seg_core map --checkpoint checkpoints/demo/best.pt --out {out / 'map'} {mosaic} {out / 'flight'}"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "geo-demo", help="write a georeferenced demo orthomosaic and GPS-tagged demo photos"
    )
    demo.add_argument("--out", required=True, help="output folder")
    demo.add_argument("--cols", type=int, default=3, help="scenes across (120 m each, default 3)")
    demo.add_argument("--rows", type=int, default=2, help="scenes down (default 2)")
    demo.add_argument("--photos", type=int, default=6, help="GPS-tagged photos (default 6)")
    demo.set_defaults(handler=_geo_demo)
    p = sub.add_parser(
        "map",
        help="georeferenced outputs: orthomosaics -> class GeoTIFF + polygons; GPS photos -> a flight layer",
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--gsd", type=float, help="photos: ground sampling distance in cm/px (wins over XMP)")
    p.add_argument(
        "--flight-height",
        type=float,
        help="photos: height above ground in m, for photos without XMP RelativeAltitude",
    )
    p.add_argument(
        "--sensor-width", type=float, help="photos: sensor width in mm, when EXIF does not give it"
    )
    p.add_argument(
        "--model-gsd", type=float, help="mosaics: the model's working GSD in cm/px (default: checkpoint)"
    )
    p.add_argument(
        "--window",
        type=int,
        default=0,
        help="mosaics: working px per window (default: the predictor tile, 1024)",
    )
    p.add_argument("--no-vectors", action="store_true", help="mosaics: skip the GeoJSON/GeoPackage polygons")
    p.add_argument("--device", default="auto")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="GeoTIFF orthomosaics, photos, or folders")
    p.set_defaults(handler=_map)
