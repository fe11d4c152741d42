"""What the flood and the storm reach in one mask, read from the roles of its label scheme.

- **Flood water** is a class marked `flooded` that is not a building: Harvey's Flooded (water over
  normally dry ground), FloodNet's road-flooded. Its share of the photo is `flooded_share`.
- **Exposed building**: a building object (an 8-connected component of a building class) labelled
  flooded itself (FloodNet's building-flooded), or with a pixel within `distance_px` (Euclidean,
  ±0.5 px so an 8-neighbour counts as touching) of flood water.
- **Road flooded share**: flooded road pixels (a road class marked flooded) plus the flooded-ground
  pixels within `distance_px` of visible road, divided by those plus the dry road pixels: the
  under-water part of the road corridor. Where a scheme labels flooded road as flooded ground
  (Harvey), the water next to the visible road is the best pixel-level evidence of a submerged
  road: a lower bound for a road submerged farther than `distance_px` from any visible road, and
  it counts water lapping at a dry road's edge (the road is then at risk, which analysts also want).
- **Damage** (schemes that grade it): building objects per FEMA level, and the share of road
  pixels that are blocked.

A figure whose role the scheme lacks is None, and `notes` says why; no figure is ever computed
from an id that means something else.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from seg_core.schemes.scheme import BUILDING, FLOODED, ROAD, SECONDARY_STRUCTURE, LabelScheme

# A roof this close to flood water counts as exposed (and the road corridor is this wide): water
# 2 m from a wall is at the structure once the mask's edge error (a pixel or two) is allowed for.
# The one definition (statistics, buildings and reports import it from here or statistics).
FLOOD_DISTANCE_M = 2.0


@dataclass(frozen=True)
class FloodExposure:
    """What the flood reaches in one image.

    Attributes:
        flooded_share: share of all pixels that are flood water; None when the scheme marks none.
        roofs_total: building objects (components of building classes of at least min_object_px).
        roofs_exposed: building objects labelled flooded or within distance_px of flood water;
            None when the scheme marks no flood at all.
        road_flooded_share: see the module docstring; None when the image has no road pixels or
            the scheme has no road or no flood class.
        distance_px: the exposure distance in pixels (at least 1: touching always counts).
    """

    flooded_share: float | None
    roofs_total: int
    roofs_exposed: int | None
    road_flooded_share: float | None
    distance_px: int


def flood_water_ids(scheme: LabelScheme) -> tuple[int, ...]:
    """Classes of flood water on the ground or on roads (not flooded buildings)."""
    return tuple(
        i for i in scheme.ids(flooded=True) if scheme.classes[i].role not in (BUILDING, SECONDARY_STRUCTURE)
    )


def missing_figures(scheme: LabelScheme) -> list[str]:
    """One sentence per figure this scheme cannot give (left out, never guessed)."""
    notes = []
    if not scheme.ids(flooded=True):
        notes.append(
            f"{scheme.name} marks no flood water: flooded share, exposed roofs and flooded roads are left out"
        )
    elif not scheme.has_role(ROAD):
        notes.append(f"{scheme.name} has no road class: the flooded road share is left out")
    if not scheme.has_role(BUILDING):
        notes.append(f"{scheme.name} has no building class: roofs are not counted")
    return notes


def _near(mask: np.ndarray, ids: tuple[int, ...], distance_px: int) -> np.ndarray:
    """HxW bool: pixels within distance_px of any of `ids` (their own pixels included)."""
    # L2 with a 5x5 mask is within ~2% of exact Euclidean and 2.5x faster than the precise one.
    outside = (mask != ids[0]) if len(ids) == 1 else ~np.isin(mask, ids)
    dist = cv2.distanceTransform(outside.view(np.uint8), cv2.DIST_L2, 5)
    return dist <= distance_px + 0.5


class ExposureCounter:
    """Accumulates building exposure while the statistics label each class's objects once (a
    12 MP label image is 48 MB: each is counted and released before the next class)."""

    def __init__(self, mask: np.ndarray, scheme: LabelScheme, counts: np.ndarray, distance_px: int):
        self.mask, self.scheme, self.counts, self.distance_px = mask, scheme, counts, distance_px
        self.water = flood_water_ids(scheme)
        self.buildings = set(scheme.ids(BUILDING))
        self.total, self.exposed = 0, 0
        self._near_water: np.ndarray | None = None

    def near_water(self) -> np.ndarray:
        if self._near_water is None:
            self._near_water = _near(self.mask, self.water, self.distance_px)
        return self._near_water

    def add(self, class_id: int, labels: np.ndarray, keep: np.ndarray) -> None:
        """Count one class's objects (`labels`, `keep` from the statistics' labelling)."""
        if class_id not in self.buildings:
            return
        objects = int(np.count_nonzero(keep))
        self.total += objects
        if self.scheme.classes[class_id].flooded:
            self.exposed += objects
        elif objects and self.water and self.counts[list(self.water)].any():
            touched = self.near_water() & (self.mask == class_id)
            hit = np.bincount(labels[touched], minlength=keep.size)
            self.exposed += int(np.count_nonzero((hit > 0) & keep))

    def result(self) -> FloodExposure:
        scheme, counts, mask = self.scheme, self.counts, self.mask
        water_px = int(counts[list(self.water)].sum()) if self.water else 0
        return FloodExposure(
            flooded_share=water_px / max(mask.size, 1) if self.water else None,
            roofs_total=self.total,
            roofs_exposed=self.exposed if scheme.ids(flooded=True) else None,
            road_flooded_share=_road_flooded_share(mask, scheme, counts, self.distance_px),
            distance_px=self.distance_px,
        )


def _road_flooded_share(
    mask: np.ndarray, scheme: LabelScheme, counts: np.ndarray, distance_px: int
) -> float | None:
    dry, wet, ground = scheme.ids(ROAD, flooded=False), scheme.ids(ROAD, flooded=True), scheme.ids(FLOODED)
    if not (wet or ground):
        return None
    dry_px, wet_px = int(counts[list(dry)].sum()), int(counts[list(wet)].sum())
    if not dry_px + wet_px:
        return None
    near_road = 0
    if dry_px and ground and counts[list(ground)].any():
        water = np.isin(mask, ground) if len(ground) > 1 else mask == ground[0]
        near_road = int(np.count_nonzero(_near(mask, dry, distance_px) & water))
    return (wet_px + near_road) / (dry_px + wet_px + near_road)


def damage_figures(
    scheme: LabelScheme, object_counts: dict[str, int], counts: np.ndarray
) -> tuple[dict[str, int] | None, float | None]:
    """(building objects per FEMA level, share of road pixels that are blocked), each None when
    the scheme does not grade damage / mark blocked roads."""
    by_level = None
    if scheme.grades_damage:
        by_level = {
            level: sum(object_counts.get(scheme.names[i], 0) for i in scheme.ids(BUILDING, damage=level))
            for level in scheme.damage_levels
        }
    blocked_share = None
    blocked = scheme.ids(ROAD, blocked=True)
    if blocked:
        road_px = int(counts[list(scheme.ids(ROAD))].sum())
        blocked_share = int(counts[list(blocked)].sum()) / road_px if road_px else None
    return by_level, blocked_share


def role_total(values: dict[str, float] | None, scheme: LabelScheme, ids: tuple[int, ...]) -> float | None:
    """The sum of `values` (class name -> area or count) over `ids`; None without values or ids."""
    if values is None or not ids:
        return None
    return sum(values.get(scheme.names[i], 0) for i in ids)


def role_objects(object_counts: dict[str, int], scheme: LabelScheme, role: str) -> int | None:
    """Objects of a role (e.g. every vehicle class) from the statistics' object counts; None when
    the scheme counts no class of that role."""
    counted = tuple(i for i in scheme.ids(role) if scheme.classes[i].counted)
    total = role_total(object_counts, scheme, counted)
    return None if total is None else int(total)
