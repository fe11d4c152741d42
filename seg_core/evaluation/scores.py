"""Segmentation scores from pixel counts, in numpy alone: the Kaggle Dice of record and the
confusion-matrix scores per class. Torch-free, so an exported model is scored on ONNX Runtime
without torch (`evaluate --model`); `seg_core.evaluation.metrics` adds the torch accumulators the
training loop uses (same definitions, reduced across processes) and re-exports these.

Two different scores live here, and they answer different questions.

**Kaggle Dice** (`kaggle_dice`, `image_dice`; torch: `metrics.dice_pairs`, `KaggleDiceMeter`) is the score of record for the
Harvey challenge: Dice is computed for every (image, class) pair and the pairs are averaged. A
pair where the class is absent from both the prediction and the truth counts as a perfect 1.0,
so correctly *not* predicting a class the image does not contain is rewarded, and a tiny false
positive of a rare class in an image without it costs that pair the full 1.0. With 25 classes
and only a handful present per photo, most pairs are both-empty, which is why this score runs
much higher than mIoU.

**Confusion-matrix scores** (`confusion_counts`, `SegmentationScores`; torch: `ConfusionMatrix`) pool pixel counts over the
whole dataset first (never averages of batch averages) and then derive IoU, Dice, precision and
recall per class. Convention: a class absent from BOTH truth and prediction has no defined
score and gets NaN; it is left out of `miou` / `mean_dice` (nanmean), so it neither inflates
nor deflates the means. A class predicted but absent from the truth gets IoU 0 and Dice 0 (its
pixels are pure false positives). Precision is NaN where a class is never predicted, recall is
NaN where it never occurs in the truth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seg_core.schemes.scheme import DEFAULT_SCHEME, builtin

# `kaggle_dice`'s default class count (the DESIGN.md contract): the default scheme's, harvey's 25.
# Everything else is given the count of the scheme at hand.
DEFAULT_NUM_CLASSES = builtin(DEFAULT_SCHEME).num_classes


def _check_num_classes(num_classes: int) -> None:
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")


def _nanmean(values: np.ndarray) -> float:
    # np.nanmean warns on an all-NaN slice; an empty score is simply undefined.
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


# --------------------------------------------------------------------------- Kaggle Dice


def _class_counts_np(pred: np.ndarray, target: np.ndarray, num_classes: int) -> tuple[np.ndarray, ...]:
    """Per-class |P|, |T| and |P∩T| of one image; ids outside [0, num_classes) count for no class."""
    p = pred.ravel().astype(np.int64)
    t = target.ravel().astype(np.int64)
    p_ok = (p >= 0) & (p < num_classes)
    t_ok = (t >= 0) & (t < num_classes)
    pred_count = np.bincount(p[p_ok], minlength=num_classes)
    target_count = np.bincount(t[t_ok], minlength=num_classes)
    inter = np.bincount(p[p_ok & (p == t)], minlength=num_classes)
    return pred_count, target_count, inter


def kaggle_dice(
    preds: Sequence[np.ndarray], targets: Sequence[np.ndarray], num_classes: int = DEFAULT_NUM_CLASSES
) -> float:
    """Mean Dice over every (image, class) pair, the Harvey challenge score (contract).

    Dice = 2|P∩T| / (|P|+|T|) per image and class; a pair where both P and T are empty counts
    1.0. Pixel values outside [0, num_classes) (e.g. an ignore value 255) belong to no class.

    Args:
        preds: predicted masks, one HxW integer array per image.
        targets: ground-truth masks, same length and shapes as `preds`.
        num_classes: classes 0..num_classes-1 are scored for every image.

    Returns:
        The mean over len(preds) * num_classes pairs, in [0, 1].

    Raises:
        ValueError: on empty input, a length or per-image shape mismatch, or non-integer masks.
    """
    _check_num_classes(num_classes)
    if len(preds) != len(targets):
        raise ValueError(f"got {len(preds)} predictions but {len(targets)} targets; they must pair up")
    if len(preds) == 0:
        raise ValueError("kaggle_dice needs at least one (prediction, target) pair, got none")
    total = 0.0
    for index, (pred, target) in enumerate(zip(preds, targets, strict=True)):
        pred, target = np.asarray(pred), np.asarray(target)
        if pred.shape != target.shape:
            raise ValueError(f"image {index}: prediction shape {pred.shape} != target shape {target.shape}")
        for name, array in (("prediction", pred), ("target", target)):
            if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
                raise ValueError(
                    f"image {index}: {name} must hold integer class ids, got dtype {array.dtype}"
                )
        pred_count, target_count, inter = _class_counts_np(pred, target, num_classes)
        denom = pred_count + target_count
        dice = np.where(denom > 0, 2.0 * inter / np.maximum(denom, 1), 1.0)
        total += float(dice.sum())
    return total / (len(preds) * num_classes)


# --------------------------------------------------------------------------- confusion matrix


@dataclass(frozen=True, eq=False)  # eq=False: numpy fields make generated __eq__/__hash__ meaningless
class SegmentationScores:
    """Per-class scores from a confusion matrix (see the module docstring for the NaN convention).

    Arrays have shape (C,), float64, NaN where undefined; `support` is the truth pixel count.
    """

    iou: np.ndarray
    dice: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    support: np.ndarray
    miou: float
    mean_dice: float
    pixel_accuracy: float

    def per_class(self, class_names: Sequence[str]) -> list[dict]:
        """One row per class for a table: {id, name, iou, dice, precision, recall, support}, NaN -> None."""
        if len(class_names) != len(self.iou):
            raise ValueError(f"got {len(class_names)} class names for {len(self.iou)} classes")
        return [
            {
                "id": c,
                "name": str(class_names[c]),
                "iou": _none_if_nan(self.iou[c]),
                "dice": _none_if_nan(self.dice[c]),
                "precision": _none_if_nan(self.precision[c]),
                "recall": _none_if_nan(self.recall[c]),
                "support": int(self.support[c]),
            }
            for c in range(len(self.iou))
        ]

    def as_dict(self) -> dict:
        """JSON-serialisable summary; every NaN becomes None."""

        def listed(values: np.ndarray) -> list[float | None]:
            return [_none_if_nan(v) for v in values]

        return {
            "miou": _none_if_nan(self.miou),
            "mean_dice": _none_if_nan(self.mean_dice),
            "pixel_accuracy": _none_if_nan(self.pixel_accuracy),
            "iou": listed(self.iou),
            "dice": listed(self.dice),
            "precision": listed(self.precision),
            "recall": listed(self.recall),
            "support": [int(s) for s in self.support],
        }


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def scores_from_matrix(matrix) -> SegmentationScores:
    """Per-class IoU, Dice, precision, recall and their means from a (C, C) truth x prediction matrix."""
    m = _as_numpy(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"confusion matrix must be square (C, C), got shape {m.shape}")
    m = m.astype(np.float64)
    tp = np.diag(m)
    support = m.sum(axis=1)  # truth pixels per class
    predicted = m.sum(axis=0)
    iou = _ratio(tp, support + predicted - tp)
    dice = _ratio(2.0 * tp, support + predicted)
    arrays = {
        "iou": iou,
        "dice": dice,
        "precision": _ratio(tp, predicted),
        "recall": _ratio(tp, support),
        "support": support.astype(np.int64),
    }
    for array in arrays.values():
        array.setflags(write=False)
    total = m.sum()
    return SegmentationScores(
        **arrays,
        miou=_nanmean(iou),
        mean_dice=_nanmean(dice),
        pixel_accuracy=float(tp.sum() / total) if total > 0 else math.nan,
    )


def _as_numpy(matrix) -> np.ndarray:
    """A (C, C) matrix as numpy; a torch tensor is read without importing torch here."""
    return matrix.detach().cpu().numpy() if hasattr(matrix, "detach") else np.asarray(matrix)


def confusion_counts(pred: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) int64 pixel counts of one image, rows = truth, columns = prediction, with one
    `bincount`; target values outside [0, C) (the ignore index) are skipped.

    Raises:
        ValueError: on a shape mismatch, or a prediction outside [0, C) at a counted pixel.
    """
    _check_num_classes(num_classes)
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
    c = num_classes
    p = pred.ravel().astype(np.int64)
    t = target.ravel().astype(np.int64)  # int64 first: uint8 * 25 would overflow
    keep = (t >= 0) & (t < c)
    if ((p < 0) | (p >= c))[keep].any():
        raise ValueError(f"predictions must be class ids in [0, {c}), got values outside that range")
    return np.bincount(c * t[keep] + p[keep], minlength=c * c).reshape(c, c)


