"""`map` and `geo-demo`: georeferenced outputs for orthomosaics and GPS-tagged drone photos.

    python -m seg_core map (--checkpoint best.pt | --model model.onnx) --out DIR [--gsd CM]
        [--flight-height M] INPUT...
    python -m seg_core geo-demo --out DIR [--cols 3] [--rows 2] [--photos 6]

`map` sorts each input by its content (see `seg_core.gis.geojob`): a GeoTIFF with a CRS is
an orthomosaic (<stem>_classes.tif, <stem>_classes.geojson/.gpkg, <stem>_summary.json); anything
else is a photo (the `predict` files, plus a point on flight.geojson/.gpkg and a row in
flight.csv). A bad input gets one sentence on stderr and the others still run; exit 2 when
nothing could be mapped. Ctrl-C or SIGTERM stops after the current window and keeps what is done.
With `--model model.onnx` the whole job runs on ONNX Runtime and never imports torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seg_core.cli.backends import add_model_arguments, model_file, open_model
from seg_core.cli.common import check_device, expand_inputs
from seg_core.core.progress import ConsoleProgress


def _map(args: argparse.Namespace) -> int:
    from seg_core.core.signals import StopRequested
    from seg_core.gis.flight import FlightSettings
    from seg_core.gis.geojob import map_inputs
    from seg_core.gis.mosaic import MosaicSettings

    if args.flight_height is not None and not args.flight_height > 0:
        raise ValueError(
            f"--flight-height {args.flight_height} must be a positive height above ground in metres"
        )
    flight = FlightSettings(args.gsd, args.flight_height, args.sensor_width)
    settings = MosaicSettings(window=args.window, model_gsd_cm=args.model_gsd)
    check_device(args.device)
    predictor = open_model(args)
    files = expand_inputs(args.inputs)
    stop = StopRequested()
    stop.install()  # SIGTERM/Ctrl-C: finish the current window, keep what is done
    outputs = map_inputs(
        predictor,
        files,
        args.out,
        flight,
        settings,
        vectors=not args.no_vectors,
        progress_for=lambda name: ConsoleProgress(f"map {name}"),
        should_stop=lambda: stop.requested,
        model_name=model_file(args).name,
    )
    for sentence in outputs.failures:
        print(f"skipped: {sentence}", file=sys.stderr)
    for notice in outputs.notices:
        print(f"note: {notice}", file=sys.stderr)
    for summary in outputs.mosaics:
        print(
            f"{summary['name']}: {summary['windows_done']}/{summary['windows']} windows at {summary['model_gsd']} "
            f"(raster {summary['raster_gsd']}) -> {summary['classes_tif']}"
            + (", .geojson, .gpkg" if "vectors" in summary else "")
            + (" [stopped: partial map kept]" if summary["stopped"] else "")
        )
    if outputs.photos:
        located = sum(r.geo.has_position for r in outputs.photos)
        print(
            f"{len(outputs.photos)} photo(s), {located} with a GPS position -> flight.geojson, flight.gpkg, flight.csv"
        )
    if outputs.failures:
        print(f"{len(outputs.failures)} input(s) could not be mapped", file=sys.stderr)
    return 0 if outputs.mosaics or outputs.photos else 2


def _geo_demo(args: argparse.Namespace) -> int:
    from seg_core.demo.geodemo import write_demo_flight, write_demo_orthomosaic

    out = Path(args.out)
    mosaic = write_demo_orthomosaic(out / "demo_ortho.tif", cols=args.cols, rows=args.rows)
    photos = write_demo_flight(out / "flight", count=args.photos)
    print(
        f"wrote {mosaic} ({args.cols}x{args.rows} scenes, UTM 15N) and {len(photos)} GPS-tagged photos in {out / 'flight'}"
    )
    print(f"map them: python -m seg_core map --checkpoint demo --out {out / 'map'} {mosaic} {out / 'flight'}")
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
    add_model_arguments(p)
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
        default=768,
        help="mosaics: working px per window, context included (default 768)",
    )
    p.add_argument("--no-vectors", action="store_true", help="mosaics: skip the GeoJSON/GeoPackage polygons")
    p.add_argument("--device", default="auto")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="GeoTIFF orthomosaics, photos, or folders")
    p.set_defaults(handler=_map)
