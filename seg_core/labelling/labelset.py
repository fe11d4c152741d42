"""Label sets: the exact masks a training run learned from, frozen, so "which labels made this
model" has an answer and a set can be reproduced or compared with a later one.

A label set is a dataset's usable image/mask pairs whose masks are in a state training may use
(`labelling.review`: accepted, which includes masks that came with the dataset; with
`include_unreviewed` also submitted; rejected never), each with its mask file's SHA-256, its
state and who made and reviewed it. Its id is a hash of the photos, checksums and states, so the
same labels always make the same set.

Freezing copies each chosen mask, once per content, to `.stormseg-labels/sets/masks/<sha>.png`
and writes the manifest to `.stormseg-labels/sets/<id>.json`. A run trains on the frozen copies,
never on `train_masks/`, so an analyst saving while the run decodes cannot change what it learns,
and keeps the manifest as `labelset.json` in its checkpoint folder (a resumed run reads it back
and trains on the same set). A dataset without a label store (made elsewhere: every mask came
with it) is used in place and nothing is written into it (it may be read-only); its manifest
still records every mask's checksum.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from seg_core.core.atomic import atomic_write
from seg_core.core.text import count
from seg_core.datasets.discovery import Pair
from seg_core.labelling.labelstore import STORE_DIR, LabelStore
from seg_core.labelling.review import (
    ACCEPTED,
    SUBMITTED,
    WITH_MASK,
    MaskState,
    mask_sha256,
    photo_state,
    photo_states,
)

RUN_RECORD = "labelset.json"  # the manifest's name in a run's checkpoint folder
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class SetPhoto:
    stem: str
    image: str  # the photo file, relative to the dataset folder
    size: tuple[int, int]  # displayed (width, height), as validation measured it
    mask_sha256: str
    state: str  # accepted or submitted
    by: str | None = None  # who saved the mask (None: it came with the dataset)
    reviewer: str | None = None
    mask: str = ""  # the dataset's mask file, relative to its folder (any layout's naming)


@dataclass(frozen=True)
class LabelSet:
    id: str
    dataset: str  # the dataset folder, absolute
    created_at: float
    include_unreviewed: bool
    photos: tuple[SetPhoto, ...]
    left_out: tuple[dict, ...] = ()  # {stem, state, reason}: usable pairs training did not take
    frozen: bool = False  # masks copied into the label store (False: used in place)
    extra: dict = field(default_factory=dict)

    def pairs(self) -> list[Pair]:
        """The training pairs: each photo with its frozen mask (or, unfrozen, the dataset's)."""
        root = Path(self.dataset)
        return [Pair(p.stem, root / p.image, self.mask_file(p), tuple(p.size)) for p in self.photos]

    def mask_file(self, photo: SetPhoto) -> Path:
        if self.frozen:
            return Path(self.dataset) / STORE_DIR / "sets" / "masks" / f"{photo.mask_sha256}.png"
        if photo.mask:
            return Path(self.dataset) / photo.mask
        return LabelStore(self.dataset).mask_path(photo.stem)

    def summary(self) -> str:
        """One line: "label set ls-1a2b3c4d5e6f: 12 masks (10 accepted, 2 submitted); left out: 1 rejected"."""
        states = Counter(p.state for p in self.photos)
        text = (
            f"label set {self.id}: {count(len(self.photos), 'mask')} ("
            + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
            + ")"
        )
        if self.left_out:
            left = Counter(item["state"] for item in self.left_out)
            text += "; left out: " + ", ".join(f"{n} {s}" for s, n in sorted(left.items()))
        return text

    def to_dict(self) -> dict:
        return {"version": MANIFEST_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, value: dict, source: str = "label set") -> LabelSet:
        try:
            photos = tuple(SetPhoto(**{**p, "size": tuple(p["size"])}) for p in value["photos"])
            known = {k: value[k] for k in ("id", "dataset", "created_at", "include_unreviewed")}
            return cls(
                **known,
                photos=photos,
                left_out=tuple(value.get("left_out", ())),
                frozen=bool(value.get("frozen")),
                extra=dict(value.get("extra") or {}),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{source}: not a label set manifest ({exc})") from None


def has_label_store(root: str | Path) -> bool:
    return (Path(root) / STORE_DIR).is_dir()


def trainable_states(include_unreviewed: bool) -> tuple[str, ...]:
    return (ACCEPTED, SUBMITTED) if include_unreviewed else (ACCEPTED,)


def choose(root: str | Path, pairs: Sequence[Pair], include_unreviewed: bool) -> LabelSet:
    """The label set of `pairs` (validated pairs of the dataset at `root`) as the files are now.

    Each chosen mask's checksum is computed; an accepted mask whose file no longer has the
    checksum recorded when it was accepted is left out (it changed without a new save). Every
    other saved mask of the dataset that is not chosen is listed in `left_out` with its state."""
    root = Path(root).resolve()
    store = LabelStore(root) if has_label_store(root) else None
    wanted = trainable_states(include_unreviewed)
    photos, left_out = [], []
    for pair in sorted(pairs, key=lambda p: p.stem):
        state = photo_state(store, pair.stem) if store else None
        name = state.state if state else ACCEPTED
        if name not in wanted:
            left_out.append({"stem": pair.stem, "state": name, "reason": state.describe() if state else name})
            continue
        sha = mask_sha256(pair.mask)
        if state and state.mask_sha256 and state.state == ACCEPTED and sha != state.mask_sha256:
            left_out.append(
                {"stem": pair.stem, "state": "changed", "reason": "changed since it was accepted"}
            )
            continue
        photos.append(
            SetPhoto(
                pair.stem,
                str(Path(pair.image).resolve().relative_to(root)),
                tuple(pair.size),
                sha,
                name,
                state.by if state else None,
                state.reviewer if state else None,
                str(Path(pair.mask).resolve().relative_to(root)),
            )
        )
    if store is not None:  # masks of the dataset that are not among `pairs` at all
        seen = {p.stem for p in photos} | {item["stem"] for item in left_out}
        for stem in store.stems():
            if stem not in seen and store.mask_path(stem).is_file():
                state = photo_state(store, stem)
                reason = state.describe() if state.state not in wanted else "not a usable image/mask pair"
                left_out.append({"stem": stem, "state": state.state, "reason": reason})
    return LabelSet(
        _set_id(photos), str(root), time.time(), include_unreviewed, tuple(photos), tuple(left_out)
    )


def _set_id(photos: Sequence[SetPhoto]) -> str:
    content = json.dumps([(p.stem, p.image, p.mask_sha256, p.state) for p in photos])
    return "ls-" + hashlib.sha256(content.encode()).hexdigest()[:12]


def sets_folder(root: str | Path) -> Path:
    return Path(root) / STORE_DIR / "sets"


def freeze(label_set: LabelSet) -> LabelSet:
    """Copy the set's masks into the label store (each content once) and write its manifest;
    the returned set reads the copies. A copy whose checksum differs is rewritten."""
    folder = sets_folder(label_set.dataset)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    store = LabelStore(label_set.dataset)
    frozen = replace(label_set, frozen=True)
    for photo in label_set.photos:
        target = frozen.mask_file(photo)
        if target.is_file() and mask_sha256(target) == photo.mask_sha256:
            continue
        source = store.mask_path(photo.stem)
        atomic_write(target, lambda handle, source=source: handle.write(source.read_bytes()))
        if mask_sha256(target) != photo.mask_sha256:  # saved again between the hash and the copy
            target.unlink()
            raise ValueError(
                f"{source}: the mask changed while the label set was frozen; start the run again"
            )
    _write_json(folder / f"{label_set.id}.json", frozen.to_dict())
    return frozen


def _write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(value, indent=1).encode()
    atomic_write(path, lambda handle: handle.write(data))


def load(path: str | Path) -> LabelSet:
    """A manifest (a run's `labelset.json` or a set in the label store); ValueError naming it."""
    path = Path(path)
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the label set ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: not a label set manifest")
    return LabelSet.from_dict(value, str(path))


def saved_sets(root: str | Path) -> list[LabelSet]:
    """The label sets frozen for this dataset, oldest first (unreadable manifests skipped)."""
    folder = sets_folder(root)
    found = []
    for path in folder.glob("ls-*.json") if folder.is_dir() else []:
        try:
            found.append(load(path))
        except ValueError:
            continue
    return sorted(found, key=lambda s: s.created_at)


def find(root: str | Path, set_id: str) -> LabelSet:
    for label_set in saved_sets(root):
        if label_set.id == set_id:
            return label_set
    raise ValueError(
        f"{root}: no label set {set_id!r} (saved: {', '.join(s.id for s in saved_sets(root)) or 'none'})"
    )


def for_run(
    root: str | Path,
    pairs: Sequence[Pair],
    include_unreviewed: bool,
    record: Path | None,
    resume: bool = False,
    is_main: bool = True,
    barrier: Callable[[], None] | None = None,
) -> LabelSet:
    """The label set a run trains on, recorded as `record` (its checkpoint folder's labelset.json;
    None: not recorded, a single process only).

    A resumed run reads its record back. Otherwise the main process chooses and (with a label
    store) freezes the set and writes the record; under DDP the other processes wait at
    `barrier` and read it, so every rank trains on the same set.

    Raises:
        ValueError: no mask is in a trainable state, or the record of a resumed run is unusable.
    """
    if resume and record is not None and record.is_file():
        return _check_frozen(load(record))
    if not has_label_store(root):  # nothing is written into the dataset: every rank works it out alike
        label_set = refuse_empty(choose(root, pairs, include_unreviewed))
    elif is_main:
        label_set = freeze(refuse_empty(choose(root, pairs, include_unreviewed)))
    if is_main and record is not None:
        _write_json(record, label_set.to_dict())
    if not has_label_store(root):
        return label_set
    if barrier is not None:
        barrier()
    if is_main:
        return label_set
    if record is None:
        raise ValueError("a run on several processes needs a label set record to share")
    return load(record)


def refuse_empty(label_set: LabelSet) -> LabelSet:
    """`label_set`, or ValueError saying why it holds no mask and how to get some."""
    if not label_set.photos:
        left = Counter(item["state"] for item in label_set.left_out)
        raise ValueError(nothing_to_train(label_set.dataset, left, label_set.include_unreviewed))
    return label_set


def trainable_masks(store: LabelStore, include_unreviewed: bool) -> list[MaskState]:
    """The photos whose saved mask training may use (ValueError saying why none, and how to
    get some)."""
    states = [s for s in photo_states(store) if s.state in WITH_MASK]
    chosen = [s for s in states if s.state in trainable_states(include_unreviewed)]
    if not chosen:
        left = Counter(s.state for s in states)
        raise ValueError(nothing_to_train(str(store.root), left, include_unreviewed))
    return chosen


def nothing_to_train(dataset: str, left_out: Counter, include_unreviewed: bool) -> str:
    """The sentence for a dataset whose masks are all left out, with the way forward."""
    states = ", ".join(f"{n} {s}" for s, n in sorted(left_out.items())) or "no saved mask"
    more = (
        ""
        if include_unreviewed
        else ", or train on masks nobody has reviewed yet as well (--include-unreviewed; rejected masks never)"
    )
    return (
        f"{dataset}: no mask a training run may use ({states}); accept masks on the Label page "
        f"(Review) or with `python -m seg_core label accept`{more}"
    )


def _check_frozen(label_set: LabelSet) -> LabelSet:
    """A recorded set's masks must still be there, with their checksums (a resumed run)."""
    for photo, pair in zip(label_set.photos, label_set.pairs(), strict=True):
        if not pair.mask.is_file() or mask_sha256(pair.mask) != photo.mask_sha256:
            raise ValueError(
                f"{pair.mask}: the mask of {photo.stem} recorded in {label_set.id} is missing or changed; "
                "this run cannot continue on the same labels (start a new run)"
            )
    return label_set


def compare(old: LabelSet, new: LabelSet) -> dict:
    """What changed from `old` to `new`, by photo: added, removed, mask changed, state changed."""
    before, after = {p.stem: p for p in old.photos}, {p.stem: p for p in new.photos}
    both = sorted(set(before) & set(after))
    return {
        "from": old.id,
        "to": new.id,
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "mask_changed": [s for s in both if before[s].mask_sha256 != after[s].mask_sha256],
        "state_changed": [
            {"stem": s, "from": before[s].state, "to": after[s].state}
            for s in both
            if before[s].state != after[s].state
        ],
        "unchanged": sum(1 for s in both if before[s] == after[s]),
    }


def export(label_set: LabelSet, out: str | Path) -> Path:
    """The set as a dataset of its own (Harvey layout: the photos, their masks as recorded, and
    the manifest), e.g. to train on exactly these labels elsewhere. `out` must not exist."""
    out = Path(out)
    if out.exists():
        raise ValueError(f"{out}: already exists; export a label set to a new folder")
    pairs = _check_frozen(label_set).pairs() if label_set.frozen else label_set.pairs()
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "train_images").mkdir(parents=True)
    (staging / "train_masks").mkdir()
    for photo, pair in zip(label_set.photos, pairs, strict=True):
        shutil.copy2(pair.image, staging / "train_images" / Path(photo.image).name)
        shutil.copyfile(pair.mask, staging / "train_masks" / f"{photo.stem}.png")
        if mask_sha256(staging / "train_masks" / f"{photo.stem}.png") != photo.mask_sha256:
            shutil.rmtree(staging)
            raise ValueError(f"{pair.mask}: the mask of {photo.stem} changed since {label_set.id} was made")
    for sidecar in Path(label_set.dataset).glob("*.json"):  # gsd.json, classes.json
        shutil.copy2(sidecar, staging / sidecar.name)
    (staging / RUN_RECORD).write_text(json.dumps(label_set.to_dict(), indent=1))
    staging.rename(out)
    return out
