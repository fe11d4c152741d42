"""Ground sampling distance (GSD): centimetres of ground per pixel, always with its source.

Contract (DESIGN.md): every GSD StormSeg reports names where it came from, because an area in m²
is only as good as the GSD behind it. Sources, most to least trustworthy:

- `raster`: the orthomosaic's own geotransform (pixel size in its CRS).
- `xmp`: a nadir drone photo: XMP relative altitude (height above the take-off point) x sensor
  width / (focal length x image width). EXIF GPSAltitude is above sea level and never used.
- `user`: a GSD, or a flying height, given on the command line or in the app.
- `checkpoint`: the working GSD the model was trained at, recorded in its metadata by training
  from the dataset's `gsd.json` or `train --gsd-cm` (`working_gsd_record`).
- `default`: the Harvey footprint (120 m across the frame) at the checkpoint's resolution,
  for checkpoints that do not record their GSD.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

GSD_SOURCES: tuple[str, ...] = ("raster", "xmp", "user", "checkpoint", "default")
# Harvey drones photographed ~120 m of ground across the frame (report.ASSUMED_FOOTPRINT_WIDTH_M);
# the demo scenes are drawn over the same 120 m. A model trained at long side R px therefore sees
# 120 m / R per pixel: 11.7 cm/px at the default 1024.
HARVEY_FOOTPRINT_M = 120.0
# Metadata key a checkpoint may carry with the working GSD it was trained at (optional), and the
# key of its full record (median, spread, source: `working_gsd_record`).
CHECKPOINT_GSD_KEY = "working_gsd_cm"
CHECKPOINT_GSD_RECORD_KEY = "working_gsd"


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


# --- a dataset's own GSD and the working GSD a model is trained at ------------------------------

# `<dataset>/gsd.json`: the ground sampling distance of the dataset's photos at their original
# size, e.g. {"default_cm_per_px": 2.5, "images": {"IMG_0007": 3.1}, "source": "DJI XMP, 60 m"}.
DATASET_GSD_FILE = "gsd.json"


@dataclass(frozen=True)
class DatasetGsd:
    """A dataset's sidecar: its photos' GSD at their original size.

    Attributes:
        default_cm: cm/px of every photo not listed in `per_image`.
        per_image: photo stem -> cm/px, for photos that differ from the default.
        source: where the figures came from, in words (flying height, generator, survey report).
    """

    default_cm: float
    per_image: dict[str, float]
    source: str = ""

    def for_image(self, stem: str) -> float:
        return self.per_image.get(stem, self.default_cm)


def _sidecar_number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0.1 <= value <= 10_000):
        raise ValueError(f"{where} {value!r} must be a ground sampling distance between 0.1 and 10000 cm/px")
    return float(value)


def read_dataset_gsd(root: str | Path) -> DatasetGsd | None:
    """The dataset's `gsd.json`, or None when it has none.

    Raises:
        ValueError: the file is unreadable or malformed (the message names the file and the key).
    """
    path = Path(root) / DATASET_GSD_FILE
    if not path.is_file():
        return None
    try:
        values = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the dataset's GSD file ({exc})") from None
    if not isinstance(values, dict) or "default_cm_per_px" not in values:
        raise ValueError(f'{path}: must be a JSON object with "default_cm_per_px" (cm per pixel)')
    images = values.get("images", {})
    if not isinstance(images, dict):
        raise ValueError(f'{path}: "images" must map photo stems to cm per pixel')
    return DatasetGsd(
        _sidecar_number(values["default_cm_per_px"], f"{path}: default_cm_per_px"),
        {str(k): _sidecar_number(v, f"{path}: images[{k!r}]") for k, v in images.items()},
        str(values.get("source", "")),
    )


def write_dataset_gsd(root: str | Path, per_image: dict[str, float], source: str) -> Path:
    """Write `<root>/gsd.json`: the median as the default, other values per image (2 decimals)."""
    if not per_image:
        raise ValueError("a dataset GSD file needs at least one photo")
    rounded = {stem: round(float(cm), 4) for stem, cm in per_image.items()}
    default = float(statistics.median(rounded.values()))
    values = {
        "default_cm_per_px": default,
        "images": {stem: cm for stem, cm in sorted(rounded.items()) if cm != default},
        "source": source,
    }
    path = Path(root) / DATASET_GSD_FILE
    path.write_text(json.dumps(values, indent=2) + "\n")
    return path


def working_gsd_record(
    source_cm: Sequence[float], long_sides: Sequence[int], resolution: int, source: str
) -> dict:
    """The working GSD of a training run: each photo's source GSD x (its long side / resolution),
    as the photos are shrunk (never enlarged) to the working resolution; the median is what the
    model learnt at, the spread says whether it learnt one scale or several.

    Returns:
        {"median_cm", "min_cm", "max_cm", "images", "resolution", "source"} (plain floats).
    """
    if not source_cm or len(source_cm) != len(long_sides):
        raise ValueError("a working GSD needs one source GSD and one long side per training photo")
    working = [cm * max(1.0, side / resolution) for cm, side in zip(source_cm, long_sides, strict=True)]
    return {
        "median_cm": round(float(statistics.median(working)), 4),
        "min_cm": round(min(working), 4),
        "max_cm": round(max(working), 4),
        "images": len(working),
        "resolution": int(resolution),
        "source": source,
    }
