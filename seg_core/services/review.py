"""Review, guarded: what the Label page's review queue and `python -m seg_core label states |
accept | reject` call.

Each action checks the `Caller`'s role first (`team.access`: reviewers and admins accept and
reject; the machine's owner anything, their own masks included, since they work alone), then asks
the state machine (`labelling.review`), which refuses what no one may do. Every attempt leaves
one audit row: allowed, with the transition ("submitted -> accepted"); refused, by the role or
because the mask is the caller's own; or failed, with the sentence (wrong state, a mask changed
since it was opened, a bad comment).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from seg_core.imagery.imageio import load_mask, load_rgb
from seg_core.labelling import review
from seg_core.labelling.agreement import independent
from seg_core.labelling.labelstore import LabelStore
from seg_core.labelling.review import MaskState, OwnMaskError
from seg_core.services.caller import Caller
from seg_core.services.labelling import VIEW_LONG_SIDE, save_labels
from seg_core.team.access import OWNER


def name_of(caller: Caller) -> str:
    """Who the caller is in records: their account, or 'owner'."""
    return caller.actor.user if caller.actor is not None else OWNER


def guarded(
    caller: Caller | None, action: str, target: str, attempt: Callable[[Caller], object], detail: Callable
):
    """Run `attempt(caller)` as the audited `action` on `target`: the role check, then one row
    with the outcome (`detail(result)` says what happened when it is allowed)."""
    caller = (caller or Caller()).opened()
    caller.authorize(action, target=target, record=False)
    try:
        result = attempt(caller)
    except OwnMaskError as exc:
        caller.record_outcome(action, "refused", target=target, detail=str(exc))
        raise
    except ValueError as exc:
        caller.record_outcome(action, "failed", target=target, detail=str(exc))
        raise
    caller.record_outcome(action, "allowed", target=target, detail=detail(result))
    return result


def _target(store: LabelStore, stem: str) -> str:
    return f"{store.root.name}/{stem}"


def _transition(before: str, after: MaskState) -> str:
    text = f"{before} -> {after.state} (mask {(after.mask_sha256 or '')[:12]})"
    return text + (f": {after.comment}" if after.comment else "")


def states(dataset: str | Path) -> list[MaskState]:
    return review.photo_states(LabelStore(dataset))


def state_rows(dataset: str | Path) -> list[dict]:
    """One row per photo for tables and `label states`: photo, state, what it means, who saved
    it and when, who reviewed it and their comment."""
    return [
        {
            "photo": s.stem,
            "state": s.state,
            "detail": s.describe(),
            "saved_by": s.by or "",
            "saved": _when(s.at),
            "reviewer": s.reviewer or "",
            "reviewed": _when(s.reviewed_at),
            "comment": s.comment or "",
        }
        for s in states(dataset)
    ]


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else ""


def queue(dataset: str | Path) -> list[MaskState]:
    """The submitted masks, the longest waiting first."""
    waiting = [s for s in states(dataset) if s.state == review.SUBMITTED]
    return sorted(waiting, key=lambda s: (s.at is None, s.at or 0.0, s.stem))


def accept(
    dataset: str | Path,
    stem: str,
    caller: Caller | None = None,
    expected_version: str | None = None,
    comment: str | None = None,
) -> MaskState:
    """Accept `stem`'s submitted mask (reviewers and admins; never one's own but for the owner).

    Args:
        expected_version: the mask version the reviewer looked at (`MaskState.version`); a mask
            saved again since is refused. None: the mask on disk now.
    """
    store = LabelStore(dataset)
    before = review.photo_state(store, stem).state

    def attempt(caller: Caller) -> MaskState:
        return review.review(
            store,
            stem,
            "accept",
            name_of(caller),
            expected_version=expected_version,
            comment=comment,
            allow_own=caller.actor is None,
        )

    return guarded(caller, "label.accept", _target(store, stem), attempt, lambda s: _transition(before, s))


def reject(
    dataset: str | Path,
    stem: str,
    comment: str,
    caller: Caller | None = None,
    expected_version: str | None = None,
) -> MaskState:
    """Reject `stem`'s submitted or accepted mask with a comment saying what to fix."""
    store = LabelStore(dataset)
    before = review.photo_state(store, stem).state

    def attempt(caller: Caller) -> MaskState:
        return review.review(
            store, stem, "reject", name_of(caller), expected_version=expected_version, comment=comment
        )

    return guarded(caller, "label.reject", _target(store, stem), attempt, lambda s: _transition(before, s))


