"""Review: the state of each photo's mask, and the transitions a team's review may make.

States, in the order a photo usually passes through them (`STATES`):

    unlabelled    no mask and no pre-label
    pre-labelled  only a model's pre-label (`model` names it)
    draft         no saved mask yet, but someone has unsaved work on it (`drafts`: who)
    submitted     a person saved the mask; it waits for a reviewer
    accepted      a reviewer accepted this very mask, or it came with the dataset
    rejected      a reviewer rejected it with a comment; the next save submits it again

Transitions (`TRANSITIONS`, action -> {from state: to state}): `save` from any state (the label
store's save: a new mask version is always submitted), `accept` a submitted mask, `reject` a
submitted or accepted one, `fix` (a reviewer saves their correction of someone's mask and
accepts it in one step). This module refuses what nobody may do: a transition from the wrong
state, a person accepting a mask they saved (unless the caller is the machine's owner, who works
alone), a mask that changed since the reviewer opened it, a missing or oversized comment. Which
role may ask for which action is decided above it (`services.review` with `team.access`).

Where a review is kept: in the saved mask's record (`labelstore.record_path`), under
`provenance["review"]`, so it belongs to that mask version: any new save writes a new record
whose review is "unreviewed", which reads as submitted, and Evaluate and the fine-tune cautions
(`labelling.provenance`) see an accepted mask as a person's. Records written before review
existed need no migration for the same reason. A mask that came with the dataset (no record) is
accepted: it is the dataset's own truth. A reviewer who rejects it, or a mask replaced outside
StormSeg after a save, gets a record marked `imported` (no StormSeg author); the latter reads as
submitted, since nobody vouched for the file now on disk.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from seg_core.core.atomic import atomic_write
from seg_core.labelling.labelstore import NO_VERSION, LabelStore
from seg_core.labelling.provenance import ACCEPTED, UNREVIEWED

STATES = ("unlabelled", "pre-labelled", "draft", "submitted", "accepted", "rejected")
SUBMITTED, REJECTED = "submitted", "rejected"
WITH_MASK = (SUBMITTED, ACCEPTED, REJECTED)  # the states of a photo with a saved mask
TRANSITIONS = {
    "save": dict.fromkeys(STATES, SUBMITTED),
    "accept": {SUBMITTED: ACCEPTED},
    "reject": {SUBMITTED: REJECTED, ACCEPTED: REJECTED},
    "fix": dict.fromkeys(WITH_MASK, ACCEPTED),
}
# A comment tells the analyst what to fix: a few sentences. Longer is a paste gone wrong, and it
# is stored in every copy of the record and in the audit trail.
MAX_COMMENT_CHARS = 2000


class ReviewError(ValueError):
    """A transition the review refuses; the message is one sentence naming the photo."""


class OwnMaskError(ReviewError):
    """Someone asked to accept a mask they saved themselves."""


class MaskChangedError(ReviewError):
    """The mask changed (saved again) after the reviewer opened it."""


@dataclass(frozen=True)
class MaskState:
    stem: str
    state: str  # one of STATES
    version: str = NO_VERSION  # the saved mask's version token (labelstore.version)
    by: str | None = None  # who saved the mask (None: came with the dataset or changed outside)
    at: float | None = None  # when it was saved
    origin: str = "none"  # none, saved (in StormSeg), imported (came with the dataset), changed (outside)
    model: str | None = None  # the model whose pre-label the photo has
    reviewer: str | None = None
    reviewed_at: float | None = None
    comment: str | None = None  # the reviewer's comment (a rejection's reason)
    submitted_by: str | None = None  # a fixed mask: who made the mask the reviewer corrected
    mask_sha256: str | None = None  # of the mask file, recorded when it was reviewed
    drafts: tuple[str, ...] = field(default=())  # who has unsaved work on the photo

    def to_dict(self) -> dict:
        return {**asdict(self), "drafts": list(self.drafts)}

    def describe(self) -> str:
        """One line for tables and the CLI: "accepted by rita (saved by ana)"."""
        if self.state == "pre-labelled":
            return f"pre-labelled by {self.model}" if self.model else "pre-labelled"
        if self.state == "draft":
            return f"draft by {', '.join(self.drafts)}"
        author = {"imported": "came with the dataset", "changed": "changed outside StormSeg"}.get(
            self.origin, f"saved by {self.by}" if self.by else ""
        )
        if self.state in (ACCEPTED, REJECTED) and self.reviewer:
            return f"{self.state} by {self.reviewer}" + (f" ({author})" if author else "")
        return f"{self.state}" + (f" ({author})" if author else "")


def mask_sha256(path: Path) -> str:
    """SHA-256 of the mask file's bytes (what a label set records and `sha256sum` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def next_state(state: str, action: str, stem: str = "this photo") -> str:
    """The state `action` leads to from `state`, or ReviewError saying which states allow it."""
    if action not in TRANSITIONS:
        raise ValueError(f"unknown review action {action!r}; expected one of {sorted(TRANSITIONS)}")
    allowed = TRANSITIONS[action]
    if state not in allowed:
        needs = " or ".join(allowed)
        raise ReviewError(f"{stem} is {state}: only a {needs} mask can be {_DONE[action]}")
    return allowed[state]


_DONE = {"save": "saved", "accept": "accepted", "reject": "rejected", "fix": "fixed and accepted"}


def check_comment(comment: str | None, required: bool) -> str | None:
    """A review comment, stripped: required for a rejection, at most MAX_COMMENT_CHARS, no
    control characters but line breaks and tabs."""
    text = (comment or "").strip()
    if not text:
        if required:
            raise ReviewError("a rejection needs a comment saying what to fix")
        return None
    if len(text) > MAX_COMMENT_CHARS:
        raise ReviewError(
            f"the comment has {len(text):,} characters; a review comment holds at most "
            f"{MAX_COMMENT_CHARS:,} (say what to fix in a few sentences)"
        )
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise ReviewError("the comment holds control characters; write plain text")
    return text


