"""Class polygons from a class GeoTIFF, and the GeoJSON / GeoPackage layers StormSeg writes.

Contract (DESIGN.md): vector layers carry `class_id`, `class_name` and `area_m2`; GeoJSON is
WGS84 longitude/latitude (RFC 7946: no `crs` member, exterior rings counter-clockwise); the
GeoPackage layer is WGS84 too, so both open the same in any GIS.

Polygons are traced block by block (`VectorSettings.block` px of the class raster at a time,
with `rasterio.features.shapes`), so memory stays flat in the raster's size; a region that
crosses a block edge becomes one polygon per block (areas add up exactly). Areas are measured
before reprojection: planar in a projected CRS, geodesic (pyproj.Geod) in a lon/lat CRS.
Outlines are simplified by `simplify_px` pixels with topology preserved, and any polygon that
simplification would make invalid keeps its traced outline. The class names and roles are the
label scheme's the raster records (`STORMSEG_SCHEME` tag; harvey for rasters without one).
Buildings and secondary structures get `touches_flood`: whether they are labelled flooded or share
an edge with flood-water pixels in the same block (None where the scheme marks no flood); for a
scheme that grades damage every polygon also gets `damage` (the building's FEMA level, else None).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seg_core.analytics.exposure import flood_water_ids
from seg_core.gis import NODATA, SCHEME_TAG
from seg_core.imagery.raster import GDAL_ENV
from seg_core.schemes.files import SchemeError, scheme_from_dict
from seg_core.schemes.scheme import BUILDING, DEFAULT_SCHEME, SECONDARY_STRUCTURE, LabelScheme, builtin

POLYGON_FIELDS = ("class_id", "class_name", "area_m2", "touches_flood")  # + "damage" where graded
COORDINATE_DECIMALS = 7  # 1e-7 deg is ~1 cm: finer than any drone GSD, no false precision beyond


@dataclass(frozen=True)
class VectorSettings:
    """How polygons are traced.

    Attributes:
        block: class-raster px per side traced at once (memory: ~block^2 x 5 bytes).
        simplify_px: Douglas-Peucker tolerance in pixels; 0.5 removes the pixel staircase's
            redundant vertices while moving no edge by more than half a pixel.
        min_area_px: drop polygons smaller than this (speckle), in pixels.
    """

    block: int = 2048
    simplify_px: float = 0.5
    min_area_px: int = 1

    def __post_init__(self):
        if self.block < 16 or self.simplify_px < 0 or self.min_area_px < 0:
            raise ValueError(
                f"block {self.block} must be >= 16, simplify_px {self.simplify_px} and "
                f"min_area_px {self.min_area_px} >= 0"
            )


@dataclass(frozen=True)
class ClassPolygon:
    """One traced region: class id, shapely geometry in WGS84, area in m² and flood contact."""

    class_id: int
    geometry: object
    area_m2: float
    touches_flood: bool | None
    scheme: LabelScheme

    def properties(self) -> dict:
        values = {
            "class_id": self.class_id,
            "class_name": self.scheme.names[self.class_id],
            "area_m2": round(self.area_m2, 3),
            "touches_flood": self.touches_flood,
        }
        if self.scheme.grades_damage:  # one field set per layer: every polygon carries the column
            values["damage"] = self.scheme.damage_of(self.class_id)
        return values


def raster_scheme(dataset) -> LabelScheme:
    """The label scheme an open class GeoTIFF records; harvey for rasters written without one.

    Raises:
        SchemeError: the recorded scheme is malformed.
    """
    recorded = dataset.tags().get(SCHEME_TAG)
    if recorded is None:
        return builtin(DEFAULT_SCHEME)
    try:
        values = json.loads(recorded)
    except json.JSONDecodeError as exc:
        raise SchemeError(f"{dataset.name}: its {SCHEME_TAG} tag", [f"is not JSON ({exc})"]) from None
    return scheme_from_dict(values, f"{dataset.name}: its {SCHEME_TAG} tag")


def _to_wgs84(crs):
    from pyproj import CRS, Transformer

    transformer = Transformer.from_crs(CRS.from_user_input(crs.to_wkt()), "EPSG:4326", always_xy=True)

    def project(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return project


def _area_function(crs):
    import shapely

    if crs.is_geographic:
        from pyproj import Geod

        geod = Geod(ellps="WGS84")
        return lambda geom: abs(geod.geometry_area_perimeter(geom)[0])
    factor = crs.linear_units_factor[1]
    return lambda geom: float(shapely.area(geom)) * factor**2


def trace_polygons(
    class_tif: str | Path, settings: VectorSettings = VectorSettings()
) -> Iterator[ClassPolygon]:
    """Yield every class region of a class GeoTIFF (255 = nodata) as a WGS84 polygon, in the label
    scheme the raster records."""
    import rasterio
    import shapely
    from rasterio.features import shapes
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    with rasterio.Env(**GDAL_ENV), rasterio.open(class_tif) as dataset:
        project, area_of = _to_wgs84(dataset.crs), _area_function(dataset.crs)
        pixel = max(abs(dataset.transform.a), abs(dataset.transform.e))
        scheme = raster_scheme(dataset)
        water = set(flood_water_ids(scheme))
        buildings = set(scheme.ids(BUILDING)) | set(scheme.ids(SECONDARY_STRUCTURE))
        marks_flood = bool(scheme.ids(flooded=True))
        for y in range(0, dataset.height, settings.block):
            for x in range(0, dataset.width, settings.block):
                window = Window(
                    x, y, min(settings.block, dataset.width - x), min(settings.block, dataset.height - y)
                )
                classes = dataset.read(1, window=window)
                regions = [
                    (shapely.geometry.shape(geom), int(value))
                    for geom, value in shapes(
                        classes,
                        mask=classes != NODATA,
                        connectivity=4,
                        transform=window_transform(window, dataset.transform),
                    )
                ]
                flood = shapely.union_all([g for g, c in regions if c in water]) if regions else None
                for geom, class_id in regions:
                    if geom.area < settings.min_area_px * pixel * pixel * 0.999:
                        continue
                    touches = None
                    if class_id in buildings and marks_flood:
                        touches = scheme.classes[class_id].flooded or bool(
                            flood is not None and not flood.is_empty and geom.intersects(flood)
                        )
                    area = area_of(geom)
                    if settings.simplify_px:
                        simple = shapely.simplify(geom, settings.simplify_px * pixel, preserve_topology=True)
                        geom = simple if simple.is_valid and not simple.is_empty else geom
                    geom = shapely.transform(geom, project)
                    geom = shapely.orient_polygons(shapely.set_precision(geom, 0), exterior_cw=False)
                    yield ClassPolygon(class_id, geom, area, touches, scheme)


def _rounded(geometry) -> dict:
    import shapely

    mapping = json.loads(shapely.to_geojson(geometry))
    return json.loads(json.dumps(mapping), parse_float=lambda s: round(float(s), COORDINATE_DECIMALS))


class GeoJsonWriter:
    """Streams features into an RFC 7946 FeatureCollection; the file appears complete or not at all."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._tmp = self.path.with_name(self.path.name + ".partial")
        self._handle = open(self._tmp, "w")  # noqa: SIM115 - a streaming writer, closed by close()
        self._handle.write('{"type": "FeatureCollection", "features": [\n')
        self.count = 0

    def write(self, geometry, properties: dict) -> None:
        feature = {"type": "Feature", "geometry": _rounded(geometry), "properties": properties}
        self._handle.write((",\n" if self.count else "") + json.dumps(feature))
        self.count += 1

    def close(self) -> None:
        self._handle.write("\n]}\n")
        self._handle.close()
        self._tmp.replace(self.path)


