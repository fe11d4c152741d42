"""`label` and `finetune`: the labelling loop from the command line.

python -m seg_core label status DATASET [--json]
python -m seg_core label prelabel DATASET --checkpoint PATH|NAME [--mapping MAPPING.json|roles] [--json]
python -m seg_core label next DATASET [--json]
python -m seg_core label states | accept | reject | sets | diff | export | agreement | gold   (cli/review.py)
python -m seg_core finetune --parent PATH|NAME --data DATASET [--epochs N] [--lr X] [--batch-size B] [--crop C]
    [--new-head roles|fresh|MAPPING.json] [--start-check on|off]
    [--starter auto|real-ground|none|PATH]
    [--include-unreviewed] [--name NAME]
    [--unlabelled DIR [--pseudo-label-threshold P] [--unlabelled-per-batch N]]
"""

from __future__ import annotations

import argparse
import json
import sys

from seg_core.cli.backends import CHECKPOINT_HELP
from seg_core.cli.common import dataset_folder, print_table
from seg_core.cli.review import register_actions
from seg_core.core.progress import ConsoleProgress

# The schedule's settings a user may change on the command line (the rest: `train --init-from`).
FINETUNE_FLAGS = ("epochs", "lr", "batch_size", "crop", "start_check", "starter")
# What a parent of another label scheme than the dataset's needs (`seg_core.training.heads`).
SCHEME_FLAGS = ("new_head",)
# Semi-supervised fine-tuning: the flight's photos without masks (seg_core.training.semi).
SEMI_FLAGS = ("unlabelled", "pseudo_label_threshold", "unlabelled_per_batch")


def _status(args: argparse.Namespace) -> int:
    from seg_core.services.labelling import photo_table

    rows = photo_table(dataset_folder(args.dataset))
    if args.json:
        print(json.dumps({"photos": rows}))
    else:
        print_table(rows, ("photo", "status", "by", "when", "model", "uncertain"))
    return 0


def _print_ranking(rows: list[dict], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"next": rows}))
        return
    for row in rows:
        print(f"{row['stem']}: {row['reason']}")


def _prelabel(args: argparse.Namespace) -> int:
    from seg_core.inference.predictor import Predictor
    from seg_core.services.labelling import next_to_label, prelabel_photos
    from seg_core.services.models import resolve_checkpoint

    dataset = dataset_folder(args.dataset)
    checkpoint = resolve_checkpoint(args.checkpoint)
    predictor = Predictor.from_checkpoint(checkpoint, device=args.device)
    progress = ConsoleProgress("pre-label")
    # recorded as named (demo, a run id or name, a path): the name means the same on every machine
    problems = prelabel_photos(
        dataset,
        predictor,
        args.checkpoint,
        progress=progress,
        mapping=args.mapping,
        announce=lambda how: print(how, file=sys.stderr),
    )
    for problem in problems:
        print(f"skipped: {problem}", file=sys.stderr)
    _print_ranking(next_to_label(dataset), args.json)
    return 2 if problems else 0


def _next(args: argparse.Namespace) -> int:
    from seg_core.services.labelling import next_to_label

    _print_ranking(next_to_label(dataset_folder(args.dataset)), args.json)
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from seg_core.core.runtime import StopRequested
    from seg_core.datasets.discovery import count_named_pairs
    from seg_core.runs.registry import RunRegistry
    from seg_core.services.labelling import finetune_cautions
    from seg_core.services.models import resolve_checkpoint
    from seg_core.training.finetune import batch_for, finetune_config
    from seg_core.training.loop import fit
    from seg_core.training.preflight import check_before_run, check_dataset

    flags = FINETUNE_FLAGS + SCHEME_FLAGS + SEMI_FLAGS
    overrides = {name: getattr(args, name) for name in flags if getattr(args, name) is not None}
    if overrides.get("start_check") not in (None, "on", "off"):
        raise ValueError(f"--start-check {overrides['start_check']} is not one of: on, off")
    overrides["include_unreviewed"] = args.include_unreviewed
    cfg = finetune_config(
        resolve_checkpoint(args.parent), dataset_folder(args.data), name=args.name or "", **overrides
    )
    if count_named_pairs(cfg.data) == 0:
        raise ValueError(f"{args.data}: no photo has a saved mask yet; correct and save a few photos first")
    report = check_dataset(cfg)  # the masks review lets this run train on
    if "batch_size" not in overrides:
        cfg = batch_for(cfg, len(report.pairs))
    if cfg.unlabelled:
        from seg_core.datasets.unlabelled import unlabelled_photos

        unlabelled_photos(cfg.unlabelled)  # a sentence now, not a failed run later
    check_before_run(cfg, report=report)  # the checks `train` and the app's Start run, before the run exists
    for caution in finetune_cautions(cfg.data):
        print(f"warning: {caution}", file=sys.stderr)
    stop = StopRequested()
    stop.install()
    registry = RunRegistry()
    run = registry.create_run(cfg.to_dict(), name=cfg.name or None)
    print(
        f"run {run.id}\ncheckpoints {run.checkpoint_dir}\nparent {cfg.parent_run_id or cfg.init_from}",
        flush=True,
    )
    status = fit(cfg, run.id, registry, run.checkpoint_dir, stop=stop)
    return 0 if status in ("completed", "stopped") else 1


def _add_schedule_options(parser: argparse.ArgumentParser) -> None:
    """The FINETUNE_FLAGS as `train` declares them, with the fine-tuning schedule's defaults."""
    from dataclasses import asdict

    from seg_core.training.config import TrainConfig
    from seg_core.training.finetune import FineTuneSchedule
    from seg_core.training.settings import add_arguments

    add_arguments(parser, TrainConfig, names=FINETUNE_FLAGS, defaults=asdict(FineTuneSchedule()))
    add_arguments(parser, TrainConfig, names=SCHEME_FLAGS + SEMI_FLAGS)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "label", help="labelling: status per photo, pre-label with a model, what to label next"
    )
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("status", help="every photo: unlabelled, pre-labelled, corrected (who, when)")
    a.add_argument("dataset")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_status)
    a = actions.add_parser("prelabel", help="pre-label the photos no person has labelled, then rank them")
    a.add_argument("dataset")
    a.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    a.add_argument("--device", default="auto")
    a.add_argument(
        "--mapping",
        help="a model of another scheme: MAPPING.json (from: the model's scheme, to: the dataset's), or "
        "'roles' to carry each class to the dataset's class of the same role",
    )
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_prelabel)
    a = actions.add_parser("next", help="unlabelled photos, most uncertain pre-label first, with reasons")
    a.add_argument("dataset")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_next)
    register_actions(actions)  # states, accept, reject, sets, diff, export, agreement, gold

    p = sub.add_parser(
        "finetune",
        help="train from a whole checkpoint on a dataset's saved masks, with a short schedule for a "
        "few photos (prints the run id; the run records its parent)",
    )
    p.add_argument("--parent", required=True, help="the checkpoint to start from: " + CHECKPOINT_HELP)
    p.add_argument("--data", required=True, help="dataset folder with the corrected masks")
    _add_schedule_options(p)
    p.add_argument("--name")
    p.add_argument(
        "--include-unreviewed",
        action="store_true",
        help="also train on saved masks nobody has reviewed yet (default: accepted masks only; "
        "rejected masks never)",
    )
    p.set_defaults(handler=_finetune)
