"""Segmentation metrics: the Kaggle Dice of record and confusion-matrix scores per class.

The definitions (and the Kaggle Dice / confusion-matrix conventions) are in the torch-free
`seg_core.evaluation.scores`, re-exported here; this module adds their torch accumulators for
the training loop: `dice_pairs` and `KaggleDiceMeter` for batches, `ConfusionMatrix` with one
`bincount` per batch. Everything runs on any device; counts are reduced across processes with
`all_reduce` when `torch.distributed` is initialised.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from seg_core.evaluation.scores import (
    NORMALIZE_MODES,
    SegmentationScores,
    _check_num_classes,
    confusion_matrix_figure_data,
    kaggle_dice,
    scores_from_matrix,
)

__all__ = [
    "NORMALIZE_MODES",
    "ConfusionMatrix",
    "KaggleDiceMeter",
    "SegmentationScores",
    "confusion_matrix_figure_data",
    "dice_pairs",
    "kaggle_dice",
    "scores_from_matrix",
]


def _float_dtype(device: torch.device) -> torch.dtype:
    # float64 keeps long running sums exact enough; Apple MPS has no float64.
    return torch.float32 if device.type == "mps" else torch.float64


def _all_reduce_(tensor: torch.Tensor) -> None:
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(tensor)


def dice_pairs(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Dice of every (image, class) pair of a batch, vectorised with three bincounts.

    Args:
        pred: predicted class ids.
        target: true class ids; values outside [0, num_classes) belong to no class.
        num_classes: number of scored classes.

    Returns:
        Dice per image and class, 1.0 where the class is absent from both (float64; float32 on MPS).

    Shape:
        pred, target: (N, H, W) (any (N, ...) works) -> (N, num_classes)
    """
    _check_num_classes(num_classes)
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
    if pred.dim() < 1:
        raise ValueError("dice_pairs needs a batch dimension, got a 0-d tensor")
    n = pred.shape[0]
    p = pred.reshape(n, -1).long()
    t = target.reshape(n, -1).to(p.device).long()
    offset = torch.arange(n, device=p.device).unsqueeze(1) * num_classes
    dump = n * num_classes  # out-of-range ids go to one extra bin that is dropped (no host sync)

    def count(ids: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        index = torch.where(keep, ids + offset, dump)
        return torch.bincount(index.flatten(), minlength=dump + 1)[:dump].reshape(n, num_classes)

    p_ok = (p >= 0) & (p < num_classes)
    t_ok = (t >= 0) & (t < num_classes)
    dtype = _float_dtype(p.device)
    pred_count = count(p, p_ok).to(dtype)
    target_count = count(t, t_ok).to(dtype)
    inter = count(p, p_ok & (p == t)).to(dtype)
    denom = pred_count + target_count
    return torch.where(denom > 0, 2.0 * inter / denom.clamp_min(1), torch.ones_like(denom))


class KaggleDiceMeter:
    """Accumulates the Kaggle Dice over batches as an exact sum and count of (image, class) pairs.

    Args:
        num_classes: number of scored classes.
        device: where the running sums live; use the training device so `all_reduce` works
            with NCCL.
    """

    def __init__(self, num_classes: int, device: torch.device | str = "cpu") -> None:
        _check_num_classes(num_classes)
        self.num_classes = num_classes
        device = torch.device(device)
        self._sum = torch.zeros((), dtype=_float_dtype(device), device=device)
        self._count = torch.zeros((), dtype=torch.int64, device=device)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch of (N, H, W) predicted and true class ids."""
        pairs = dice_pairs(pred, target, self.num_classes)
        self._sum += pairs.sum().to(self._sum)
        self._count += pairs.numel()

    def reset(self) -> None:
        self._sum.zero_()
        self._count.zero_()

    def reduce_from_all_processes(self) -> None:
        """Sum the counts of every process (a no-op without torch.distributed)."""
        _all_reduce_(self._sum)
        _all_reduce_(self._count)

    @property
    def value(self) -> float:
        """Mean Dice over all pairs seen so far; NaN before the first update."""
        count = int(self._count.item())
        return float(self._sum.item()) / count if count else math.nan


class ConfusionMatrix:
    """Pixel confusion matrix accumulated with one `bincount` per batch (torchvision style).

    Args:
        num_classes: number of classes C.
        device: where the counts live; use the evaluation device so `all_reduce` works with NCCL.

    Attributes:
        matrix: (C, C) int64, rows = truth, columns = prediction.
    """

    def __init__(self, num_classes: int, device: torch.device | str = "cpu") -> None:
        _check_num_classes(num_classes)
        self.num_classes = num_classes
        self.matrix = torch.zeros((num_classes, num_classes), dtype=torch.int64, device=device)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Count a batch. Target values outside [0, C) (the ignore index) are skipped.

        Raises:
            ValueError: on a shape mismatch, or a prediction outside [0, C) at a counted pixel
                (it would silently land in the wrong row).
        """
        if pred.shape != target.shape:
            raise ValueError(f"prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
        c = self.num_classes
        p = pred.reshape(-1).long()
        t = target.reshape(-1).to(p.device).long()  # long first: uint8 * 25 would overflow
        keep = (t >= 0) & (t < c)
        if bool((keep & ((p < 0) | (p >= c))).any()):
            raise ValueError(f"predictions must be class ids in [0, {c}), got values outside that range")
        index = torch.where(keep, c * t + p, c * c)  # ignored pixels go to one dropped extra bin
        counts = torch.bincount(index, minlength=c * c + 1)[: c * c]
        self.matrix += counts.reshape(c, c).to(self.matrix.device)

    def reset(self) -> None:
        self.matrix.zero_()

    def reduce_from_all_processes(self) -> None:
        """Sum the matrices of every process (a no-op without torch.distributed)."""
        _all_reduce_(self.matrix)

    def compute(self) -> SegmentationScores:
        return scores_from_matrix(self.matrix)