def image_dice(pred: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """(C,) Dice of one image per class, 1.0 where the class is absent from both (float64)."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
    pred_count, target_count, inter = _class_counts_np(pred, target, num_classes)
    denom = pred_count + target_count
    return np.where(denom > 0, 2.0 * inter / np.maximum(denom, 1), 1.0)


NORMALIZE_MODES: tuple[str, ...] = ("true", "pred", "all", "none")


def confusion_matrix_figure_data(matrix, class_names: Sequence[str], normalize: str = "true") -> dict:
    """Numbers for a confusion-matrix heatmap (rows = truth, columns = prediction), no plotting.

    Args:
        matrix: (C, C) counts, rows = truth, columns = prediction.
        class_names: C labels, used for both axes.
        normalize: "true" divides each row by its truth count (recall on the diagonal), "pred"
            each column by its prediction count (precision on the diagonal), "all" by the total,
            "none" keeps raw counts. Rows/columns with no pixels stay 0.0 rather than NaN so
            the result is plain JSON; `support` tells them apart from all-wrong rows.

    Returns:
        {"values": C lists of C floats, "labels": names, "normalize": mode, "support": truth
        pixel count per class}.
    """
    m = _as_numpy(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"confusion matrix must be square (C, C), got shape {m.shape}")
    if len(class_names) != m.shape[0]:
        raise ValueError(f"got {len(class_names)} class names for a {m.shape[0]}-class matrix")
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"unknown normalize={normalize!r}; choose one of {NORMALIZE_MODES}")
    m = m.astype(np.float64)
    if normalize == "true":
        denom = m.sum(axis=1, keepdims=True)
    elif normalize == "pred":
        denom = m.sum(axis=0, keepdims=True)
    elif normalize == "all":
        denom = np.array([[m.sum()]])
    else:
        denom = np.ones((1, 1))
    values = np.divide(m, denom, out=np.zeros_like(m), where=denom > 0)
    return {
        "values": values.tolist(),
        "labels": [str(name) for name in class_names],
        "normalize": normalize,
        "support": [int(s) for s in m.sum(axis=1)],
    }
