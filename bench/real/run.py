"""Real-photo benchmark figures (docs/benchmarks-analysis.md section 19), on assembled tasks (assemble.py).

    python bench/real/run.py [--group report] [--tasks NAME ...] [--shots 1 4 16]
                             [--starts recipe plain imagenet whole] [--epochs N] [--quick]
                             [--starter auto|real-ground|none|PATH] [--seeds 0 1 2]
    python bench/real/run.py --unadapted [--model PATH] [--compare OLD_PATH]

Per task and number of labelled photos N (the task's first N pool photos), each start is trained
on the same photos and scored on the task's held-out test photos (IoU of the task's class):
  recipe    the product's fine-tune (`finetune_config`: start check on) from --model; its check
            also tries the shipped real-ground starter on one labelled photo (the schedule's
            `auto`), or what --starter names (`real-ground`: always; `none`: never)
  plain     the same fine-tune without the start check: always from --model's weights
  imagenet  the training defaults from ImageNet weights (lr 1e-3, 1 warm-up epoch), same schedule
  whole     ImageNet start on the task's whole pool: what the task can give (the 90% goal's base)
with the CPU minutes of each (process time: what the work costs whatever else the machine ran)
and the machine's load average when it ended. `--unadapted`: the models themselves on every
task's test photos: IoU, the share of pixels called Flooded (all photos are dry ground) and the
familiarity check's verdicts. `--quick`: one task per source of the group, 4 photos, 30 epochs.
Results are merged into bench/results/real.json after every run (a partial run counts).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tasks import Task, labelled_subset, load_tasks, score_model  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "real.json"
STARTS = ("recipe", "plain", "imagenet", "whole")
# The ImageNet start: the training defaults where they differ from the fine-tune schedule.
IMAGENET = {"lr": 1e-3, "warmup_epochs": 1}


def _labelling_bench():
    """bench/labelling.py, for its `timed_fit` (one run, its CPU and wall minutes)."""
    spec = importlib.util.spec_from_file_location("bench_labelling", HERE.parent / "labelling.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start_config(
    start: str,
    model: Path,
    data: Path,
    shots: int,
    epochs: int | None,
    name: str,
    starter: str | None = None,
    seed: int = 0,
):
    """The TrainConfig of one start on `data` (see the module docstring); `starter`: the recipe's
    further start (`auto`, `real-ground`, `none` or a checkpoint; None: the product's default)."""
    from seg_core.training.config import TrainConfig
    from seg_core.training.finetune import finetune_config

    schedule = {"epochs": epochs} if epochs else {}
    schedule["seed"] = seed
    if starter and start == "recipe":
        schedule["starter"] = starter
    batch = {"batch_size": min(2, shots)}
    if start in ("recipe", "plain"):
        check = {"start_check": "on" if start == "recipe" else "off"}
        return finetune_config(model, data, name=name, **batch, **schedule, **check)
    base = finetune_config(model, data, **batch, **schedule)  # the same schedule, resolution, crop
    values = {**base.to_dict(), **IMAGENET, "name": name, "start_check": "off"}
    values.update(weights="imagenet-offline", init_from="", parent_run_id="", parent_weights_sha256="")
    if start == "whole":
        values.update(batch_size=8, checkpoint_every=5)
    return TrainConfig.from_dict(values)


def run_start(task: Task, start: str, shots: int, args, registry, work: Path, seed: int = 0) -> dict:
    data = labelled_subset(
        task, len(task.order) if start == "whole" else shots, work / f"{task.name}-{start}-{shots}"
    )
    epochs = args.whole_epochs if start == "whole" else args.epochs
    cfg = start_config(
        start, args.model, data, shots, epochs, f"real-{task.name}-{start}-{shots}", args.starter, seed
    )
    folder, cost = _labelling_bench().timed_fit(cfg, registry)
    from seg_core.models.checkpoint import load_checkpoint

    chosen = load_checkpoint(folder / "best.pt")["meta"]["config"]
    return {
        **score_model(folder / "best.pt", task),
        **cost,
        "photos": len(list((data / "images").iterdir())),
        "epochs": chosen["epochs"],
        "started_from": chosen.get("start_check") if start == "recipe" else start,
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }


def unadapted(models: dict[str, Path], tasks: list[Task]) -> dict:
    out = {}
    for label, path in models.items():
        out[label] = {task.name: score_model(path, task, familiarity=True) for task in tasks}
        print(json.dumps({label: out[label]}), flush=True)
    return out


def merge(results: dict, path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(path.read_text()) if path.is_file() else {}
    for key, value in results.items():
        previous[key] = {**previous.get(key, {}), **value} if isinstance(value, dict) else value
    path.write_text(json.dumps(previous, indent=1) + "\n")


def scratch_registry(prefix: str):
    """A scratch folder and a run registry in it (STORMSEG_HOME points there): (folder, registry)."""
    from seg_core.runs.registry import RunRegistry

    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["STORMSEG_HOME"] = str(work / "home")
    return work, RunRegistry()


def main(argv: list[str] | None = None) -> int:
    from seg_core.core import paths

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", default="report", choices=["report", "selection"])
    parser.add_argument("--tasks", nargs="*", help="task names (default: every task of the group)")
    parser.add_argument("--shots", type=int, nargs="*", default=[1, 4, 16])
    parser.add_argument("--starts", nargs="*", default=list(STARTS), choices=STARTS)
    parser.add_argument("--epochs", type=int, help="fine-tune epochs (default: the fine-tune schedule's)")
    parser.add_argument(
        "--seeds", type=int, nargs="*", default=[0], help="training seeds: a run each (the spread of a start)"
    )
    parser.add_argument("--whole-epochs", type=int, default=30, help="epochs of the whole-pool reference")
    parser.add_argument(
        "--model", type=Path, default=paths.DEMO_CHECKPOINT, help="the parent (default: demo)"
    )
    parser.add_argument(
        "--starter",
        help="the recipe's further start: auto (the shipped starter on one labelled photo), real-ground "
        "(always), none, or a checkpoint (default: the fine-tune schedule's, auto)",
    )
    parser.add_argument("--compare", type=Path, help="with --unadapted: another model to score beside it")
    parser.add_argument("--unadapted", action="store_true", help="only the models themselves on the tasks")
    parser.add_argument("--quick", action="store_true", help="one task per source, 4 photos, 30 epochs")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    try:
        tasks = load_tasks(args.group, args.tasks)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.quick:
        tasks = list({t.source: t for t in reversed(tasks)}.values())[::-1]
        args.shots, args.epochs = [4], args.epochs or 30
    if args.unadapted:
        models = {"model": args.model, **({"compare": args.compare} if args.compare else {})}
        merge(
            {f"unadapted_{args.group}": {str(k): v for k, v in unadapted(models, tasks).items()}},
            args.results,
        )
        return 0
    work, registry = scratch_registry("stormseg-real-bench-")
    for task in tasks:
        for shots in args.shots:
            for start in args.starts:
                if start == "whole" and shots != args.shots[0]:
                    continue  # one reference per task
                for seed in args.seeds:
                    started = time.perf_counter()
                    figures = run_start(task, start, shots, args, registry, work, seed)
                    key = "whole" if start == "whole" else f"{start}_{shots}"
                    key += f"_seed{seed}" if seed else ""  # seed 0: the keys of the first figures
                    merge({f"finetune_{args.group}": {f"{task.name}/{key}": figures}}, args.results)
                    print(
                        json.dumps({task.name: {key: figures}}),
                        f"({time.perf_counter() - started:.0f} s)",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
