"""Independent labels: two analysts label one photo without seeing each other's work, and gold
photos (honeypots) that measure each analyst against a reviewer's accepted mask.

Layout inside the label store (`.stormseg-labels/`):

    independent/<stem>/<who>.png   one analyst's own label of a photo labelled independently
    independent/<stem>/<who>.json  who, when, the file's SHA-256 and the save's provenance
    agreement/<stem>.json          a reviewer's request for independent labels (by, at, needed),
                                   and once resolved: by whom, when, whose label was taken
    gold/<stem>.png                a gold photo's reference: its accepted mask when marked gold
    gold/<stem>.json               who marked it, when, the reference's SHA-256

A photo is labelled independently while a request is open or while it is gold: an analyst who
opens it starts from the model's pre-label (or nothing), never from the saved mask or a
colleague's label, and their save writes their own label, not `train_masks/`. Gold photos look
the same to analysts as any photo labelled independently, so a honeypot is not announced. The
saved mask, its review state and what training reads stay as they were: resolving a request
saves the chosen label as the photo's mask through the ordinary save and review.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seg_core.core.atomic import atomic_write
from seg_core.core.text import count
from seg_core.imagery.imageio import load_mask
from seg_core.labelling.labelstore import LabelStore, check_mask, check_who, write_mask_png
from seg_core.labelling.review import ACCEPTED, ReviewError, check_stem, mask_sha256, photo_state

LABELS_NEEDED = 2  # two analysts: the smallest number that shows where people disagree


@dataclass(frozen=True)
class IndependentLabel:
    stem: str
    who: str
    at: float
    path: Path
    mask_sha256: str
    provenance: dict | None = None


def _folder(store: LabelStore, kind: str) -> Path:
    return store.store / kind


def _read(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _write(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(value, indent=1).encode()
    atomic_write(path, lambda handle: handle.write(data))


# ---- requests ------------------------------------------------------------------------------
def request(store: LabelStore, stem: str, by: str, needed: int = LABELS_NEEDED) -> dict:
    """Ask for `needed` independent labels of `stem` (a request already open is kept as it is)."""
    store.image_path(check_stem(stem))
    if needed < 2:
        raise ValueError(f"independent labels compare people: ask for at least 2, not {needed}")
    current = open_request(store, stem)
    if current is not None:
        return current
    value = {"by": by, "at": time.time(), "needed": int(needed), "resolved": None}
    _write(_folder(store, "agreement") / f"{stem}.json", value)
    return value


def open_request(store: LabelStore, stem: str) -> dict | None:
    value = _read(_folder(store, "agreement") / f"{stem}.json")
    return value if value is not None and not value.get("resolved") else None


def requests(store: LabelStore) -> dict[str, dict]:
    """Every request, open or resolved, by photo."""
    folder = _folder(store, "agreement")
    found = {p.stem: _read(p) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}
    return {stem: value for stem, value in found.items() if value is not None}


def close_request(store: LabelStore, stem: str, by: str, taken_from: str | None) -> None:
    """Mark the open request resolved: by the reviewer `by`, with the label of `taken_from`."""
    value = open_request(store, stem)
    if value is None:
        raise ReviewError(f"{stem} has no open request for independent labels")
    value["resolved"] = {"by": by, "at": time.time(), "taken_from": taken_from}
    _write(_folder(store, "agreement") / f"{stem}.json", value)


def independent(store: LabelStore, stem: str) -> bool:
    """Whether `stem` is labelled independently now (an open request, or a gold photo)."""
    return open_request(store, stem) is not None or is_gold(store, stem)


# ---- independent labels ----------------------------------------------------------------------
def label_path(store: LabelStore, stem: str, who: str) -> Path:
    return _folder(store, "independent") / check_stem(stem) / f"{check_who(who)}.png"


def save_label(
    store: LabelStore, stem: str, who: str, mask: np.ndarray, provenance: dict | None
) -> IndependentLabel:
    """Write `who`'s own label of `stem` (replacing their earlier one), atomically."""
    if not independent(store, stem):
        raise ReviewError(f"{stem} is not labelled independently (no open request, not gold)")
    mask = check_mask(mask, store.original_size(stem), f"independent label of {stem}", store.scheme)
    path = label_path(store, stem, who)
    write_mask_png(path, mask, store.scheme)
    info = {"who": who, "at": time.time(), "mask_sha256": mask_sha256(path), "provenance": provenance}
    _write(path.with_suffix(".json"), info)
    store.discard_draft(stem, who)
    return IndependentLabel(stem, who, info["at"], path, info["mask_sha256"], provenance)


