"""Where map jobs live: one folder per job under `<home>/maps/`, holding what `geojob` wrote
(flight.geojson for photos, `<stem>_summary.json` and the files it names for a mosaic)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from seg_core.core import paths
from seg_core.gis.geojob import SUMMARY_SUFFIX


def maps_dir() -> Path:
    """Where the Map page keeps its jobs: `<home>/maps/<time>-<name>/`."""
    return paths.home() / "maps"


def new_map_folder(label: str) -> Path:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", label).strip("-")[:40] or "map"
    folder = maps_dir() / f"{time.strftime('%Y%m%d-%H%M%S')}-{stem}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def list_map_folders() -> list[Path]:
    """Map folders under `maps_dir()`, newest first (those with at least one layer)."""
    root = maps_dir()
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.iterdir()
        if p.is_dir() and (any(p.glob(f"*{SUMMARY_SUFFIX}")) or (p / "flight.geojson").is_file())
    ]
    return sorted(found, key=lambda p: p.name, reverse=True)
