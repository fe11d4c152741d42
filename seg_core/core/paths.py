"""Where StormSeg keeps its files, and where its shipped files are.

Everything a user makes lives under one home folder so that a deployment (or a test) can
relocate it with a single variable:

- `STORMSEG_HOME`: the home folder. Default: the repository root in a checkout (next to
  `app.py`, as always), the current folder for an installed package (as Ultralytics' `runs/`:
  `stormseg train` in a project folder keeps its runs there).
- `STORMSEG_DATA_ROOT`: datasets the app may open (default: `<home>/data`).
- `STORMSEG_CACHE_DIR`: decoded-and-resized image cache (default: `<home>/.cache/stormseg`).

What ships with StormSeg (the demo model, the sample photos, the app's files) is read from the
checkout, or from the installed package's data (pyproject.toml / setup.py map them there).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The folder holding the `seg_core` package: the repository root in a checkout, the
site-packages folder when installed (`python -m seg_core` imports from here)."""

IS_CHECKOUT = (REPO_ROOT / "app.py").is_file() and (REPO_ROOT / "pyproject.toml").is_file()
_PACKAGED = REPO_ROOT / "seg_core" / "assets"  # where setup.py puts the shipped files in a wheel


def home() -> Path:
    default = REPO_ROOT if IS_CHECKOUT else Path.cwd()
    return Path(os.environ.get("STORMSEG_HOME") or default).resolve()


def data_root() -> Path:
    return Path(os.environ.get("STORMSEG_DATA_ROOT", home() / "data")).resolve()


def cache_dir() -> Path:
    return Path(os.environ.get("STORMSEG_CACHE_DIR", home() / ".cache" / "stormseg")).resolve()


def runs_dir() -> Path:
    """Holds the run registry database (`registry.db`) and per-run logs."""
    return home() / "runs"


def checkpoints_dir() -> Path:
    """One sub-folder per run (`<run id>/best.pt`, `last.pt`)."""
    return home() / "checkpoints"


DEMO_CHECKPOINT = (REPO_ROOT / "checkpoints" if IS_CHECKOUT else _PACKAGED) / "demo" / "best.pt"
REAL_GROUND_STARTER = (REPO_ROOT / "checkpoints" if IS_CHECKOUT else _PACKAGED) / "starter" / "real-ground.pt"
"""The demo model trained further with real ground (scripts/train_demo_model.sh stage 3): not the
model that segments, a further start the fine-tune's start check tries (`TrainConfig.starter`)."""
SAMPLES_DIR = REPO_ROOT / "samples" if IS_CHECKOUT else _PACKAGED / "samples"
APP_DIR = REPO_ROOT if IS_CHECKOUT else REPO_ROOT / "stormseg_app"
"""The folder holding `app.py`, `app_pages/`, `ui/` and `.streamlit/config.toml`."""
