"""Dataset discovery and validation: which image/mask pairs are usable, and what is wrong with the
rest, file by file.

Layouts: Harvey (`train_images/`, `train_masks/`, optional `test_images/`), generic (`images/`,
`masks/`), and FloodNet/RescueNet as they are distributed (`train/`, `val/`, `test/` holding
`<split>-org-img/<id>.jpg` and `<split>-label-img/<id>_lab.png`: train and val pairs train, test
photos are held out; one split folder on its own, e.g. `RescueNet/test`, is a dataset too). Pairs
match by file stem; a mask stem may carry a `_mask`, `_lab` or `_label` suffix. Validation reads
image headers (plus a cheap end-of-file check for truncation) and decodes each mask once, so a
261-photo Harvey set validates in seconds, not minutes. Each mask's ids are checked against the
dataset's label scheme (`seg_core.datasets.labels`).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seg_core.datasets.labels import dataset_scheme, ids_problem
from seg_core.datasets.partial import read_partial_labels
from seg_core.imagery.imageio import (
    DECODE_ERRORS,
    IMAGE_SUFFIXES,
    ImageReadError,
    displayed_size,
    load_mask,
    open_checked,
)
from seg_core.schemes.files import DATASET_SCHEME_FILE, read_dataset_scheme
from seg_core.schemes.scheme import LabelScheme

# Layout -> (image folder, mask folder, test photo folder), relative to the dataset root.
LAYOUTS = {
    "harvey": ("train_images", "train_masks", "test_images"),
    "generic": ("images", "masks", None),
    "splits": ("train/train-org-img", "train/train-label-img", "test/test-org-img"),
    **{f"{s}-split": (f"{s}-org-img", f"{s}-label-img", None) for s in ("train", "val", "test")},
}
# How a layout names a photo's mask: the distributions' `-label-img` folders hold `<id>_lab.png`
# (FloodNet/RescueNet), the others `<id>.png`.
MASK_NAME_SUFFIX = {
    layout: "_lab" for layout, (_, masks, _) in LAYOUTS.items() if masks.endswith("-label-img")
}
# More labelled folders a layout trains on: the distribution's own validation split.
EXTRA_PAIR_FOLDERS = {"splits": (("val/val-org-img", "val/val-label-img"),)}
MASK_STEM_SUFFIXES = ("_mask", "_lab", "_label")


@dataclass(frozen=True)
class Pair:
    """One usable training example. `size` is the displayed (width, height)."""

    stem: str
    image: Path
    mask: Path
    size: tuple[int, int]


@dataclass(frozen=True)
class Problem:
    """A file StormSeg will not use, and why (`kind` is a stable code, `message` a sentence)."""

    path: str
    kind: str
    message: str


@dataclass
class ValidationReport:
    root: Path
    layout: str
    n_images: int = 0
    n_masks: int = 0
    test_images: list[Path] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    class_pixel_counts: list[int] = field(default_factory=list)  # per class of `scheme`
    image_sizes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    scheme: LabelScheme | None = None  # None only when it cannot be told (a problem says why)
    scheme_source: str = ""  # "classes.json", "detected" or "default" (`DatasetScheme.source`)
    scheme_note: str = ""  # one sentence: which scheme and why

    @property
    def usable(self) -> bool:
        return len(self.pairs) > 0

    def class_frequencies(self) -> list[float]:
        total = max(sum(self.class_pixel_counts), 1)
        return [count / total for count in self.class_pixel_counts]

    def to_dict(self) -> dict:
        return {
            "root": str(self.root),
            "layout": self.layout,
            "images": self.n_images,
            "masks": self.n_masks,
            "usable_pairs": len(self.pairs),
            "test_images": len(self.test_images),
            "problems": [vars(p) for p in self.problems],
            "scheme": self.scheme.to_dict() if self.scheme else None,
            "scheme_source": self.scheme_source,
            "scheme_note": self.scheme_note,
            "class_pixel_counts": self.class_pixel_counts,
            "image_sizes": self.image_sizes,
            "seconds": round(self.seconds, 3),
        }


def detect_layout(root: Path) -> str:
    """'harvey' or 'generic'; ValueError naming the folder when neither is present."""
    for layout, (images, _masks, _test) in LAYOUTS.items():
        if (root / images).is_dir():
            return layout
    raise ValueError(
        f"{root}: no dataset found; expected a train_images/ + train_masks/ folder (Harvey layout), "
        "images/ + masks/, or FloodNet/RescueNet's train/train-org-img/ + train/train-label-img/"
    )


def _list_files(folder: Path | None, root: Path, problems: list[Problem]) -> dict[str, Path]:
    """Image files by stem; non-images, duplicates and links leaving the root become problems."""
    found: dict[str, Path] = {}
    duplicates: set[str] = set()
    if folder is None or not folder.is_dir():
        return found
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        try:
            target = path.resolve()
        except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
            problems.append(Problem(str(path), "unreadable", f"{path}: a symbolic link that loops; skipped"))
            continue
        if not target.is_relative_to(root):
            problems.append(
                Problem(str(path), "outside_root", f"{path}: links outside the dataset folder; skipped")
            )
            continue
        if path.is_dir():
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            problems.append(Problem(str(path), "not_an_image", f"{path}: not an image file; ignored"))
            continue
        if path.stem in found:
            problems.append(
                Problem(
                    str(path), "duplicate_stem", f"{path}: same name as {found[path.stem].name}; both skipped"
                )
            )
            duplicates.add(path.stem)
            continue
        found[path.stem] = path
    return {stem: p for stem, p in found.items() if stem not in duplicates}


def _mask_key(stem: str) -> str:
    for suffix in MASK_STEM_SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def _masks_by_image(
    masks_by_file: dict[str, Path], image_stems: set[str], problems: list[Problem]
) -> tuple[dict[str, Path], set]:
    """Masks by image stem; two masks for one image (`a.png` and `a_mask.png`) are both skipped.

    A mask named exactly like an image belongs to it, so a photo called `roof_mask.jpg` pairs with
    `roof_mask.png` rather than being left without a mask.

    Returns:
        (masks by image stem, image stems whose mask is ambiguous).
    """
    masks: dict[str, Path] = {}
    ambiguous: set[str] = set()
    for stem, path in masks_by_file.items():
        key = stem if stem in image_stems else _mask_key(stem)
        if key in masks:
            message = f"{path}: a second mask for image {key!r} (with {masks[key].name}); both skipped"
            problems.append(Problem(str(path), "duplicate_stem", message))
            ambiguous.add(key)
        else:
            masks[key] = path
    return {key: path for key, path in masks.items() if key not in ambiguous}, ambiguous


def looks_truncated(path: Path, image_format: str | None, tags: dict) -> bool:
    """A cheap end-of-file check that catches cut-off downloads without decoding the image."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        handle.seek(max(0, size - 1024))
        tail = handle.read()
    if image_format in ("JPEG", "MPO"):
        return b"\xff\xd9" not in tail
    if image_format == "PNG":
        return b"IEND" not in tail[-12:]
    if image_format == "TIFF":
        offsets = tags.get(273) or tags.get(324) or ()
        counts = tags.get(279) or tags.get(325) or ()
        return any(o + c > size for o, c in zip(offsets, counts, strict=False))
    return False


