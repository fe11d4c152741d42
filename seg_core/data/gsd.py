"""Ground sampling distance (GSD): centimetres of ground per pixel, always with its source.

Contract (DESIGN.md): every GSD StormSeg reports names where it came from, because an area in m²
is only as good as the GSD behind it. Sources, most to least trustworthy:

- `raster`: the orthomosaic's own geotransform (pixel size in its CRS).
- `xmp`: a nadir drone photo: XMP relative altitude (height above the take-off point) x sensor
  width / (focal length x image width). EXIF GPSAltitude is above sea level and never used.
- `user`: a GSD, or a flying height, given on the command line or in the app.
- `checkpoint`: the working GSD the model was trained at, recorded in its metadata.
- `default`: the Harvey footprint (120 m across the frame) at the checkpoint's resolution,
  for checkpoints that do not record their GSD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GSD_SOURCES: tuple[str, ...] = ("raster", "xmp", "user", "checkpoint", "default")
# Harvey drones photographed ~120 m of ground across the frame (report.ASSUMED_FOOTPRINT_WIDTH_M);
# the demo scenes are drawn over the same 120 m. A model trained at long side R px therefore sees
# 120 m / R per pixel: 11.7 cm/px at the default 1024.
HARVEY_FOOTPRINT_M = 120.0
# Metadata key a checkpoint may carry with the working GSD it was trained at (optional).
CHECKPOINT_GSD_KEY = "working_gsd_cm"


@dataclass(frozen=True)
class Gsd:
    """A ground sampling distance and where it came from.

    Attributes:
        cm_per_px: centimetres of ground per pixel (positive, finite).
        source: one of GSD_SOURCES.
        detail: how it was derived, in words (e.g. "60.0 m above take-off, 8.8 mm lens").
    """

    cm_per_px: float
    source: str
    detail: str = ""

    def __post_init__(self):
        if not (
            isinstance(self.cm_per_px, int | float) and math.isfinite(self.cm_per_px) and self.cm_per_px > 0
        ):
            raise ValueError(f"GSD {self.cm_per_px!r} must be a positive number of cm per pixel")
        if self.source not in GSD_SOURCES:
            raise ValueError(f"GSD source {self.source!r} is not one of {', '.join(GSD_SOURCES)}")

    def describe(self) -> str:
        """'2.50 cm/px (xmp: 60.0 m above take-off, ...)' for reports and logs."""
        return f"{self.cm_per_px:.2f} cm/px ({self.source}{': ' + self.detail if self.detail else ''})"


def user_gsd(cm_per_px: float, setting: str = "--gsd") -> Gsd:
    """A GSD typed by the user; the error names the setting."""
    if not (math.isfinite(cm_per_px) and 0.1 <= cm_per_px <= 10_000):
        raise ValueError(
            f"{setting} {cm_per_px} must be a ground sampling distance between 0.1 and 10000 cm/px"
        )
    return Gsd(float(cm_per_px), "user", setting)


def model_gsd(meta: dict, override_cm: float | None = None) -> Gsd:
    """The working GSD a checkpoint's model expects: the user's override, the checkpoint's own
    record, else the Harvey footprint at the checkpoint's resolution."""
    if override_cm is not None:
        return user_gsd(override_cm, "--model-gsd")
    recorded = meta.get(CHECKPOINT_GSD_KEY)
    if isinstance(recorded, int | float) and math.isfinite(recorded) and recorded > 0:
        return Gsd(float(recorded), "checkpoint", f"{CHECKPOINT_GSD_KEY} in the checkpoint")
    resolution = int(meta["resolution"])
    return Gsd(
        HARVEY_FOOTPRINT_M * 100 / resolution,
        "default",
        f"Harvey footprint {HARVEY_FOOTPRINT_M:.0f} m across a {resolution} px frame",
    )