def same_person(a: str | None, b: str | None) -> bool:
    return bool(a and b) and a.casefold() == b.casefold()


def check_stem(stem: str) -> str:
    """A photo's name as typed (CLI) or sent (a page): a file stem, never a path."""
    if not isinstance(stem, str) or not stem or stem.startswith(".") or any(c in stem for c in "/\\\0"):
        raise ValueError(f"{stem!r} is not a photo name (a file name without its extension)")
    return stem


def check_not_own(stem: str, author: str | None, reviewer: str) -> None:
    """OwnMaskError when `reviewer` made the mask they are about to accept."""
    if same_person(author, reviewer):
        raise OwnMaskError(
            f"{stem}: {reviewer} saved this mask, and a mask is accepted by someone other than the "
            "person who made it; ask another reviewer"
        )


def photo_state(store: LabelStore, stem: str, listed: bool = False) -> MaskState:
    """The state of `stem`'s mask now (ValueError if the photo was removed; `listed`: the caller
    has just listed it, so its file is not looked up again, the most costly step in a listing)."""
    if not listed:
        check_stem(stem)
        store.image_path(stem)
    pre = store.prelabel_info(stem) or {}
    drafts = tuple(store.others_editing(stem, ""))
    if not store.mask_path(stem).is_file():
        if drafts:
            return MaskState(stem, "draft", model=pre.get("model"), drafts=drafts)
        if pre:
            return MaskState(stem, "pre-labelled", model=pre.get("model"))
        return MaskState(stem, "unlabelled")
    version, record = store.version(stem), store.record(stem)
    current = record.get("version") == version
    if not record:
        return MaskState(stem, ACCEPTED, version, origin="imported", model=pre.get("model"), drafts=drafts)
    if not current:
        return MaskState(stem, SUBMITTED, version, origin="changed", model=pre.get("model"), drafts=drafts)
    review = (record.get("provenance") or {}).get("review") or {}
    state = review.get("state", UNREVIEWED)
    imported = bool(record.get("imported"))
    return MaskState(
        stem,
        SUBMITTED if state in (UNREVIEWED, SUBMITTED) else state,
        version,
        by=record.get("by"),
        at=record.get("at"),
        origin=review.get("origin") or ("imported" if imported else "saved"),
        model=pre.get("model"),
        reviewer=review.get("by"),
        reviewed_at=review.get("at"),
        comment=review.get("comment"),
        submitted_by=review.get("submitted_by"),
        mask_sha256=review.get("mask_sha256"),
        drafts=drafts,
    )


def photo_states(store: LabelStore) -> list[MaskState]:
    """Every photo's state, in file-name order (photos removed meanwhile are left out)."""
    states = []
    for stem in store.stems():
        try:
            states.append(photo_state(store, stem, listed=True))
        except ValueError:
            continue
    return states


def review(
    store: LabelStore,
    stem: str,
    action: str,
    reviewer: str,
    expected_version: str | None = None,
    comment: str | None = None,
    allow_own: bool = False,
    submitted_by: str | None = None,
) -> MaskState:
    """Accept, reject or (after the fix was saved) accept a fix of `stem`'s mask, under the
    photo's lock.

    Args:
        action: "accept", "reject" or "fix".
        reviewer: who decides (recorded, and compared with the mask's author).
        expected_version: the mask version the reviewer looked at; None: whatever is on disk now
            (a bulk accept, which reads and decides under one lock).
        comment: required to reject; optional otherwise.
        allow_own: the machine's owner in single-user mode may accept their own masks.
        submitted_by: for "fix": who made the mask before the reviewer corrected it.

    Raises:
        MaskChangedError: the mask is not the version the reviewer looked at.
        OwnMaskError: `reviewer` saved this mask and `allow_own` is False.
        ReviewError: the state does not allow `action`, or the comment is missing or too long.
    """
    comment = check_comment(comment, required=action == "reject")
    with store.lock(stem):
        current = photo_state(store, stem)
        if expected_version is not None and current.version != expected_version:
            when = time.strftime("%H:%M:%S", time.localtime(current.at)) if current.at else "since"
            who = f"{current.by} saved it again at {when}" if current.by else "it was replaced"
            raise MaskChangedError(
                f"{stem}: the mask changed after you opened it for review ({who}); look at the new "
                "mask before you decide"
            )
        target = next_state(current.state, action, stem)
        if action in ("accept", "fix") and not allow_own:
            check_not_own(stem, submitted_by if action == "fix" else current.by, reviewer)
        entry = {
            "state": target,
            "by": reviewer,
            "at": time.time(),
            "comment": comment,
            "mask_sha256": mask_sha256(store.mask_path(stem)),
            "submitted_by": submitted_by if action == "fix" else current.by,
        }
        _write_review(store, stem, current, entry)
    return photo_state(store, stem)


def _write_review(store: LabelStore, stem: str, current: MaskState, entry: dict) -> None:
    """Put `entry` in the record of the mask on disk (a record marked `imported` for a mask with
    no StormSeg author), durably: a kill leaves the old record or the new one."""
    record = store.record(stem) if current.origin not in ("imported", "changed") else {}
    if not record:
        record = {"by": None, "at": None, "version": current.version, "imported": True}
        entry["origin"] = current.origin
    record["provenance"] = {**(record.get("provenance") or {}), "review": entry}
    path = store.record_path(stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(record, indent=1).encode()
    atomic_write(path, lambda handle: handle.write(data))
