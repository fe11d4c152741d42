"""A team's existing maps as partial labels: building footprints, road lines, flood outlines
(GeoPackage, GeoJSON, Shapefile: anything GDAL reads, from disk only) burnt onto a georeferenced
mosaic's grid and cut into the tiles of a partial-label dataset (`seg_core.datasets.partial`).

Prior maps are misaligned with a new mosaic by metres: traced on other imagery, roof outlines
against wall outlines, OpenStreetMap's own error. So every edge gets a band of unknown pixels,
`tolerance_m` wide on either side, and each class of a layer says only what survives it:

    inside a feature, farther than the tolerance from its edge  -> the class ("building")
    outside every feature of the class, farther than that       -> "not" the class
    within the tolerance of an edge                             -> nothing about that class

Road centre lines first become bands `line_width_m` wide; point layers are refused (a point has
no extent to label). A pixel's statements from every class combine: exactly one class it is ->
that class; several (overlapping layers) -> unknown; classes it is not -> the not-code for that
set; none -> unknown. "Not building" assumes the layer maps every building of the area; a layer
that may miss some (`incomplete`) only says where its features are. Pixels outside the mosaic's
valid data are unknown, and tiles with nothing known are not written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from seg_core.datasets.partial import PartialLabels, write_partial_labels
from seg_core.imagery.gsd import write_dataset_gsd
from seg_core.imagery.raster import GDAL_ENV, MosaicInfo, inspect_mosaic, read_window
from seg_core.schemes.scheme import IGNORE_INDEX

GEOJSON_SUFFIXES = (".geojson", ".json")  # RFC 7946: coordinates are WGS84 when no CRS is named


@dataclass(frozen=True)
class VectorLayer:
    """One vector file (and layer) and the class its features are."""

    path: Path
    class_id: int
    layer: str | None = None  # None: the file's first layer
    incomplete: bool = False  # True: the layer may miss features; it never says "not this class"


@dataclass(frozen=True)
class RasterizeSettings:
    """How vectors become labels; every field is a command-line option."""

    # OpenStreetMap and county footprints sit 1-3 m off a new orthomosaic (traced on older or
    # differently orthorectified imagery, wall outline vs roof overhang): tens of pixels at drone
    # GSDs. 2 m on either side of an edge covers the usual offset and keeps the middle 6 m of a
    # 10 m house as "building".
    tolerance_m: float = 2.0
    line_width_m: float = 7.0  # a road centre line becomes 7 m wide: two 3.5 m lanes
    tile: int = 1024  # px per tile side: the dataset's photos; training resizes them anyway

    def __post_init__(self):
        if not 0.0 <= self.tolerance_m <= 100.0:
            raise ValueError(f"tolerance {self.tolerance_m} m must be 0..100 m")
        if not 0.0 < self.line_width_m <= 200.0:
            raise ValueError(f"line width {self.line_width_m} m must be more than 0 and at most 200 m")
        if not 64 <= self.tile <= 8192:
            raise ValueError(f"tile {self.tile} px must be 64..8192 px")


@dataclass
class ClassShapes:
    """One class's features in the mosaic's pixel coordinates: cores (shrunk by the tolerance)
    and near zones (grown by it), each with a spatial index for the tile queries."""

    class_id: int
    complete: bool
    cores: np.ndarray
    near: np.ndarray

    def __post_init__(self):
        import shapely

        self.core_index, self.near_index = shapely.STRtree(self.cores), shapely.STRtree(self.near)


def _read_geometries(layer: VectorLayer, crs_wkt: str) -> tuple[np.ndarray, str | None]:
    """The layer's geometries in the mosaic's CRS, and a note when they had to be reprojected.

    Raises:
        ValueError: unreadable, no CRS (other than GeoJSON), points, or no feature at all.
    """
    import pyogrio
    import shapely
    from pyproj import CRS, Transformer

    path = layer.path
    if not path.is_file():
        raise ValueError(f"{path}: vector file not found")
    try:
        meta, _fids, wkb, _fields = pyogrio.raw.read(path, layer=layer.layer, columns=[])
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise ValueError(
            f"{path}: not a vector file GDAL can read ({str(exc).splitlines()[0][:160]})"
        ) from None
    geometries = shapely.from_wkb(wkb)
    geometries = geometries[~shapely.is_missing(geometries) & ~shapely.is_empty(geometries)]
    if not len(geometries):
        raise ValueError(f"{path}: has no features with a geometry")
    kinds = set(shapely.get_type_id(geometries).tolist())
    if kinds & {0, 4}:  # Point, MultiPoint
        raise ValueError(f"{path}: holds points; label layers must be polygons (footprints) or lines (roads)")
    source = meta.get("crs")
    if not source:
        if path.suffix.lower() not in GEOJSON_SUFFIXES:
            raise ValueError(
                f"{path}: has no coordinate reference system (CRS); set one (ogr2ogr -a_srs EPSG:...)"
            )
        source = "EPSG:4326"
    source_crs, target_crs = CRS.from_user_input(source), CRS.from_wkt(crs_wkt)
    note = None
    if source_crs != target_crs:
        transformer = Transformer.from_crs(source_crs, target_crs, always_xy=True)
        geometries = shapely.transform(
            geometries, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
        )
        note = f"{path.name}: reprojected from {source_crs.name} to the mosaic's {target_crs.name}"
    return shapely.make_valid(geometries), note


def _to_pixels(geometries: np.ndarray, info: MosaicInfo) -> np.ndarray:
    """Map coordinates to (column, row) pixel coordinates; the mosaic is north-up (inspect_mosaic)."""
    import shapely

    a, _b, c, _d, e, f = info.transform
    return shapely.transform(geometries, lambda xy: (xy - (c, f)) / (a, e))


def class_shapes(
    layers: Sequence[VectorLayer], info: MosaicInfo, settings: RasterizeSettings
) -> tuple[list[ClassShapes], list[str]]:
    """Every class's cores and near zones in pixel coordinates, and a note per reprojected layer.

    Raises:
        ValueError: a layer is unusable or lies wholly outside the mosaic (the message names it).
    """
    import shapely

    metre_px = 100.0 / info.gsd.cm_per_px
    tolerance, half_width = settings.tolerance_m * metre_px, settings.line_width_m * metre_px / 2
    frame = shapely.box(0, 0, info.width, info.height)
    by_class: dict[int, list] = {}
    complete: dict[int, bool] = {}
    notes = [f"tolerance {settings.tolerance_m:g} m = {tolerance:.1f} px either side of every edge"]
    for layer in layers:
        geometries, note = _read_geometries(layer, info.crs_wkt)
        notes += [note] if note else []
        pixels = _to_pixels(geometries, info)
        lines = np.isin(shapely.get_type_id(pixels), (1, 2, 5))  # LineString, LinearRing, MultiLineString
        pixels[lines] = shapely.buffer(pixels[lines], half_width)
        if not shapely.intersects(pixels, frame).any():
            raise ValueError(
                f"{layer.path}: none of its {len(pixels)} features lies on {info.path.name} "
                "(wrong area, or a wrong CRS in the vector file)"
            )
        by_class.setdefault(layer.class_id, []).extend(pixels)
        complete[layer.class_id] = complete.get(layer.class_id, True) and not layer.incomplete
    shapes = []
    for class_id, geometries in by_class.items():
        geometries = np.asarray(geometries, dtype=object)
        cores = shapely.buffer(geometries, -tolerance) if tolerance else geometries
        near = shapely.buffer(geometries, tolerance) if tolerance else geometries
        shapes.append(ClassShapes(class_id, complete[class_id], cores[~shapely.is_empty(cores)], near))
    return shapes, notes


def _burn(index, geometries: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Pixels of the tile `box` (col0, row0, width, height) covered by the geometries."""
    import shapely
    from rasterio.features import rasterize
    from rasterio.transform import Affine

    col0, row0, width, height = box
    hits = index.query(shapely.box(col0, row0, col0 + width, row0 + height))
    if not len(hits):
        return np.zeros((height, width), dtype=bool)
    burnt = rasterize(
        ((g, 1) for g in geometries[hits]),
        out_shape=(height, width),
        transform=Affine.translation(col0, row0),
    )
    return burnt.astype(bool)


