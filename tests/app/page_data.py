"""Small datasets under the app's data folder, for the page tests: photos, and masks submitted
by named analysts (the review queue's input)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from seg_core.core import paths
from seg_core.labelling.labelstore import LabelStore


def storm(count: int = 2) -> Path:
    """The dataset "newstorm": `count` flat photos p0, p1, ... of 40x30 px, no masks."""
    root = paths.data_root() / "newstorm"
    (root / "train_images").mkdir(parents=True)
    for i in range(count):
        Image.fromarray(np.full((30, 40, 3), 40 * i, np.uint8)).save(root / "train_images" / f"p{i}.png")
    return root


def submit(root: Path, stem: str, who: str, class_id: int = 1) -> None:
    """`who` saves a mask of `stem`: the top 10 rows `class_id`, the rest background."""
    store = LabelStore(root)
    mask = np.zeros((30, 40), np.uint8)
    mask[:10] = class_id
    store.save(stem, mask, who, store.version(stem))