def write_gpkg(
    features: list[tuple[object, dict]],
    path: str | Path,
    layer: str,
    geometry_type: str,
    append: bool = False,
) -> int:
    """Write (geometry, properties) pairs into a WGS84 GeoPackage layer (a new file unless append)."""
    import pyogrio.raw
    import shapely

    path = Path(path)
    if not append:
        path.unlink(missing_ok=True)
    if not features:
        return 0
    names = list(features[0][1])
    columns, masks = [], []
    for name in names:
        values = [props[name] for _, props in features]
        missing = np.array([v is None for v in values])
        sample = next((v for v in values if v is not None), "")
        if isinstance(sample, bool):
            column = np.array([bool(v) for v in values])
        elif isinstance(sample, int):
            column = np.array([0 if v is None else v for v in values], dtype=np.int64)
        elif isinstance(sample, float):
            column = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        else:
            column = np.array(["" if v is None else str(v) for v in values], dtype=object)
        columns.append(column)
        masks.append(missing if missing.any() else None)
    geometry = np.array([shapely.to_wkb(g) for g, _ in features], dtype=object)
    pyogrio.raw.write(
        path,
        geometry,
        columns,
        names,
        field_mask=masks,
        layer=layer,
        driver="GPKG",
        append=append,
        geometry_type=geometry_type,
        crs="EPSG:4326",
        promote_to_multi=geometry_type == "MultiPolygon",
    )
    return len(features)


GPKG_BATCH = 5000  # features per GeoPackage append: bounded memory, few transactions


def write_class_polygons(
    class_tif: str | Path,
    geojson_path: str | Path,
    gpkg_path: str | Path,
    settings: VectorSettings = VectorSettings(),
) -> dict[str, float]:
    """Trace a class GeoTIFF into a GeoJSON and a GeoPackage (streamed); returns m² per class name."""
    geojson = GeoJsonWriter(geojson_path)
    gpkg_tmp = Path(str(gpkg_path) + ".partial.gpkg")
    gpkg_tmp.unlink(missing_ok=True)
    areas: dict[str, float] = {}
    batch: list[tuple[object, dict]] = []
    written = 0
    for polygon in trace_polygons(class_tif, settings):
        props = polygon.properties()
        geojson.write(polygon.geometry, props)
        areas[props["class_name"]] = areas.get(props["class_name"], 0.0) + polygon.area_m2
        batch.append((polygon.geometry, props))
        if len(batch) >= GPKG_BATCH:
            written += write_gpkg(batch, gpkg_tmp, "classes", "MultiPolygon", append=written > 0)
            batch = []
    written += write_gpkg(batch, gpkg_tmp, "classes", "MultiPolygon", append=written > 0)
    geojson.close()
    if written:
        gpkg_tmp.replace(gpkg_path)
    else:
        Path(gpkg_path).unlink(missing_ok=True)  # nothing to map: no empty layer with a guessed schema
    return areas