def save_own_label(store: LabelStore, stem: str, who: str, mask: np.ndarray, provenance: dict | None) -> str:
    """`save_label` for the Label page's Save on a photo labelled independently; the sentence
    it shows (the same for gold photos, which are not announced)."""
    save_label(store, stem, who, mask, provenance)
    height, width = mask.shape
    return (
        f"Saved your own label of {stem} ({width}x{height} px) as {who}: this photo is labelled "
        "independently, and a reviewer compares the labels."
    )


def review_label(store: LabelStore, stem: str) -> str:
    """The review state in words of a photo just listed, and whether it is labelled independently."""
    text = photo_state(store, stem, listed=True).describe()
    if independent(store, stem):
        text += f" · labelled independently ({count(len(labels(store, stem)), 'label')} so far)"
    return text


def labels(store: LabelStore, stem: str) -> list[IndependentLabel]:
    """The independent labels of `stem`, oldest first."""
    folder = _folder(store, "independent") / stem
    found = []
    for info_path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        info = _read(info_path)
        path = info_path.with_suffix(".png")
        if info and path.is_file():
            found.append(
                IndependentLabel(
                    stem, info["who"], info["at"], path, info["mask_sha256"], info.get("provenance")
                )
            )
    return sorted(found, key=lambda label: label.at)


def load_label(store: LabelStore, stem: str, who: str) -> np.ndarray:
    path = label_path(store, stem, who)
    if not path.is_file():
        raise ValueError(f"{stem}: {who} has no independent label of this photo")
    return check_mask(load_mask(path), store.original_size(stem), str(path), store.scheme)


def working_mask(store: LabelStore, stem: str, who: str) -> tuple[np.ndarray, str]:
    """What `who` starts from on a photo labelled independently: their own label, else the
    pre-label, else nothing (never the saved mask or a colleague's label)."""
    if label_path(store, stem, who).is_file():
        return load_label(store, stem, who), "saved"
    size = store.original_size(stem)
    prelabel = store.load_prelabel(stem, size)
    if prelabel is not None:
        return prelabel, "pre-label"
    return np.zeros((size[1], size[0]), dtype=np.uint8), "empty"


# ---- gold ------------------------------------------------------------------------------------
def is_gold(store: LabelStore, stem: str) -> bool:
    return (_folder(store, "gold") / f"{stem}.png").is_file()


def mark_gold(store: LabelStore, stem: str, by: str, expected_version: str | None = None) -> dict:
    """Make `stem`'s accepted mask its gold reference (a copy: later saves do not change it)."""
    with store.lock(stem):
        state = photo_state(store, stem)
        if state.state != ACCEPTED:
            raise ReviewError(f"{stem} is {state.state}: only an accepted mask can be gold")
        if expected_version is not None and state.version != expected_version:
            raise ReviewError(f"{stem}: the mask changed after you opened it; look at it again")
        mask = load_mask(store.mask_path(stem))
    folder = _folder(store, "gold")
    write_mask_png(folder / f"{stem}.png", mask, store.scheme)
    info = {
        "by": by,
        "at": time.time(),
        "mask_sha256": mask_sha256(folder / f"{stem}.png"),
        "from": state.version,
    }
    _write(folder / f"{stem}.json", info)
    return info


def unmark_gold(store: LabelStore, stem: str) -> None:
    folder = _folder(store, "gold")
    if not is_gold(store, stem):
        raise ReviewError(f"{stem} is not a gold photo")
    (folder / f"{stem}.json").unlink(missing_ok=True)
    (folder / f"{stem}.png").unlink(missing_ok=True)


def gold(store: LabelStore) -> dict[str, dict]:
    """Gold photos: stem -> {by, at, mask_sha256, from}."""
    folder = _folder(store, "gold")
    found = {}
    for path in sorted(folder.glob("*.png")) if folder.is_dir() else []:
        found[path.stem] = _read(path.with_suffix(".json")) or {}
    return found


def load_gold(store: LabelStore, stem: str) -> np.ndarray:
    path = _folder(store, "gold") / f"{stem}.png"
    if not path.is_file():
        raise ValueError(f"{stem} is not a gold photo")
    return load_mask(path)
