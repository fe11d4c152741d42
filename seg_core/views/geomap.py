"""What the Map page shows, without Streamlit: map folders, their layers in local metres, and a
downsampled overlay of a mosaic.

A map folder is what `python -m seg_core map` or the Map page writes (`seg_core.gis.geojob`):
flight.geojson (photo points), <stem>_summary.json (a mosaic with its WGS84 footprint) and the
files they name. The page draws on a plain background in metres east/north of the layers' centre
(an equirectangular projection: under 0.1% scale error across a few km), so it needs no base-map
tiles and works offline.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seg_core.gis.geojob import SUMMARY_SUFFIX
from seg_core.gis.mapstore import list_map_folders, maps_dir, new_map_folder  # noqa: F401 (the Map page's)
from seg_core.gis.preview import PREVIEW_SIDE, mosaic_preview  # noqa: F401 (the Map page's)
from seg_core.services.geoupload import MAX_UPLOAD_MB, UPLOAD_TYPES  # noqa: F401 (the Map page's)

METRES_PER_DEG_LAT = 110_574.0
METRES_PER_DEG_LON_EQUATOR = 111_320.0


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
    from seg_core.analytics.report import safe_stem

    path = Path(folder) / f"{safe_stem(name)}_overlay.jpg"
    return path if path.is_file() else None
