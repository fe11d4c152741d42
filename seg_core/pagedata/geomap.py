"""What the Map page shows, without Streamlit: map folders, their layers in local metres, and a
downsampled overlay of a mosaic.

A map folder is what `python -m seg_core map` or the Map page writes (`seg_core.inference.geojob`):
flight.geojson (photo points), <stem>_summary.json (a mosaic with its WGS84 footprint) and the
files they name. The page draws on a plain background in metres east/north of the layers' centre
(an equirectangular projection: under 0.1% scale error across a few km), so it needs no base-map
tiles and works offline.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seg_core.core import paths
from seg_core.data.classes import colorize
from seg_core.inference.geojob import SUMMARY_SUFFIX

# Streamlit's upload limit (.streamlit/config.toml, maxUploadSize) is 200 MB per file: about
# 65 MP of 8-bit RGB GeoTIFF with deflate; larger mosaics go through `python -m seg_core map`.
MAX_UPLOAD_MB = 200
UPLOAD_TYPES = ("tif", "tiff", "jpg", "jpeg", "png")
PREVIEW_SIDE = 1024  # px on the long side of the mosaic overlay shown in the page
METRES_PER_DEG_LAT = 110_574.0
METRES_PER_DEG_LON_EQUATOR = 111_320.0


def maps_dir() -> Path:
    """Where the Map page keeps its jobs: `<home>/maps/<time>-<name>/`."""
    return paths.home() / "maps"


def new_map_folder(label: str) -> Path:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", label).strip("-")[:40] or "map"
    folder = maps_dir() / f"{time.strftime('%Y%m%d-%H%M%S')}-{stem}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def list_map_folders() -> list[Path]:
    """Map folders under `maps_dir()`, newest first (those with at least one layer)."""
    root = maps_dir()
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.iterdir()
        if p.is_dir() and (any(p.glob(f"*{SUMMARY_SUFFIX}")) or (p / "flight.geojson").is_file())
    ]
    return sorted(found, key=lambda p: p.name, reverse=True)


@dataclass
class MapLayer:
    """One thing on the map: a photo point or a mosaic footprint, in metres from the map's centre.

    Attributes:
        kind: "photo" or "mosaic".
        name: file name of the photo or mosaic.
        x, y: point (photo) or closed outline (mosaic) in metres east / north of the centre.
        flooded_share: share of (valid) pixels that are Flooded; None when unknown.
        lon, lat: the same in WGS84 degrees (for a tile map).
        properties: everything the layer's record says (gsd and its source, counts, areas).
    """

    kind: str
    name: str
    x: list[float]
    y: list[float]
    flooded_share: float | None
    lon: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    properties: dict = field(default_factory=dict)


@dataclass
class MapView:
    """The layers of one map folder and the centre they are measured from (lon, lat)."""

    folder: Path
    centre: tuple[float, float]
    layers: list[MapLayer]
    downloads: list[Path]


def _local_metres(lon: np.ndarray, lat: np.ndarray, centre: tuple[float, float]) -> tuple[list, list]:
    scale = METRES_PER_DEG_LON_EQUATOR * math.cos(math.radians(centre[1]))
    return ((lon - centre[0]) * scale).tolist(), ((lat - centre[1]) * METRES_PER_DEG_LAT).tolist()


def read_map(folder: str | Path) -> MapView:
    """The photo points and mosaic footprints of a map folder.

    Raises:
        ValueError: the folder holds no map layers (the message names it).
    """
    folder = Path(folder)
    records: list[tuple[str, str, list, list, dict]] = []
    flight = folder / "flight.geojson"
    if flight.is_file():
        for feature in json.loads(flight.read_text())["features"]:
            lon, lat = feature["geometry"]["coordinates"]
            props = feature["properties"]
            records.append(("photo", props["name"], [lon], [lat], props))
    for summary_path in sorted(folder.glob(f"*{SUMMARY_SUFFIX}")):
        summary = json.loads(summary_path.read_text())
        ring = np.asarray(summary["footprint_wgs84"], dtype=float)
        records.append(("mosaic", summary["name"], ring[:, 0].tolist(), ring[:, 1].tolist(), summary))
    if not records:
        raise ValueError(f"{folder}: holds no map layers (flight.geojson or *{SUMMARY_SUFFIX})")
    lons = np.concatenate([np.asarray(r[2]) for r in records])
    lats = np.concatenate([np.asarray(r[3]) for r in records])
    centre = (float((lons.min() + lons.max()) / 2), float((lats.min() + lats.max()) / 2))
    layers = []
    for kind, name, lon, lat, props in records:
        x, y = _local_metres(np.asarray(lon), np.asarray(lat), centre)
        layers.append(MapLayer(kind, name, x, y, props.get("flooded_share"), list(lon), list(lat), props))
    downloads = sorted(p for p in folder.iterdir() if p.suffix in (".tif", ".geojson", ".gpkg", ".csv"))
    return MapView(folder, centre, layers, downloads)


def photo_overlay_path(folder: Path, name: str) -> Path | None:
    from seg_core.inference.report import safe_stem

    path = Path(folder) / f"{safe_stem(name)}_overlay.jpg"
    return path if path.is_file() else None


def mosaic_preview(folder: Path, summary: dict, opacity: float = 0.5, side: int = PREVIEW_SIDE) -> np.ndarray:
    """HxWx3 uint8: the mosaic's colours under its class colours, at most `side` px long, read
    from overviews (never the full raster). Nodata stays the mosaic's own colour."""
    import rasterio
    from rasterio.enums import Resampling

    from seg_core.data.geo import GDAL_ENV, inspect_mosaic, read_window

    with rasterio.Env(**GDAL_ENV), rasterio.open(Path(folder) / summary["classes_tif"]) as classes:
        scale = min(1.0, side / max(classes.width, classes.height))
        shape = (max(1, round(classes.height * scale)), max(1, round(classes.width * scale)))
        mask = classes.read(1, out_shape=shape, resampling=Resampling.nearest)
    base = np.zeros((*shape, 3), np.uint8)
    source = Path(summary["input"])
    if source.is_file():
        from rasterio.windows import Window

        info = inspect_mosaic(source)
        with rasterio.Env(**GDAL_ENV), rasterio.open(source) as dataset:
            base, _ = read_window(dataset, info, Window(0, 0, info.width, info.height), shape)
    known = mask != 255
    blended = base.astype(np.float32)
    blended[known] = (1 - opacity) * blended[known] + opacity * colorize(mask[known]).astype(np.float32)
    return blended.astype(np.uint8)
