"""What several commands share: the input expansion, tables and number formatting."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path


def expand_inputs(inputs: Sequence[str]) -> list[Path]:
    from seg_core.imagery.imageio import IMAGE_SUFFIXES

    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(path)  # a missing or bad file is reported when it is read
    if not files:
        raise ValueError(f"no images found in {', '.join(inputs)}")
    return files


def check_device(name: str) -> str:
    """--device before anything loads: a typo ('gpu') is a sentence, not a torch RuntimeError."""
    from seg_core.training.choices import DEVICES

    if name not in DEVICES:
        raise ValueError(f"--device {name!r} is not one of: {', '.join(DEVICES)}")
    return name


def format_value(value) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4f}"
    return "-" if value is None else str(value)


def print_table(rows: list[dict], columns: Sequence[str]) -> None:
    cells = [[format_value(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


COMPARE_COLUMNS = (
    "name",
    "arch",
    "optimizer",
    "augmentation",
    "final_train_loss",
    "val_loss",
    "train_full_loss",
    "best_val_dice",
    "val_miou_at_best",
    "wall_time_s",
    "status",
)


def dataset_folder(text: str) -> Path:
    """A dataset folder named on the command line (ValueError naming it when there is none)."""
    path = Path(text)
    if not path.is_dir():
        raise ValueError(f"{path}: no such dataset folder")
    return path
