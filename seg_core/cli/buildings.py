"""`buildings`: one record per building and the situation report, from photos, orthomosaics or a map folder.

    python -m seg_core buildings (--checkpoint best.pt | --model model.onnx) --out DIR [--scheme NAME]
        [--title TEXT] [--area TEXT] [--tiles URL [--tile-attribution TEXT]] [--gsd CM] [--flight-height M] [--sensor-width MM] INPUT...
    python -m seg_core buildings --map-folder DIR [--title TEXT]     (a folder `map` wrote: no model run)

Photos are segmented with their confidence map and placed on the map when they carry a GPS
position, a GSD and a camera heading; GeoTIFF orthomosaics go through `map`'s window-by-window path
(their class GeoTIFF and summary land in DIR too). DIR receives buildings.gpkg (layers `buildings`
and `situation`), buildings_shp.zip, buildings_gdb.zip, buildings.geojson (when any building is
georeferenced), buildings.csv, buildings_pixels.json and situation_report.pdf. A bad input gets one
sentence on stderr and the others still run; exit 2 when nothing could be assessed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seg_core.cli.backends import add_model_arguments, model_file, open_model
from seg_core.cli.common import check_device, expand_inputs
from seg_core.core.progress import ConsoleProgress


def _assess_inputs(args: argparse.Namespace, scheme, model, predictor):
    from seg_core.buildings.sources import Assessment, assess_class_raster, assess_photo
    from seg_core.gis.flight import FlightSettings
    from seg_core.gis.geojob import map_mosaic
    from seg_core.gis.mosaic import MosaicSettings
    from seg_core.imagery.imageio import ImageReadError
    from seg_core.imagery.raster import MosaicError, looks_georeferenced

    flight = FlightSettings(args.gsd, args.flight_height, args.sensor_width)
    files = expand_inputs(args.inputs)
    assessment, failures = Assessment(), []
    progress = ConsoleProgress("buildings")
    for done, path in enumerate(files, start=1):
        try:
            if path.suffix.lower() in (".tif", ".tiff") and looks_georeferenced(path):
                summary = map_mosaic(predictor, path, Path(args.out), MosaicSettings(), vectors=False)
                assessment += assess_class_raster(
                    Path(args.out) / summary["classes_tif"], scheme, model, path
                )
            else:
                assessment += assess_photo(predictor, path, scheme, model, flight)
        except (MosaicError, ImageReadError) as exc:
            failures.append(str(exc))
            progress.note(f"skipped: {exc}")
        progress(done, len(files))
    return assessment, failures


def _buildings(args: argparse.Namespace) -> int:
    from seg_core.buildings.records import predictor_scheme
    from seg_core.buildings.sources import assess_map_folder
    from seg_core.inference.identity import ModelIdentity, read_model_identity, write_model_identity
    from seg_core.reports.situation import ReportContext
    from seg_core.schemes.scheme import builtin
    from seg_core.services.situation import tile_background, write_situation

    if args.flight_height is not None and not args.flight_height > 0:
        raise ValueError(
            f"--flight-height {args.flight_height} must be a positive height above ground in metres"
        )
    scheme = builtin(args.scheme) if args.scheme else None
    out = Path(args.out)
    failures: list[str] = []
    if args.map_folder:
        if args.inputs or args.checkpoint or args.model:
            raise ValueError("--map-folder reads a finished map: give no model and no inputs with it")
        model, recorded = read_model_identity(Path(args.map_folder))
        scheme = scheme or recorded
        assessment = assess_map_folder(Path(args.map_folder), scheme, model)
    else:
        if not args.inputs:
            raise ValueError("give the photos or orthomosaics to assess (or --map-folder DIR)")
        check_device(args.device)
        predictor = open_model(args)
        model = ModelIdentity.from_meta(predictor.meta, model_file(args).name)
        scheme = scheme or predictor_scheme(predictor)
        out.mkdir(parents=True, exist_ok=True)
        assessment, failures = _assess_inputs(args, scheme, model, predictor)
        if not assessment.imagery:
            print(f"{len(failures)} input(s) could not be assessed", file=sys.stderr)
            return 2
        write_model_identity(out, model, scheme)
    tiles = tile_background(args.tiles, args.tile_attribution or "")
    context = ReportContext(args.title, model, scheme, area=args.area or "", tiles=tiles)
    paths = write_situation(assessment, context, out)
    for notice in assessment.notices:
        print(f"note: {notice}", file=sys.stderr)
    placed = sum(r.latitude is not None for r in assessment.records)
    print(
        f"{len(assessment.records)} building(s), {placed} georeferenced -> "
        + ", ".join(p.name for p in paths)
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "buildings",
        help="one record per building (FEMA damage level, flood status) and the situation report PDF",
    )
    add_model_arguments(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--map-folder", help="assess a folder `map` wrote instead of running a model")
    p.add_argument("--scheme", help="label scheme of the masks (default: the model's, else harvey)")
    p.add_argument("--title", default="Situation report", help="the report's title")
    p.add_argument("--area", help="the place, in words (default: from the buildings' coordinates)")
    p.add_argument(
        "--tiles",
        help="XYZ tile URL template drawn under a georeferenced map, e.g. https://host/{z}/{x}/{y}.png "
        "or file:///folder/{z}/{x}/{y}.png (default: plain background)",
    )
    p.add_argument("--tile-attribution", help="the tiles' attribution, printed on the map")
    p.add_argument("--gsd", type=float, help="photos: ground sampling distance in cm/px (wins over XMP)")
    p.add_argument("--flight-height", type=float, help="photos: height above ground in m, without XMP")
    p.add_argument(
        "--sensor-width", type=float, help="photos: sensor width in mm, when EXIF does not give it"
    )
    p.add_argument("--device", default="auto")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="photos, GeoTIFF orthomosaics, or folders")
    p.set_defaults(handler=_buildings)
