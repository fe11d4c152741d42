"""Where StormSeg keeps its files.

Everything lives under one home folder so that a deployment (or a test) can relocate it with a
single variable. By default the home is the repository root, next to `app.py`.

- `STORMSEG_HOME`: the home folder (default: the repository root).
- `STORMSEG_DATA_ROOT`: datasets the app may open (default: `<home>/data`).
- `STORMSEG_CACHE_DIR`: decoded-and-resized image cache (default: `<home>/.cache/stormseg`).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def home() -> Path:
    return Path(os.environ.get("STORMSEG_HOME", REPO_ROOT)).resolve()


def data_root() -> Path:
    return Path(os.environ.get("STORMSEG_DATA_ROOT", home() / "data")).resolve()


def cache_dir() -> Path:
    return Path(os.environ.get("STORMSEG_CACHE_DIR", home() / ".cache" / "stormseg")).resolve()


def runs_dir() -> Path:
    """Holds the run registry database (`registry.db`) and per-run logs."""
    return home() / "runs"


def checkpoints_dir() -> Path:
    """One sub-folder per run (`<run id>/best.pt`, `last.pt`); `demo/` ships with the repo."""
    return home() / "checkpoints"


DEMO_CHECKPOINT = REPO_ROOT / "checkpoints" / "demo" / "best.pt"
