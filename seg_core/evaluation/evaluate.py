"""Scoring a model on a labelled dataset, the way the score of record is defined: the model's
full-resolution masks against the original masks, Kaggle Dice over every (image, class) pair,
plus pooled confusion-matrix scores and a per-image ranking to find the worst photos.

Either backend (a torch checkpoint or an exported model on ONNX Runtime) and numpy scores
(`seg_core.evaluation.scores`): this module never imports torch, so `evaluate --model model.onnx`
runs on the field install.

A truth mask that started as the scored model's own pre-label and that nobody changed, confirmed
or accepted in review is that model's prediction, not truth (`labelling.provenance`): scored on
it, a model agrees with itself. Such masks (more than OWN_TRUTH_TOLERANCE of them the model's own
unreviewed pixels) are left out by default; the result says how much of the truth scored is the
model's own, which masks were left out, and whether the photos scored are ones it trained on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seg_core.core import paths
from seg_core.core.text import count
from seg_core.datasets.discovery import Pair, split_pairs, validate_dataset
from seg_core.evaluation.scores import SegmentationScores, confusion_counts, image_dice, scores_from_matrix
from seg_core.imagery.imageio import load_mask
from seg_core.inference.backend import PredictorBase
from seg_core.labelling.labelstore import LabelStore
from seg_core.labelling.provenance import OWN_TRUTH_TOLERANCE, from_model, own_truth_share
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
    own_truth_share: float = 0.0  # of the truth pixels scored: the model's own unreviewed pre-label
    left_out: dict[str, float] = field(default_factory=dict)  # stem -> its own share, masks left out
    own_included: bool = False  # masks mostly the model's own pre-label were scored on purpose
    on_training_photos: bool = False  # the photos scored include the ones the model trained on
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
            "own_prediction": {
                "share_of_scored_truth": round(self.own_truth_share, 4),
                "included": self.own_included,
                "tolerance": OWN_TRUTH_TOLERANCE,
                "left_out": [{"image": k, "own_share": round(v, 4)} for k, v in self.left_out.items()],
            },
            "scored_on_training_photos": self.on_training_photos,
        }

    def truth_notes(self) -> list[str]:
        """What the score's truth is made of, where it flatters the model (one sentence each)."""
        notes = []
        if self.left_out:
            notes.append(
                f"{count(len(self.left_out), 'mask')} left out of the score "
                f"({', '.join(self.left_out)}): more than {OWN_TRUTH_TOLERANCE:.0%} of "
                f"{'each' if len(self.left_out) != 1 else 'it'} is this model's own pre-label that nobody "
                "changed or confirmed; include them on purpose to score them anyway"
            )
        if self.own_truth_share > 0:
            notes.append(
                f"{self.own_truth_share:.1%} of the truth pixels scored are this model's own unreviewed "
                "pre-label: on those pixels the model is compared with itself"
            )
        if self.on_training_photos:
            notes.append("the photos scored are ones this model was trained on: the score flatters it")
        return notes


def model_identity(predictor: PredictorBase, checkpoint: str = "") -> dict:
    """What a pre-label names its model by: the weights checksum, and the names the page and the
    CLI record (run id, checkpoint path, "demo" for the shipped model)."""
    names = {predictor.meta.get("run_id"), checkpoint or None}
    if checkpoint:
        names.add(str(Path(checkpoint).resolve()))
        if Path(checkpoint).resolve() == paths.DEMO_CHECKPOINT.resolve():
            names.add("demo")
    return {"weights_sha256": predictor.meta.get("weights_sha256"), "names": {n for n in names if n}}


def own_prediction_shares(pairs: list[Pair], data: str | Path, model: dict) -> dict[str, float]:
    """Per pair whose truth started as `model`'s pre-label: the share of it still that pre-label
    with nobody having confirmed it (`provenance.own_truth_share`)."""
    store = LabelStore(data)
    shares = {}
    for pair in pairs:
        if not from_model(store.prelabel_info(pair.stem), model):
            continue
        truth = np.asarray(load_mask(pair.mask))
        prelabel = store.load_prelabel(pair.stem, (truth.shape[1], truth.shape[0]))
        if prelabel is not None:
            shares[pair.stem] = own_truth_share(truth, prelabel, store.saved_provenance(pair.stem))
    return shares


def pairs_to_score(predictor: PredictorBase, data: str | Path, split: str = "auto") -> tuple[list[Pair], str]:
    """The pairs to evaluate on. 'auto': the checkpoint's own validation split when `data` is
    the dataset it was trained on (training images would flatter it), else every pair."""
    pairs, used_split, _, _ = _pairs_and_problems(predictor, data, split)
    return pairs, used_split


def _pairs_and_problems(
    predictor: PredictorBase, data: str | Path, split: str
) -> tuple[list[Pair], str, list[str], bool]:
    """(pairs, split used, the dataset's problems, whether `data` is the model's training data)."""
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
            return val, "val", problems, same_data
    return report.pairs, "all", problems, same_data


def evaluate_checkpoint(
    predictor: PredictorBase,
    data: str | Path,
    split: str = "auto",
    tta: bool = False,
    progress: Callable[[int, int], None] | None = None,
    checkpoint: str = "",
    include_own_prelabels: bool = False,
) -> EvaluationResult:
    """Predict every pair at full resolution and score it.

    Args:
        predictor: the loaded model (`Predictor` or `OnnxPredictor`).
        data: a labelled dataset folder.
        split: 'auto', 'val' (the checkpoint's validation split) or 'all'.
        tta: average over the 8 flips/rotations.
        progress: called as progress(done, total).
        checkpoint: the model's file (names it, with its run id and checksum, for provenance).
        include_own_prelabels: also score masks that are mostly this model's own unreviewed
            pre-label (left out by default).

    Raises:
        ValueError: nothing to score (no usable pair, or every mask is the model's own pre-label).
    """
    start = time.perf_counter()
    pairs, used_split, excluded, same_data = _pairs_and_problems(predictor, data, split)
    own = own_prediction_shares(pairs, data, model_identity(predictor, checkpoint))
    left_out = {} if include_own_prelabels else {k: v for k, v in own.items() if v > OWN_TRUTH_TOLERANCE}
    if left_out and len(left_out) == len(pairs):
        raise ValueError(
            f"{data}: every mask to score ({len(pairs)}) is largely this model's own pre-label that nobody "
            f"changed or confirmed (on average {sum(left_out.values()) / len(left_out):.0%} of its pixels): "
            "scored on them it would agree with itself. Correct or review them first, or include them "
            "on purpose (the Evaluate page's switch, or --include-own-prelabels)."
        )
    pairs = [pair for pair in pairs if pair.stem not in left_out]
    own_pixels, all_pixels = 0.0, 0
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
        own_pixels += own.get(pair.stem, 0.0) * truth.size
        all_pixels += truth.size
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
        own_pixels / all_pixels if all_pixels else 0.0,
        left_out,
        include_own_prelabels,
        same_data and used_split == "all",
        predictor.scheme,
    )
