"""`train` and `study`: one run, or the student study's four queued runs."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields
from pathlib import Path

from seg_core.cli.common import COMPARE_COLUMNS, print_table


def _train_config(args: argparse.Namespace, base=None):
    from seg_core.training.config import TrainConfig

    overrides = {
        f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None
    }
    for name in ("data", "also_data", "mapping"):
        if overrides.get(name):
            overrides[name] = str(Path(overrides[name]).resolve())
    if base is None:
        base = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    return base.with_updates(**overrides)


def _train(args: argparse.Namespace) -> int:
    from seg_core.training.preflight import check_quickly

    if not (args.run_id or args.resume):
        check_quickly(_train_config(args))  # before torch loads: a missing folder in a blink
    from seg_core.core.runtime import StopRequested, select_device
    from seg_core.runs.registry import RunRegistry, validate_run_id
    from seg_core.training import distributed as dist_utils
    from seg_core.training.config import TrainConfig
    from seg_core.training.loop import fit
    from seg_core.training.preflight import check_before_run
    from seg_core.training.queue import check_resumable

    existing = args.run_id or args.resume
    if existing:
        registry = RunRegistry()
        run = registry.get(validate_run_id(existing))
        cfg = _train_config(args, base=TrainConfig.from_dict(run.config))
        if args.resume and not args.run_id:  # a user's resume; a queued job (--run-id) is running
            check_resumable(run)
    else:
        cfg = _train_config(args)
        # Every setting and the dataset before the run exists: a typo costs one sentence, not a
        # failed run (each rank checks; they all see the same files).
        check_before_run(cfg, world_size=int(os.environ.get("WORLD_SIZE", "1")))
        registry = RunRegistry()
    stop = StopRequested()
    stop.install()
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
        from seg_core.training.queue import dispatch_quietly

        dispatch_quietly()
    return 0 if status in ("completed", "stopped") else 1


def _study(args: argparse.Namespace) -> int:
    from seg_core.core.runtime import StopRequested
    from seg_core.services.study import run_study

    stop = StopRequested()
    rows = run_study(
        args.data,
        epochs=args.epochs,
        resolution=args.resolution,
        crop=args.crop,
        batch_size=args.batch_size,
        stop_request=stop,
    )
    print_table(rows, COMPARE_COLUMNS)
    if stop.requested:  # the user's Ctrl-C: the conventional 128 + SIGINT, not an internal error
        print(
            f"study stopped by {stop.signal_name}; `python -m seg_core runs resume ID` continues a run",
            file=sys.stderr,
        )
        return 130
    return 0 if all(r["status"] == "completed" for r in rows) else 1


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    from seg_core.training.config import TrainConfig
    from seg_core.training.settings import add_arguments

    add_arguments(parser, TrainConfig)
    parser.add_argument("--config", help="JSON file of settings (flags given here override it)")
    parser.add_argument("--run-id", help="run an existing queued run (what the app's Start does)")
    parser.add_argument(
        "--resume", metavar="RUN_ID", help="continue a stopped/interrupted run from its last.pt"
    )


def register(sub: argparse._SubParsersAction) -> None:
    from seg_core.training.presets import STUDY_PRESETS

    p = sub.add_parser("train", help="train a model (prints the run id and checkpoint folder)")
    _add_train_options(p)
    p.set_defaults(handler=_train)

    p = sub.add_parser(
        "study",
        help="queue the student study's four runs (background jobs, one at a time), follow them, "
        "then print their comparison (Table 1); Ctrl-C stops the study",
    )
    p.add_argument("--data", required=True)
    p.add_argument(
        "--epochs",
        type=int,
        help="override every run's epochs (the study's: "
        + ", ".join(str(preset["epochs"]) for preset in STUDY_PRESETS.values())
        + ")",
    )
    p.add_argument("--resolution", type=int, default=512, help="working resolution (default %(default)s)")
    p.add_argument("--crop", type=int, default=256, help="training crop (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=4, help="default %(default)s")
    p.set_defaults(handler=_study)
