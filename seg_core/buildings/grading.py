"""Each building's damage level in FEMA's five, its flood status and how sure the model was.

The rules (docs/reference/buildings.md), all read from the label scheme's roles:

- **Damage classes** (a scheme whose building classes grade damage, e.g. RescueNet): the level is
  the median of the footprint's pixels on FEMA's ordered scale: the most severe level such that
  at least half of the graded footprint is at that level or worse. `damage_share` is that share.
  A roof 40% destroyed, 20% major and 40% undamaged is Major (60% Major or worse): one badly
  classified corner does not make a house Destroyed, and half a collapsed roof does make it Major.
- **Flood status** (schemes without damage levels, e.g. Harvey, FloodNet): FEMA grades flood
  damage by the water line inside the structure (Affected: water in the crawl space or below the
  living floor; Minor: under 18 inches above it; Major: 18 inches or more; Destroyed: a total
  loss), which a nadir photo cannot see. Water at the walls is what it can see, and that fits
  Affected, the lowest grade for water reaching the structure: a flooded building is
  "Affected", a dry one "No damage" (from flooding; wind damage is outside such a scheme).
  `damage_share` is left empty: the grade comes from the flood rule, not from a share.
- **Flooded**: the building is flooded when at least half of its footprint is a flooded building
  class (FloodNet's building-flooded), or when flooded ground (any other flooded class) lies
  within `FLOOD_DISTANCE_M` (2 m, the statistics' one definition) of the footprint, measured
  Euclidean from pixel centres plus half a pixel, so water touching the wall always counts.
  None when the scheme has no flooded class (it cannot say).
- **Confidence**: the mean top-class probability over the footprint, and the share of its pixels
  whose top probability is under `UNCERTAIN_BELOW` (0.6), when the prediction gave a confidence map.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from seg_core.analytics.statistics import FLOOD_DISTANCE_M
from seg_core.analytics.uncertainty import UNCERTAIN_BELOW
from seg_core.schemes.scheme import BUILDING, DAMAGE_LEVELS, LabelScheme

DAMAGE_CLASSES = "damage classes"  # damage_basis: graded from the scheme's damage levels
FLOOD_STATUS = "flood status"  # damage_basis: graded from flood status (FEMA's Affected rule)
NOT_GRADED = "not graded"  # damage_basis: the scheme has neither damage levels nor flood classes
MEDIAN_SHARE = 0.5


@dataclass(frozen=True)
class Grade:
    """What the grading rules say about one building (see the module docstring)."""

    damage_level: str | None
    damage_share: float | None
    damage_basis: str
    flooded: bool | None
    confidence_mean: float | None
    uncertain_share: float | None


def median_damage(shares: dict[str, float]) -> tuple[str | None, float | None]:
    """FEMA level and its share from {level: share of the graded footprint} (the median rule).

    Returns:
        (level, share of the footprint at that level or worse); (None, None) when nothing is graded.
    """
    total = sum(shares.values())
    if total <= 0:
        return None, None
    worse = 0.0
    for level in reversed(DAMAGE_LEVELS):
        worse += shares.get(level, 0.0) / total
        if worse >= MEDIAN_SHARE - 1e-9:
            return level, worse
    raise AssertionError("the shares add up to 1, so some level reaches half")


def flood_damage(flooded: bool | None) -> str | None:
    """FEMA level from flood status alone: water at the structure is Affected (module docstring)."""
    if flooded is None:
        return None
    return "Affected" if flooded else "No damage"


def _per_label(labels: np.ndarray, count: int, where: np.ndarray | None = None, weights=None) -> np.ndarray:
    """Sum (or count) per instance label 1..count over the pixels `where` selects."""
    values = labels if where is None else labels[where]
    if weights is not None and where is not None:
        weights = weights[where]
    return np.bincount(
        values.ravel(), weights=None if weights is None else weights.ravel(), minlength=count + 1
    )[1:]


def _near_flooded_ground(mask: np.ndarray, scheme: LabelScheme, distance_px: float) -> np.ndarray | None:
    """HxW bool: within distance_px of flooded ground; None when the mask shows none."""
    ground = np.isin(mask, [i for i in scheme.ids(flooded=True) if i not in scheme.ids(BUILDING)])
    if not ground.any():
        return None
    # Same rule as the statistics' exposed roofs: L2 with a 5x5 mask (within ~2% of exact), +0.5 px.
    distance = cv2.distanceTransform((~ground).view(np.uint8), cv2.DIST_L2, 5)
    return distance <= distance_px + 0.5


def grade_buildings(
    mask: np.ndarray,
    labels: np.ndarray,
    count: int,
    scheme: LabelScheme,
    metres_per_px: float,
    confidence: np.ndarray | None = None,
    flood_distance_m: float = FLOOD_DISTANCE_M,
) -> list[Grade]:
    """One Grade per instance label 1..count (index 0 is label 1).

    Args:
        mask: HxW class ids of `scheme`.
        labels: HxW int32 instance labels (0 = no building), from `building_instances`.
        count: the number of instances.
        scheme: the label scheme (roles, damage levels, flooded classes).
        metres_per_px: ground size of a pixel, for the flood distance.
        confidence: HxW top-class probability, or None when the prediction did not give one.
        flood_distance_m: the exposure distance (default: the statistics' one definition).
    """
    if count == 0:
        return []
    inside = labels > 0
    pixels = _per_label(labels, count).astype(np.float64)
    damage_ids = [i for i in scheme.ids(BUILDING) if scheme.damage_of(i) is not None]
    level_shares: list[dict[str, float]] = [{} for _ in range(count)]
    for level in DAMAGE_LEVELS:
        ids = [i for i in damage_ids if scheme.damage_of(i) == level]
        if ids:
            per = _per_label(labels, count, inside & np.isin(mask, ids))
            for index in np.flatnonzero(per):
                level_shares[index][level] = per[index] / pixels[index]
    flooded = _flood_status(mask, labels, count, scheme, pixels, flood_distance_m / metres_per_px)
    confidence_mean = uncertain = None
    if confidence is not None:
        confidence_mean = _per_label(labels, count, inside, confidence.astype(np.float64)) / pixels
        uncertain = _per_label(labels, count, inside & (confidence < UNCERTAIN_BELOW)) / pixels
    grades = []
    for index in range(count):
        flood = None if flooded is None else bool(flooded[index])
        if damage_ids:
            level, share = median_damage(level_shares[index])
            basis = DAMAGE_CLASSES
        else:
            level, share = flood_damage(flood), None
            basis = FLOOD_STATUS if flood is not None else NOT_GRADED
        grades.append(
            Grade(
                damage_level=level,
                damage_share=None if share is None else float(share),
                damage_basis=basis,
                flooded=flood,
                confidence_mean=None if confidence_mean is None else float(confidence_mean[index]),
                uncertain_share=None if uncertain is None else float(uncertain[index]),
            )
        )
    return grades


def _flood_status(mask, labels, count, scheme, pixels, distance_px) -> np.ndarray | None:
    """Per instance: flooded (bool array), or None when the scheme has no flooded class."""
    if not scheme.ids(flooded=True):
        return None
    flooded_roof = [i for i in scheme.ids(BUILDING, flooded=True)]
    flooded = np.zeros(count, bool)
    if flooded_roof:
        share = _per_label(labels, count, np.isin(mask, flooded_roof) & (labels > 0)) / pixels
        flooded |= share >= MEDIAN_SHARE
    near = _near_flooded_ground(mask, scheme, distance_px)
    if near is not None:
        flooded |= _per_label(labels, count, near & (labels > 0)) > 0
    return flooded
