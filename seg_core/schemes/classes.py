"""The 25 Hurricane Harvey classes: ids, names, display colours and palette helpers.

The palette was chosen so that the classes analysts compare most often are far apart in RGB:
Flooded (violet) vs Water Body (navy) vs Swimming Pool (cyan); Property Roof (red) vs
Road/Highway (grey); Grass (light green) vs Trees/Shrubs (green). Boats are white so they pop on
flood water. `tests/test_classes.py` checks every pair stays at least 60 RGB units apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SegClass:
    """One label of the Harvey annotation scheme."""

    id: int
    name: str
    color: tuple[int, int, int]


CLASSES: tuple[SegClass, ...] = (
    SegClass(0, "Background", (0, 0, 0)),
    SegClass(1, "Property Roof", (230, 25, 75)),
    SegClass(2, "Secondary Structure", (245, 130, 48)),
    SegClass(3, "Swimming Pool", (0, 230, 230)),
    SegClass(4, "Vehicle", (255, 225, 25)),
    SegClass(5, "Grass", (170, 240, 110)),
    SegClass(6, "Trees/Shrubs", (30, 150, 50)),
    SegClass(7, "Solar Panels", (60, 80, 160)),
    SegClass(8, "Chimney", (128, 0, 0)),
    SegClass(9, "Street Light", (255, 255, 150)),
    SegClass(10, "Window", (170, 110, 40)),
    SegClass(11, "Satellite Antenna", (255, 150, 255)),
    SegClass(12, "Garbage Bins", (90, 130, 20)),
    SegClass(13, "Trampoline", (240, 60, 200)),
    SegClass(14, "Road/Highway", (128, 128, 128)),
    SegClass(15, "Under Construction/In Progress Status", (200, 160, 120)),
    SegClass(16, "Power Lines & Cables", (0, 255, 128)),
    SegClass(17, "Water Tank/Oil Tank", (0, 128, 128)),
    SegClass(18, "Parking Area - Commercial", (190, 190, 230)),
    SegClass(19, "Sports Complex/Arena", (180, 255, 200)),
    SegClass(20, "Industrial Site", (100, 70, 50)),
    SegClass(21, "Dense Vegetation/Forest", (0, 80, 30)),
    SegClass(22, "Water Body", (0, 0, 150)),
    SegClass(23, "Flooded", (150, 0, 255)),
    SegClass(24, "Boat", (255, 255, 255)),
)

NUM_CLASSES = len(CLASSES)
CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)
# Mask value of pixels no loss or metric counts: invented by padding and affine borders, the
# usual "void" of 8-bit masks, outside the class ids. The one definition (augment, losses, the
# training loop and the collate function all read it from here).
IGNORE_INDEX = 255
# (NUM_CLASSES, 3) uint8, indexed by class id: `PALETTE[mask]` colours a mask.
PALETTE = np.array([c.color for c in CLASSES], dtype=np.uint8)
PALETTE.setflags(write=False)

# Classes that are discrete objects (counted as connected components in reports).
OBJECT_CLASS_IDS: tuple[int, ...] = (1, 2, 3, 4, 7, 12, 13, 17, 24)


def class_id(name: str) -> int:
    """Return the id of a class by its exact name (case-insensitive).

    Raises:
        ValueError: the name is not one of the 25 classes.
    """
    for c in CLASSES:
        if c.name.lower() == name.lower():
            return c.id
    raise ValueError(f"unknown class {name!r}; valid names: {', '.join(CLASS_NAMES)}")


def colorize(mask: np.ndarray) -> np.ndarray:
    """Map an HxW class-id mask to an HxWx3 uint8 colour image.

    Ids outside 0..24 are drawn black (background) rather than raising, so a corrupt
    mask can still be looked at.
    """
    mask = np.asarray(mask)
    safe = np.where(mask < NUM_CLASSES, mask, 0).astype(np.intp)
    return PALETTE[safe]


def pil_palette() -> list[int]:
    """A flat 768-entry palette for `PIL.Image.putpalette` (unused slots black)."""
    flat = PALETTE.reshape(-1).tolist()
    return flat + [0] * (768 - len(flat))


def legend_entries(mask: np.ndarray | None = None, include_absent: bool = False) -> list[dict]:
    """Legend rows: id, name, hex colour and, when a mask is given, its pixel share.

    Args:
        mask: optional HxW class-id mask; shares are fractions of its pixels.
        include_absent: with a mask, also list classes that have no pixels.

    Returns:
        A list of dicts ``{"id", "name", "color", "share"}`` ordered by share (descending)
        when a mask is given, else by id. ``share`` is None without a mask.
    """
    if mask is None:
        return [{"id": c.id, "name": c.name, "color": hex_color(c.id), "share": None} for c in CLASSES]
    counts = np.bincount(np.asarray(mask).reshape(-1), minlength=NUM_CLASSES)[:NUM_CLASSES]
    total = max(int(np.asarray(mask).size), 1)
    rows = [
        {"id": c.id, "name": c.name, "color": hex_color(c.id), "share": float(counts[c.id]) / total}
        for c in CLASSES
        if include_absent or counts[c.id] > 0
    ]
    return sorted(rows, key=lambda r: -r["share"])


def hex_color(class_id: int) -> str:
    """'#rrggbb' for a class id."""
    r, g, b = CLASSES[class_id].color
    return f"#{r:02x}{g:02x}{b:02x}"
