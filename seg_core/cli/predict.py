"""`predict`: masks, overlays and statistics for photos."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seg_core.cli.backends import add_model_arguments, open_model
from seg_core.cli.common import expand_inputs
from seg_core.core.progress import ConsoleProgress


def _predict(args: argparse.Namespace) -> int:
    from seg_core.data.imageio import ImageReadError, load_rgb
    from seg_core.inference.batch import Manifest, Shard, stats_from_dict
    from seg_core.inference.report import batch_summary, image_stats, stats_csv, stats_json, write_outputs

    if args.gsd is not None and not args.gsd > 0:
        raise ValueError(f"--gsd {args.gsd} must be a positive ground sampling distance in cm per pixel")
    files = expand_inputs(args.inputs)
    out = Path(args.out)
    shard = Shard.from_env()  # torchrun: this process's share of the photos
    manifest = Manifest(out, shard.rank)  # what earlier runs finished: a resumed batch skips it
    mine = shard.take(list(enumerate(files)))
    todo = [path for _, path in mine if manifest.finished(path) is None]
    predictor = open_model(args) if todo else None  # a bad model is refused before out/ exists
    out.mkdir(parents=True, exist_ok=True)
    progress = ConsoleProgress(shard.label)
    unread: dict[Path, str] = {}  # files that are gone: nothing in the manifest to say why
    if len(todo) < len(mine):
        progress.note(f"resuming: {len(mine) - len(todo)} of {len(mine)} photo(s) already done in {out}")
    for done, path in enumerate(todo, start=1):
        try:
            loaded = load_rgb(path)  # full size once: the overlay needs it, the predictor resizes it
            result = predictor.predict_full(loaded.pixels, tta=args.tta, name=path.name)
        except ImageReadError as exc:
            progress.note(f"skipped: {exc}")
            manifest.add_skipped(path, str(exc))
            unread[path] = str(exc)
        else:
            for notice in loaded.notices:
                progress.note(f"note: {notice}")
            stats = image_stats(result.mask, name=path.name, gsd_cm=args.gsd)
            write_outputs(out, path.name, loaded.pixels, result.mask, stats, opacity=args.opacity)
            manifest.add_done(path, stats)  # only now does the photo count as done
        progress(done, len(todo))
    # One summary for the whole batch, in input order, whichever process did which photo.
    outcomes = [(i, manifest.finished(p) or {"status": "skipped", "message": unread.get(p)}) for i, p in mine]
    records = sorted((r for part in shard.gather(outcomes) for r in part), key=lambda r: r[0])
    all_stats = [stats_from_dict(r["stats"]) for _, r in records if r["status"] == "done"]
    failures = [r["message"] for _, r in records if r["status"] != "done"]
    if shard.rank != 0:
        return 0 if all_stats else 2
    if all_stats:
        (out / "stats.csv").write_text(stats_csv(all_stats))
        (out / "stats.json").write_text(stats_json(all_stats))
        print(f"{len(all_stats)} image(s) segmented into {out}; {len(failures)} skipped")
        _print_batch_summary(batch_summary(all_stats))
        print("  per image: <name>_mask.png, _overlay.jpg, _stats.json; for the batch: stats.csv, stats.json")
    if failures:
        print(f"{len(failures)} file(s) could not be read: " + "; ".join(failures), file=sys.stderr)
    return 0 if all_stats else 2


def _print_batch_summary(summary: dict) -> None:
    """The batch figures an analyst reads first; stats.json holds them all."""
    exposed = summary["roofs_exposed_share"]
    print(
        f"  flooded {summary['flooded_share']:.1%} of all pixels; roofs {summary['roofs_total']}, "
        f"near flood water {summary['roofs_exposed']}" + (f" ({exposed:.0%})" if exposed is not None else "")
    )
    objects = [f"{name} {n}" for name, n in summary["object_counts"].items() if n]
    print("  objects: " + (", ".join(objects) if objects else "none"))
    if summary["area_m2"] is not None:
        largest = sorted(summary["area_m2"].items(), key=lambda item: -item[1])[:5]
        print("  largest areas: " + ", ".join(f"{name} {m2:,.1f} m^2" for name, m2 in largest))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="segment photos: masks, overlays, per-image and batch statistics")
    add_model_arguments(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--tta", action="store_true", help="average the 8 flips/rotations (8x slower)")
    p.add_argument("--gsd", type=float, help="ground sampling distance in cm per pixel, for areas in m^2")
    p.add_argument("--opacity", type=float, default=0.5, help="overlay opacity 0..1 (default 0.5)")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the model: ~20 s once per photo size, then ~1.5x faster forward on CPU; "
        "worth it for dozens of photos",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.set_defaults(handler=_predict)
