"""Semi-supervised fine-tuning and partial labels on one real-photo task (docs/BENCHMARKS.md,
"Unlabelled photos and partial labels").

    python bench/semisup.py --task data/real/tasks/building-dubai-s [--shots 4]
        [--runs baseline semi partial] [--thresholds 0.9] [--parent checkpoints/demo/best.pt]

A task folder (bench/real/, the real-photo benchmark) holds `task.json` (its class, the pool's
labelling `order`), `pool/{images,masks}` and `test/{images,masks}`. Every run fine-tunes the
parent with `finetune`'s default schedule on the first N photos of `order`:

- parent: the parent model as it is (no training);
- baseline: the task's masks as they are: every pixel not of the class is Background;
- semi: the same, plus the pool's other photos without their masks (`--unlabelled`);
- partial: the same N masks marked "labelled only for the class" (the rest reads "not the
  class", never Background).

Each is scored on the task's test photos: IoU of the class (pooled pixels, 255 never counted),
and the share of test pixels called Flooded. CPU minutes are the training process's CPU time
(both threads); the load average is taken before and after each run, since the machine is
shared. Results: bench/results/semisup.json, one key per task and run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from labelling import timed_fit  # noqa: E402  (bench/labelling.py: one run, its CPU and wall minutes)

RESULTS = ROOT / "bench" / "results" / "semisup.json"
FLOODED = 23


def _stems(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir())}


def build_sets(task: Path, work: Path, shots: int) -> tuple[Path, Path, Path, list[int]]:
    """(labelled dataset, the same marked partial, folder of the other pool photos, class ids: the
    task's Harvey classes, its masks holding the first; vegetation is three)."""
    from seg_core.datasets.partial import PartialLabels, write_partial_labels
    from seg_core.schemes.classes import CLASS_NAMES

    spec = json.loads((task / "task.json").read_text())
    images, masks = _stems(task / "pool" / "images"), _stems(task / "pool" / "masks")
    order = [s for s in spec["order"] if s in images and s in masks]
    chosen, rest = order[:shots], [s for s in images if s not in order[:shots]]
    class_ids = [CLASS_NAMES.index(name) for name in spec["harvey"]]
    labelled, partial, unlabelled = work / "labelled", work / "partial", work / "unlabelled"
    for root in (labelled, partial):
        (root / "images").mkdir(parents=True)
        (root / "masks").mkdir(parents=True)
        for stem in chosen:
            shutil.copy(images[stem], root / "images" / images[stem].name)
            shutil.copy(masks[stem], root / "masks" / masks[stem].name)
    # The sources leave some pixels unlabelled (255): an empty sidecar declares that value, and the
    # set-valued loss then equals CE + Dice with those pixels ignored (tests/test_partial_labels.py).
    write_partial_labels(labelled, PartialLabels())
    marked = PartialLabels()
    for stem in chosen:
        marked.set_labelled_only(stem, class_ids)
    write_partial_labels(partial, marked)
    unlabelled.mkdir()
    for stem in rest:
        shutil.copy(images[stem], unlabelled / images[stem].name)
    return labelled, partial, unlabelled, class_ids


def score(checkpoint: Path, task: Path, class_ids: list[int]) -> dict:
    """IoU of the task's class (predicted: any of `class_ids`; true: the masks' first id, as
    bench/real/tasks.py scores) and the share of test pixels called Flooded."""
    from seg_core.inference.predictor import Predictor

    predictor = Predictor.from_checkpoint(checkpoint)
    counts = np.zeros(3, dtype=np.int64)  # intersection, union, pixels
    flooded = 0
    masks = _stems(task / "test" / "masks")
    for stem, path in _stems(task / "test" / "images").items():
        truth = np.array(Image.open(masks[stem]))
        pred = predictor.predict(path)
        known = truth != 255
        counts += [
            np.sum(np.isin(pred, class_ids) & (truth == class_ids[0]) & known),
            np.sum((np.isin(pred, class_ids) | (truth == class_ids[0])) & known),
            known.sum(),
        ]
        flooded += int(np.sum((pred == FLOODED) & known))
    return {
        "iou": round(float(counts[0] / max(counts[1], 1)), 4),
        "flooded_share": round(flooded / counts[2], 4),
    }


def save_row(path: Path, key: str, name: str, row: dict) -> None:
    """Merge one row into the results file, read just before writing: runs of other tasks (or in
    other processes) keep theirs."""
    print(name, row, flush=True)
    results = json.loads(path.read_text()) if path.exists() else {}
    results.setdefault(key, {})[name] = row
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", type=Path, required=True)
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--runs", nargs="+", default=["baseline", "semi", "partial"])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.9])
    parser.add_argument("--parent", default=str(ROOT / "checkpoints" / "demo" / "best.pt"))
    parser.add_argument("--epochs", type=int, help="default: the fine-tune schedule's")
    parser.add_argument(
        "--start-check",
        choices=("off", "on"),
        default="off",
        help="the fine-tune's start check; off by default: a partial run skips it, so 'on' would "
        "compare the rows on different starts",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSON file rows are merged into")
    args = parser.parse_args()

    from seg_core.runs.registry import RunRegistry
    from seg_core.training.finetune import finetune_config

    work = Path(tempfile.mkdtemp(prefix="semisup_"))
    os.environ.setdefault("STORMSEG_HOME", str(work / "home"))
    labelled, partial, unlabelled, class_ids = build_sets(args.task, work, args.shots)
    registry = RunRegistry()
    extra = {"start_check": args.start_check, **({"epochs": args.epochs} if args.epochs else {})}
    plans = []
    for run in args.runs:
        if run == "semi":
            plans += [
                (f"semi_t{t:g}", labelled, {"unlabelled": str(unlabelled), "pseudo_label_threshold": t})
                for t in args.thresholds
            ]
        elif run != "parent":
            plans.append((run, partial if run == "partial" else labelled, {}))
    key = f"{args.task.name}/{args.shots}"
    if "parent" in args.runs:
        save_row(args.results, key, "parent", score(Path(args.parent), args.task, class_ids))
    for name, data, overrides in plans:
        cfg = finetune_config(args.parent, data, name=f"bench-{name}", **extra, **overrides)
        load_before = os.getloadavg()[0]
        folder, cost = timed_fit(cfg, registry)
        row = {
            **score(folder / "best.pt", args.task, class_ids),
            **cost,
            "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2),
            "labelled": args.shots,
            "unlabelled_photos": len(list(unlabelled.iterdir())) if overrides else 0,
        }
        save_row(args.results, key, name, row)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
