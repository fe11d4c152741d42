"""What a synthetic scene is made of: class ids, ground constants, drawing ops and the plan.

Scenes are planned and drawn in the Harvey scheme's ids; `seg_core.demo.synth.relabel` writes them
in another scheme's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seg_core.schemes.scheme import HARVEY as _HARVEY_SCHEME

(
    BACKGROUND,
    ROOF,
    SHED,
    POOL,
    VEHICLE,
    GRASS,
    TREE,
    SOLAR,
    CHIMNEY,
    STREET_LIGHT,
    WINDOW,
    ANTENNA,
    BINS,
    TRAMPOLINE,
    ROAD,
    CONSTRUCTION,
    POWER_LINE,
    TANK,
    PARKING,
    SPORTS,
    INDUSTRIAL,
    FOREST,
    WATER_BODY,
    FLOODED,
    BOAT,
) = range(_HARVEY_SCHEME.num_classes)

SCENE_AREA_M2 = (
    120.0 * 90.0
)  # ground of every harvey scene, whatever its pixel size (StormStyle.ground_width_m)
MIN_SIDE_PX, MAX_SIDE_PX = 64, 8000  # below 64 px nothing is recognisable; above 8000 memory explodes
ROAD_DIP = 0.45  # streets sit lower than yards, so they flood first (as in the Harvey footage)
# Ground that the flood covers; roofs, sheds, vehicles, trees, forest and the bayou stay visible.
FLOODABLE = (BACKGROUND, GRASS, POOL, BINS, TRAMPOLINE, ROAD, PARKING, SPORTS, INDUSTRIAL)


@dataclass(frozen=True)
class _Op:
    """One drawing instruction in ground metres (x right, y down)."""

    kind: str  # "poly" | "line" | "shadow"
    pts: np.ndarray  # (N, 2) metres
    cls: int | None  # class drawn on the mask; None = photo-only detail that keeps the label below
    color: tuple[int, int, int] | None = None
    width: float = 0.0  # line width in metres


@dataclass(frozen=True)
class ScenePlan:
    """A scene in ground metres, independent of the pixel size it is drawn at."""

    world_size: tuple[float, float]  # (width, height) in metres: the ground the photo covers
    ground: tuple[_Op, ...]  # yards, drawn first; the flood may cover them
    waterside: tuple[_Op, ...]  # water bodies and woods, over the yards
    roads: tuple[_Op, ...]  # over everything on the ground
    bridged: tuple[_Op, ...]  # outline of the bayou/pond with banks: roads there are bridges
    objects: tuple[_Op, ...]  # drawn after the flood (roofs, vehicles, trees, boats, wires)
    elevation: np.ndarray  # (gh, gw) coarse terrain height over the world, arbitrary units
    flood_level: float  # floodable ground below this elevation is Flooded
    colors: dict[str, tuple[int, int, int]]  # scene palette: grass, flood water
    shadow_strength: float  # 0 = overcast, 0.6 = hard sun
    style: str = "harvey"  # the StormStyle it was planned in
    sun_direction: tuple[float, float] = (
        1.0,
        0.0,
    )  # unit vector toward the sun on the ground (x right, y down)


def _check_size(width: int, height: int) -> tuple[int, int]:
    for side in (width, height):
        if (
            isinstance(side, bool)
            or not isinstance(side, (int, np.integer))
            or not MIN_SIDE_PX <= side <= MAX_SIDE_PX
        ):
            raise ValueError(
                f"size {width}x{height} is not allowed; each side must be an integer in {MIN_SIDE_PX}..{MAX_SIDE_PX} px"
            )
    return int(width), int(height)
