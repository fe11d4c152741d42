"""Label store: a dataset's photos, their labelling status, drafts and conflict-safe mask saves.

Layout inside a dataset folder (Harvey `train_images/` + `train_masks/`, or `images/` + `masks/`):

    train_masks/<stem>.png                 the corrected mask: what training reads
    .stormseg-labels/records/<stem>.json   who saved it, when, and its provenance (labelling.provenance:
                                           which pre-label, how much a person changed or confirmed)
    .stormseg-labels/prelabels/<stem>.png  a model's pre-label (never read by training)
    .stormseg-labels/prelabels/<stem>.json which model (name, weights checksum), its uncertainty figures
    .stormseg-labels/drafts/<stem>.<who>.png   an analyst's unsaved work, rewritten per stroke

Pre-labels stay outside `train_masks/` on purpose: a model's guess must never become training
truth until a person has looked at it and saved it.

Conflict rule (two analysts, one photo): optimistic locking. Opening a photo notes the mask
file's version (inode, size, mtime); Save compares it, under a per-photo file lock, with the
version on disk. If someone saved in between, Save refuses with a sentence naming who and when,
and the analyst's work stays in their draft; they reload (see the other's work) or overwrite
on purpose (`force`). Nobody's save is ever silently lost, and nobody is locked out by a
colleague who closed the tab mid-edit.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from seg_core.core.atomic import atomic_write
from seg_core.core.locks import file_lock
from seg_core.datasets.discovery import LAYOUTS, MASK_NAME_SUFFIX, MASK_STEM_SUFFIXES, detect_layout
from seg_core.imagery.imageio import IMAGE_SUFFIXES, displayed_size, load_mask, open_checked
from seg_core.schemes.files import read_dataset_scheme
from seg_core.schemes.scheme import DEFAULT_SCHEME, LabelScheme, builtin

STORE_DIR = ".stormseg-labels"
STATUSES = ("unlabelled", "pre-labelled", "corrected", "labelled")  # labelled: a mask made elsewhere
NO_VERSION = "none"  # the version of a mask that does not exist yet
_WHO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class ConflictError(ValueError):
    """Someone else saved this photo's mask after it was opened; the message says who and when."""


@dataclass(frozen=True)
class PhotoStatus:
    stem: str
    image: Path
    status: str  # one of STATUSES
    by: str | None = None  # who saved the corrected mask
    at: float | None = None  # when (Unix time)
    model: str | None = None  # which model pre-labelled it
    uncertainty: dict | None = None  # the pre-label's uncertainty figures (inference.uncertainty)
    provenance: dict | None = None  # a corrected mask's provenance record (labelling.provenance)

    def to_dict(self) -> dict:
        return {**asdict(self), "image": str(self.image)}


def check_who(who: str) -> str:
    """An analyst name usable in file names: letters, digits, `_ . @ -`, at most 64 characters."""
    if not isinstance(who, str) or not _WHO.match(who):
        raise ValueError(
            f"analyst name {who!r} must be 1-64 letters, digits or _ . @ - (starting with a letter or digit)"
        )
    return who


