"""The photos a semi-supervised run learns from without masks (seg_core.training.semi): a plain
folder of photos, or a dataset's photos that have no mask yet. Torch-free, so the Label page can
count them."""

from __future__ import annotations

from pathlib import Path

from seg_core.datasets.discovery import LAYOUTS, MASK_STEM_SUFFIXES, detect_layout
from seg_core.imagery.imageio import IMAGE_SUFFIXES


def _images_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _mask_stem(path: Path) -> str:
    stem = path.stem
    for suffix in MASK_STEM_SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def unlabelled_photos(folder: str | Path) -> list[Path]:
    """The photos of `folder`: a plain folder of photos, or a dataset (its photos without a mask).

    Raises:
        ValueError: not a folder, or no unlabelled photo in it.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"{root}: no such folder of unlabelled photos")
    try:
        image_dir, mask_dir, _ = LAYOUTS[detect_layout(root)]
    except ValueError:
        photos = _images_in(root)
    else:
        labelled = {_mask_stem(p) for p in _images_in(root / mask_dir)}
        photos = [p for p in _images_in(root / image_dir) if p.stem not in labelled]
    if not photos:
        raise ValueError(
            f"{root}: no unlabelled photo found (.jpg, .png, .tif; a dataset's photos without a mask)"
        )
    return photos
