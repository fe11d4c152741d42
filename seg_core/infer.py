"""Stable import path of the Predictor (a public contract: `seg_core.infer.Predictor`).

The code lives in `seg_core.inference.predictor`; this module only re-exports it.
"""

from seg_core.inference.predictor import Predictor

__all__ = ["Predictor"]
