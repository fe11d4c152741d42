"""One labelled photo: does the run do better with the start check's epoch count or the schedule's?
(docs/benchmarks-analysis.md section 19, "One labelled photo at 90 epochs from the shipped demo model").

    python bench/real/epochs_rule.py --group selection [--tasks NAME ...] [--seeds 0 1 2]
                                     [--epochs N] [--model PATH] [--results PATH]

With one labelled photo the start check chooses the run's epoch count among its held-out scores
(`start_check.run_epochs`); with more photos the run takes the schedule's. Per task and seed this
runs, on the task's first pool photo:
  recipe           the product's fine-tune as it is (start check on)
  recipe-schedule  the same check's start, trained for the schedule's epochs instead
  imagenet         the training defaults from ImageNet weights, the schedule's epochs
The second reuses the first's check outcome (the check is seeded, so running it again would
train the same folds to the same choice): its CPU minutes are its run's alone, the check's are in
the recipe's. Where the check already chose the schedule's epochs the two runs are the same run,
and the recipe's figures are recorded for both.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from unittest.mock import patch

from run import ROOT, merge, run_start, scratch_registry  # also puts the project on sys.path

RESULTS = ROOT / "bench" / "results" / "real_epochs_one.json"


def one_seed(task, seed: int, args, registry, work: Path) -> dict:
    """The three runs of one task and seed: {key: figures}."""
    from seg_core.training import start_check

    outcome = {}
    check = start_check.check_start

    def remembered(*a, **kw):
        outcome["choice"] = check(*a, **kw)
        return outcome["choice"]

    suffix = f"_seed{seed}" if seed else ""
    with patch.object(start_check, "check_start", remembered):
        recipe = run_start(task, "recipe", 1, args, registry, work, seed)
    figures = {f"recipe_1{suffix}": recipe}
    choice = outcome["choice"]
    schedule_epochs = args.epochs or _schedule_epochs()
    if choice.epochs == schedule_epochs:
        figures[f"recipe-schedule_1{suffix}"] = {**recipe, "same_run_as_recipe": True}
    else:
        with (
            patch.object(start_check, "check_start", lambda *a, **kw: choice),
            patch.object(start_check, "run_epochs", lambda choice, epochs, *a: epochs),
        ):
            figures[f"recipe-schedule_1{suffix}"] = run_start(task, "recipe", 1, args, registry, work, seed)
    figures[f"imagenet_1{suffix}"] = run_start(task, "imagenet", 1, args, registry, work, seed)
    for key in figures:
        figures[key]["check_epochs"] = choice.epochs
    return figures


def _schedule_epochs() -> int:
    from seg_core.training.finetune import FineTuneSchedule

    return FineTuneSchedule().epochs


def main(argv: list[str] | None = None) -> int:
    from tasks import load_tasks

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", default="selection", choices=["report", "selection"])
    parser.add_argument("--tasks", nargs="*")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument(
        "--epochs", type=int, help="the schedule's epochs (default: the fine-tune schedule's)"
    )
    parser.add_argument("--model", type=Path, help="the parent (default: the demo model)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from seg_core.core import paths

    args.model = args.model or paths.DEMO_CHECKPOINT
    args.starter, args.whole_epochs = None, None  # the schedule's, as run.py's defaults
    try:
        tasks = load_tasks(args.group, args.tasks)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    work, registry = scratch_registry("stormseg-epochs-rule-")
    for task in tasks:
        for seed in args.seeds:
            started = time.perf_counter()
            figures = one_seed(task, seed, args, registry, work)
            merge(
                {f"finetune_{args.group}": {f"{task.name}/{k}": v for k, v in figures.items()}}, args.results
            )
            print(json.dumps({task.name: figures}), f"({time.perf_counter() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
