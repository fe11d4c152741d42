"""Where a saved mask came from and how much of it a person made: what tells a person's labels
from a model's unreviewed guess, for Evaluate (never score a model against itself) and for
fine-tuning (never train a model on its own guesses without saying so).

Saved with each mask, under "provenance" in the label store's `records/<stem>.json`:

    prelabel          {"model", "weights_sha256", "at"}: the pre-label the photo had when it
                      was saved, or None (drawn from an empty mask, or the pre-label was unusable)
    changed_share     share of the mask's pixels that differ from that pre-label
    confirmed_share   share equal to the pre-label that a person painted over anyway (a fill or
                      stroke of the class already there: looked at and kept)
    unreviewed_share  share equal to the pre-label that no person touched: the model's own guess
    edits             drawings applied in the session that saved the mask
    review            {"state": ...}: "unreviewed"; the review workflow adds "accepted" and
                      "rejected" (with who and when) in the same place

The three shares add up to 1 when there is a pre-label (all 0 without one: every pixel is a
person's). Readers take a missing key as its default, so records written before a field existed,
and states added later, need no migration.
"""

from __future__ import annotations

import numpy as np

UNREVIEWED, ACCEPTED = "unreviewed", "accepted"  # the review workflow adds "rejected"
# A mask of which more than this share is the scored model's own unreviewed pre-label is left out
# of its evaluation by default: a few per cent are stray pixels nobody needed to touch, more is
# the model being compared with itself.
OWN_TRUTH_TOLERANCE = 0.05
# Fine-tuning warns when a saved mask is mostly (over half) a model's unreviewed pre-label.
MOSTLY = 0.5


def describe_save(
    mask: np.ndarray,
    prelabel: np.ndarray | None,
    prelabel_info: dict | None,
    touched: np.ndarray | None,
    edits: int,
) -> dict:
    """The provenance record of `mask` as it is saved.

    Args:
        prelabel: the photo's pre-label (same shape as `mask`), or None.
        prelabel_info: its record (model, weights_sha256, at).
        touched: HxW bool, the pixels a person painted in this session (None: none known).
        edits: drawings applied in this session.
    """
    record = {
        "prelabel": None,
        "changed_share": 0.0,
        "confirmed_share": 0.0,
        "unreviewed_share": 0.0,
        "edits": int(edits),
        "review": {"state": UNREVIEWED},
    }
    if prelabel is None or prelabel.shape != mask.shape or mask.size == 0:
        return record
    info = prelabel_info or {}
    same = mask == prelabel
    looked = touched if touched is not None and touched.shape == mask.shape else np.zeros_like(same)
    record["prelabel"] = {k: info.get(k) for k in ("model", "weights_sha256", "at")}
    record["changed_share"] = round(1.0 - float(same.mean()), 6)
    record["confirmed_share"] = round(float((same & looked).mean()), 6)
    record["unreviewed_share"] = round(float((same & ~looked).mean()), 6)
    return record


def review_state(provenance: dict | None) -> str:
    review = (provenance or {}).get("review")
    return review.get("state", UNREVIEWED) if isinstance(review, dict) else UNREVIEWED


def person_share(provenance: dict | None) -> float | None:
    """Share of a saved mask that a person made or confirmed (None: not recorded)."""
    if not provenance:
        return None
    if review_state(provenance) == ACCEPTED:
        return 1.0
    return 1.0 - float(provenance.get("unreviewed_share", 0.0))


def from_model(prelabel_info: dict | None, model: dict) -> bool:
    """Whether a pre-label (its record) was made by `model` ({"weights_sha256", "names"}): by
    weights checksum when both have one, else by the name the pre-label was recorded under."""
    if not prelabel_info:
        return False
    theirs, ours = prelabel_info.get("weights_sha256"), model.get("weights_sha256")
    if theirs and ours:
        return theirs == ours
    return prelabel_info.get("model") in set(model.get("names") or ())


def own_truth_share(truth: np.ndarray, prelabel: np.ndarray, provenance: dict | None) -> float:
    """Share of a truth mask that is still the pre-label it started from and that no person
    confirmed: pixels equal to the pre-label, less those a person painted over (`provenance`,
    when it describes this very mask), nothing once a reviewer accepted the mask."""
    if review_state(provenance) == ACCEPTED:
        return 0.0
    if truth.shape != prelabel.shape or truth.size == 0:
        return 0.0
    unchanged = float((truth == prelabel).mean())
    confirmed = float((provenance or {}).get("confirmed_share", 0.0))
    return max(0.0, unchanged - confirmed)


def training_cautions(saved: list, dataset: str) -> list[str]:
    """Sentences to read before fine-tuning on `saved` (label store PhotoStatus rows with a saved
    mask): a single photo, and masks that are mostly a model's unreviewed pre-label."""
    cautions = []
    if len(saved) == 1:
        cautions.append(
            f"Only 1 photo of {dataset} has a saved mask: a model fine-tuned on one photo learns that "
            "photo, not the storm; label a few more first if you can."
        )
    guessed = [
        (p.stem, p.provenance["unreviewed_share"])
        for p in saved
        if p.provenance and review_state(p.provenance) != ACCEPTED
        if float(p.provenance.get("unreviewed_share", 0.0)) > MOSTLY
    ]
    if guessed:
        names = ", ".join(f"{stem} ({share:.0%})" for stem, share in guessed[:5])
        more = f" and {len(guessed) - 5} more" if len(guessed) > 5 else ""
        count = f"{len(guessed)} of the {len(saved)} saved mask{'s' if len(saved) != 1 else ''}"
        cautions.append(
            f"{count} {'is' if len(guessed) == 1 else 'are'} mostly a model's pre-label that nobody changed "
            f"or confirmed: {names}{more}. Fine-tuning on them teaches the model its own guesses; "
            "correct or confirm them (fill the regions you checked) first."
        )
    return cautions
