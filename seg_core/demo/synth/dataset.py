"""Writing a synthetic dataset: in the Harvey layout with Harvey masks, or, in FloodNet's or
RescueNet's scheme, laid out as those datasets are distributed (`train/`, `val/`, `test/` with
`<split>-org-img/<id>.jpg` and `<split>-label-img/<id>_lab.png`) with a classes.json naming it."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from seg_core.core.atomic import atomic_write_bytes
from seg_core.demo.synth.relabel import DRAWN_SCHEMES, generate_scene_in
from seg_core.demo.synth.scene import _check_size
from seg_core.demo.synth.style import HARVEY, StormStyle, resolve_style
from seg_core.schemes.files import write_dataset_scheme
from seg_core.schemes.scheme import HARVEY as HARVEY_SCHEME
from seg_core.schemes.scheme import LabelScheme, builtin

STYLES_FILE = "styles.json"  # {photo stem: style name}: which storm each photo of a demo dataset shows


@dataclass(frozen=True)
class DemoDatasetSummary:
    """What `write_demo_dataset` wrote."""

    root: Path
    n_train: int
    n_test: int
    size: tuple[int, int]  # (width, height) px
    class_pixel_counts: tuple[int, ...]  # pixel counts per class of `scheme` over the labelled masks
    styles: tuple[str, ...] = ("harvey",)  # the storm styles the photos cycle through
    scheme: str = "harvey"  # the label scheme of the masks
    n_val: int = 0  # labelled photos in val/ (the distribution layout; counted in n_train)


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480).

    Raises:
        ValueError: not WIDTHxHEIGHT, or a side outside 64..8000 px.
    """
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", str(text))
    if match is None:
        raise ValueError(f"size {text!r} is not WIDTHxHEIGHT in pixels, e.g. '640x480'")
    return _check_size(int(match.group(1)), int(match.group(2)))


# Dataset folders `replace` deletes, per layout (anything else in the folder is left alone).
HARVEY_FOLDERS = ("train_images", "train_masks", "test_images")
SPLIT_FOLDERS = ("train", "val", "test")


def _check_demo_folder(root: Path, replace: bool) -> None:
    for existing in (root, *root.parents):
        if existing.exists():
            if not existing.is_dir():
                where = "is a file" if existing == root else f"is inside {existing}, which is a file"
                raise ValueError(f"--out {root} {where}; give a folder for the dataset")
            break
    entries = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    if entries and not replace:
        raise ValueError(
            f"--out {root} is not empty ({len(entries)} entries, e.g. {entries[0]}); choose a new folder, "
            "or pass --replace to delete its dataset folders (train_images/, train_masks/, test_images/, "
            "train/, val/, test/) first"
        )


