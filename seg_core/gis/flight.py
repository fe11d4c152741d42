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

from seg_core.analytics.statistics import ImageStats, image_stats
from seg_core.imagery.camera import PhotoGeo, photo_gsd, read_photo_geo
from seg_core.imagery.gsd import Gsd

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
)


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
    notices: list[str] = field(default_factory=list)

    def row(self) -> dict:
        counts = self.stats.object_counts
        areas = self.stats.area_m2 or {}
        flooded_m2 = areas.get("Flooded")
        return {
            "name": self.geo.name,
            "latitude": None if self.geo.latitude is None else round(self.geo.latitude, 7),
            "longitude": None if self.geo.longitude is None else round(self.geo.longitude, 7),
            "gsd_cm": None if self.gsd is None else round(self.gsd.cm_per_px, 3),
            "gsd_source": None if self.gsd is None else self.gsd.source,
            "flooded_share": round(self.stats.flood.flooded_share, 5),
            "flooded_m2": None if flooded_m2 is None else round(flooded_m2, 2),
            "roofs_total": self.stats.flood.roofs_total,
            "roofs_exposed": self.stats.flood.roofs_exposed,
            "vehicles": counts.get("Vehicle", 0),
            "boats": counts.get("Boat", 0),
            "swimming_pools": counts.get("Swimming Pool", 0),
        }


def photo_record(path: str | Path, mask, settings: FlightSettings = FlightSettings()) -> PhotoRecord:
    """Position, GSD and statistics of one segmented photo (mask at the photo's displayed size)."""
    geo = read_photo_geo(path)
    notices = list(geo.problems)
    if not geo.has_position and not geo.problems:
        notices.append(f"{geo.name}: has no GPS position; it is in the CSV but not on the map")
    gsd, why_not = photo_gsd(geo, settings.flight_height_m, settings.gsd_cm, settings.sensor_width_mm)
    if why_not:
        notices.append(why_not + "; areas in m² are left out")
    stats = image_stats(mask, name=geo.name, gsd_cm=None if gsd is None else gsd.cm_per_px)
    return PhotoRecord(geo, gsd, stats, notices)


def flight_points(records: list[PhotoRecord]) -> list[tuple[object, dict]]:
    """(shapely Point in lon/lat, properties) for every photo with a usable position."""
    from shapely.geometry import Point

    return [(Point(r.geo.longitude, r.geo.latitude), r.row()) for r in records if r.geo.has_position]


def flight_csv(records: list[PhotoRecord]) -> str:
    """The flight summary: one row per photo, with coordinates (empty where unknown)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=POINT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: ("" if v is None else v) for k, v in record.row().items()})
    return buffer.getvalue()
