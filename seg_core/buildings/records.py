"""One record per building: footprint, area, centroid, FEMA damage level, flood status, confidence,
where it was seen and by which model.

    records = assess_mask(mask, scheme, "DJI_0042.JPG", model, metres_per_px=0.03,
                          confidence=prediction.confidence, georef=georef, photo=pixels)

Field names follow FEMA's geospatial damage assessment data model where it has one (the Historical
Geospatial Damage Assessment Database's data dictionary: Damage Level with the values No Damage,
Affected, Minor, Major, Destroyed; Damage Type; Assessment Type, "Remote Sensing" for damage assigned
by image processing), written in snake_case: `damage_level`, `damage_type`, `assessment_type`.
The rest are StormSeg's own. Shapefiles cap field names at 10 characters: `SHAPEFILE_NAMES`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from seg_core.buildings.footprints import (
    DEFAULT_FOOTPRINTS,
    Footprint,
    FootprintSettings,
    building_footprints,
)
from seg_core.buildings.grading import DAMAGE_CLASSES, FLOOD_STATUS, Grade, grade_buildings
from seg_core.inference.identity import ModelIdentity
from seg_core.schemes.scheme import DAMAGE_LEVELS, HARVEY, LabelScheme

ASSESSMENT_TYPE = "Remote Sensing"  # FEMA: "damage category assigned using image processing"
THUMBNAIL_SIDE = 160  # px: sharp at 4 cm in print, small enough to keep a few per photo
THUMBNAILS_PER_SOURCE = 8  # the report shows at most this many worst buildings
COORDINATE_DECIMALS = 7  # 1e-7 deg is ~1 cm, finer than any drone GSD (as the class polygons)

FIELDS = (
    "building_id",
    "damage_level",
    "damage_share",
    "damage_basis",
    "damage_type",
    "flooded",
    "area_m2",
    "latitude",
    "longitude",
    "centroid_x_px",
    "centroid_y_px",
    "confidence_mean",
    "uncertain_share",
    "at_edge",
    "source",
    "model_id",
    "weights_sha256",
    "assessment_type",
)
SHAPEFILE_NAMES = {
    "building_id": "bldg_id",
    "damage_level": "dmg_level",
    "damage_share": "dmg_share",
    "damage_basis": "dmg_basis",
    "damage_type": "dmg_type",
    "centroid_x_px": "cent_x_px",
    "centroid_y_px": "cent_y_px",
    "confidence_mean": "conf_mean",
    "uncertain_share": "unc_share",
    "weights_sha256": "weights_sh",
    "assessment_type": "assess_typ",
}


def predictor_scheme(predictor) -> LabelScheme:
    """The scheme a predictor's masks use: its own once models carry one, else Harvey."""
    return getattr(predictor, "scheme", None) or HARVEY


@dataclass(frozen=True)
class Georef:
    """Where a mask's pixels lie on Earth: an affine transform into a CRS.

    Attributes:
        crs_wkt: the CRS of the transform's output.
        transform: GDAL's six numbers (x = a*col + b*row + c, y = d*col + e*row + f).
        source: "raster" (an orthomosaic's geotransform) or "gps" (a nadir photo placed by its GPS
            position, GSD and heading).
    """

    crs_wkt: str
    transform: tuple[float, float, float, float, float, float]
    source: str

    def to_wgs84(self, geometry):
        """A pixel-coordinate geometry in WGS84 longitude/latitude."""
        import shapely
        from pyproj import CRS, Transformer

        a, b, c, d, e, f = self.transform
        transformer = Transformer.from_crs(CRS.from_wkt(self.crs_wkt), "EPSG:4326", always_xy=True)

        def project(points: np.ndarray) -> np.ndarray:
            x = a * points[:, 0] + b * points[:, 1] + c
            y = d * points[:, 0] + e * points[:, 1] + f
            lon, lat = transformer.transform(x, y)
            return np.column_stack([lon, lat])

        return shapely.orient_polygons(shapely.transform(geometry, project), exterior_cw=False)


