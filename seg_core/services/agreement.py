"""Agreement and gold photos, guarded: ask for two independent labels of a photo, compare them
(per-class IoU and where they disagree), resolve them into the photo's accepted mask, and mark
accepted photos as gold to measure each analyst against them over time.

The storage and the rules of who sees what are `labelling.agreement`; the scores come from
`evaluation.scores` (one confusion matrix per pair of masks, the same IoU as Evaluate's). Asking,
resolving and marking gold are the reviewer's (`label.agreement`, `label.gold`), audited like
every review action (`services.review.guarded`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from seg_core.evaluation.scores import confusion_counts, scores_from_matrix
from seg_core.imagery.imageio import load_rgb
from seg_core.labelling import agreement, review
from seg_core.labelling.labelstore import LabelStore
from seg_core.labelling.review import MaskState, ReviewError
from seg_core.schemes.scheme import DEFAULT_SCHEME, LabelScheme, builtin
from seg_core.services.caller import Caller
from seg_core.services.review import guarded, name_of

DISAGREE_RGB = (255, 0, 255)  # magenta: no class of the palette has it
VIEW_LONG_SIDE = 1024  # as the Label page's working image


@dataclass(frozen=True)
class Comparison:
    """Two masks of one photo compared pixel by pixel."""

    stem: str
    a: str  # whose mask (an analyst, or "gold")
    b: str
    miou: float  # mean IoU over the classes either mask holds
    pixel_agreement: float  # share of pixels with the same class
    per_class: list[dict]  # {id, name, iou, pixels_a, pixels_b}, classes present in either

    def to_dict(self) -> dict:
        return {
            "stem": self.stem,
            "a": self.a,
            "b": self.b,
            "miou": self.miou,
            "pixel_agreement": self.pixel_agreement,
            "per_class": self.per_class,
        }


def compare_masks(
    stem: str, a: np.ndarray, b: np.ndarray, names: tuple[str, str], scheme: LabelScheme | None = None
) -> Comparison:
    """Per-class IoU of two class-id masks of one photo (rows of the matrix: `a`) in `scheme`
    (the dataset's; default harvey)."""
    scheme = scheme or builtin(DEFAULT_SCHEME)
    if a.shape != b.shape:
        raise ValueError(f"{stem}: the two masks differ in size ({a.shape} and {b.shape})")
    matrix = confusion_counts(b, a, scheme.num_classes)
    scores = scores_from_matrix(matrix)
    pixels_a, pixels_b = matrix.sum(axis=1), matrix.sum(axis=0)
    rows = [
        {
            "id": c,
            "name": scheme.names[c],
            "iou": round(float(scores.iou[c]), 4),
            "pixels_a": int(pixels_a[c]),
            "pixels_b": int(pixels_b[c]),
        }
        for c in range(scheme.num_classes)
        if pixels_a[c] or pixels_b[c]
    ]
    return Comparison(stem, *names, round(scores.miou, 4), round(scores.pixel_accuracy, 4), rows)


def disagreement_picture(
    photo: np.ndarray, a: np.ndarray, b: np.ndarray, opacity: float = 0.6, scheme: LabelScheme | None = None
) -> np.ndarray:
    """The photo (HxWx3, any size) with `a`'s classes (`scheme`'s colours, default harvey) where
    both masks agree, faded, and magenta where they disagree: where to look first."""
    height, width = photo.shape[:2]
    small_a, small_b = (
        np.asarray(Image.fromarray(m).resize((width, height), Image.Resampling.NEAREST)) for m in (a, b)
    )
    agree = (scheme or builtin(DEFAULT_SCHEME)).colorize(small_a) * (opacity / 2) + photo * (1 - opacity / 2)
    differ = np.asarray(DISAGREE_RGB, dtype=np.float64) * opacity + photo * (1 - opacity)
    picture = np.where((small_a != small_b)[..., None], differ, agree)
    return picture.astype(np.uint8)


def photo_view(dataset: str | Path, stem: str) -> np.ndarray:
    """The photo at the Label page's working size (HxWx3 uint8)."""
    store = LabelStore(dataset)
    return load_rgb(store.image_path(stem), long_side=VIEW_LONG_SIDE).pixels


# ---- requests and their resolution -------------------------------------------------------------
def request_labels(dataset: str | Path, stem: str, caller: Caller | None = None) -> dict:
    """Ask for two independent labels of `stem` (reviewers): analysts who open it from now on
    label it without seeing the saved mask or each other's work."""
    store = LabelStore(dataset)

    def attempt(caller: Caller) -> dict:
        return agreement.request(store, stem, name_of(caller))

    return guarded(
        caller,
        "label.agreement",
        f"{store.root.name}/{stem}",
        attempt,
        lambda _: "asked for 2 independent labels",
    )


def open_requests(dataset: str | Path) -> list[dict]:
    """Photos waiting for independent labels or for a reviewer: stem, who asked, labels so far,
    and whether enough are in to compare."""
    store = LabelStore(dataset)
    rows = []
    for stem, value in agreement.requests(store).items():
        if value.get("resolved"):
            continue
        who = [label.who for label in agreement.labels(store, stem)]
        rows.append(
            {
                "stem": stem,
                "requested_by": value.get("by"),
                "labels": who,
                "needed": int(value.get("needed", agreement.LABELS_NEEDED)),
                "ready": len(who) >= int(value.get("needed", agreement.LABELS_NEEDED)),
            }
        )
    return rows


def compare_labels(dataset: str | Path, stem: str, a: str, b: str) -> Comparison:
    """Two analysts' independent labels of `stem` compared."""
    store = LabelStore(dataset)
    return compare_masks(
        stem,
        agreement.load_label(store, stem, a),
        agreement.load_label(store, stem, b),
        (a, b),
        store.scheme,
    )


def labels_picture(dataset: str | Path, stem: str, a: str, b: str) -> np.ndarray:
    store = LabelStore(dataset)
    return disagreement_picture(
        photo_view(dataset, stem),
        agreement.load_label(store, stem, a),
        agreement.load_label(store, stem, b),
        scheme=store.scheme,
    )


def resolve(dataset: str | Path, stem: str, take_from: str, caller: Caller | None = None) -> MaskState:
    """Make `take_from`'s independent label the photo's mask, accepted by the reviewer, and close
    the request. The reviewer must not be one of the analysts who labelled it (but for the owner);
    a correction afterwards is an ordinary fix and accept."""
    store = LabelStore(dataset)

    def attempt(caller: Caller) -> MaskState:
        request = agreement.open_request(store, stem)
        if request is None:
            raise ReviewError(f"{stem} has no open request for independent labels")
        found = {label.who: label for label in agreement.labels(store, stem)}
        needed = int(request.get("needed", agreement.LABELS_NEEDED))
        if len(found) < needed:
            raise ReviewError(f"{stem} has {len(found)} of the {needed} independent labels asked for")
        if take_from not in found:
            raise ReviewError(
                f"{stem}: {take_from} has no independent label of it (labels by {', '.join(found)})"
            )
        owner, reviewer = caller.actor is None, name_of(caller)
        if not owner and any(review.same_person(who, reviewer) for who in found):
            raise review.OwnMaskError(
                f"{stem}: {reviewer} labelled this photo too; independent labels are resolved by "
                "someone who did not label it"
            )
        mask = agreement.load_label(store, stem, take_from)
        version = store.save(
            stem, mask, take_from, store.version(stem), force=True, provenance=found[take_from].provenance
        )
        state = review.review(store, stem, "accept", reviewer, expected_version=version, allow_own=owner)
        agreement.close_request(store, stem, reviewer, take_from)
        return state

    return guarded(
        caller,
        "label.agreement",
        f"{store.root.name}/{stem}",
        attempt,
        lambda s: f"resolved with {take_from}'s label -> {s.state} (mask {(s.mask_sha256 or '')[:12]})",
    )


# ---- gold ----------------------------------------------------------------------------------
def mark_gold(
    dataset: str | Path, stem: str, caller: Caller | None = None, expected_version: str | None = None
) -> dict:
    """Make an accepted photo gold (reviewers): its accepted mask becomes the reference that
    analysts' later independent labels of it are scored against."""
    store = LabelStore(dataset)

    def attempt(caller: Caller) -> dict:
        return agreement.mark_gold(store, stem, name_of(caller), expected_version)

    return guarded(
        caller,
        "label.gold",
        f"{store.root.name}/{stem}",
        attempt,
        lambda g: f"gold (mask {g['mask_sha256'][:12]})",
    )


def unmark_gold(dataset: str | Path, stem: str, caller: Caller | None = None) -> None:
    store = LabelStore(dataset)
    guarded(
        caller,
        "label.gold",
        f"{store.root.name}/{stem}",
        lambda caller: agreement.unmark_gold(store, stem),
        lambda _: "no longer gold",
    )


def gold_scores(dataset: str | Path) -> list[dict]:
    """Every independent label made on a gold photo after it became gold, scored against the
    gold mask, oldest first: {who, stem, at, miou, pixel_agreement}. Labels made before (such as
    the one the gold mask was taken from) are left out: they are not a honeypot's answer."""
    store = LabelStore(dataset)
    rows = []
    for stem, info in agreement.gold(store).items():
        reference = agreement.load_gold(store, stem)
        for label in agreement.labels(store, stem):
            if label.at < float(info.get("at", 0.0)):
                continue
            mask = agreement.load_label(store, stem, label.who)
            if mask.shape != reference.shape:
                continue
            result = compare_masks(stem, reference, mask, ("gold", label.who), store.scheme)
            rows.append(
                {
                    "who": label.who,
                    "stem": stem,
                    "at": label.at,
                    "miou": result.miou,
                    "pixel_agreement": result.pixel_agreement,
                }
            )
    return sorted(rows, key=lambda row: row["at"])


def gold_summary(scores: list[dict]) -> list[dict]:
    """Per analyst: how many gold photos they answered, their mean and latest mIoU with gold."""
    by_who: dict[str, list[dict]] = {}
    for row in scores:
        by_who.setdefault(row["who"], []).append(row)
    return [
        {
            "who": who,
            "gold_photos": len(rows),
            "mean_miou": round(float(np.mean([r["miou"] for r in rows])), 4),
            "latest_miou": rows[-1]["miou"],
        }
        for who, rows in sorted(by_who.items())
    ]
