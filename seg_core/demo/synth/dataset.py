"""Writing a synthetic dataset in the Harvey layout."""

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
from seg_core.demo.synth.render import generate_scene
from seg_core.demo.synth.scene import _check_size
from seg_core.demo.synth.style import HARVEY, StormStyle, resolve_style
from seg_core.schemes.classes import NUM_CLASSES

STYLES_FILE = "styles.json"  # {photo stem: style name}: which storm each photo of a demo dataset shows


@dataclass(frozen=True)
class DemoDatasetSummary:
    """What `write_demo_dataset` wrote."""

    root: Path
    n_train: int
    n_test: int
    size: tuple[int, int]  # (width, height) px
    class_pixel_counts: tuple[int, ...]  # NUM_CLASSES pixel counts over the train masks
    styles: tuple[str, ...] = ("harvey",)  # the storm styles the photos cycle through


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480).

    Raises:
        ValueError: not WIDTHxHEIGHT, or a side outside 64..8000 px.
    """
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", str(text))
    if match is None:
        raise ValueError(f"size {text!r} is not WIDTHxHEIGHT in pixels, e.g. '640x480'")
    return _check_size(int(match.group(1)), int(match.group(2)))


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
            "or pass --replace to delete its train_images/, train_masks/ and test_images/ first"
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
) -> DemoDatasetSummary:
    """Write a synthetic dataset in the Harvey layout.

    Files: out/train_images/synth_NNNN.tif (RGB, deflate), out/train_masks/synth_NNNN.png ('L' class
    ids) and out/test_images/synth_NNNN.tif (numbered after the train scenes, no masks). Scene i is
    drawn from np.random.default_rng([seed, i]), so a seed always gives the same files and any one
    scene can be regenerated alone. Scene i is drawn in style i mod len(style) (a mix cycles
    through its styles) and out/styles.json maps every photo stem to its style's name. A folder that already holds anything is refused (old and
    new scenes of different sizes would mix into one dataset) unless `replace`, which deletes its
    train_images/, train_masks/ and test_images/ first and leaves any other file alone.

    Args:
        out: dataset root (created if missing).
        n: number of train scenes (>= 1).
        size: (width, height) in px, 64..8000 per side.
        seed: non-negative seed.
        n_test: number of test images; default max(2, n // 4).
        progress: called as progress(done, total) after each scene is written (total = n + n_test).
        replace: write into a non-empty folder, deleting the dataset folders it holds first.
        style: a StormStyle, a preset's name, or a sequence of them to cycle through.

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
    root = Path(out)
    dirs = {name: root / name for name in ("train_images", "train_masks", "test_images")}
    _check_demo_folder(root, replace)
    if replace:
        for d in dirs.values():
            if d.is_dir():
                shutil.rmtree(d)
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    counts = np.zeros(NUM_CLASSES, np.int64)
    total, written = n + n_test, {}
    for i in range(total):
        stem, scene_style = f"synth_{i:04d}", styles[i % len(styles)]
        image, mask = generate_scene(width, height, np.random.default_rng([seed, i]), scene_style)
        written[stem] = scene_style.name
        folder = dirs["train_images"] if i < n else dirs["test_images"]
        Image.fromarray(image).save(folder / f"{stem}.tif", compression="tiff_adobe_deflate")
        if i < n:
            Image.fromarray(mask).save(dirs["train_masks"] / f"{stem}.png")
            counts += np.bincount(mask.ravel(), minlength=NUM_CLASSES)[:NUM_CLASSES]
        if progress is not None:
            progress(i + 1, total)
    atomic_write_bytes(root / STYLES_FILE, (json.dumps(written, indent=1) + "\n").encode())
    names = tuple(s.name for s in styles)
    return DemoDatasetSummary(root, n, n_test, (width, height), tuple(int(c) for c in counts), names)


def _resolve_styles(style) -> tuple[StormStyle, ...]:
    styles = (style,) if isinstance(style, (str, StormStyle)) else tuple(style)
    if not styles:
        raise ValueError("style=() names no storm style; give at least one")
    return tuple(resolve_style(s) for s in styles)
