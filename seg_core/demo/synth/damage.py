"""Storm damage drawn on a synthetic scene's buildings, so a scheme that grades damage (RescueNet)
has something real to learn and show offline.

Each building (a connected group of roof pixels) draws a FEMA level and looks it, on the flat photo
before lighting and sensor effects are applied:

- No damage: as drawn.
- Minor: missing shingles (patches of bare decking and underlayment), sometimes a small blue tarp.
- Major: blue tarps over a large part of the roof, bare decking, part of the roof collapsed into
  rubble, and debris scattered around the house.
- Destroyed: the whole roof collapsed into rubble spilling past the walls, and heavy debris around.

Debris lands on the ground around a house (roads included: a road under debris is blocked), never
on another building. Everything is drawn from its own generator, so the scene itself (layout,
textures, noise) is the same photo as without damage.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from seg_core.demo.synth.scene import ANTENNA, CHIMNEY, ROOF, SHED, SOLAR, WINDOW

# What a building's footprint is made of in the Harvey labels: roofs and what sits on them.
BUILDING_PARTS = (ROOF, SHED, SOLAR, CHIMNEY, WINDOW, ANTENNA)
# Levels drawn and their shares: about what a hard-hit Hurricane Michael neighbourhood shows.
LEVELS = ("No damage", "Minor", "Major", "Destroyed")
LEVEL_SHARES = (0.35, 0.25, 0.22, 0.18)
MIN_BUILDING_M2 = 6.0  # smaller roof specks (a shed's corner cut by the frame) stay undamaged
DEBRIS_REACH_M = 5.0  # a destroyed house's debris lands this far from its walls
NO_DAMAGE = 0  # index into LEVELS
NOT_A_BUILDING = 255

TARP = ((28, 84, 196), (40, 104, 214), (22, 70, 170))
DECKING = ((152, 118, 80), (176, 146, 102), (128, 100, 72))
UNDERLAYMENT = ((84, 80, 78), (110, 104, 98))
RUBBLE = ((150, 132, 110), (112, 100, 88), (190, 182, 170), (92, 70, 52), (210, 205, 196), (70, 66, 64))


@dataclass
class DamageLayers:
    """What `paint_damage` drew.

    Attributes:
        level: HxW uint8 index into LEVELS for building pixels (rubble spilled past the walls
            included), NOT_A_BUILDING elsewhere.
        debris: HxW bool, debris on the ground around damaged houses.
    """

    level: np.ndarray
    debris: np.ndarray


class DamagePainter:
    """A `render_layers` paint hook: `DamagePainter(rng)(photo, labels, metres_per_px)`."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def __call__(self, photo: np.ndarray, labels: np.ndarray, gsd: float) -> DamageLayers:
        return paint_damage(photo, labels, gsd, self.rng)


def _px(metres: float, gsd: float) -> int:
    return max(1, round(metres / gsd))


def _colour(rng: np.random.Generator, choices) -> tuple[int, int, int]:
    base = np.asarray(choices[int(rng.integers(len(choices)))], np.float32)
    return tuple(int(v) for v in np.clip(base * rng.normal(1, 0.06), 0, 255))


def _patch(shape, rng, centre, size_px: tuple[int, int], angle: float) -> np.ndarray:
    """A filled rotated rectangle as an HxW bool."""
    box = cv2.boxPoints(((float(centre[0]), float(centre[1])), size_px, angle))
    out = np.zeros(shape, np.uint8)
    cv2.fillPoly(out, [np.round(box).astype(np.int32)], 1)
    return out.astype(bool)


def _inside_points(where: np.ndarray, rng: np.random.Generator, count: int) -> np.ndarray:
    ys, xs = np.nonzero(where)
    if not len(xs):
        return np.zeros((0, 2), int)
    picks = rng.integers(len(xs), size=count)
    return np.stack([xs[picks], ys[picks]], axis=1)


