"""Building instances and their footprint polygons, from the scheme's building classes.

    labels, footprints = building_footprints(mask, scheme, metres_per_px=0.075)

Steps, each with its reason:

1. **Building pixels**: every class whose role is BUILDING, whatever its damage level or flood
   flag, so a roof half "minor" and half "major" is one building with two shares.
2. **Touching roofs split**: inside each connected region, the distance to the nearest
   non-building pixel peaks once per roof and dips where two roofs meet. Peaks that rise at least
   `split_depth_m` above the saddle between them become watershed markers (h-maxima), and the
   watershed of the inverted distance cuts the region along the necks. A region whose distance
   map has one such peak stays one building: an L-shaped house has one peak at its elbow, a long
   house a flat ridge. Two equal rectangles sharing a whole side make one rectangle, which no
   mask can tell from a long house: they stay one record.
3. **Fragments dropped**: instances under `min_area_m2` (10 m², smaller than any dwelling or
   one-car garage) are prediction speckle, not structures.
4. **Polygons**: traced along pixel edges (exact raster area), simplified by `simplify_px` with
   Douglas-Peucker, then squared where every edge runs within `square_tolerance_deg` of the
   footprint's two main directions (the corners are right angles up to the pixel staircase).
   Squaring that would change the area by more than `SQUARE_MAX_AREA_CHANGE` or make the polygon
   invalid is not applied; a polygon is always valid (shapely's `make_valid` as the last resort).

Polygons are in pixel coordinates: x to the right, y down, pixel (c, r) covering [c, c+1] x [r, r+1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from seg_core.schemes.scheme import BUILDING, LabelScheme

# Squaring moves edges by up to about a pixel; a larger change means the shape was not a squared one.
SQUARE_MAX_AREA_CHANGE = 0.08


@dataclass(frozen=True)
class FootprintSettings:
    """How buildings are cut out of a mask.

    Attributes:
        min_area_m2: smaller instances are dropped as fragments. 10 m² is under the smallest
            dwelling (tiny homes start near 15 m²) and a one-car garage (~18 m²).
        split_depth_m: two roofs are split where the distance-to-edge map dips at least this far
            between their peaks: 1 m of inscribed radius, so a neck at most 2 m narrower than both
            roofs (a shared wall seen from above, a porch between two houses) is cut, while the
            pixel noise along one roof's ridge (a few cm) is not.
        min_pixels: smaller instances are dropped at any GSD: under 4 x 4 px a footprint has no
            outline to trace (a photo a few pixels across, or one with a huge assumed GSD).
        simplify_px: Douglas-Peucker tolerance in pixels. A traced edge's pixel staircase
            strays up to 1 px from the true edge (nearly so for edges a few degrees off an axis),
            so 1.5 px removes it while no vertex moves more than 1.5 px.
        square_tolerance_deg: a footprint whose edges all run within this angle of its two main
            directions is squared.
    """

    min_area_m2: float = 10.0
    min_pixels: int = 16
    split_depth_m: float = 1.0
    simplify_px: float = 1.5
    square_tolerance_deg: float = 12.0

    def __post_init__(self):
        values = (self.min_area_m2, self.split_depth_m, self.simplify_px, self.square_tolerance_deg)
        if not all(isinstance(v, int | float) and math.isfinite(v) and v >= 0 for v in values):
            raise ValueError(
                f"footprint settings must be non-negative numbers: min_area_m2 {self.min_area_m2}, "
                f"split_depth_m {self.split_depth_m}, simplify_px {self.simplify_px}, "
                f"square_tolerance_deg {self.square_tolerance_deg}"
            )
        if self.square_tolerance_deg >= 45:
            raise ValueError(f"square_tolerance_deg {self.square_tolerance_deg} must be under 45 degrees")


DEFAULT_FOOTPRINTS = FootprintSettings()


@dataclass(frozen=True)
class Footprint:
    """One building instance.

    Attributes:
        label: its value in the instance label image (1..n).
        polygon: shapely Polygon or MultiPolygon in pixel coordinates (valid, simplified,
            squared where right-angled).
        pixels: raster pixels of the instance (its exact area is pixels x GSD²).
        bbox: (col0, row0, col1, row1) pixel box, end-exclusive.
        squared: the polygon was squared.
        at_edge: the instance touches the photo's or tile's border (it may be cut off).
    """

    label: int
    polygon: object
    pixels: int
    bbox: tuple[int, int, int, int]
    squared: bool
    at_edge: bool


def building_pixels(mask: np.ndarray, scheme: LabelScheme) -> np.ndarray:
    """HxW bool: pixels of any class whose role is BUILDING."""
    return np.isin(mask, scheme.ids(BUILDING))


# A region filling this much of its convex hull has no neck to split at (two roofs meeting leave
# notches): skipping the watershed there saves most of the time on ordinary scenes.
SOLID_SHARE = 0.92


def _solidity(region: np.ndarray) -> float:
    contours, _ = cv2.findContours(region.view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = cv2.contourArea(cv2.convexHull(np.concatenate(contours)))
    return float(region.sum()) / max(hull, 1.0)


def _split_region(region: np.ndarray, depth_px: float) -> np.ndarray:
    """int32 labels (0 outside) of one connected building region, split at its necks."""
    from scipy import ndimage
    from skimage.morphology import reconstruction
    from skimage.segmentation import watershed

    if _solidity(region) >= SOLID_SHARE:
        return region.astype(np.int32)
    padded = np.pad(region, 1).view(np.uint8)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1].astype(np.float64)
    depth = max(1.0, depth_px)
    # Each dome of the distance map that rises `depth` above its surroundings: the pixels above the
    # map reconstructed from (map - depth). A ridge with rasterisation ripples stays one dome.
    residue = distance - reconstruction(distance - depth, distance, method="dilation")
    domes, count = ndimage.label(residue > 1e-6, structure=np.ones((3, 3), bool))
    if count <= 1:
        return region.astype(np.int32)
    tall = ndimage.maximum(residue, domes, index=np.arange(1, count + 1)) >= depth - 1e-6
    if tall.sum() <= 1:
        return region.astype(np.int32)
    markers = np.where(np.isin(domes, np.flatnonzero(tall) + 1), domes, 0)
    return watershed(-distance, markers, mask=region).astype(np.int32)


def building_instances(
    building: np.ndarray, metres_per_px: float, settings: FootprintSettings = FootprintSettings()
) -> tuple[np.ndarray, int]:
    """Label every building instance: (HxW int32 labels 1..n, 0 elsewhere; n), fragments dropped."""
    regions, region_labels, stats, _ = cv2.connectedComponentsWithStats(
        building.view(np.uint8), connectivity=8, ltype=cv2.CV_32S
    )
    labels = np.zeros(building.shape, np.int32)
    min_px = max(settings.min_pixels, settings.min_area_m2 / metres_per_px**2)
    depth_px = settings.split_depth_m / metres_per_px
    count = 0
    for region in range(1, regions):
        x, y, w, h, area = (int(v) for v in stats[region])
        if area < min_px:
            continue
        crop = region_labels[y : y + h, x : x + w] == region
        parts = _split_region(crop, depth_px)
        sizes = np.bincount(parts.ravel())
        window = labels[y : y + h, x : x + w]
        for part in np.flatnonzero(sizes):
            if part == 0 or sizes[part] < min_px:
                continue
            count += 1
            window[parts == part] = count
    return labels, count


def _square(polygon, tolerance_deg: float):
    """The polygon with its edges snapped to its two main directions, or None when it is not
    right-angled (or has holes, which are left as traced)."""
    import shapely
    from shapely.geometry import Polygon

    if polygon.geom_type != "Polygon" or polygon.interiors:
        return None
    points = np.asarray(polygon.exterior.coords)[:-1]
    if len(points) < 4:
        return None
    edges = np.roll(points, -1, axis=0) - points
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    angles = np.arctan2(edges[:, 1], edges[:, 0])
    # Main direction modulo 90 deg: the length-weighted circular mean of 4x each edge's angle.
    theta = float(np.angle(np.sum(lengths * np.exp(4j * angles)))) / 4
    turns = (angles - theta) / (math.pi / 2)
    if np.any(np.abs(turns - np.round(turns)) * 90 > tolerance_deg):
        return None
    horizontal = np.round(turns).astype(int) % 2 == 0
    cos, sin = math.cos(theta), math.sin(theta)
    # In the frame turned by -theta every edge is horizontal or vertical up to the tolerance.
    local = points @ np.array([[cos, -sin], [sin, cos]])
    start = next((i for i in range(len(points)) if horizontal[i] != horizontal[i - 1]), None)
    if start is None:
        return None
    runs: list[tuple[bool, float]] = []  # (horizontal, the run's y or x), consecutive edges merged
    weight = value = 0.0
    for step in range(len(points)):
        i = (start + step) % len(points)
        j = (i + 1) % len(points)
        axis = 1 if horizontal[i] else 0
        weight += lengths[i]
        value += lengths[i] * (local[i, axis] + local[j, axis]) / 2
        if horizontal[j] != horizontal[i] or step == len(points) - 1:
            runs.append((bool(horizontal[i]), value / max(weight, 1e-9)))
            weight = value = 0.0
    if len(runs) < 4 or len(runs) % 2:
        return None
    corners = []
    for k, (is_horizontal, level) in enumerate(runs):
        following = runs[(k + 1) % len(runs)][1]
        corners.append((following, level) if is_horizontal else (level, following))
    squared = Polygon(np.asarray(corners) @ np.array([[cos, sin], [-sin, cos]]))
    if not squared.is_valid or squared.is_empty:
        return None
    if abs(squared.area - polygon.area) > SQUARE_MAX_AREA_CHANGE * polygon.area:
        return None
    return shapely.orient_polygons(squared)


def _valid(geometry):
    """A valid Polygon or MultiPolygon (make_valid's polygonal part)."""
    import shapely

    if geometry.is_valid:
        return geometry
    fixed = shapely.make_valid(geometry)
    parts = [g for g in getattr(fixed, "geoms", [fixed]) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts)


def trace_footprints(
    labels: np.ndarray, settings: FootprintSettings = FootprintSettings()
) -> list[Footprint]:
    """One Footprint per instance of a label image (as `building_instances` returns)."""
    import shapely
    from rasterio.features import shapes
    from rasterio.transform import Affine

    footprints = []
    height, width = labels.shape
    regions, region_labels, found, _ = cv2.connectedComponentsWithStats(
        (labels > 0).view(np.uint8), connectivity=8, ltype=cv2.CV_32S
    )
    for region in range(1, regions):
        x, y, w, h, _ = (int(v) for v in found[region])
        # Only this region's instances: another building may lie inside the same box.
        window = np.where(region_labels[y : y + h, x : x + w] == region, labels[y : y + h, x : x + w], 0)
        traced: dict[int, list] = {}
        for geometry, value in shapes(
            window, mask=window > 0, connectivity=4, transform=Affine.translation(x, y)
        ):
            traced.setdefault(int(value), []).append(shapely.geometry.shape(geometry))
        for label, pieces in sorted(traced.items()):
            raw = shapely.union_all(pieces)
            inside = window == label
            rows, cols = np.nonzero(inside)
            simple = shapely.simplify(raw, settings.simplify_px, preserve_topology=True)
            simple = simple if simple.is_valid and not simple.is_empty else raw
            squared = (
                _square(simple, settings.square_tolerance_deg) if settings.square_tolerance_deg else None
            )
            bbox = (
                x + int(cols.min()),
                y + int(rows.min()),
                x + int(cols.max()) + 1,
                y + int(rows.max()) + 1,
            )
            footprints.append(
                Footprint(
                    label=label,
                    polygon=_valid(squared if squared is not None else simple),
                    pixels=int(inside.sum()),
                    bbox=bbox,
                    squared=squared is not None,
                    at_edge=bbox[0] == 0 or bbox[1] == 0 or bbox[2] == width or bbox[3] == height,
                )
            )
    return sorted(footprints, key=lambda f: f.label)


def building_footprints(
    mask: np.ndarray,
    scheme: LabelScheme,
    metres_per_px: float,
    settings: FootprintSettings = FootprintSettings(),
) -> tuple[np.ndarray, list[Footprint]]:
    """Instances and footprints of every building in a class mask.

    Args:
        mask: HxW class ids of `scheme`.
        scheme: which ids are buildings (role BUILDING).
        metres_per_px: ground size of a pixel (the fragment and split thresholds are in metres).
        settings: the thresholds (see FootprintSettings).

    Returns:
        (labels, footprints): HxW int32 instance labels (0 = not a kept building) and one
        Footprint per instance, in label order.
    """
    if not (math.isfinite(metres_per_px) and metres_per_px > 0):
        raise ValueError(f"metres_per_px {metres_per_px!r} must be a positive number")
    labels, _ = building_instances(building_pixels(mask, scheme), metres_per_px, settings)
    return labels, trace_footprints(labels, settings)