def _check_pair(
    stem: str, image_path: Path, mask_path: Path
) -> tuple[Pair | None, Problem | None, np.ndarray | None]:
    """Validate one pair; returns (pair, None, 256-bin histogram of its mask) or (None, problem, None)."""
    try:
        with open_checked(image_path) as image:
            size = displayed_size(image)
            if looks_truncated(image_path, image.format, dict(getattr(image, "tag_v2", {}))):
                return (
                    None,
                    Problem(str(image_path), "damaged", f"{image_path}: the file is damaged (truncated)"),
                    None,
                )
    except ImageReadError as exc:
        return None, Problem(str(image_path), "unreadable", str(exc)), None
    except DECODE_ERRORS as exc:  # e.g. PNG's getexif() decodes the pixels of a cut-off file
        return None, Problem(str(image_path), "damaged", f"{image_path}: the file is damaged ({exc})"), None
    try:
        mask = load_mask(mask_path)
    except ImageReadError as exc:
        return None, Problem(str(mask_path), "unreadable", str(exc)), None
    mask_size = (mask.shape[1], mask.shape[0])
    if mask_size != size:
        message = f"{mask_path}: mask is {mask_size[0]}x{mask_size[1]} but its image is {size[0]}x{size[1]}"
        return None, Problem(str(mask_path), "size_mismatch", message), None
    counts = np.bincount(mask.reshape(-1), minlength=256)  # ids are checked against the scheme later
    return Pair(stem, image_path, mask_path, size), None, counts


