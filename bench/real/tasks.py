"""The real-photo benchmark as a small API, for bench/real/run.py and any other module's figures.

    import sys; sys.path.insert(0, "bench/real")
    from tasks import load_tasks, labelled_subset, score_model

    for task in load_tasks(group="report"):                  # assembled tasks (assemble.py)
        data = labelled_subset(task, 4, Path("/tmp/four"))   # the first 4 pool photos
        ...train on `data` (images/ + masks/, Harvey ids, 255 = unlabelled)...
        figures = score_model("path/to/best.pt", task)       # {"iou": ..., "flooded_share": ...}

Each task labels one class (a few Harvey classes together, e.g. vegetation = Grass, Trees/Shrubs
or Dense Vegetation); its figure is the IoU of that class over its held-out test photos, pooled
over pixels. Tasks are in a "selection" group (choose recipes and thresholds there) or a "report"
group (report figures there, tune nothing on it); never score on what you selected with.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent.parent
REAL_DATA = ROOT / "data" / "real"
FLOODED = "Flooded"


@dataclass(frozen=True)
class Task:
    name: str
    group: str  # "selection" or "report"
    source: str
    label: str  # the source's class name
    harvey: tuple[str, ...]  # the Harvey classes that count as this label (the first is trained)
    folder: Path  # data/real/tasks/<name>: pool/, test/ (images/ + masks/), task.json
    order: tuple[str, ...]  # pool photos in the order they are labelled (1, 4, 16 = the first ones)

    @property
    def class_ids(self) -> tuple[int, ...]:
        from seg_core.schemes.classes import class_id

        return tuple(class_id(name) for name in self.harvey)

    def test_photos(self) -> list[Path]:
        return sorted((self.folder / "test" / "images").iterdir())


def load_tasks(
    group: str | None = None, names: list[str] | None = None, root: Path = REAL_DATA
) -> list[Task]:
    """The assembled tasks (all, one group, or by name), in manifest order.

    Raises:
        FileNotFoundError: nothing assembled in `root` (run bench/real/assemble.py first), or a
            named task is not there.
    """
    found = []
    folder = Path(root) / "tasks"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no assembled tasks; run `python bench/real/assemble.py` first")
    for path in sorted(folder.glob("*/task.json")):
        entry = json.loads(path.read_text())
        found.append(
            Task(
                name=entry["name"],
                group=entry["group"],
                source=entry["source"],
                label=entry["class"],
                harvey=tuple(entry["harvey"]),
                folder=path.parent,
                order=tuple(entry["order"]),
            )
        )
    if names:
        missing = sorted(set(names) - {t.name for t in found})
        if missing:
            raise FileNotFoundError(
                f"{folder}: no task {', '.join(missing)} (assembled: {[t.name for t in found]})"
            )
        found = [t for t in found if t.name in names]
    if group:
        found = [t for t in found if t.group == group]
    return found


def labelled_subset(task: Task, count: int, out: Path) -> Path:
    """A dataset folder (images/ + masks/) with the task's first `count` pool photos.

    Raises:
        ValueError: the pool has fewer photos.
    """
    if count > len(task.order):
        raise ValueError(f"{task.name}: {count} photos asked, the pool has {len(task.order)}")
    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)
    for kind in ("images", "masks"):
        (out / kind).mkdir(parents=True)
        for name in task.order[:count]:
            shutil.copy(task.folder / "pool" / kind / f"{name}.png", out / kind / f"{name}.png")
    return out


def class_counts(
    prediction: np.ndarray, truth: np.ndarray, ids: tuple[int, ...], labelled_id: int
) -> tuple[int, int]:
    """(intersection, union) of a task's class: predicted = any of `ids`, true = `labelled_id`;
    pixels the source leaves unlabelled (255) are not counted."""
    valid = truth != 255
    guess = np.isin(prediction, ids) & valid
    true = (truth == labelled_id) & valid
    return int((guess & true).sum()), int((guess | true).sum())


def score_model(model, task: Task, familiarity: bool = False) -> dict:
    """A checkpoint path (or a Predictor) on the task's test photos: IoU of the task's class, the
    share of pixels called Flooded (every benchmark photo is dry ground: all of it is false) and,
    with `familiarity`, how the familiarity check rates the photos."""
    from seg_core.imagery.imageio import load_mask
    from seg_core.inference.predictor import Predictor
    from seg_core.schemes.classes import class_id

    predictor = model if isinstance(model, Predictor) else Predictor.from_checkpoint(model, device="cpu")
    flooded = class_id(FLOODED)
    inter = union = flooded_px = pixels = 0
    verdicts = {"familiar": 0, "unusual": 0, "unfamiliar": 0}
    for path in task.test_photos():
        result = predictor.predict_full(path, confidence=familiarity)
        truth = np.asarray(load_mask(task.folder / "test" / "masks" / path.name, result.mask.shape[::-1]))
        i, u = class_counts(result.mask, truth, task.class_ids, task.class_ids[0])
        inter, union = inter + i, union + u
        flooded_px += int((result.mask == flooded).sum())
        pixels += result.mask.size
        if familiarity:
            verdicts[predictor.familiarity(result)[1].status] += 1
    figures = {
        "iou": round(inter / union, 4) if union else None,
        "flooded_share": round(flooded_px / max(pixels, 1), 4),
        "photos": len(task.test_photos()),
    }
    if familiarity:
        figures["familiarity"] = verdicts
    return figures
