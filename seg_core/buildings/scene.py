"""What else a situation report counts in a mask, by role: imaged ground, flood water, roads
(flooded, blocked), vehicles and boats. Additive, so photos and tiles sum into a batch.

Definitions (the statistics' own where they have one):
- flooded road: road classes the scheme marks flooded (FloodNet's road-flooded) plus, where the
  scheme annotates flood water over roads as flood water (Harvey), flooded ground within the flood
  distance of visible road: the statistics' road-corridor rule.
- blocked road: road classes the scheme marks blocked (RescueNet's road-blocked).
- vehicles, boats: 8-connected components of the role's classes of at least the statistics'
  minimum object size (`MIN_OBJECT_AREA_M2`, never under `MIN_OBJECT_PX_FLOOR` px).
Areas are None when the GSD is unknown; sums of an unknown and a known area stay unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import cv2
import numpy as np

from seg_core.analytics.statistics import FLOOD_DISTANCE_M, MIN_OBJECT_AREA_M2, MIN_OBJECT_PX_FLOOR
from seg_core.schemes.scheme import BOAT, BUILDING, FLOODED, ROAD, VEHICLE, LabelScheme


@dataclass(frozen=True)
class SceneFigures:
    """Per photo, tile or batch; areas in m² (None where a GSD is unknown)."""

    imaged_m2: float | None = 0.0
    flooded_ground_m2: float | None = 0.0
    road_m2: float | None = 0.0
    flooded_road_m2: float | None = 0.0
    blocked_road_m2: float | None = 0.0
    vehicles: int = 0
    boats: int = 0

    def __add__(self, other: SceneFigures) -> SceneFigures:
        def add(a, b):
            return None if a is None or b is None else a + b

        return SceneFigures(*(add(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)))


def _components(mask: np.ndarray, ids: tuple[int, ...], min_px: int) -> int:
    if not ids:
        return 0
    binary = np.isin(mask, ids).view(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    return int(np.count_nonzero(stats[1:, cv2.CC_STAT_AREA] >= min_px))


def scene_figures(
    mask: np.ndarray, scheme: LabelScheme, metres_per_px: float | None, assumed_metres_per_px: float
) -> SceneFigures:
    """The figures of one mask (`assumed_metres_per_px` sizes the thresholds when the GSD is unknown)."""
    scale = metres_per_px or assumed_metres_per_px
    valid = mask < scheme.num_classes  # a mosaic's nodata (255) is not imaged ground
    road = np.isin(mask, scheme.ids(ROAD))
    flooded_road = np.isin(mask, scheme.ids(ROAD, flooded=True))
    ground = np.isin(mask, [i for i in scheme.ids(FLOODED)])
    corridor = 0
    if ground.any() and road.any() and not scheme.ids(ROAD, flooded=True):
        distance = cv2.distanceTransform((~road).view(np.uint8), cv2.DIST_L2, 5)
        corridor = int(np.count_nonzero(ground & (distance <= FLOOD_DISTANCE_M / scale + 0.5)))
    min_px = max(MIN_OBJECT_PX_FLOOR, round(MIN_OBJECT_AREA_M2 / scale**2))
    px_area = None if metres_per_px is None else metres_per_px**2

    def area(pixels: int) -> float | None:
        return None if px_area is None else pixels * px_area

    flooded_ground_ids = [
        i for i in scheme.ids(flooded=True) if i not in scheme.ids(BUILDING) + scheme.ids(ROAD)
    ]
    return SceneFigures(
        imaged_m2=area(int(np.count_nonzero(valid))),
        flooded_ground_m2=area(int(np.count_nonzero(np.isin(mask, flooded_ground_ids)))),
        road_m2=area(int(np.count_nonzero(road))),
        flooded_road_m2=area(int(np.count_nonzero(flooded_road)) + corridor),
        blocked_road_m2=area(int(np.count_nonzero(np.isin(mask, scheme.ids(ROAD, blocked=True))))),
        vehicles=_components(mask, scheme.ids(VEHICLE), min_px),
        boats=_components(mask, scheme.ids(BOAT), min_px),
    )
