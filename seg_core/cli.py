"""`python -m seg_core ...`: every engine feature from the command line (contract: DESIGN.md).

Errors: one clear line on stderr; exit 2 for bad input (ValueError), 1 for internal failures.
`--json` output is a single JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from .progress import ConsoleProgress


def _demo_data(args: argparse.Namespace) -> int:
    from .synth import parse_size, write_demo_dataset

    summary = write_demo_dataset(
        args.out, n=args.n, size=parse_size(args.size), seed=args.seed, progress=ConsoleProgress("demo-data")
    )
    print(
        f"wrote {summary.n_train} labelled and {summary.n_test} test images ({args.size}) to {summary.root}"
    )
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .classes import CLASS_NAMES
    from .data import validate_dataset

    progress = None if args.json else ConsoleProgress("validate")
    report = validate_dataset(args.dir, progress=progress)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        print(f"{report.root} ({report.layout} layout), checked in {report.seconds:.1f} s")
        print(
            f"  images {report.n_images}, masks {report.n_masks}, usable pairs {len(report.pairs)}, "
            f"test images {len(report.test_images)}"
        )
        print("  image sizes: " + ", ".join(f"{size} x{n}" for size, n in report.image_sizes.items()))
        print(f"  problems: {len(report.problems)}")
        for problem in report.problems:
            print(f"    [{problem.kind}] {problem.message}")
        print("  class pixel share:")
        for name, share in zip(CLASS_NAMES, report.class_frequencies(), strict=True):
            if share > 0:
                print(f"    {name:<40} {share:7.2%}")
    return 0 if report.usable else 2


def _train_config(args: argparse.Namespace, base=None):
    from .config import TrainConfig

    overrides = {
        f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None
    }
    if "data" in overrides:
        overrides["data"] = str(Path(overrides["data"]).resolve())
    if base is None:
        base = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    return base.with_updates(**overrides)


def _train(args: argparse.Namespace) -> int:
    from . import distributed as dist_utils
    from .config import TrainConfig
    from .runs import RunRegistry, validate_run_id
    from .runtime import StopRequested, select_device
    from .train import fit

    stop = StopRequested()
    stop.install()
    registry = RunRegistry()
    existing = args.run_id or args.resume
    if existing:
        run = registry.get(validate_run_id(existing))
        cfg = _train_config(args, base=TrainConfig.from_dict(run.config))
        if args.resume and not (run.checkpoint_dir / "last.pt").is_file():
            raise ValueError(f"run {run.id} has no last.pt to resume from (it never finished an epoch)")
    else:
        cfg = _train_config(args)
        if not cfg.data:
            raise ValueError("--data is required: a dataset folder (train_images/ + train_masks/)")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    group = dist_utils.init_from_env(select_device(cfg.device, local_rank).type)
    if not existing:
        run = registry.create_run(cfg.to_dict(), name=cfg.name or None) if group.is_main else None
        run = registry.get(dist_utils.broadcast_object(run.id if run else None, group))
    if group.is_main:
        print(f"run {run.id}\ncheckpoints {run.checkpoint_dir}", flush=True)
    status = fit(
        cfg,
        run.id,
        registry if group.is_main else None,
        run.checkpoint_dir,
        resume=bool(args.resume),
        stop=stop,
    )
    if group.is_main and args.run_id:  # a queued job (app, `runs resume`): hand over to the next one
        from .jobs import dispatch_quietly

        dispatch_quietly()
    return 0 if status in ("completed", "stopped") else 1


def _evaluate(args: argparse.Namespace) -> int:
    from .classes import CLASS_NAMES
    from .evaluation import evaluate_checkpoint
    from .infer import Predictor

    predictor = Predictor.from_checkpoint(args.checkpoint, device=args.device)
    result = evaluate_checkpoint(
        predictor,
        args.data,
        split=args.split,
        tta=args.tta,
        checkpoint=args.checkpoint,
        progress=None if args.json else ConsoleProgress("evaluate"),
    )
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(
        f"{args.checkpoint} on {args.data} ({result.split} split, {len(result.images)} images, "
        f"{result.seconds:.1f} s)"
    )
    print(
        f"  Kaggle Dice {result.kaggle_dice:.4f}   mIoU {result.scores.miou:.4f}   "
        f"pixel accuracy {result.scores.pixel_accuracy:.4f}"
    )
    rows = [r for r in result.scores.per_class(CLASS_NAMES) if r["support"] or r["iou"] is not None]
    print_table(rows, ("id", "name", "iou", "dice", "precision", "recall", "support"))
    print("  worst images: " + ", ".join(f"{s.stem} ({s.kaggle_dice:.3f})" for s in result.images[:5]))
    return 0


def _expand_inputs(inputs: Sequence[str]) -> list[Path]:
    from .imageio import IMAGE_SUFFIXES

    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(path)  # a missing or bad file is reported when it is read
    if not files:
        raise ValueError(f"no images found in {', '.join(inputs)}")
    return files


def _predict(args: argparse.Namespace) -> int:
    from .imageio import ImageReadError, load_rgb
    from .infer import Predictor
    from .report import batch_summary, image_stats, stats_csv, stats_json, write_outputs

    if args.gsd is not None and not args.gsd > 0:
        raise ValueError(f"--gsd {args.gsd} must be a positive ground sampling distance in cm per pixel")
    predictor = Predictor.from_checkpoint(
        args.checkpoint,
        device=args.device,
        compile=args.compile,
    )
    files = _expand_inputs(args.inputs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = ConsoleProgress("predict")
    all_stats, failures = [], []
    for done, path in enumerate(files, start=1):
        try:
            loaded = load_rgb(path)  # full size once: the overlay needs it, the predictor resizes it
            result = predictor.predict_full(loaded.pixels, tta=args.tta, name=path.name)
        except ImageReadError as exc:
            failures.append(str(exc))
            progress.note(f"skipped: {exc}")
        else:
            for notice in loaded.notices:
                progress.note(f"note: {notice}")
            stats = image_stats(result.mask, name=path.name, gsd_cm=args.gsd)
            write_outputs(out, path.name, loaded.pixels, result.mask, stats, opacity=args.opacity)
            all_stats.append(stats)
        progress(done, len(files))
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


def _format_value(value) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4f}"
    return "-" if value is None else str(value)


def print_table(rows: list[dict], columns: Sequence[str]) -> None:
    cells = [[_format_value(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


COMPARE_COLUMNS = (
    "name",
    "arch",
    "optimizer",
    "augmentation",
    "final_train_loss",
    "val_loss",
    "train_full_loss",
    "best_val_dice",
    "val_miou_at_best",
    "wall_time_s",
    "status",
)


def _runs(args: argparse.Namespace) -> int:
    from . import jobs
    from .runs import RunRegistry, stop, validate_run_id

    registry = RunRegistry()
    if args.action == "list":
        rows = [
            {
                "id": r.id,
                "name": r.name,
                "status": r.status,
                "arch": r.config.get("arch"),
                "epochs": f"{r.epochs_done or 0}/{r.config.get('epochs')}",
                "best_val_dice": r.best_metric,
                "duration_s": round(r.duration_s) if r.duration_s else None,
            }
            for r in registry.list()
        ]
        if args.json:
            print(json.dumps(rows))
        elif rows:
            print_table(rows, ("id", "name", "status", "arch", "epochs", "best_val_dice", "duration_s"))
        else:
            print("no runs yet: start one with `python -m seg_core train --data DIR`")
        return 0
    ids = [validate_run_id(i) for i in args.ids]
    if not ids:
        raise ValueError(f"`runs {args.action}` needs at least one run id (see `runs list`)")
    registry.reconcile()  # a killed trainer shows as interrupted here too, not as running
    if args.action == "compare":
        rows = registry.summary_table(ids)
        print(json.dumps(rows)) if args.json else print_table(rows, COMPARE_COLUMNS)
        return 0
    for run_id in ids:
        if args.action == "show":
            run = registry.get(run_id)
            details = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(run).items()}
            if args.json:
                print(json.dumps(details))
                continue
            for key, value in details.items():
                print(f"{key:>15}: {value}")
            for line in registry.logs(run_id, limit=15):
                print(f"  [{line.level}] {line.message}")
        elif args.action == "stop":
            print(f"{run_id}: {'stop requested' if stop(run_id, registry) else 'not running'}")
        elif args.action == "resume":
            print(jobs.resume(run_id, registry).message)
        elif args.action == "delete":
            registry.delete(run_id)
            print(f"{run_id}: deleted with its checkpoints")
    return 0


def _study(args: argparse.Namespace) -> int:
    from .study import run_study

    rows = run_study(
        args.data, epochs=args.epochs, resolution=args.resolution, crop=args.crop, batch_size=args.batch_size
    )
    print_table(rows, COMPARE_COLUMNS)
    return 0 if all(r["status"] == "completed" for r in rows) else 1


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    from .config import TrainConfig

    for f in fields(TrainConfig):
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            type=type(f.default),
            default=None,
            help=f"default: {f.default!r}" if f.default != "" else None,
        )
    parser.add_argument("--config", help="JSON file of settings (flags given here override it)")
    parser.add_argument("--run-id", help="run an existing queued run (what the app's Start does)")
    parser.add_argument(
        "--resume", metavar="RUN_ID", help="continue a stopped/interrupted run from its last.pt"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m seg_core", description="StormSeg engine")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo-data", help="write a synthetic flooded-neighbourhood dataset (Harvey layout)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--n", type=int, default=24, help="labelled images (default 24)")
    p.add_argument("--size", default="640x480", help="WxH in px (default 640x480; 4000x3000 like Harvey)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=_demo_data)

    p = sub.add_parser("validate", help="check a dataset folder and report problems by file")
    p.add_argument("dir")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(handler=_validate)

    p = sub.add_parser("train", help="train a model (prints the run id and checkpoint folder)")
    _add_train_options(p)
    p.set_defaults(handler=_train)

    p = sub.add_parser(
        "evaluate", help="score a checkpoint on a labelled dataset (Kaggle Dice, mIoU, per class)"
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True)
    p.add_argument(
        "--split",
        default="auto",
        choices=("auto", "val", "all"),
        help="auto: the checkpoint's validation split on its own dataset, else all pairs",
    )
    p.add_argument("--tta", action="store_true", help="average the 8 flips/rotations")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_evaluate)

    p = sub.add_parser("predict", help="segment photos: masks, overlays, per-image and batch statistics")
    p.add_argument("--checkpoint", required=True)
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

    p = sub.add_parser("runs", help="list, show, compare, stop, resume or delete runs")
    p.add_argument("action", choices=("list", "show", "compare", "stop", "resume", "delete"))
    p.add_argument("ids", nargs="*", help="run ids")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_runs)

    p = sub.add_parser(
        "study",
        help="queue the student study's four runs (background jobs, one at a time), follow them, "
        "then print their comparison (Table 1); Ctrl-C stops the study",
    )
    p.add_argument("--data", required=True)
    p.add_argument("--epochs", type=int, help="override every run's epochs (study: 20, 20, 30, 60)")
    p.add_argument("--resolution", type=int, default=512, help="working resolution (default 512)")
    p.add_argument("--crop", type=int, default=256, help="training crop (default 256)")
    p.add_argument("--batch-size", type=int, default=4)
    p.set_defaults(handler=_study)

    return parser


def main(argv: Sequence[str] | None = None, own_process: bool = False) -> int:
    """Run one command; `own_process` when this process exists for it (`python -m seg_core`)."""
    args = build_parser().parse_args(argv)
    if own_process and args.handler in (_train, _predict, _evaluate):
        from .runtime import reuse_freed_memory

        # Batch work allocating the same big tensors step after step: keep freed memory for
        # reuse instead of page-faulting it back in (training step 1.26 -> 1.59 img/s, a 12 MP
        # prediction 0.73 -> 0.49 s). Not in the app server or in-process callers.
        reuse_freed_memory()
    try:
        return args.handler(args)
    except ValueError as exc:  # bad input: the message already names the file or setting
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if os.environ.get("STORMSEG_DEBUG"):
            traceback.print_exc()
        return 1
