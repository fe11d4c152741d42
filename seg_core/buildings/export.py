"""The building records as the files responders file: GeoPackage, zipped shapefile, zipped file
geodatabase, GeoJSON and CSV; buildings without a georeference in pixel coordinates (CSV and JSON).

    paths = write_building_files(records, "out/", figures=report_rows)

- `buildings.gpkg`: layer `buildings` (WGS84 polygons, FIELDS) and, given `figures`, the attribute
  table `situation` with every figure the situation report prints (name, value, unit).
- `buildings_shp.zip`: the same layer as an ESRI shapefile (field names cut to 10 characters by
  `SHAPEFILE_NAMES`), `buildings_gdb.zip`: as an Esri file geodatabase (GDAL's OpenFileGDB).
- `buildings.geojson`: RFC 7946 (WGS84, counter-clockwise exteriors).
- `buildings.csv`: every building, georeferenced or not, with its pixel footprint as WKT.
- `buildings_pixels.json`: every building's footprint in pixel coordinates of its photo or tile.

The layer's schema is declared (`FIELD_TYPES`), so a column that is empty in one batch (no
confidence map, no damage share) keeps its type. Files appear complete or not at all: they are
written into a scratch folder and moved into place.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seg_core.buildings.records import FIELDS, SHAPEFILE_NAMES, BuildingRecord
from seg_core.gis.vectors import GeoJsonWriter

LAYER = "buildings"
SITUATION_TABLE = "situation"
FIELD_TYPES = {
    "building_id": str,
    "damage_level": str,
    "damage_share": float,
    "damage_basis": str,
    "damage_type": str,
    "flooded": bool,
    "area_m2": float,
    "latitude": float,
    "longitude": float,
    "centroid_x_px": float,
    "centroid_y_px": float,
    "confidence_mean": float,
    "uncertain_share": float,
    "at_edge": bool,
    "source": str,
    "model_id": str,
    "weights_sha256": str,
    "assessment_type": str,
}
GIS_FILES = ("buildings.gpkg", "buildings_shp.zip", "buildings_gdb.zip", "buildings.geojson")
TABLE_FILES = ("buildings.csv", "buildings_pixels.json")


def _columns(rows: Sequence[dict], names: Sequence[str], types: dict) -> tuple[list, list]:
    """Typed numpy columns and their null masks (None -> masked) for pyogrio."""
    columns, masks = [], []
    for name in names:
        values = [row[name] for row in rows]
        missing = np.array([v is None for v in values], dtype=bool)
        kind = types[name]
        if kind is bool:
            column = np.array([bool(v) for v in values], dtype=bool)
        elif kind is float:
            column = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        else:
            column = np.array(["" if v is None else str(v) for v in values], dtype=object)
        columns.append(column)
        masks.append(missing if missing.any() else None)
    return columns, masks


def _write_layer(
    records: Sequence[BuildingRecord], path: Path, driver: str, rename: dict | None = None
) -> None:
    import pyogrio.raw
    import shapely

    rename = rename or {}
    rows = [r.properties() for r in records]
    columns, masks = _columns(rows, FIELDS, FIELD_TYPES)
    pyogrio.raw.write(
        path,
        np.array([shapely.to_wkb(r.polygon_wgs84) for r in records], dtype=object),
        columns,
        [rename.get(name, name) for name in FIELDS],
        field_mask=masks,
        layer=LAYER,
        driver=driver,
        geometry_type="MultiPolygon",
        promote_to_multi=True,
        crs="EPSG:4326",
    )


def _write_situation_table(figures: Sequence[dict], gpkg: Path) -> None:
    """The report's figures as an attribute table (no geometry) in the GeoPackage."""
    import pyogrio.raw

    names = ("section", "name", "value", "unit")
    columns, masks = _columns(figures, names, {"section": str, "name": str, "value": float, "unit": str})
    pyogrio.raw.write(
        gpkg, None, columns, list(names), field_mask=masks, layer=SITUATION_TABLE, driver="GPKG", append=True
    )


def _zip_folder(folder: Path, archive: Path, keep_folder: bool) -> None:
    """Zip a folder's files, under the folder's name (a .gdb is a folder) or at the top (a shapefile)."""
    base = folder.parent if keep_folder else folder
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(base))


def buildings_csv(records: Sequence[BuildingRecord]) -> str:
    """Every building (FIELDS plus `footprint_wkt_px`, its footprint in pixel coordinates)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*FIELDS, "footprint_wkt_px"], lineterminator="\n")
    writer.writeheader()
    for record in records:
        row = {k: ("" if v is None else v) for k, v in record.properties().items()}
        writer.writerow(row | {"footprint_wkt_px": record.polygon_px.wkt})
    return buffer.getvalue()


def buildings_pixel_json(records: Sequence[BuildingRecord]) -> str:
    """A FeatureCollection-shaped document in pixel coordinates (x right, y down; not GeoJSON:
    no CRS applies), one feature per building."""
    import shapely

    features = [
        {
            "type": "Feature",
            "geometry": json.loads(shapely.to_geojson(r.polygon_px)),
            "properties": r.properties(),
        }
        for r in records
    ]
    return json.dumps({"type": "FeatureCollection", "coordinates": "pixel", "features": features})


def write_building_files(
    records: Sequence[BuildingRecord], out: str | Path, figures: Sequence[dict] | None = None
) -> list[Path]:
    """Write the building files into `out` (see the module docstring); returns the paths written.

    The GIS files are written when at least one building is georeferenced (and hold only those);
    the CSV and the pixel JSON always, even for no buildings (a header, an empty collection).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scratch = out / f".buildings-{os.getpid()}.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        (scratch / "buildings.csv").write_text(buildings_csv(records))
        (scratch / "buildings_pixels.json").write_text(buildings_pixel_json(records))
        placed = [r for r in records if r.polygon_wgs84 is not None]
        names = list(TABLE_FILES)
        if placed:
            _write_layer(placed, scratch / "buildings.gpkg", "GPKG")
            if figures:
                _write_situation_table(figures, scratch / "buildings.gpkg")
            (scratch / "shp").mkdir()
            _write_layer(placed, scratch / "shp" / "buildings.shp", "ESRI Shapefile", SHAPEFILE_NAMES)
            _zip_folder(scratch / "shp", scratch / "buildings_shp.zip", keep_folder=False)
            _write_layer(placed, scratch / "buildings.gdb", "OpenFileGDB")
            _zip_folder(scratch / "buildings.gdb", scratch / "buildings_gdb.zip", keep_folder=True)
            geojson = GeoJsonWriter(scratch / "buildings.geojson")
            for record in placed:
                geojson.write(record.polygon_wgs84, record.properties())
            geojson.close()
            names += list(GIS_FILES)
        for name in names:
            os.replace(scratch / name, out / name)
        stale = [out / name for name in GIS_FILES if name not in names]
        for path in stale:  # an earlier georeferenced batch's files must not pass for this one's
            path.unlink(missing_ok=True)
        return [out / name for name in names]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