def photo_georef(
    latitude: float, longitude: float, cm_per_px: float, heading_deg: float, width: int, height: int
) -> Georef:
    """A nadir photo's georeference: its centre at the GPS position, north-east axes turned by the
    camera heading (degrees clockwise from north that the photo's top faces), square pixels of the
    GSD, on a local azimuthal equidistant plane (metres true to a few mm across a photo)."""
    g = cm_per_px / 100
    cos, sin = math.cos(math.radians(heading_deg)), math.sin(math.radians(heading_deg))
    # Right of the photo is (cos, -sin) east/north, its top (sin, cos); rows run down the photo.
    a, b, d, e = g * cos, -g * sin, -g * sin, -g * cos
    c, f = -(a * width + b * height) / 2, -(d * width + e * height) / 2
    crs = f"+proj=aeqd +lat_0={latitude} +lon_0={longitude} +datum=WGS84 +units=m +no_defs"
    from pyproj import CRS

    return Georef(CRS.from_proj4(crs).to_wkt(), (a, b, c, d, e, f), "gps")


@dataclass
class BuildingRecord:
    """One building (FIELDS are its exported attributes; see the module docstring)."""

    building_id: str
    polygon_px: object
    polygon_wgs84: object | None
    grade: Grade
    area_m2: float | None
    centroid_px: tuple[float, float]
    latitude: float | None
    longitude: float | None
    at_edge: bool
    source: str
    model: ModelIdentity
    thumbnail: np.ndarray | None = field(default=None, repr=False)

    @property
    def severity(self) -> tuple:
        """Sort key, worst first when reversed: level, its share, flooded, area."""
        level = DAMAGE_LEVELS.index(self.grade.damage_level) if self.grade.damage_level else -1
        return (level, self.grade.damage_share or 0.0, bool(self.grade.flooded), self.area_m2 or 0.0)

    def properties(self) -> dict:
        grade = self.grade
        return {
            "building_id": self.building_id,
            "damage_level": grade.damage_level,
            "damage_share": _round(grade.damage_share, 4),
            "damage_basis": grade.damage_basis,
            "damage_type": "Flood" if grade.damage_basis == FLOOD_STATUS else None,
            "flooded": grade.flooded,
            "area_m2": _round(self.area_m2, 2),
            "latitude": _round(self.latitude, COORDINATE_DECIMALS),
            "longitude": _round(self.longitude, COORDINATE_DECIMALS),
            "centroid_x_px": round(self.centroid_px[0], 1),
            "centroid_y_px": round(self.centroid_px[1], 1),
            "confidence_mean": _round(grade.confidence_mean, 4),
            "uncertain_share": _round(grade.uncertain_share, 4),
            "at_edge": self.at_edge,
            "source": self.source,
            "model_id": self.model.model_id,
            "weights_sha256": self.model.weights_sha256,
            "assessment_type": ASSESSMENT_TYPE,
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def outline_thumbnail(crop: np.ndarray, polygon) -> np.ndarray:
    """A photo crop, long side THUMBNAIL_SIDE, with `polygon` (in the crop's pixels) outlined."""
    import cv2

    zoom = THUMBNAIL_SIDE / max(1, crop.shape[0], crop.shape[1])
    image = cv2.resize(
        np.ascontiguousarray(crop), (max(1, round(crop.shape[1] * zoom)), max(1, round(crop.shape[0] * zoom)))
    )
    rings = [
        np.round(np.asarray(p.exterior.coords) * zoom * 16).astype(np.int32)
        for p in getattr(polygon, "geoms", [polygon])
    ]
    cv2.polylines(image, rings, True, (0, 255, 255), 2, cv2.LINE_AA, shift=4)
    return image


def thumbnail_box(bbox: tuple[int, int, int, int], width: int, height: int, scale: float = 1.0) -> tuple:
    """The building's box and a quarter of its size around it, in a photo `scale` times the mask's size."""
    x0, y0, x1, y1 = bbox
    margin = max(x1 - x0, y1 - y0) * 0.25
    left, top = max(0, int((x0 - margin) * scale)), max(0, int((y0 - margin) * scale))
    right, bottom = (
        min(width, math.ceil((x1 + margin) * scale)),
        min(height, math.ceil((y1 + margin) * scale)),
    )
    return left, top, right, bottom


def _thumbnail(photo: np.ndarray, footprint: Footprint, scale: float) -> np.ndarray:
    from shapely import affinity

    left, top, right, bottom = thumbnail_box(footprint.bbox, photo.shape[1], photo.shape[0], scale)
    polygon = affinity.affine_transform(footprint.polygon, [scale, 0, 0, scale, -left, -top])
    return outline_thumbnail(photo[top:bottom, left:right], polygon)


def assess_mask(
    mask: np.ndarray,
    scheme: LabelScheme,
    source: str,
    model: ModelIdentity,
    metres_per_px: float | None,
    confidence: np.ndarray | None = None,
    georef: Georef | None = None,
    photo: np.ndarray | None = None,
    settings: FootprintSettings = DEFAULT_FOOTPRINTS,
    assumed_metres_per_px: float | None = None,
) -> list[BuildingRecord]:
    """Every building of one segmented photo or tile, graded.

    Args:
        mask: HxW class ids of `scheme` (the photo's original size).
        scheme: the label scheme the mask uses.
        source: the photo or tile name, recorded on every building and in its id.
        model: which model made the mask.
        metres_per_px: the GSD in metres; None when unknown (areas are then left empty).
        confidence: HxW top-class probability (any size: resized to the mask), or None.
        georef: where the pixels lie on Earth; None for a photo without one (pixel coordinates only).
        photo: HxWx3 uint8 photo (any size of the same aspect ratio) for the worst buildings'
            thumbnails; None for none.
        settings: the footprint thresholds.
        assumed_metres_per_px: the scale the metre thresholds use when `metres_per_px` is None
            (e.g. the Harvey footprint, as the statistics assume); required then.

    Returns:
        One BuildingRecord per building, in label order.
    """
    scale = metres_per_px or assumed_metres_per_px
    if scale is None:
        raise ValueError(
            f"{source}: no ground sampling distance and no assumed scale for the size thresholds"
        )
    labels, footprints = building_footprints(mask, scheme, scale, settings)
    if confidence is not None and confidence.shape != mask.shape:
        import cv2

        confidence = cv2.resize(
            confidence.astype(np.float32), mask.shape[::-1], interpolation=cv2.INTER_LINEAR
        )
    grades = grade_buildings(mask, labels, len(footprints), scheme, scale, confidence)
    stem = source.rsplit(".", 1)[0] if "." in source else source
    records = []
    for footprint, grade in zip(footprints, grades, strict=True):
        centre = footprint.polygon.centroid
        wgs84 = lat = lon = None
        if georef is not None:
            wgs84 = georef.to_wgs84(footprint.polygon)
            point = georef.to_wgs84(centre)
            lon, lat = point.x, point.y
        records.append(
            BuildingRecord(
                building_id=f"{stem}-{footprint.label:04d}",
                polygon_px=footprint.polygon,
                polygon_wgs84=wgs84,
                grade=grade,
                area_m2=None if metres_per_px is None else footprint.pixels * metres_per_px**2,
                centroid_px=(centre.x, centre.y),
                latitude=lat,
                longitude=lon,
                at_edge=footprint.at_edge,
                source=source,
                model=model,
            )
        )
    if photo is not None and records:
        zoom = photo.shape[1] / mask.shape[1]
        by_label = {f.label: f for f in footprints}
        for record in sorted(records, key=lambda r: r.severity, reverse=True)[:THUMBNAILS_PER_SOURCE]:
            record.thumbnail = _thumbnail(photo, by_label[int(record.building_id.rsplit("-", 1)[1])], zoom)
    return records


def damage_counts(records: list[BuildingRecord]) -> dict[str, int]:
    """Buildings per FEMA level (every level listed, zeros included) plus "Not graded"."""
    counts = dict.fromkeys(DAMAGE_LEVELS, 0) | {"Not graded": 0}
    for record in records:
        counts[record.grade.damage_level or "Not graded"] += 1
    return counts


def grades_damage(records: list[BuildingRecord]) -> bool:
    return any(r.grade.damage_basis == DAMAGE_CLASSES for r in records)
