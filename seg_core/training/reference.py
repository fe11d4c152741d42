"""The familiarity reference of a run without a validation split.

A run with validation photos stores the per-photo uncertainty of its best epoch on them
(`loop._end_of_epoch`). A run without (a fine-tune on a handful of labelled photos) has no such
photos, so it measures the reference on its training photos when it ends, in the same pass that
scores the whole training split, and says so in the reference (`source: "training"`): every
checkpoint of a finished run can tell a photo unlike its experience, and the sentence it gives
names what it compared with.
"""

from __future__ import annotations

from collections.abc import Sequence

from seg_core.analytics.familiarity import uncertainty_reference
from seg_core.analytics.uncertainty import PhotoUncertainty


def store_training_reference(run, uncertainty: Sequence[PhotoUncertainty]) -> bool:
    """Put the reference from the training photos' `uncertainty` into `run` (a TrainingRun whose
    best.pt is its final model) and rewrite best.pt with it; False when there is nothing to
    measure (no photo on this rank)."""
    if not uncertainty:
        return False
    run.state.uncertainty_reference = uncertainty_reference(uncertainty, source="training")
    last = run.state.history[-1] if run.state.history else {}
    run.save("best.pt", {k: v for k, v in last.items() if k != "epoch"}, resumable=False)
    return True