def tile_mask(
    shapes: Sequence[ClassShapes], box: tuple[int, int, int, int], labels: PartialLabels
) -> np.ndarray:
    """The partial-label mask of one tile (see the module docstring); codes are added to `labels`."""
    height, width = box[3], box[2]
    positives = np.zeros((height, width), dtype=np.uint8)
    positive_class = np.full((height, width), IGNORE_INDEX, dtype=np.uint8)
    ruled_out = np.zeros((height, width), dtype=np.int64)  # bit i: not shapes[i]'s class
    for bit, shape in enumerate(shapes):
        core = _burn(shape.core_index, shape.cores, box)
        positives += core
        positive_class[core] = shape.class_id
        if shape.complete:
            ruled_out |= (~_burn(shape.near_index, shape.near, box)).astype(np.int64) << bit
    mask = np.full((height, width), IGNORE_INDEX, dtype=np.uint8)
    mask[positives == 1] = positive_class[positives == 1]
    negative_only = (positives == 0) & (ruled_out != 0)
    for bits in np.unique(ruled_out[negative_only]):
        classes = [s.class_id for i, s in enumerate(shapes) if bits >> i & 1]
        mask[negative_only & (ruled_out == bits)] = labels.code_for(classes)
    return mask


def vectors_to_partial_labels(
    raster: str | Path,
    layers: Sequence[VectorLayer],
    out: str | Path,
    settings: RasterizeSettings = RasterizeSettings(),
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write `out/images/*.png`, `out/masks/*.png`, `out/partial_labels.json` and `out/gsd.json`:
    the mosaic's tiles that the vectors say something about. Returns a summary.

    Raises:
        ValueError (MosaicError): the mosaic has no CRS or is otherwise unusable; a layer is
            unusable or outside the mosaic; `out` already holds files.
    """
    import rasterio
    from rasterio.windows import Window

    if not layers:
        raise ValueError("give at least one vector layer (--vectors FILE=CLASS)")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out}: already holds files; choose a new or empty folder (nothing is overwritten)")
    with (
        rasterio.Env(**GDAL_ENV),
        rasterio.open(raster) if Path(raster).is_file() else nullcontext() as opened,
    ):
        if opened is not None and opened.crs is None:
            raise ValueError(
                f"{raster}: has no coordinate reference system (CRS), so no vector can be placed on it; "
                "georeference it first (gdal_edit.py -a_srs EPSG:...)"
            )
    info = inspect_mosaic(raster)
    shapes, notes = class_shapes(layers, info, settings)
    labels = PartialLabels()
    labels.sources.append(_provenance(info, layers, settings, labels.scheme.names))
    boxes = [
        (col, row, min(settings.tile, info.width - col), min(settings.tile, info.height - row))
        for row in range(0, info.height, settings.tile)
        for col in range(0, info.width, settings.tile)
    ]
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    written: dict[str, float] = {}
    with rasterio.Env(**GDAL_ENV), rasterio.open(info.path) as dataset:
        for done, box in enumerate(boxes, start=1):
            rgb, valid = read_window(dataset, info, Window(*box), (box[3], box[2]))
            mask = tile_mask(shapes, box, labels)
            mask[~valid] = IGNORE_INDEX
            if (mask != IGNORE_INDEX).any():
                stem = f"{info.path.stem}_r{box[1]:06d}_c{box[0]:06d}"
                Image.fromarray(rgb).save(out / "images" / f"{stem}.png")
                Image.fromarray(mask, mode="L").save(out / "masks" / f"{stem}.png")
                written[stem] = info.gsd.cm_per_px
            if progress:
                progress(done, len(boxes))
    if not written:
        raise ValueError(f"{info.path}: no tile holds a known pixel (the vectors cover only nodata areas)")
    write_partial_labels(out, labels)
    write_dataset_gsd(out, written, f"{info.path.name}: {info.gsd.describe()}")
    return {
        "tiles": len(written),
        "tiles_skipped": len(boxes) - len(written),
        "notes": notes,
        "out": str(out),
    }


def _provenance(
    info: MosaicInfo, layers: Sequence[VectorLayer], settings: RasterizeSettings, names: Sequence[str]
) -> dict:
    return {
        "mosaic": str(info.path),
        "vectors": [
            {
                "path": str(x.path),
                "layer": x.layer,
                "class": names[x.class_id],
                "incomplete": x.incomplete,
            }
            for x in layers
        ],
        "tolerance_m": settings.tolerance_m,
        "line_width_m": settings.line_width_m,
        "gsd_cm": round(info.gsd.cm_per_px, 3),
    }