@dataclass
class _Listing:
    """A dataset's files paired by name, before any of them is opened."""

    root: Path
    layout: str
    images: dict[str, Path]  # by stem
    n_masks: int  # mask files found, paired or not
    masks: dict[str, Path]  # by the stem of the image they belong to (ambiguous ones left out)
    ambiguous: set[str]  # image stems with two masks


def _list_dataset(root: str | Path, problems: list[Problem]) -> _Listing:
    root = Path(root).resolve()
    if not root.is_dir():
        raise ValueError(f"{root}: dataset folder not found")
    layout = detect_layout(root)
    image_dir, mask_dir, _ = LAYOUTS[layout]
    folders = ((image_dir, mask_dir), *EXTRA_PAIR_FOLDERS.get(layout, ()))
    images = _merge([_list_files(root / i, root, problems) for i, _ in folders], problems)
    masks_by_file = _merge([_list_files(root / m, root, problems) for _, m in folders], problems)
    masks, ambiguous = _masks_by_image(masks_by_file, set(images), problems)
    return _Listing(root, layout, images, len(masks_by_file), masks, ambiguous)


def _merge(folders: list[dict[str, Path]], problems: list[Problem]) -> dict[str, Path]:
    """Files by stem over several folders; a stem found in two split folders is skipped."""
    merged: dict[str, Path] = {}
    first: dict[str, Path] = {}
    for found in folders:
        for stem, path in found.items():
            if stem in first:
                message = f"{path}: same name as {first[stem]}; both skipped"
                problems.append(Problem(str(path), "duplicate_stem", message))
                merged.pop(stem, None)
            else:
                first[stem] = merged[stem] = path
    return merged


def count_named_pairs(root: str | Path) -> int:
    """How many images have a mask by name: the cheap check (no file is opened) that a run is
    worth starting at all; `validate_dataset` then checks each pair's contents.

    Raises:
        ValueError: `root` is not a folder.
    """
    listing = _list_dataset(root, [])
    return len(set(listing.images) & set(listing.masks))


