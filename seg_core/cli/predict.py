"""`predict`: masks, overlays and statistics for photos."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from seg_core.cli.backends import add_model_arguments, open_model
from seg_core.cli.common import check_device, expand_inputs
from seg_core.core.progress import ConsoleProgress


def _predict(args: argparse.Namespace) -> int:
    from seg_core.analytics.report import write_outputs
    from seg_core.analytics.statistics import batch_summary, image_stats
    from seg_core.core.parent_watch import EXIT_LAUNCHER_GONE, LauncherWatch, launched_by_torchrun
    from seg_core.imagery.imageio import ImageReadError, load_rgb
    from seg_core.inference.batch import Manifest, Shard, gather_timeout, stats_from_dict
    from seg_core.inference.outputs import OutputFolder, check_output_folder, is_own_output, unique_sources

    # Every setting before the model loads and before the first file is written.
    if args.gsd is not None and not args.gsd > 0:
        raise ValueError(f"--gsd {args.gsd} must be a positive ground sampling distance in cm per pixel")
    if not 0.0 <= args.opacity <= 1.0:
        raise ValueError(f"--opacity {args.opacity} must be between 0 and 1")
    check_device(args.device)
    out = check_output_folder(args.out)
    files = expand_inputs(args.inputs)
    own = [path for path in files if is_own_output(path, out)]
    files = unique_sources([path for path in files if path not in own])
    if not files:
        raise ValueError(f"no images to segment in {', '.join(args.inputs)} (only earlier outputs of {out})")
    folder = OutputFolder(out)  # refuses a stats.json it did not write
    shard = Shard.from_env()  # torchrun: this process's share of the photos
    manifest = Manifest(out, shard.rank)  # what earlier runs finished: a resumed batch skips it
    # Output stems for the whole batch, in input order, before sharding: every torchrun rank
    # computes the same unique names, so two ranks never write the same `photo_*` files; a photo
    # an interrupted run finished keeps the stem its manifest line names.
    taken: set[str] = set()
    stems = {path: folder.stem_for(path, taken, manifest.stem_of(path)) for path in files}
    mine = shard.take(list(enumerate(files)))
    todo = [path for _, path in mine if manifest.finished(path) is None]
    # Every rank's photos left, for a final gather that waits in proportion to the largest shard.
    left = [path for path in files if manifest.finished(path) is None]
    largest_shard = max(len(Shard(rank, shard.world).take(left)) for rank in range(shard.world))
    watch = LauncherWatch(shard.label).start() if shard.world > 1 and launched_by_torchrun() else None
    predictor = open_model(args) if todo else None  # a bad model is refused before out/ exists
    if predictor is not None:
        folder.check_scheme(predictor.scheme)
    out.mkdir(parents=True, exist_ok=True)
    progress = ConsoleProgress(shard.label)
    if own:
        progress.note(f"note: {len(own)} earlier output file(s) in {out} are not photos; skipped")
    if len(todo) < len(mine):
        progress.note(f"resuming: {len(mine) - len(todo)} of {len(mine)} photo(s) already done in {out}")
    unread: dict[Path, str] = {}  # files that are gone: nothing in the manifest to say why
    single = shard.world == 1
    if single:  # photos an interrupted sharded run finished: its rank 0 never wrote their rows
        for path in files:
            record = manifest.finished(path)
            if record and record["status"] == "done" and not folder.holds(path):
                folder.record(path, stems[path], stats_from_dict(record["stats"]))
    started = time.perf_counter()
    try:
        for done, path in enumerate(todo, start=1):
            if watch is not None and watch.gone:
                break  # the launcher is gone: the photos done are in the manifest, a rerun resumes
            try:
                loaded = load_rgb(path)  # full size once: the overlay needs it, the predictor resizes it
                result = predictor.predict_full(loaded.pixels, tta=args.tta, confidence=True, name=path.name)
            except ImageReadError as exc:
                progress.note(f"skipped: {exc}")
                manifest.add_skipped(path, str(exc))
                unread[path] = str(exc)
            else:
                for notice in loaded.notices:
                    progress.note(f"note: {notice}")
                uncertainty, familiar = predictor.familiarity(result)
                stats = replace(
                    image_stats(result.mask, predictor.scheme, name=path.name, gsd_cm=args.gsd),
                    uncertainty=uncertainty.to_dict(),
                    familiarity=familiar.to_dict(),
                )
                if familiar.unreliable:
                    progress.note(f"warning: {path.name}: {familiar.message}")
                write_outputs(
                    out,
                    path.name,
                    loaded.pixels,
                    result.mask,
                    stats,
                    opacity=args.opacity,
                    stem=stems[path],
                    scheme=predictor.scheme,
                )
                manifest.add_done(path, stats, stems[path])  # only now does the photo count as done
                if single:
                    folder.record(path, stems[path], stats)  # stats.csv/json include this photo
            progress(done, len(todo))
    finally:  # also on Ctrl-C: the photos done keep their rows
        if single:
            folder.flush()
    if watch is not None and watch.gone:
        return EXIT_LAUNCHER_GONE
    # One summary for the whole batch, in input order, whichever process did which photo.
    outcomes = [(i, manifest.finished(p) or {"status": "skipped", "message": unread.get(p)}) for i, p in mine]
    pace = (time.perf_counter() - started) / len(todo) if todo else None
    timeout = gather_timeout(largest_shard, pace)
    records = sorted((r for part in shard.gather(outcomes, timeout, watch) for r in part), key=lambda r: r[0])
    if shard.rank != 0:
        return 0 if any(r["status"] == "done" for _, r in records) else 2
    if not single:  # rank 0 alone writes the folder's statistics, once every rank is done
        for index, record in records:
            if record["status"] == "done":
                folder.record(files[index], stems[files[index]], stats_from_dict(record["stats"]))
        folder.flush()
    all_stats = [stats_from_dict(r["stats"]) for _, r in records if r["status"] == "done"]
    failures = [r["message"] for _, r in records if r["status"] != "done"]
    if all_stats:
        held = len(folder.entries)
        print(
            f"{len(all_stats)} image(s) segmented into {out}; {len(failures)} skipped"
            + (f"; stats.csv and stats.json cover all {held} image(s) there" if held > len(all_stats) else "")
        )
        _print_batch_summary(batch_summary(all_stats))
        print("  per image: <name>_mask.png, _overlay.jpg, _stats.json; for the batch: stats.csv, stats.json")
    if failures:
        print(f"{len(failures)} file(s) could not be read: " + "; ".join(failures), file=sys.stderr)
    return 0 if all_stats else 2


def _print_batch_summary(summary: dict) -> None:
    """The batch figures an analyst reads first; stats.json holds them all."""
    exposed = summary["roofs_exposed_share"]
    print(f"  label scheme: {summary['scheme']}")
    if summary["flooded_share"] is None:  # the scheme marks no flood water (stats.json notes say so)
        print(f"  roofs {summary['roofs_total']}; no flood figures: {summary['scheme']} marks no flood water")
    else:
        print(
            f"  flooded {summary['flooded_share']:.1%} of all pixels; roofs {summary['roofs_total']}, "
            f"near flood water {summary['roofs_exposed']}"
            + (f" ({exposed:.0%})" if exposed is not None else "")
        )
    if summary.get("buildings_by_damage"):
        print(
            "  buildings by damage: "
            + ", ".join(f"{k} {n}" for k, n in summary["buildings_by_damage"].items())
        )
    objects = [f"{name} {n}" for name, n in summary["object_counts"].items() if n]
    print("  objects: " + (", ".join(objects) if objects else "none"))
    if summary.get("familiarity"):  # next to the figures it qualifies
        familiar = summary["familiarity"]
        print(f"  familiarity: {familiar['status']}: {familiar['message']}")
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
