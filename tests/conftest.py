"""Shared fixtures: every test gets its own StormSeg home, so nothing touches the repo's folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def stormseg_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("STORMSEG_HOME", str(home))
    monkeypatch.delenv("STORMSEG_DATA_ROOT", raising=False)
    monkeypatch.delenv("STORMSEG_CACHE_DIR", raising=False)
    return home


def make_pair(root: Path, stem: str, size=(48, 32), seed=0, image_suffix=".png", layout="harvey"):
    """Write one random image/mask pair; returns (image_path, mask_path)."""
    rng = np.random.default_rng(seed)
    width, height = size
    image_dir, mask_dir = ("train_images", "train_masks") if layout == "harvey" else ("images", "masks")
    (root / image_dir).mkdir(parents=True, exist_ok=True)
    (root / mask_dir).mkdir(parents=True, exist_ok=True)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    mask = rng.integers(0, 25, (height, width), dtype=np.uint8)
    image_path = root / image_dir / f"{stem}{image_suffix}"
    mask_path = root / mask_dir / f"{stem}.png"
    Image.fromarray(image).save(image_path)
    Image.fromarray(mask, mode="L").save(mask_path)
    return image_path, mask_path


@pytest.fixture
def tiny_dataset(tmp_path) -> Path:
    root = tmp_path / "tiny"
    for i in range(6):
        make_pair(root, f"img{i}", seed=i)
    return root