def validate_dataset(
    root: str | Path, progress: Callable[[int, int], None] | None = None, workers: int = 2
) -> ValidationReport:
    """Find every image/mask pair under `root` and report each problem by file.

    Faulty items are excluded; valid pairs stay usable. Never raises for bad files, only for a
    root that is not a dataset folder at all, or a classes.json that cannot be used
    (`SchemeError`, one sentence per problem).

    Args:
        root: the dataset folder (any of `LAYOUTS`).
        progress: called as progress(done, total) while pairs are checked.
        workers: threads decoding masks (PNG inflate releases the GIL).
    """
    start = time.perf_counter()
    problems: list[Problem] = []
    listing = _list_dataset(root, problems)
    root, images, masks, ambiguous = listing.root, listing.images, listing.masks, listing.ambiguous
    image_dir, _, test_dir = LAYOUTS[listing.layout]
    report = ValidationReport(root=root, layout=listing.layout, problems=problems)
    test = _list_files(root / test_dir, root, report.problems) if test_dir else {}
    report.n_images, report.n_masks, report.test_images = len(images), listing.n_masks, sorted(test.values())

    for stem in sorted(set(masks) - set(images)):
        report.problems.append(Problem(str(masks[stem]), "orphan_mask", f"{masks[stem]}: mask has no image"))
    for stem in sorted(set(images) - set(masks) - ambiguous):
        report.problems.append(
            Problem(str(images[stem]), "missing_mask", f"{images[stem]}: image has no mask")
        )
    if not images:
        report.problems.append(
            Problem(str(root / image_dir), "empty", f"{root / image_dir}: no images found")
        )

    declared = read_dataset_scheme(root)  # a malformed classes.json is refused before any decoding
    stems = sorted(set(images) & set(masks))
    partial = read_partial_labels(root, declared)  # its not-codes are mask values, not class ids
    not_codes = sorted(partial.not_codes) if partial else []
    checked: list[tuple[Pair, np.ndarray]] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = pool.map(lambda s: _check_pair(s, images[s], masks[s]), stems)
        for done, (pair, problem, counts) in enumerate(results, start=1):
            if pair is not None:
                checked.append((pair, counts))
            else:
                report.problems.append(problem)
            if progress:
                progress(done, len(stems))
    _check_ids(report, checked, declared, not_codes)
    report.seconds = time.perf_counter() - start
    return report


def _check_ids(
    report: ValidationReport,
    checked: list[tuple[Pair, np.ndarray]],
    declared: LabelScheme | None,
    not_codes: list[int],
) -> None:
    """Settle the dataset's scheme, keep the pairs whose ids fit it, count pixels per class.
    `not_codes`: the partial-label sidecar's mask values ("none of these classes"), which are
    neither ids nor outside the scheme."""
    totals = np.zeros(256, dtype=np.int64)
    for _, counts in checked:
        totals += counts
    totals[not_codes] = 0
    known, why_not = dataset_scheme(report.root, report.layout, totals, declared)
    if known is None:
        report.problems.append(Problem(str(report.root / DATASET_SCHEME_FILE), "unknown_scheme", why_not))
        return
    report.scheme, report.scheme_source, report.scheme_note = known.scheme, known.source, known.note
    class_counts = np.zeros(known.scheme.num_classes, dtype=np.int64)
    sizes: collections.Counter[str] = collections.Counter()
    for pair, counts in checked:
        ids = counts.copy()
        ids[not_codes] = 0
        problem = ids_problem(pair.mask, ids, known)
        if problem is not None and problem[0] == "unlabelled" and counts[not_codes].any():
            problem = None  # "not road" pixels teach what a pixel is not
        if problem is not None:
            report.problems.append(Problem(str(pair.mask), *problem))
            continue
        report.pairs.append(pair)
        class_counts += counts[: known.scheme.num_classes]
        sizes[f"{pair.size[0]}x{pair.size[1]}"] += 1
    report.class_pixel_counts = class_counts.tolist()
    report.image_sizes = dict(sizes.most_common())


def split_pairs(
    pairs: Sequence[Pair], val_ratio: float = 0.15, seed: int = 0
) -> tuple[list[Pair], list[Pair]]:
    """Seeded train/val split by stem, reproducible from (stems, val_ratio, seed) alone.

    Keeps at least one pair on each side when there are two or more pairs.
    """
    if not 0.0 <= val_ratio < 1.0:
        raise ValueError(f"val ratio {val_ratio} must be in [0, 1)")
    ordered = sorted(pairs, key=lambda p: p.stem)
    order = np.random.default_rng(seed).permutation(len(ordered))
    n_val = round(len(ordered) * val_ratio)
    if len(ordered) >= 2 and val_ratio > 0:
        n_val = min(max(n_val, 1), len(ordered) - 1)
    val = sorted((ordered[i] for i in order[:n_val]), key=lambda p: p.stem)
    train = sorted((ordered[i] for i in order[n_val:]), key=lambda p: p.stem)
    return train, val
