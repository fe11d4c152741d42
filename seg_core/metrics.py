"""Stable import path of the score of record (a public contract: `seg_core.metrics.kaggle_dice`).

The code lives in `seg_core.evaluation.metrics`; this module only re-exports it.
"""

from seg_core.evaluation.metrics import kaggle_dice

__all__ = ["kaggle_dice"]
