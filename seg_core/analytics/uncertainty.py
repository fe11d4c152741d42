"""How unsure a prediction is, per pixel and per photo, and which photos to label next.

Per pixel: 1 - the top class probability ("least confidence"), from `Predictor.predict_full(...,
confidence=True)`, so the predictor needs no second code path. 0 means the model is certain;
(C-1)/C = 0.96 means every class looked equally likely.

Per photo: the mean, and the share of uncertain pixels (top probability under
`UNCERTAIN_BELOW`). Ranking for labelling puts the largest uncertain share first: a photo with
a large unsure flooded yard teaches a fine-tune more than one with a thin unsure roof edge, even
when their means are alike; the mean breaks ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seg_core.schemes.scheme import LabelScheme

# Top-class probability below which a pixel counts as uncertain. 0.6: the model gives the
# runner-up class at least ~40% of the mass, where its argmax is a coin flip in practice.
UNCERTAIN_BELOW = 0.6


def uncertainty_map(confidence: np.ndarray) -> np.ndarray:
    """HxW float32 in [0, 1): 1 - top class probability."""
    return (1.0 - np.asarray(confidence, dtype=np.float32)).clip(0.0, 1.0)


@dataclass(frozen=True)
class PhotoUncertainty:
    mean: float  # mean per-pixel uncertainty
    uncertain_share: float  # share of pixels whose top probability is under UNCERTAIN_BELOW
    least_sure_class: str | None  # the predicted class with the largest uncertain area
    least_sure_share: float  # that class's share of the photo's uncertain pixels

    def to_dict(self) -> dict:
        return {
            "mean": self.mean,
            "uncertain_share": self.uncertain_share,
            "least_sure_class": self.least_sure_class,
            "least_sure_share": self.least_sure_share,
        }


def photo_uncertainty(mask: np.ndarray, confidence: np.ndarray, scheme: LabelScheme) -> PhotoUncertainty:
    """Summarise a prediction (mask of `scheme` ids and top-class probability map of the same size)."""
    confidence = np.asarray(confidence, dtype=np.float32)
    if confidence.shape != np.asarray(mask).shape:
        raise ValueError(
            f"confidence map {confidence.shape} and mask {np.asarray(mask).shape} differ in size"
        )
    unsure = confidence < UNCERTAIN_BELOW
    total = max(confidence.size, 1)
    count = scheme.num_classes
    per_class = np.bincount(np.asarray(mask)[unsure].reshape(-1), minlength=count)[:count]
    worst = int(per_class.argmax())
    unsure_count = int(unsure.sum())
    return PhotoUncertainty(
        mean=float(1.0 - confidence.mean()) if confidence.size else 0.0,
        uncertain_share=unsure_count / total,
        least_sure_class=scheme.names[worst] if unsure_count else None,
        least_sure_share=float(per_class[worst]) / unsure_count if unsure_count else 0.0,
    )


def rank_for_labelling(photos: dict[str, dict]) -> list[dict]:
    """Order photos most-uncertain first, each with the reason for its place.

    Args:
        photos: stem -> `PhotoUncertainty.to_dict()`.

    Returns:
        [{"stem", "rank", "reason", **figures}] in labelling order.
    """
    order = sorted(photos, key=lambda s: (-photos[s]["uncertain_share"], -photos[s]["mean"], s))
    rows = []
    for rank, stem in enumerate(order, start=1):
        u = photos[stem]
        reason = (
            f"#{rank} of {len(order)}: {u['uncertain_share']:.0%} of its pixels are uncertain "
            f"(top class probability under {UNCERTAIN_BELOW:.0%}), mean uncertainty {u['mean']:.2f}"
        )
        if u.get("least_sure_class"):
            reason += f"; most of the doubt is on {u['least_sure_class']} ({u['least_sure_share']:.0%})"
        rows.append({"stem": stem, "rank": rank, "reason": reason, **u})
    return rows
