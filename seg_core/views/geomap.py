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


def layer_legend(view: MapView, layer: MapLayer) -> list[dict]:
    """The classes in a layer's overlay, largest first: {name, color, share}. A mosaic's come from
    its areas (in the scheme its summary records), a photo's from its class mask (in the built-in
    scheme its properties name, else Harvey's: a flight's points do not record their scheme yet)."""
    from seg_core.analytics.report import safe_stem
    from seg_core.gis.geojob import summary_scheme
    from seg_core.imagery.imageio import load_mask
    from seg_core.schemes.scheme import BUILTIN, DEFAULT_SCHEME

    if layer.kind == "mosaic":
        scheme = summary_scheme(layer.properties)
        areas = layer.properties.get("area_m2") or {}
        total = sum(areas.values()) or 1.0
        shares = {name: m2 / total for name, m2 in areas.items()}
    else:
        scheme = BUILTIN.get(layer.properties.get("scheme") or DEFAULT_SCHEME, BUILTIN[DEFAULT_SCHEME])
        mask_path = view.folder / f"{safe_stem(layer.name)}_mask.png"
        if not mask_path.is_file():
            return []
        counts = np.bincount(np.asarray(load_mask(mask_path)).ravel(), minlength=scheme.num_classes)
        total = max(int(counts[: scheme.num_classes].sum()), 1)
        shares = {scheme.names[i]: n / total for i, n in enumerate(counts[: scheme.num_classes])}
    rows = [
        {"name": name, "color": scheme.hex_color(scheme.names.index(name)), "share": share}
        for name, share in shares.items()
        if share > 0 and name in scheme.names
    ]
    return sorted(rows, key=lambda r: -r["share"])


def mosaic_details(layer: MapLayer) -> list[dict]:
    """A clicked mosaic's facts as rows {"": what, "value": ...} for a small table."""
    props = layer.properties
    areas = props.get("area_m2") or {}
    rows = [
        ("Flooded", "unknown" if layer.flooded_share is None else f"{layer.flooded_share:.1%}"),
        ("Flooded area", f"{areas.get('Flooded', 0.0):,.0f} m²"),
        ("Area mapped", f"{sum(areas.values()) / 10_000:,.2f} ha"),
        ("Raster GSD", str(props.get("raster_gsd", "unknown"))),
        ("Model's working GSD", str(props.get("model_gsd", "unknown"))),
    ]
    return [{"": what, "value": value} for what, value in rows]


def write_demo_inputs(folder: Path) -> list[Path]:
    """A small georeferenced demo in `folder`: a 2 x 1 scene orthomosaic and three GPS-tagged
    photos over west Houston (`seg_core.demo.geodemo`, what `geo-demo` writes, smaller: a map in
    seconds on a CPU)."""
    from seg_core.demo.geodemo import write_demo_flight, write_demo_orthomosaic

    folder.mkdir(parents=True, exist_ok=True)
    ortho = write_demo_orthomosaic(folder / "demo_ortho.tif", cols=2, rows=1, tile_px=384, distinct=2)
    return [ortho, *write_demo_flight(folder / "flight", count=3, size=(480, 360))]