def write_demo_dataset(
    out: str | Path,
    n: int = 24,
    size: tuple[int, int] = (640, 480),
    seed: int = 0,
    n_test: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    replace: bool = False,
    style: StormStyle | str | Sequence[StormStyle | str] = HARVEY,
    scheme: LabelScheme | str = HARVEY_SCHEME,
) -> DemoDatasetSummary:
    """Write a synthetic dataset: Harvey layout, or a FloodNet/RescueNet one (module docstring).

    Files: out/train_images/synth_NNNN.tif (RGB, deflate), out/train_masks/synth_NNNN.png ('L' class
    ids) and out/test_images/synth_NNNN.tif (numbered after the train scenes, no masks). Scene i is
    drawn from np.random.default_rng([seed, i]), so a seed always gives the same files and any one
    scene can be regenerated alone. Scene i is drawn in style i mod len(style) (a mix cycles
    through its styles) and out/styles.json maps every photo stem to its style's name. A folder that already holds anything is refused (old and
    new scenes of different sizes would mix into one dataset) unless `replace`, which deletes its
    train_images/, train_masks/ and test_images/ first and leaves any other file alone.

    In another scheme (`scheme` floodnet or rescuenet) the same scenes are written in its ids
    (`seg_core.demo.synth.relabel`; damage drawn for RescueNet) as the dataset is distributed: a
    fifth of the `n` labelled photos (at least one when n >= 2) in val/, the rest in train/, the
    test photos labelled in test/, JPEGs and `<id>_lab.png` masks, and a classes.json naming it.

    Args:
        out: dataset root (created if missing).
        n: number of train scenes (>= 1).
        size: (width, height) in px, 64..8000 per side.
        seed: non-negative seed.
        n_test: number of test images; default max(2, n // 4).
        progress: called as progress(done, total) after each scene is written (total = n + n_test).
        replace: write into a non-empty folder, deleting the dataset folders it holds first.
        style: a StormStyle, a preset's name, or a sequence of them to cycle through.
        scheme: the masks' label scheme (harvey, floodnet or rescuenet), or its name.

    Returns:
        A DemoDatasetSummary with per-class pixel counts over the train masks.

    Raises:
        ValueError: n < 1, n_test < 0, negative seed, a size outside 64..8000 px or an unknown style; `out` is a
            file, lies under one, or is a non-empty folder and `replace` is False.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} must be an integer >= 1")
    n_test = max(2, n // 4) if n_test is None else n_test
    if isinstance(n_test, bool) or not isinstance(n_test, int) or n_test < 0:
        raise ValueError(f"n_test={n_test!r} must be an integer >= 0")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r} must be an integer >= 0")
    width, height = _check_size(*size)
    styles = _resolve_styles(style)
    scheme = _drawn_scheme(scheme)
    root = Path(out)
    _check_demo_folder(root, replace)
    if replace:
        for name in (*HARVEY_FOLDERS, *SPLIT_FOLDERS):
            if (root / name).is_dir():
                shutil.rmtree(root / name)
    n_val = max(1, round(n / 5)) if scheme != HARVEY_SCHEME and n >= 2 else 0
    place = _harvey_place if scheme == HARVEY_SCHEME else _split_place(n - n_val, n)
    counts = np.zeros(scheme.num_classes, np.int64)
    total, written = n + n_test, {}
    for i in range(total):
        stem, scene_style = f"synth_{i:04d}", styles[i % len(styles)]
        damage_rng = np.random.default_rng([seed, i, 1])  # drawn only for a scheme that grades damage
        image, mask = generate_scene_in(
            width, height, np.random.default_rng([seed, i]), scheme, scene_style, damage_rng
        )
        written[stem] = scene_style.name
        image_path, mask_path = place(root, stem, i, labelled=i < n)
        image_path.parent.mkdir(parents=True, exist_ok=True)
        if image_path.suffix == ".tif":
            Image.fromarray(image).save(image_path, compression="tiff_adobe_deflate")
        else:
            Image.fromarray(image).save(image_path, quality=95)
        if mask_path is not None:
            mask_path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask).save(mask_path)
            if i < n:
                counts += np.bincount(mask.ravel(), minlength=scheme.num_classes)[: scheme.num_classes]
        if progress is not None:
            progress(i + 1, total)
    if scheme == HARVEY_SCHEME:
        for name in HARVEY_FOLDERS:  # the layout even when a folder stays empty (n_test = 0)
            (root / name).mkdir(parents=True, exist_ok=True)
    else:
        write_dataset_scheme(root, scheme)
    atomic_write_bytes(root / STYLES_FILE, (json.dumps(written, indent=1) + "\n").encode())
    names = tuple(s.name for s in styles)
    counted = tuple(int(c) for c in counts)
    return DemoDatasetSummary(root, n, n_test, (width, height), counted, names, scheme.name, n_val)


def _drawn_scheme(scheme: LabelScheme | str) -> LabelScheme:
    resolved = builtin(scheme) if isinstance(scheme, str) else scheme
    if resolved.name not in DRAWN_SCHEMES or resolved != builtin(resolved.name):
        raise ValueError(f"demo data is drawn in {', '.join(DRAWN_SCHEMES)}, not {resolved.name!r}")
    return resolved


def _harvey_place(root: Path, stem: str, index: int, labelled: bool) -> tuple[Path, Path | None]:
    """(photo, mask or None) in the Harvey layout: TIFF photos, test photos without masks."""
    if not labelled:
        return root / "test_images" / f"{stem}.tif", None
    return root / "train_images" / f"{stem}.tif", root / "train_masks" / f"{stem}.png"


def _split_place(n_train: int, n_labelled: int):
    """Where scene i goes in the FloodNet/RescueNet layout: train, then val, then test (all labelled)."""

    def place(root: Path, stem: str, index: int, labelled: bool) -> tuple[Path, Path]:
        split = "train" if index < n_train else "val" if index < n_labelled else "test"
        folder = root / split
        return folder / f"{split}-org-img" / f"{stem}.jpg", folder / f"{split}-label-img" / f"{stem}_lab.png"

    return place


def _resolve_styles(style) -> tuple[StormStyle, ...]:
    styles = (style,) if isinstance(style, (str, StormStyle)) else tuple(style)
    if not styles:
        raise ValueError("style=() names no storm style; give at least one")
    return tuple(resolve_style(s) for s in styles)
