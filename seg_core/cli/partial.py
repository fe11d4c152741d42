"""`partial-labels`: labels that say only what is known (seg_core.datasets.partial).

python -m seg_core partial-labels from-vectors --mosaic MOSAIC.tif --vectors FILE[#LAYER]=CLASS ...
        --out DIR [--incomplete CLASS ...] [--tolerance-m 2] [--line-width-m 7] [--tile 1024] [--json]
python -m seg_core partial-labels mark DATASET PHOTO --classes CLASS [CLASS ...]   (or --all)
python -m seg_core partial-labels code DATASET (--one-of | --none-of) CLASS [CLASS ...] [--json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seg_core.core.progress import ConsoleProgress
from seg_core.schemes.files import read_dataset_scheme
from seg_core.schemes.scheme import DEFAULT_SCHEME, LabelScheme, builtin


def _class(text: str, scheme: LabelScheme) -> int:
    """A class of `scheme` by name or id."""
    if text.strip().isdigit():
        value = int(text)
        if not 0 <= value < scheme.num_classes:
            raise ValueError(f"class id {value} must be 0..{scheme.num_classes - 1} ({scheme.name})")
        return value
    return scheme.class_id(text.strip())


def parse_layer(spec: str, incomplete: set[int]):
    """`FILE[#LAYER]=CLASS` -> VectorLayer."""
    from seg_core.gis.vector_labels import VectorLayer

    path, sep, name = spec.rpartition("=")
    if not sep or not path or not name:
        raise ValueError(f"--vectors {spec!r} must be FILE=CLASS, e.g. buildings.gpkg='Property Roof'")
    path, _, layer = path.partition("#")
    klass = _class(name, builtin(DEFAULT_SCHEME))  # tiles are written in the default scheme
    return VectorLayer(Path(path), klass, layer or None, incomplete=klass in incomplete)


def _from_vectors(args: argparse.Namespace) -> int:
    from seg_core.gis.vector_labels import RasterizeSettings, vectors_to_partial_labels

    incomplete = {_class(c, builtin(DEFAULT_SCHEME)) for c in args.incomplete or ()}
    layers = [parse_layer(spec, incomplete) for spec in args.vectors]
    settings = RasterizeSettings(args.tolerance_m, args.line_width_m, args.tile)
    summary = vectors_to_partial_labels(args.mosaic, layers, args.out, settings, ConsoleProgress("rasterise"))
    if args.json:
        print(json.dumps(summary))
        return 0
    for note in summary["notes"]:
        print(f"note: {note}")
    print(f"{summary['tiles']} tile(s) with labels ({summary['tiles_skipped']} without) -> {summary['out']}")
    return 0


def _mark(args: argparse.Namespace) -> int:
    from seg_core.services.partial_labels import mark_labelled_classes

    if not args.all and not args.classes:
        raise ValueError("give --classes CLASS ... (the classes you labelled) or --all")
    scheme = read_dataset_scheme(args.dataset) or builtin(DEFAULT_SCHEME)
    classes = [] if args.all else [_class(c, scheme) for c in args.classes]
    print(mark_labelled_classes(Path(args.dataset), args.photo, classes))
    return 0


def _code(args: argparse.Namespace) -> int:
    from seg_core.services.partial_labels import mask_code

    scheme = read_dataset_scheme(args.dataset) or builtin(DEFAULT_SCHEME)
    names = args.one_of or args.none_of
    value, sentence = mask_code(Path(args.dataset), [_class(c, scheme) for c in names], bool(args.one_of))
    print(json.dumps({"value": value, "meaning": sentence}) if args.json else sentence)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from seg_core.gis.vector_labels import RasterizeSettings

    defaults = RasterizeSettings()
    p = sub.add_parser(
        "partial-labels",
        help="labels that say only what is known: from existing vector maps, or photos labelled for some classes",
    )
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser(
        "from-vectors",
        help="burn footprints / road lines onto a GeoTIFF mosaic into a partial-label dataset of tiles",
    )
    a.add_argument("--mosaic", required=True, help="a georeferenced GeoTIFF (RGB)")
    a.add_argument(
        "--vectors",
        action="append",
        required=True,
        metavar="FILE[#LAYER]=CLASS",
        help="a GeoPackage/GeoJSON/Shapefile and the class its features are (repeatable)",
    )
    a.add_argument("--out", required=True, help="a new folder for the dataset")
    a.add_argument(
        "--incomplete",
        action="append",
        metavar="CLASS",
        help="this class's layers may miss features: learn where they are, never 'not CLASS' elsewhere",
    )
    a.add_argument(
        "--tolerance-m",
        type=float,
        default=defaults.tolerance_m,
        help="unknown band either side of every edge, for misaligned maps "
        f"(default {defaults.tolerance_m:g} m; a wider band did not help with a map 4 m off)",
    )
    a.add_argument(
        "--line-width-m",
        type=float,
        default=defaults.line_width_m,
        help=f"width given to line features (default {defaults.line_width_m:g} m)",
    )
    a.add_argument(
        "--tile", type=int, default=defaults.tile, help=f"tile side in px (default {defaults.tile})"
    )
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_from_vectors)
    a = actions.add_parser("mark", help="say which classes you labelled on a photo (the rest: unknown)")
    a.add_argument("dataset")
    a.add_argument("photo", help="the photo's name without extension")
    a.add_argument("--classes", nargs="+", metavar="CLASS", help="class names or ids")
    a.add_argument("--all", action="store_true", help="every class is labelled (a full label again)")
    a.set_defaults(handler=_mark)
    a = actions.add_parser(
        "code",
        help="the mask value for a coarser label: 'one of these classes' or 'none of these classes'",
    )
    a.add_argument("dataset")
    which = a.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--one-of", nargs="+", metavar="CLASS", help="the pixel is one of these (names or ids)"
    )
    which.add_argument("--none-of", nargs="+", metavar="CLASS", help="the pixel is none of these")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_code)
