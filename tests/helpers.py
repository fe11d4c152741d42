"""Test data builders shared by test modules (imported as `from helpers import ...`; a module named
conftest cannot be imported by name, since tests/ and tests/e2e/ each have one)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


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


def make_pairs(root: Path, count: int, size=(48, 32)) -> Path:
    """Write `count` pairs named img0, img1, ... (seeds 0, 1, ...); returns `root`."""
    for i in range(count):
        make_pair(root, f"img{i}", size=size, seed=i)
    return root


class Pointwise(torch.nn.Module):
    """A 1x1 convolution: its output at a pixel depends on that pixel alone (so tiling, rotating or
    flipping the input must not change the mask of any pixel)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = torch.nn.Conv2d(3, 25, 1)

    def forward(self, x):
        return self.conv(x) * 5


def registry_integrity(db: Path) -> str:
    """SQLite's own verdict on a registry file: "ok" when intact."""
    with sqlite3.connect(db) as conn:
        result = conn.execute("PRAGMA integrity_check").fetchall()
    conn.close()
    return ", ".join(r[0] for r in result)


def wait_for(predicate, timeout: float = 15.0, what: str = "condition") -> None:
    """Poll `predicate` until it holds; fail naming `what` after `timeout` seconds (a bound on a
    hang, not a timing assertion: the condition itself is what the test checks)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def write_tiny_checkpoint(
    path: Path, resolution: int = 64, *, seed: int = 0, width: int = 4, scheme_classes=None, **meta_extra
) -> Path:
    """A real, seeded U-Net checkpoint (4 wide, 64 px, Harvey's scheme by default): a Predictor in
    milliseconds for tests. `seed` and `width` vary its weights and shapes, `scheme_classes` names
    another label scheme's classes, and `meta_extra` adds metadata keys (e.g. working_gsd_cm for the
    map's GSD, or a run's config and run_id)."""
    from seg_core.models import ModelSpec, create_model
    from seg_core.models.checkpoint import save_checkpoint
    from seg_core.schemes.classes import CLASS_NAMES

    names = list(scheme_classes or CLASS_NAMES)
    torch.manual_seed(seed)
    spec = ModelSpec(arch="unet", weights="none", unet_base_width=width, num_classes=len(names))
    model = create_model(spec, load_weights=False)
    meta = {
        "arch": "unet",
        "encoder": "none",
        "num_classes": len(names),
        "class_names": names,
        "resolution": resolution,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "unet_base_width": width,
        **meta_extra,
    }
    if scheme_classes:
        meta["scheme"] = {
            "name": "other",
            "ignore_index": 255,
            "classes": [
                {"id": i, "name": n, "color": [i * 9, 0, 0], "role": "background" if i == 0 else "other"}
                for i, n in enumerate(names)
            ],
        }
    return save_checkpoint({"state_dict": model.state_dict(), "meta": meta}, path)