def write_mask_png(path: Path, mask: np.ndarray, scheme: LabelScheme | None = None) -> None:
    """Write a class-id mask as a palette PNG (`scheme`'s colours, default harvey) atomically (temp
    file, fsync, os.replace, fsync dir): a kill at any instant leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8), mode="P")
    image.putpalette((scheme or builtin(DEFAULT_SCHEME)).pil_palette())
    # compress_level 1: masks compress well even at level 1, and a save is what the analyst waits on
    atomic_write(path, lambda handle: image.save(handle, format="PNG", compress_level=1))


def _write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # a missing or damaged record just means "no record"
    return value if isinstance(value, dict) else None


def check_mask(mask: np.ndarray, size: tuple[int, int], label: str, scheme: LabelScheme | None = None):
    """The mask as HxW uint8, or ValueError naming `label`: wrong size or shape, ids outside
    `scheme` (default harvey)."""
    scheme = scheme or builtin(DEFAULT_SCHEME)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"{label}: a mask must be a single-channel HxW array, got shape {mask.shape}")
    if (mask.shape[1], mask.shape[0]) != tuple(size):
        raise ValueError(
            f"{label}: the mask is {mask.shape[1]}x{mask.shape[0]} px but the photo is "
            f"{size[0]}x{size[1]}; a mask must have the photo's original size"
        )
    if mask.size and (mask.min() < 0 or mask.max() >= scheme.num_classes):
        raise ValueError(
            f"{label}: the mask holds class id {int(mask.max())}; the {scheme.name} scheme's ids are "
            f"0..{scheme.num_classes - 1}"
        )
    return mask.astype(np.uint8, copy=False)


class LabelStore:
    """One dataset's labelling state; every method is safe to call from several processes."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        layout = detect_layout(self.root)
        images, masks, _test = LAYOUTS[layout]
        self.image_dir, self.mask_dir = self.root / images, self.root / masks
        # A new mask takes the layout's own name (RescueNet/FloodNet: `<id>_lab.png`), so training
        # never meets two masks for one photo (it skips both).
        self.new_mask_suffix = MASK_NAME_SUFFIX.get(layout, "")
        self.store = self.root / STORE_DIR
        # the dataset's classes.json, as training reads it; without one, harvey (masks as ever)
        self.scheme = read_dataset_scheme(self.root) or builtin(DEFAULT_SCHEME)

    # ---- photos and status -------------------------------------------------------------
    def stems(self) -> list[str]:
        if not self.image_dir.is_dir():
            return []
        return sorted(
            p.stem
            for p in self.image_dir.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
        )

    def image_path(self, stem: str) -> Path:
        """The photo file of `stem`; ValueError when it was removed (e.g. while being labelled)."""
        for path in sorted(self.image_dir.glob(f"{glob_escape(stem)}.*")):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                return path
        raise ValueError(f"{self.image_dir}: photo {stem!r} is no longer in the dataset (removed or renamed)")

    def original_size(self, stem: str) -> tuple[int, int]:
        """(width, height) of the photo as displayed (EXIF applied), from its header."""
        with open_checked(self.image_path(stem)) as image:
            return displayed_size(image)

    def mask_path(self, stem: str) -> Path:
        """The photo's mask file: the one there is under any name training pairs (`a.png`,
        `a_lab.png`, ...), else the name a new one gets."""
        for suffix in ("", *MASK_STEM_SUFFIXES):
            if (path := self.mask_dir / f"{stem}{suffix}.png").is_file():
                return path
        return self.mask_dir / f"{stem}{self.new_mask_suffix}.png"

    def prelabel_path(self, stem: str) -> Path:
        return self.store / "prelabels" / f"{stem}.png"

    def status(self, stem: str) -> PhotoStatus:
        image = self.image_path(stem)
        record = self.record(stem)
        pre = _read_json(self.store / "prelabels" / f"{stem}.json") or {}
        uncertainty = pre.get("uncertainty")
        if self.mask_path(stem).is_file():
            if record.get("version") == self.version(stem) and not record.get("imported"):
                return PhotoStatus(
                    stem,
                    image,
                    "corrected",
                    record.get("by"),
                    record.get("at"),
                    pre.get("model"),
                    provenance=record.get("provenance"),
                )
            return PhotoStatus(stem, image, "labelled", model=pre.get("model"), uncertainty=uncertainty)
        if self.prelabel_path(stem).is_file():
            return PhotoStatus(stem, image, "pre-labelled", model=pre.get("model"), uncertainty=uncertainty)
        return PhotoStatus(stem, image, "unlabelled")

    def photos(self) -> list[PhotoStatus]:
        rows = []
        for stem in self.stems():
            with contextlib.suppress(ValueError):  # removed between the listing and the lookup
                rows.append(self.status(stem))
        return rows

    # ---- masks ----------------------------------------------------------------------------
    def version(self, stem: str) -> str:
        """A token that changes whenever the saved mask is replaced (os.replace gives a new inode)."""
        try:
            info = self.mask_path(stem).stat()
        except FileNotFoundError:
            return NO_VERSION
        return f"{info.st_ino}-{info.st_size}-{info.st_mtime_ns}"

    def load_working_mask(self, stem: str) -> tuple[np.ndarray, str]:
        """The mask to start correcting from and where it came from: 'saved', 'pre-label' or 'empty'."""
        size = self.original_size(stem)
        for path, source in ((self.mask_path(stem), "saved"), (self.prelabel_path(stem), "pre-label")):
            if path.is_file():
                mask = load_mask(path)
                if (mask.shape[1], mask.shape[0]) == size:
                    return check_mask(mask, size, str(path), self.scheme), source
        return np.zeros((size[1], size[0]), dtype=np.uint8), "empty"

    def save_prelabel(
        self,
        stem: str,
        mask: np.ndarray,
        model: str,
        uncertainty: dict | None = None,
        weights_sha256: str | None = None,
    ) -> None:
        """Store a model's pre-label; `model` names it, `weights_sha256` identifies it exactly."""
        mask = check_mask(mask, self.original_size(stem), f"pre-label of {stem}", self.scheme)
        write_mask_png(self.prelabel_path(stem), mask, self.scheme)
        info = {
            "model": model,
            "weights_sha256": weights_sha256,
            "at": time.time(),
            "uncertainty": uncertainty,
        }
        _write_json(self.store / "prelabels" / f"{stem}.json", info)

    def prelabel_info(self, stem: str) -> dict | None:
        """The pre-label's record (model, weights_sha256, at, uncertainty), if there is a pre-label."""
        return (
            _read_json(self.store / "prelabels" / f"{stem}.json")
            if self.prelabel_path(stem).is_file()
            else None
        )

    def load_prelabel(self, stem: str, size: tuple[int, int] | None = None) -> np.ndarray | None:
        """The pre-label mask, or None when there is none or it does not fit the photo (`size`,
        width x height; read from the photo when not given)."""
        path = self.prelabel_path(stem)
        if not path.is_file():
            return None
        mask = load_mask(path)
        size = size or self.original_size(stem)
        return mask if (mask.shape[1], mask.shape[0]) == tuple(size) else None

    def saved_provenance(self, stem: str) -> dict | None:
        """The provenance of the saved mask, when its record describes the file on disk now (a
        mask replaced by other means has no known provenance)."""
        record = self.record(stem)
        if record.get("version") != self.version(stem):
            return None
        return record.get("provenance")

    def save(
        self,
        stem: str,
        mask: np.ndarray,
        who: str,
        base_version: str,
        force: bool = False,
        provenance: dict | None = None,
    ) -> str:
        """Save an analyst's corrected mask at the photo's original size; returns the new version.

        Args:
            base_version: `version(stem)` when the analyst opened the photo.
            force: overwrite even if someone saved since (the analyst chose to, after being told).
            provenance: where the mask came from (labelling.provenance.describe_save), recorded.

        Raises:
            ConflictError: someone saved this photo after `base_version` (and not `force`).
            ValueError: the photo is gone, or the mask has the wrong size or ids above 24.
        """
        check_who(who)
        mask = check_mask(mask, self.original_size(stem), f"mask for {stem}", self.scheme)
        with self.lock(stem):
            current = self.version(stem)
            if current != base_version and not force:
                record = self.record(stem)
                by, at = record.get("by", "someone"), record.get("at")
                when = time.strftime("%H:%M:%S", time.localtime(at)) if at else "meanwhile"
                raise ConflictError(
                    f"{stem}: {by} saved this photo at {when}, after you opened it; your work is kept "
                    "in your draft: reload to see their mask, or save again with overwrite to replace it"
                )
            write_mask_png(self.mask_path(stem), mask, self.scheme)
            version = self.version(stem)
            _write_json(
                self.record_path(stem),
                {
                    "by": who,
                    "at": time.time(),
                    "version": version,
                    "replaced": current,
                    "provenance": provenance,
                },
            )
        self.discard_draft(stem, who)
        return version

    def lock(self, stem: str):
        """Saves and reviews of one photo, one at a time across sessions and processes."""
        return file_lock(self.store / "locks" / f"{stem}.lock")

    def record_path(self, stem: str) -> Path:
        """The saved mask's record (who, when, version, provenance and its review)."""
        return self.store / "records" / f"{stem}.json"

    def record(self, stem: str) -> dict:
        """The record as stored ({} when none); it describes the mask on disk only when its
        `version` is the file's `version(stem)`."""
        return _read_json(self.record_path(stem)) or {}

    # ---- drafts ---------------------------------------------------------------------------
    def draft_path(self, stem: str, who: str) -> Path:
        return self.store / "drafts" / f"{stem}.{check_who(who)}.png"

    def save_draft(self, stem: str, who: str, mask: np.ndarray, base_version: str) -> None:
        """Keep unsaved work (called after every stroke): a closed tab loses at most one stroke."""
        write_mask_png(self.draft_path(stem, who), mask, self.scheme)
        _write_json(self.draft_path(stem, who).with_suffix(".json"), {"base_version": base_version})

    def load_draft(self, stem: str, who: str) -> tuple[np.ndarray, str] | None:
        """(mask, the version it was based on) of this analyst's draft, if one fits the photo."""
        path = self.draft_path(stem, who)
        if not path.is_file():
            return None
        try:
            mask = check_mask(load_mask(path), self.original_size(stem), str(path), self.scheme)
        except ValueError:
            return None  # a draft for a photo since replaced by one of another size: useless
        info = _read_json(path.with_suffix(".json")) or {}
        return mask, str(info.get("base_version", NO_VERSION))

    def discard_draft(self, stem: str, who: str) -> None:
        path = self.draft_path(stem, who)
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)

    def others_editing(self, stem: str, who: str) -> list[str]:
        """Analysts other than `who` with an unsaved draft of this photo (shown as a notice)."""
        folder = self.store / "drafts"
        if not folder.is_dir():
            return []
        names = [p.name[len(stem) + 1 : -4] for p in folder.glob(f"{glob_escape(stem)}.*.png")]
        return sorted(n for n in names if n != who and _WHO.match(n))


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def check_new_dataset(
    root: Path, name: str, photos: list[tuple[str, bytes]]
) -> tuple[Path, list[tuple[str, bytes]], list[str]]:
    """What `create_dataset` would write, checked before anything is: (the dataset folder, the
    usable photos, one sentence per photo refused).

    Raises:
        ValueError: a bad or taken name, or not a single usable photo.
    """
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", name or ""):
        raise ValueError(f"dataset name {name!r} must be 1-64 letters, digits, _ or - (no spaces or dots)")
    folder = Path(root).resolve() / name
    if folder.exists():
        raise ValueError(f"{folder}: a dataset of that name already exists; pick another name")
    refused, accepted = [], []
    for filename, data in photos:
        base = Path(filename).name
        if Path(base).suffix.lower() not in IMAGE_SUFFIXES:
            refused.append(f"{base}: not a photo file (allowed: {', '.join(IMAGE_SUFFIXES)})")
            continue
        try:
            with open_checked(io.BytesIO(data), name=base):
                pass
        except ValueError as exc:
            refused.append(str(exc))
            continue
        accepted.append((base, data))
    if not accepted:
        raise ValueError("no usable photo among the uploads: " + "; ".join(refused or ["none given"]))
    return folder, accepted, refused


def write_dataset(folder: Path, photos: list[tuple[str, bytes]]) -> Path:
    """A new Harvey-layout dataset at `folder` with checked photos (`check_new_dataset`)."""
    (folder / "train_images").mkdir(parents=True)
    (folder / "train_masks").mkdir()
    for base, data in photos:
        (folder / "train_images" / base).write_bytes(data)
    return folder


def create_dataset(root: Path, name: str, photos: list[tuple[str, bytes]]) -> tuple[Path, list[str]]:
    """A new Harvey-layout dataset `root/name` with the given photos (file name, bytes): (the
    folder, one sentence per photo refused). ValueError: a bad or taken name, no usable photo."""
    folder, accepted, refused = check_new_dataset(root, name, photos)
    return write_dataset(folder, accepted), refused