def _rubble(photo: np.ndarray, area: np.ndarray, rng: np.random.Generator, gsd: float) -> None:
    """Broken material over `area`: ~0.3 m cells of mixed wood, shingle, drywall and concrete."""
    ys, xs = np.nonzero(area)
    if not len(xs):
        return
    cell = _px(0.3, gsd)
    keys = (ys // cell) * 100_003 + xs // cell
    _, cell_of = np.unique(keys, return_inverse=True)
    palette = np.array([_colour(rng, RUBBLE) for _ in range(int(cell_of.max()) + 1)], np.uint8)
    photo[ys, xs] = palette[cell_of]


def _chunks(shape, rng: np.random.Generator, gsd: float, share: float) -> np.ndarray:
    """HxW bool: about `share` of ~0.5 m cells, so spilled rubble breaks up in pieces, not speckle."""
    cell = _px(0.5, gsd)
    coarse = rng.random((shape[0] // cell + 1, shape[1] // cell + 1)) < share
    return np.repeat(np.repeat(coarse, cell, axis=0), cell, axis=1)[: shape[0], : shape[1]]


def _debris(photo, labels, building, around_m, count, rng, gsd) -> np.ndarray:
    """Scattered pieces (boards, shingles, insulation) on the ground within `around_m` of a house."""
    reach = _px(around_m, gsd)
    ring = cv2.dilate(building.view(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
    ground = ring & ~np.isin(labels, BUILDING_PARTS)
    pieces = np.zeros(labels.shape, bool)
    for x, y in _inside_points(ground, rng, count):
        size = (_px(rng.uniform(0.2, 0.9), gsd), _px(rng.uniform(0.1, 0.35), gsd))
        piece = _patch(labels.shape, rng, (x, y), size, rng.uniform(0, 180)) & ground
        photo[piece] = _colour(rng, RUBBLE)
        pieces |= piece
    return pieces


def _shingles(photo, roof, count, rng, gsd) -> None:
    """Missing shingles: small patches of bare decking or dark underlayment."""
    for x, y in _inside_points(roof, rng, count):
        size = (_px(rng.uniform(0.6, 1.6), gsd), _px(rng.uniform(0.4, 1.0), gsd))
        patch = _patch(roof.shape, rng, (x, y), size, rng.uniform(0, 180)) & roof
        photo[patch] = _colour(rng, DECKING if rng.random() < 0.6 else UNDERLAYMENT)


def _tarp(photo, roof, share, rng, gsd) -> None:
    """A blue tarp over about `share` of the roof, its edges tied down with boards."""
    ys, xs = np.nonzero(roof)
    if not len(xs):
        return
    side = np.sqrt(share * len(xs))
    centre = _inside_points(roof, rng, 1)[0]
    size = (max(2, int(side * rng.uniform(0.8, 1.3))), max(2, int(side * rng.uniform(0.7, 1.1))))
    tarp = _patch(roof.shape, rng, centre, size, rng.uniform(-10, 10)) & roof
    photo[tarp] = _colour(rng, TARP)
    edge = tarp & ~cv2.erode(tarp.view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    photo[edge] = _colour(rng, DECKING)


def paint_damage(photo: np.ndarray, labels: np.ndarray, gsd: float, rng: np.random.Generator) -> DamageLayers:
    """Draw a FEMA level on every building of a flat scene photo (in place).

    Each building is worked on in its own window (its box plus the reach of its debris), so a
    12 MP scene costs what a small one does per building.

    Args:
        photo: HxWx3 uint8, before lighting and sensor effects (`render_layers`' paint hook).
        labels: HxW Harvey class ids of the scene.
        gsd: metres per pixel.
        rng: draws the levels and every mark.
    """
    level = np.full(labels.shape, NOT_A_BUILDING, np.uint8)
    debris = np.zeros(labels.shape, bool)
    parts = np.isin(labels, BUILDING_PARTS)
    count, components, boxes, _ = cv2.connectedComponentsWithStats(parts.view(np.uint8), connectivity=8)
    margin = _px(DEBRIS_REACH_M + 1.0, gsd)
    for index in range(1, count):
        x, y, w, h, pixels = (int(v) for v in boxes[index])
        window = (
            slice(max(0, y - margin), min(labels.shape[0], y + h + margin)),
            slice(max(0, x - margin), min(labels.shape[1], x + w + margin)),
        )
        building = components[window] == index
        if pixels * gsd**2 < MIN_BUILDING_M2:
            level[window][building] = NO_DAMAGE
            continue
        grade = int(rng.choice(len(LEVELS), p=LEVEL_SHARES))
        footprint, pieces = _damage(photo[window], labels[window], building, LEVELS[grade], rng, gsd)
        level[window][footprint] = grade
        debris[window] |= pieces
    debris &= level == NOT_A_BUILDING
    return DamageLayers(level, debris)


def _damage(photo, labels, building, grade: str, rng, gsd) -> tuple[np.ndarray, np.ndarray]:
    """Draw one building's level in its window; returns (its footprint after damage, debris)."""
    area_m2 = building.sum() * gsd**2
    pieces = np.zeros(labels.shape, bool)
    if grade == "Minor":
        _shingles(photo, building, int(rng.integers(2, 6)), rng, gsd)
        if rng.random() < 0.3:
            _tarp(photo, building, rng.uniform(0.08, 0.18), rng, gsd)
    elif grade == "Major":
        _tarp(photo, building, rng.uniform(0.3, 0.6), rng, gsd)
        _shingles(photo, building, int(rng.integers(3, 8)), rng, gsd)
        centre = _inside_points(building, rng, 1)[0]
        side = _px(np.sqrt(area_m2) * rng.uniform(0.3, 0.5), gsd)
        collapsed = _patch(labels.shape, rng, centre, (side, side), rng.uniform(0, 90)) & building
        _rubble(photo, collapsed, rng, gsd)
        pieces = _debris(photo, labels, building, 3.0, int(area_m2 // 6) + 4, rng, gsd)
    elif grade == "Destroyed":
        spill = cv2.dilate(building.view(np.uint8), np.ones((3, 3), np.uint8), iterations=_px(0.8, gsd)) > 0
        rubble = spill & (building | ~np.isin(labels, BUILDING_PARTS))
        rubble &= _chunks(labels.shape, rng, gsd, 0.7) | building  # the spill comes in pieces
        _rubble(photo, rubble, rng, gsd)
        building = rubble
        pieces = _debris(photo, labels, building, DEBRIS_REACH_M, int(area_m2 // 3) + 8, rng, gsd)
    return building, pieces & ~building
