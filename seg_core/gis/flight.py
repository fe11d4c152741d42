"""A flight of GPS-tagged drone photos as one map layer: a point per photo with its statistics.

Photos that are not orthorectified cannot be placed pixel by pixel, but where the camera was and
what it saw can: each photo becomes a WGS84 point carrying its flooded share, roofs exposed,
vehicles, boats and the GSD (with its source) that its areas were computed with. The same rows,
with coordinates, are the flight's CSV summary.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from seg_core.analytics.exposure import flood_water_ids, role_objects, role_total
from seg_core.analytics.statistics import ImageStats, class_slug, image_stats
from seg_core.imagery.camera import PhotoGeo, photo_gsd, read_photo_geo
from seg_core.imagery.gsd import Gsd
from seg_core.schemes.scheme import BOAT, POOL, VEHICLE, LabelScheme

POINT_FIELDS = (
    "name",
    "latitude",
    "longitude",
    "gsd_cm",
    "gsd_source",
    "flooded_share",
    "flooded_m2",
    "roofs_total",
    "roofs_exposed",
    "vehicles",
    "boats",
    "swimming_pools",
)  # then buildings_<FEMA level> for a scheme that grades damage (`point_fields`)


def point_fields(scheme: LabelScheme) -> tuple[str, ...]:
    """The flight layer's columns for photos segmented in `scheme`."""
    return POINT_FIELDS + tuple(f"buildings_{class_slug(level)}" for level in scheme.damage_levels)


@dataclass(frozen=True)
class FlightSettings:
    """What the user may say about a flight when the photos do not.

    Attributes:
        gsd_cm: one GSD for every photo (wins over XMP); None to derive it per photo.
        flight_height_m: height above ground for photos without XMP relative altitude.
        sensor_width_mm: for cameras whose EXIF gives neither focal-plane resolution nor a
            35 mm-equivalent focal length.
    """

    gsd_cm: float | None = None
    flight_height_m: float | None = None
    sensor_width_mm: float | None = None

    def __post_init__(self):
        if self.sensor_width_mm is not None and not 1 <= self.sensor_width_mm <= 100:
            raise ValueError(f"--sensor-width {self.sensor_width_mm} must be between 1 and 100 mm")


@dataclass
class PhotoRecord:
    """One photo of a flight: where, with which GSD, and what it shows."""

    geo: PhotoGeo
    gsd: Gsd | None
    stats: ImageStats
    scheme: LabelScheme
    notices: list[str] = field(default_factory=list)

    def row(self) -> dict:
        """The photo's columns (`point_fields`); a figure the scheme cannot give is None."""
        scheme, flood = self.scheme, self.stats.flood
        flooded_m2 = role_total(self.stats.area_m2, scheme, flood_water_ids(scheme))
        row = {
            "name": self.geo.name,
            "latitude": None if self.geo.latitude is None else round(self.geo.latitude, 7),
            "longitude": None if self.geo.longitude is None else round(self.geo.longitude, 7),
            "gsd_cm": None if self.gsd is None else round(self.gsd.cm_per_px, 3),
            "gsd_source": None if self.gsd is None else self.gsd.source,
            "flooded_share": None if flood.flooded_share is None else round(flood.flooded_share, 5),
            "flooded_m2": None if flooded_m2 is None else round(flooded_m2, 2),
            "roofs_total": flood.roofs_total,
            "roofs_exposed": flood.roofs_exposed,
            "vehicles": role_objects(self.stats.object_counts, scheme, VEHICLE),
            "boats": role_objects(self.stats.object_counts, scheme, BOAT),
            "swimming_pools": role_objects(self.stats.object_counts, scheme, POOL),
        }
        for level, count in (self.stats.buildings_by_damage or {}).items():
            row[f"buildings_{class_slug(level)}"] = count
        return row


def photo_record(
    path: str | Path, mask, scheme: LabelScheme, settings: FlightSettings = FlightSettings()
) -> PhotoRecord:
    """Position, GSD and statistics of one segmented photo (mask of `scheme` ids at the photo's
    displayed size)."""
    geo = read_photo_geo(path)
    notices = list(geo.problems)
    if not geo.has_position and not geo.problems:
        notices.append(f"{geo.name}: has no GPS position; it is in the CSV but not on the map")
    gsd, why_not = photo_gsd(geo, settings.flight_height_m, settings.gsd_cm, settings.sensor_width_mm)
    if why_not:
        notices.append(why_not + "; areas in m² are left out")
    stats = image_stats(mask, scheme, name=geo.name, gsd_cm=None if gsd is None else gsd.cm_per_px)
    return PhotoRecord(geo, gsd, stats, scheme, notices)


def flight_points(records: list[PhotoRecord]) -> list[tuple[object, dict]]:
    """(shapely Point in lon/lat, properties) for every photo with a usable position."""
    from shapely.geometry import Point

    return [(Point(r.geo.longitude, r.geo.latitude), r.row()) for r in records if r.geo.has_position]


def flight_csv(records: list[PhotoRecord]) -> str:
    """The flight summary: one row per photo, with coordinates (empty where unknown)."""
    buffer = io.StringIO()
    fields = point_fields(records[0].scheme) if records else POINT_FIELDS
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: ("" if v is None else v) for k, v in record.row().items()})
    return buffer.getvalue()
