"""Scoring a model on a labelled dataset, the way the score of record is defined: the model's
full-resolution masks against the original masks, Kaggle Dice over every (image, class) pair,
plus pooled confusion-matrix scores and a per-image ranking to find the worst photos.

Either backend (a torch checkpoint or an exported model on ONNX Runtime) and numpy scores
(`seg_core.evaluation.scores`): this module never imports torch, so `evaluate --model model.onnx`
runs on the field install.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seg_core.datasets.discovery import Pair, split_pairs, validate_dataset
from seg_core.evaluation.scores import SegmentationScores, confusion_counts, image_dice, scores_from_matrix
from seg_core.imagery.imageio import load_mask
from seg_core.inference.backend import PredictorBase
from seg_core.schemes.scheme import LabelScheme


@dataclass
class ImageScore:
    stem: str
    image: Path
    mask: Path
    kaggle_dice: float
    pixel_accuracy: float


@dataclass
class EvaluationResult:
    """What the Evaluate page and `seg_core evaluate` show."""

    checkpoint: str
    data: str
    split: str
    kaggle_dice: float
    scores: SegmentationScores
    matrix: np.ndarray  # (C, C) pixel counts, rows = truth
    images: list[ImageScore]  # worst first
    seconds: float
    excluded: list[str] = field(default_factory=list)  # the dataset's faulty items, one sentence each
    scheme: LabelScheme | None = None  # the model's (and the dataset's) label scheme: the table's classes

    def to_dict(self) -> dict:
        return {
            "checkpoint": self.checkpoint,
            "data": self.data,
            "split": self.split,
            "images": len(self.images),
            "kaggle_dice": self.kaggle_dice,
            **self.scores.as_dict(),
            "scheme": self.scheme.name if self.scheme else None,
            "per_class": self.scores.per_class(self.scheme.names),
            "per_image": [
                {"image": s.stem, "kaggle_dice": s.kaggle_dice, "pixel_accuracy": s.pixel_accuracy}
                for s in self.images
            ],
            "seconds": round(self.seconds, 2),
            "excluded": self.excluded,
        }


def pairs_to_score(predictor: PredictorBase, data: str | Path, split: str = "auto") -> tuple[list[Pair], str]:
    """The pairs to evaluate on. 'auto': the checkpoint's own validation split when `data` is
    the dataset it was trained on (training images would flatter it), else every pair."""
    pairs, used_split, _ = _pairs_and_problems(predictor, data, split)
    return pairs, used_split


def _pairs_and_problems(
    predictor: PredictorBase, data: str | Path, split: str
) -> tuple[list[Pair], str, list[str]]:
    if split not in ("auto", "val", "all"):
        raise ValueError(f"split {split!r} is not one of: auto, val, all")
    report = validate_dataset(data)
    if not report.pairs:
        reasons = "; ".join(p.message for p in report.problems[:2])
        raise ValueError(
            f"{data}: no usable image/mask pairs to evaluate on" + (f" ({reasons})" if reasons else "")
        )
    if report.scheme != predictor.scheme:
        raise ValueError(
            f"{data}: its masks are {report.scheme.describe()} labels ({report.scheme_note}) but the model "
            f"predicts {predictor.scheme.describe()}; evaluate on a dataset of the model's scheme"
        )
    problems = [p.message for p in report.problems]
    config = predictor.meta.get("config", {})
    same_data = Path(config.get("data", "")).resolve() == Path(data).resolve()
    if split == "val" or (split == "auto" and same_data):
        _, val = split_pairs(report.pairs, config.get("val_ratio", 0.15), config.get("seed", 0))
        if val:
            return val, "val", problems
    return report.pairs, "all", problems


def evaluate_checkpoint(
    predictor: PredictorBase,
    data: str | Path,
    split: str = "auto",
    tta: bool = False,
    progress: Callable[[int, int], None] | None = None,
    checkpoint: str = "",
) -> EvaluationResult:
    """Predict every pair at full resolution and score it.

    Args:
        predictor: the loaded model (`Predictor` or `OnnxPredictor`).
        data: a labelled dataset folder.
        split: 'auto', 'val' (the checkpoint's validation split) or 'all'.
        tta: average over the 8 flips/rotations.
        progress: called as progress(done, total).
    """
    start = time.perf_counter()
    pairs, used_split, excluded = _pairs_and_problems(predictor, data, split)
    count = predictor.scheme.num_classes
    matrix = np.zeros((count, count), np.int64)
    dice_sum, dice_count = 0.0, 0
    images = []
    for done, pair in enumerate(pairs, start=1):
        prediction = predictor.predict(pair.image, tta=tta)
        truth = np.asarray(load_mask(pair.mask))
        matrix += confusion_counts(prediction, truth, count)
        dice = image_dice(prediction, truth, count)
        dice_sum += float(dice.sum())
        dice_count += dice.size
        accuracy = float((prediction == truth).mean())
        images.append(ImageScore(pair.stem, pair.image, pair.mask, float(dice.mean()), accuracy))
        if progress:
            progress(done, len(pairs))
    images.sort(key=lambda s: s.kaggle_dice)
    return EvaluationResult(
        checkpoint,
        str(data),
        used_split,
        dice_sum / dice_count,
        scores_from_matrix(matrix),
        matrix,
        images,
        time.perf_counter() - start,
        excluded,
        predictor.scheme,
    )
