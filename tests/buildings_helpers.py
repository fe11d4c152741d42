"""Synthetic damage scenes with known houses, painted straight into masks of a label scheme's ids."""

from __future__ import annotations

import math

import cv2
import numpy as np

from seg_core.schemes.scheme import BUILDING, LabelScheme


def paint_house(mask: np.ndarray, centre, size, angle_deg: float, class_id: int) -> None:
    """A rotated rectangle (width x height px about `centre`) of `class_id`, with sub-pixel corners."""
    a = math.radians(angle_deg)
    cos, sin = math.cos(a), math.sin(a)
    (cx, cy), (w, h) = centre, size
    corners = [
        (cx + dx * cos - dy * sin, cy + dx * sin + dy * cos)
        for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))
    ]
    cv2.fillPoly(mask, [np.round(np.array(corners) * 16).astype(np.int32)], int(class_id), shift=4)


def level_id(scheme: LabelScheme, level: str) -> int:
    """The scheme's building class with damage level `level`."""
    return next(i for i in scheme.ids(BUILDING) if scheme.damage_of(i) == level)


def known_houses(scheme: LabelScheme, roof: int | None = None) -> tuple[np.ndarray, int]:
    """A 1600x1200 scene at 7.5 cm/px with 9 houses, two pairs and a corner pair touching, an L-shaped
    house and a long one; returns (mask, number of houses)."""
    roof = scheme.ids(BUILDING)[0] if roof is None else roof
    mask = np.zeros((1200, 1600), np.uint8)
    paint_house(mask, (200, 200), (120, 120), 0, roof)  # pair sharing 40 px of one side
    paint_house(mask, (320, 280), (120, 120), 0, roof)
    paint_house(mask, (700, 200), (150, 100), 25, roof)  # rotated pair, corner on edge
    paint_house(mask, (840, 260), (150, 100), 25, roof)
    paint_house(mask, (300, 700), (180, 110), -17, roof)  # single rotated house
    paint_house(mask, (800, 700), (90, 90), 40, roof)
    paint_house(mask, (1200, 300), (200, 60), 0, roof)  # an L: one house
    paint_house(mask, (1130, 400), (60, 200), 0, roof)
    paint_house(mask, (1300, 900), (300, 90), 5, roof)  # long house: one
    paint_house(mask, (520, 1000), (100, 100), 0, roof)  # two squares meeting at a corner
    paint_house(mask, (620, 1100), (100, 100), 0, roof)
    return mask, 10