def accept_all(
    dataset: str | Path, caller: Caller | None = None, stems: list[str] | None = None
) -> tuple[list[str], list[str]]:
    """Accept every submitted mask (or those of `stems`), each audited on its own. Returns the
    photos accepted and one sentence per photo refused (one's own masks, a changed state)."""
    caller = (caller or Caller()).opened()
    caller.authorize("label.accept", target=f"{Path(dataset).name} (bulk)", record=False)
    wanted = [s.stem for s in queue(dataset)] if stems is None else stems
    accepted, refused = [], []
    for stem in wanted:
        try:
            accept(dataset, stem, caller)
        except ValueError as exc:
            refused.append(str(exc))
        else:
            accepted.append(stem)
    return accepted, refused


def fix_and_accept(session, caller: Caller | None = None) -> MaskState:
    """Save a reviewer's correction of someone's mask (the Label page's session) and accept it
    in one step: the mask they corrected must not be their own (but for the owner), and must be
    the one they opened (`session.base_version`)."""
    store, stem = session.store, session.stem
    before = review.photo_state(store, stem)

    def attempt(caller: Caller) -> MaskState:
        review.next_state(before.state, "fix", stem)
        if before.version != session.base_version:
            raise review.MaskChangedError(
                f"{stem}: the mask changed after you opened it ({before.describe()}); reload it first"
            )
        if independent(store, stem):
            raise review.ReviewError(
                f"{stem} is labelled independently: resolve its labels (Agreement) or unmark it as "
                "gold before fixing its mask"
            )
        owner = caller.actor is None
        if not owner:
            review.check_not_own(stem, before.by, name_of(caller))
        save_labels(session, caller=caller)
        return review.review(
            store,
            stem,
            "fix",
            name_of(caller),
            expected_version=session.base_version,
            allow_own=owner,
            submitted_by=before.by,
        )

    return guarded(
        caller,
        "label.accept",
        _target(store, stem),
        attempt,
        lambda s: _transition(f"{before.state} (fixed)", s),
    )


@dataclass(frozen=True)
class ReviewPictures:
    """What a reviewer looks at, at the Label page's working size (HxWx3 uint8 each)."""

    mask: np.ndarray  # the saved mask over the photo
    prediction: np.ndarray | None = None  # the model's prediction over the photo
    uncertainty: np.ndarray | None = None  # its uncertainty (dark: sure, yellow: unsure)
    model_figures: dict | None = None  # the prediction's uncertainty figures
    prediction_source: str = ""  # which model, or the stored pre-label


def pictures(
    dataset: str | Path, stem: str, predictor=None, model_name: str = "", opacity: float = 0.5
) -> ReviewPictures:
    """The saved mask over the photo and, beside it, the model's prediction and uncertainty: from
    `predictor` (a loaded Predictor, named `model_name`) when given, else the photo's stored
    pre-label (no map)."""
    from seg_core.analytics.report import overlay  # OpenCV: only for the pictures

    store = LabelStore(dataset)
    photo = load_rgb(store.image_path(stem), long_side=VIEW_LONG_SIDE).pixels
    saved = load_mask(store.mask_path(stem))
    mask = overlay(photo, _to_size(saved, photo), opacity, boundaries=True, scheme=store.scheme)
    if predictor is not None:
        from seg_core.services import analysis

        result = analysis.analyse_photo(predictor, store.image_path(stem), stem)
        return ReviewPictures(
            mask,
            analysis.render_overlay(result, opacity, boundaries=True),
            analysis.render_uncertainty(result, opacity),
            result.stats.uncertainty,
            model_name or "the chosen model",
        )
    prelabel = store.load_prelabel(stem)
    if prelabel is None:
        return ReviewPictures(mask)
    info = store.prelabel_info(stem) or {}
    picture = overlay(photo, _to_size(prelabel, photo), opacity, boundaries=True, scheme=store.scheme)
    return ReviewPictures(mask, picture, None, info.get("uncertainty"), f"pre-label by {info.get('model')}")


def _to_size(mask: np.ndarray, photo: np.ndarray) -> np.ndarray:
    height, width = photo.shape[:2]
    return np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.NEAREST))
