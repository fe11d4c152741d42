"""`demo-data` and `validate`: synthetic datasets and problems by file."""

from __future__ import annotations

import argparse
import json

from seg_core.core.progress import ConsoleProgress


def _demo_data(args: argparse.Namespace) -> int:
    from seg_core.demo.synth import parse_size, parse_styles, write_demo_dataset

    summary = write_demo_dataset(
        args.out,
        n=args.n,
        size=parse_size(args.size),
        seed=args.seed,
        progress=ConsoleProgress("demo-data"),
        replace=args.replace,
        style=parse_styles(args.style),
        scheme=args.scheme,
    )
    sidecar = _write_gsd_sidecar(summary)
    where = (
        f"{summary.n_train} labelled and {summary.n_test} test images"
        if summary.scheme == "harvey"
        else f"{summary.n_train - summary.n_val} train, {summary.n_val} val and {summary.n_test} test pairs "
        f"in the {summary.scheme} layout and scheme (classes.json names it)"
    )
    print(
        f"wrote {where} ({args.size}) to {summary.root} "
        f"(style {','.join(summary.styles)}; styles.json says which photo has which, {sidecar.name} their GSD)"
    )
    if args.geo:  # the map's demo: a georeferenced orthomosaic and a GPS-tagged flight
        from seg_core.demo.geodemo import write_demo_flight, write_demo_orthomosaic

        geo = summary.root / "geo"
        mosaic = write_demo_orthomosaic(geo / "demo_ortho.tif")
        photos = write_demo_flight(geo / "flight")
        print(
            f"wrote {mosaic} (UTM 15N) and {len(photos)} GPS-tagged photos in {geo / 'flight'}; "
            f"map them: python -m seg_core map --checkpoint demo --out {geo / 'map'} "
            f"{mosaic} {geo / 'flight'}"
        )
    return 0


def _write_gsd_sidecar(summary):
    """`<out>/gsd.json` from each scene's ground width (set by its style: scene i is drawn in
    style i mod len(styles)), so a model trained on it records its working GSD."""
    from seg_core.demo.synth import ground_width_m
    from seg_core.imagery.gsd import write_dataset_gsd

    width, height = summary.size
    styles = summary.styles
    per_image = {
        f"synth_{i:04d}": ground_width_m(width, height, styles[i % len(styles)]) * 100 / width
        for i in range(summary.n_train + summary.n_test)
    }
    return write_dataset_gsd(summary.root, per_image, f"demo-data: scene width in metres / {width} px")


def _validate(args: argparse.Namespace) -> int:
    from seg_core.datasets.discovery import validate_dataset

    progress = None if args.json else ConsoleProgress("validate")
    report = validate_dataset(args.dir, progress=progress)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        print(f"{report.root} ({report.layout} layout), checked in {report.seconds:.1f} s")
        if report.scheme is not None:
            print(f"  label scheme: {report.scheme_note}")
        print(
            f"  images {report.n_images}, masks {report.n_masks}, usable pairs {len(report.pairs)}, "
            f"test images {len(report.test_images)}"
        )
        print("  image sizes: " + ", ".join(f"{size} x{n}" for size, n in report.image_sizes.items()))
        print(f"  problems: {len(report.problems)}")
        for problem in report.problems:
            print(f"    [{problem.kind}] {problem.message}")
        if report.scheme is not None:
            print("  class pixel share (id, colour, name):")
            for cls, share in zip(report.scheme.classes, report.class_frequencies(), strict=True):
                if share > 0:
                    print(f"    {cls.id:>3} {cls.hex} {cls.name:<40} {share:7.2%}")
    return 0 if report.usable else 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo-data", help="write a synthetic flooded-neighbourhood dataset (any built-in scheme)"
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--n", type=int, default=24, help="labelled images (default 24)")
    p.add_argument("--size", default="640x480", help="WxH in px (default 640x480; 4000x3000 like Harvey)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--style",
        default="harvey",
        help="storm style, or a comma list the photos cycle through (styles.json says which photo has which): "
        "harvey (default), coastal, prairie, forest",
    )
    p.add_argument(
        "--scheme",
        default="harvey",
        choices=("harvey", "floodnet", "rescuenet"),
        help="label scheme of the masks (default harvey); floodnet and rescuenet are written as those "
        "datasets are distributed (train/ val/ test/), rescuenet with building damage drawn",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="write into a non-empty --out: deletes its train_images/, train_masks/, test_images/ first",
    )
    p.add_argument(
        "--geo",
        action="store_true",
        help="also write geo/: a georeferenced demo orthomosaic and GPS-tagged photos for `map` and the Map page",
    )
    p.set_defaults(handler=_demo_data)

    p = sub.add_parser("validate", help="check a dataset folder and report problems by file")
    p.add_argument("dir")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(handler=_validate)
