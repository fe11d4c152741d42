"""A synthetic scene in another label scheme: FloodNet's or RescueNet's ids instead of Harvey's.

Scenes are planned and drawn in Harvey's 25 classes. Written in another built-in scheme, each
Harvey surface becomes that scheme's class for it (grass is RescueNet background, a boat a
vehicle), and what the other scheme says that Harvey does not is read from the scene's layers:

- FloodNet: a building touching flood water is building-flooded, the others building-non-flooded;
  flood water over a road (the road layer under the flood) is road-flooded.
- RescueNet: each building's FEMA level as the damage painter drew it (`damage`), and a road
  under debris is road-blocked.

Harvey output is never relabelled: `generate_scene_in(..., HARVEY)` is `generate_scene`, byte
for byte.
"""

from __future__ import annotations

import cv2
import numpy as np

from seg_core.demo.synth.damage import BUILDING_PARTS, LEVELS, NOT_A_BUILDING, DamageLayers, DamagePainter
from seg_core.demo.synth.planner import plan_scene
from seg_core.demo.synth.render import generate_scene, render_layers
from seg_core.demo.synth.scene import (
    BACKGROUND,
    BOAT,
    FLOODED,
    FOREST,
    GRASS,
    PARKING,
    POOL,
    POWER_LINE,
    ROAD,
    STREET_LIGHT,
    TREE,
    VEHICLE,
    WATER_BODY,
    _check_size,
)
from seg_core.demo.synth.style import HARVEY, StormStyle
from seg_core.schemes.scheme import BUILDING, LabelScheme, builtin
from seg_core.schemes.scheme import HARVEY as HARVEY_SCHEME
from seg_core.schemes.scheme import ROAD as ROAD_ROLE

ROADS = (ROAD, PARKING)  # paved surfaces a car drives on: road in schemes without parking lots
# Thin things over the ground (wires, lamp posts) that other schemes do not label: what lies
# beneath them is labelled instead, so a road under a power line stays one road.
OVERHEAD = (POWER_LINE, STREET_LIGHT)
# Harvey surface -> the class name a scheme gives it; anything unlisted is its background.
SURFACES: dict[str, dict[int, str]] = {
    "floodnet": {
        BACKGROUND: "background",
        GRASS: "grass",
        TREE: "tree",
        FOREST: "tree",
        POOL: "pool",
        VEHICLE: "vehicle",
        BOAT: "vehicle",
        WATER_BODY: "water",
        FLOODED: "water",
    },
    "rescuenet": {
        BACKGROUND: "background",
        TREE: "tree",
        FOREST: "tree",
        POOL: "pool",
        VEHICLE: "vehicle",
        BOAT: "vehicle",
        WATER_BODY: "water",
        FLOODED: "water",
    },
}
DRAWN_SCHEMES = ("harvey", *SURFACES)


def _first(ids: tuple[int, ...], what: str, scheme: LabelScheme) -> int:
    if not ids:
        raise ValueError(f"scheme {scheme.name!r} has no {what} class to draw")
    return ids[0]


def relabel(
    labels: np.ndarray, ground: np.ndarray, scheme: LabelScheme, damage: DamageLayers | None = None
) -> np.ndarray:
    """A scene's Harvey labels in `scheme` (a built-in other than harvey).

    Args:
        labels: HxW Harvey ids of the finished scene.
        ground: HxW Harvey ids before the flood was drawn (`render_layers(keep_ground=True)`).
        scheme: FLOODNET or RESCUENET.
        damage: what the damage painter drew, for a scheme that grades damage.

    Raises:
        ValueError: a scheme the generator cannot draw in.
    """
    if scheme.name not in SURFACES or scheme != builtin(scheme.name):
        raise ValueError(f"demo scenes are drawn in {', '.join(DRAWN_SCHEMES)}, not {scheme.name!r}")
    table = np.full(256, scheme.class_id("background"), np.uint8)
    for harvey_id, name in SURFACES[scheme.name].items():
        table[harvey_id] = scheme.class_id(name)
    overhead = np.isin(labels, OVERHEAD)
    labels = np.where(overhead, ground, labels)
    out = table[labels]
    dry_road = np.isin(labels, ROADS)
    out[dry_road] = _first(scheme.ids(ROAD_ROLE, flooded=False, blocked=False), "clear road", scheme)
    wet = scheme.ids(ROAD_ROLE, flooded=True)
    if wet:
        out[(labels == FLOODED) & np.isin(ground, ROADS)] = wet[0]
    blocked = scheme.ids(ROAD_ROLE, blocked=True)
    if blocked and damage is not None:
        out[dry_road & damage.debris] = blocked[0]
    _buildings(out, labels, scheme, damage)
    return out


def _buildings(out: np.ndarray, labels: np.ndarray, scheme: LabelScheme, damage: DamageLayers | None) -> None:
    parts = np.isin(labels, BUILDING_PARTS)
    if scheme.grades_damage:
        graded = damage.level if damage is not None else np.where(parts, 0, NOT_A_BUILDING)
        for index, level in enumerate(LEVELS):
            out[graded == index] = _first(scheme.ids(BUILDING, damage=level), level, scheme)
        return
    flooded_ids = scheme.ids(BUILDING, flooded=True)
    out[parts] = _first(scheme.ids(BUILDING, flooded=False), "building", scheme)
    if flooded_ids:
        count, components = cv2.connectedComponents(parts.view(np.uint8), connectivity=8)
        near_water = cv2.dilate((labels == FLOODED).view(np.uint8), np.ones((3, 3), np.uint8)) > 0
        touching = np.unique(components[near_water & parts])
        out[np.isin(components, touching[touching > 0])] = flooded_ids[0]


def generate_scene_in(
    width: int,
    height: int,
    rng: np.random.Generator,
    scheme: LabelScheme,
    style: StormStyle | str = HARVEY,
    extra_rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`generate_scene` with its mask in `scheme` (harvey, floodnet or rescuenet). Damage is drawn
    from a generator of its own (`extra_rng`, default seed 0), so the scene itself is the one
    `generate_scene` draws from the same `rng`.

    Returns:
        (image, mask): HxWx3 uint8 RGB and HxW uint8 ids of `scheme`.
    """
    if scheme == HARVEY_SCHEME:
        return generate_scene(width, height, rng, style)
    width, height = _check_size(width, height)
    plan = plan_scene(rng, width, height, style)
    painter = None
    if scheme.grades_damage:
        painter = DamagePainter(extra_rng if extra_rng is not None else np.random.default_rng(0))
    layers = render_layers(plan, width, height, rng, keep_ground=True, paint=painter)
    return layers.image, relabel(layers.labels, layers.ground, scheme, layers.painted)
