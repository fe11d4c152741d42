"""How far a photo lies outside what the model has seen ("honest about what it has not seen").

A model that has never seen a style of imagery still reports figures with the same apparent
confidence: the shipped demo model found 345 roofs in a dry forest. What gives it away is its
own uncertainty (`seg_core.analytics.uncertainty`): on unfamiliar imagery the top class
probability drops across the photo. So at training time the run stores, in the checkpoint's
`meta["uncertainty_reference"]`, the distribution of per-photo uncertainty on its own validation
photos, or on its training photos when it has no validation split (`uncertainty_reference`
records which), and every prediction is compared with it (`assess`).

Distance: for each figure (mean uncertainty, uncertain share), how far the photo lies above the
reference median, in units of the reference's spread (its 95th percentile minus its median,
floored so a near-constant reference does not turn noise into alarms). The larger of the two
counts. Up to 1 the photo looks like the model's own validation photos; above `FAR_OUTSIDE` the
figures are flagged as unreliable. Less uncertainty than usual is never flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seg_core.analytics.uncertainty import UNCERTAIN_BELOW, PhotoUncertainty, photo_uncertainty
from seg_core.core.text import count
from seg_core.schemes.files import scheme_of_meta

REFERENCE_VERSION = 1
# Distance (in reference spreads above the median) over which a photo is "far outside". 2: twice
# as far as the model's own least sure 5% of validation photos; the benchmark's unseen style lands
# far beyond it, its own validation scenes at or under 1 (docs/BENCHMARKS.md).
FAR_OUTSIDE = 2.0
# Smallest spread used, per figure: a model that is equally sure on every validation photo would
# otherwise flag a photo 0.01 less sure than usual.
MIN_SPREAD = {"mean": 0.02, "uncertain_share": 0.03}
FIGURES = ("mean", "uncertain_share")

UNRELIABLE_MESSAGE = (
    "this model has not seen imagery like this: treat the figures as unreliable; "
    "label a few photos and fine-tune"
)
# Only what the file shows: a checkpoint without a reference says nothing about why it has none.
UNAVAILABLE_MESSAGE = (
    "familiarity check unavailable: this model carries no uncertainty reference, so nothing tells "
    "whether a photo is unlike what it was trained on"
)
# Which photos a reference was measured on: a run without a validation split measures it on its
# training photos when it ends (a stricter yardstick: a model is surest on what it learned).
REFERENCE_SOURCES = {
    "validation": "its own validation photos",
    "training": "its own training photos (it had no validation split)",
    # A part of the validation photos, named by `photos_matching` (a file-name glob): the demo
    # model's synthetic scenes, not the real tiles it was also taught from (scripts/train_demo_model.sh).
    "validation_subset": "its own validation photos of the kind it was made for",
}


def uncertainty_reference(photos: Sequence[PhotoUncertainty | dict], source: str = "validation") -> dict:
    """The reference a checkpoint stores: per figure the median, 95th percentile and maximum of
    the photos' values, plain Python floats (loadable with weights_only), and which photos they
    were (`source`, a REFERENCE_SOURCES key).

    Raises:
        ValueError: no photos, or an unknown source.
    """
    if not photos:
        raise ValueError("an uncertainty reference needs at least one photo")
    if source not in REFERENCE_SOURCES:
        raise ValueError(f"reference source {source!r} is not one of: {', '.join(REFERENCE_SOURCES)}")
    rows = [p.to_dict() if isinstance(p, PhotoUncertainty) else p for p in photos]
    reference: dict = {
        "version": REFERENCE_VERSION,
        "photos": len(rows),
        "uncertain_below": UNCERTAIN_BELOW,
        "source": source,
    }
    for figure in FIGURES:
        values = np.array([float(r[figure]) for r in rows], dtype=np.float64)
        reference[figure] = {
            "median": float(np.median(values)),
            "p95": float(np.percentile(values, 95)),
            "max": float(values.max()),
        }
    return reference


def reference_photos(reference: dict) -> str:
    """The photos a usable reference was measured on, as words ("its own validation photos");
    references written before sources were recorded came from validation photos."""
    return REFERENCE_SOURCES.get(reference.get("source", "validation"), REFERENCE_SOURCES["validation"])


def check_reference(reference: object) -> dict | None:
    """The reference if it is usable, else None (old checkpoint, or an unknown format)."""
    if not isinstance(reference, dict) or reference.get("version") != REFERENCE_VERSION:
        return None
    try:
        for figure in FIGURES:
            float(reference[figure]["median"]), float(reference[figure]["p95"])
    except (KeyError, TypeError, ValueError):
        return None
    return reference


@dataclass(frozen=True)
class Familiarity:
    """How a photo's uncertainty compares with the model's own validation photos.

    Attributes:
        status: "familiar" (distance <= 1), "unusual" (<= FAR_OUTSIDE), "unfamiliar" (beyond),
            or "unavailable" (the checkpoint has no reference).
        distance: reference spreads above the reference median, the larger over the figures;
            None when unavailable.
        message: one sentence for the user, next to the figures.
    """

    status: str
    distance: float | None
    message: str

    @property
    def unreliable(self) -> bool:
        return self.status == "unfamiliar"

    def to_dict(self) -> dict:
        return {"status": self.status, "distance": self.distance, "message": self.message}


def assess(uncertainty: PhotoUncertainty | dict, reference: object) -> Familiarity:
    """Compare one photo's uncertainty with a checkpoint's reference (`meta.get(...)`)."""
    ref = check_reference(reference)
    if ref is None:
        return Familiarity("unavailable", None, UNAVAILABLE_MESSAGE)
    u = uncertainty.to_dict() if isinstance(uncertainty, PhotoUncertainty) else uncertainty
    distance = 0.0
    for figure in FIGURES:
        median, p95 = float(ref[figure]["median"]), float(ref[figure]["p95"])
        spread = max(p95 - median, MIN_SPREAD[figure])
        distance = max(distance, (float(u[figure]) - median) / spread)
    distance = round(max(distance, 0.0), 3)
    if distance > FAR_OUTSIDE:
        return Familiarity("unfamiliar", distance, UNRELIABLE_MESSAGE)
    photos = reference_photos(ref)
    if distance > 1.0:
        return Familiarity(
            "unusual",
            distance,
            f"less sure than on most of {photos} ({distance:.1f} spreads above usual); check the figures",
        )
    return Familiarity("familiar", distance, f"within what the model showed on {photos}")


def batch_familiarity(assessments: Sequence[Familiarity | dict]) -> dict:
    """Batch summary: how many photos were far outside, and the message when any was."""
    statuses = [a.status if isinstance(a, Familiarity) else a.get("status") for a in assessments]
    checked = [s for s in statuses if s != "unavailable"]
    if not checked:
        return {"status": "unavailable", "unfamiliar": 0, "checked": 0, "message": UNAVAILABLE_MESSAGE}
    far = checked.count("unfamiliar")
    if far:
        status, message = "unfamiliar", f"{far} of {count(len(checked), 'photo')}: {UNRELIABLE_MESSAGE}"
    elif "unusual" in checked:
        status, message = "unusual", "some photos are less sure than usual; check their figures"
    else:
        status, message = (
            "familiar",
            "every photo within what the model showed on the photos it was measured on",
        )
    return {"status": status, "unfamiliar": far, "checked": len(checked), "message": message}


def familiarity_of(
    mask: np.ndarray, confidence: np.ndarray | None, meta: dict
) -> tuple[PhotoUncertainty, Familiarity]:
    """A prediction's uncertainty and how far it lies outside the model's own validation photos
    (`meta["uncertainty_reference"]`); both backends (torch, ONNX Runtime) call this.

    Raises:
        ValueError: no confidence map (predict with `confidence=True`).
    """
    if confidence is None:
        raise ValueError("familiarity needs a prediction made with confidence=True")
    uncertainty = photo_uncertainty(mask, confidence, scheme_of_meta(meta, "the model"))
    return uncertainty, assess(uncertainty, meta.get("uncertainty_reference"))
