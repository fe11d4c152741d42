"""Georeferenced orthomosaics (GeoTIFF / COG) read window by window with rasterio (GDAL).

A mosaic is never decoded whole: `inspect_mosaic` reads the header (and, for 16-bit data, a
4x4 grid of small sample windows for the contrast stretch); `read_window` decodes one window,
resampled on the fly by GDAL to the size asked for. GDAL's block cache is capped
(`GDAL_ENV`), so memory does not grow with the raster (its default is 5% of the machine's RAM).

Stated limits (`MosaicLimits`), each refused with one sentence naming the file:
- a CRS must be present, and the geotransform must be north-up (no rotation or shear);
- 3 bands (RGB) or 4 (RGB + alpha, or RGB + an extra band that is ignored); 1, 2 or 5+ bands
  are refused: the model was trained on RGB photos;
- 8-bit or 16-bit unsigned samples (16-bit is stretched to 8-bit between the 0.5th and 99.5th
  percentiles of sampled valid pixels, one stretch for all three bands so colours keep balance);
- at most `max_pixels` pixels (4 gigapixels by default) and `max_side` px per side.
Nodata values, alpha bands and internal masks all become the per-pixel `valid` mask (GDAL's
dataset mask), so they never reach the model's statistics.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seg_core.imagery.gsd import Gsd

# GDAL's raster block cache defaults to 5% of RAM (6 GB on a 128 GB server); 64 MB holds a
# few rows of 512x512 blocks, all one window needs, and keeps peak memory flat in raster size.
# In bytes: rasterio passes the number to GDALSetCacheMax64, so `64` meant 64 bytes, and every
# window re-decoded each block for every row it touched (100x slower, bench/geo.py).
GDAL_CACHE_BYTES = 64 * 1024 * 1024
GDAL_ENV = {
    "GDAL_CACHEMAX": GDAL_CACHE_BYTES,
    "GDAL_NUM_THREADS": "ALL_CPUS",
    "CHECK_DISK_FREE_SPACE": "FALSE",
}
STRETCH_PERCENTILES = (0.5, 99.5)  # 16-bit: ignore the brightest/darkest 0.5% (specular glints)


class MosaicError(ValueError):
    """An orthomosaic StormSeg will not segment; the message names the file and the reason."""


class WindowReadError(MosaicError):
    """One window of a mosaic could not be decoded (e.g. a corrupt tile); the rest still runs."""


@dataclass(frozen=True)
class MosaicLimits:
    """What the orthomosaic path accepts (the photo path keeps its own 40 MP guard).

    Attributes:
        max_pixels: 4 gigapixels: a 6 km x 6 km flight at 10 cm/px, or 2 km x 2 km at 3 cm; a
            header claiming more is more likely hostile than a real flight.
        max_side: px per side, so a 1 x 4e9 strip cannot make one window row enormous.
    """

    max_pixels: int = 4_000_000_000
    max_side: int = 200_000

    def __post_init__(self):
        if self.max_pixels < 1 or self.max_side < 1:
            raise ValueError(
                f"mosaic limits must be positive, got {self.max_pixels} px, {self.max_side} px/side"
            )


DEFAULT_LIMITS = MosaicLimits()


@dataclass(frozen=True)
class MosaicInfo:
    """What `inspect_mosaic` learnt from the header.

    Attributes:
        path: the file.
        width, height: raster size in pixels.
        crs_wkt: the coordinate reference system as WKT (outputs keep it).
        transform: the affine geotransform as GDAL's 6 numbers (outputs keep it).
        gsd: the raster's own ground sampling distance (source "raster").
        dtype: "uint8" or "uint16".
        rgb_bands: the three band indexes (1-based) read as red, green, blue.
        stretch: (low, high) sample values mapped to 0 and 255 (16-bit only).
        notices: remarks that are not errors (an ignored 4th band, ...).
    """

    path: Path
    width: int
    height: int
    crs_wkt: str
    transform: tuple[float, ...]
    gsd: Gsd
    dtype: str
    rgb_bands: tuple[int, int, int] = (1, 2, 3)
    stretch: tuple[float, float] | None = None
    notices: tuple[str, ...] = field(default=())


def _rasterio():
    import rasterio  # imported on use: GDAL's start-up is not needed by the photo path

    return rasterio


GEOTIFF_SUFFIXES = (".tif", ".tiff")
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF


def looks_georeferenced(path: str | Path, data: bytes | None = None) -> bool:
    """Whether a file is a georeferenced TIFF: a .tif/.tiff name, and GDAL opens it and finds a
    CRS or a non-identity geotransform. How `map` and the Segment page tell an orthomosaic from
    a photo (a photo saved as TIFF has neither).

    Args:
        path: the file; for an upload not on disk, only its name.
        data: the upload's bytes, or None to read `path`; bytes that are not a TIFF are refused
            without asking GDAL.
    """
    if Path(path).suffix.lower() not in GEOTIFF_SUFFIXES:
        return False
    if data is not None and data[:4] not in TIFF_MAGIC:
        return False
    rasterio = _rasterio()
    try:
        with rasterio.Env(**GDAL_ENV), _open(rasterio, path, data) as dataset:
            return dataset.crs is not None or not dataset.transform.is_identity
    except (rasterio.errors.RasterioError, OSError):
        return False


@contextlib.contextmanager
def _open(rasterio, path: str | Path, data: bytes | None) -> Iterator:
    if data is None:
        with rasterio.open(path) as dataset:
            yield dataset
    else:
        with rasterio.MemoryFile(data) as memfile, memfile.open() as dataset:
            yield dataset


def _raster_gsd(dataset) -> Gsd:
    """cm per pixel from the geotransform: CRS units for projected CRSs, geodesic for lon/lat."""
    transform, crs = dataset.transform, dataset.crs
    if crs.is_geographic:
        from pyproj import Geod

        lon, lat = dataset.xy(dataset.height // 2, dataset.width // 2)
        geod = Geod(ellps="WGS84")
        _, _, east = geod.inv(lon, lat, lon + abs(transform.a), lat)
        _, _, north = geod.inv(lon, lat, lon, lat + abs(transform.e))
        metres = math.sqrt(east * north)
        detail = f"{abs(transform.a):.3g} deg pixels at latitude {lat:.4f}"
    else:
        unit, factor = crs.linear_units_factor
        metres = math.sqrt(abs(transform.a * transform.e)) * factor
        detail = f"{abs(transform.a):.4g} x {abs(transform.e):.4g} {unit} pixels"
    if not (math.isfinite(metres) and metres > 0):
        raise MosaicError(f"{dataset.name}: its geotransform gives no usable pixel size")
    return Gsd(metres * 100, "raster", detail)


def _check(dataset, limits: MosaicLimits, label: str) -> list[str]:
    """Refuse what the path does not handle; return the notices for what it handles with a caveat."""
    if dataset.crs is None:
        raise MosaicError(
            f"{label}: has no coordinate reference system (CRS): georeference it first "
            "(e.g. gdal_edit.py -a_srs EPSG:...), or segment it as a photo with `predict`"
        )
    if dataset.transform.b != 0 or dataset.transform.d != 0:
        raise MosaicError(
            f"{label}: its geotransform is rotated or sheared; warp it north-up first (gdalwarp)"
        )
    width, height = dataset.width, dataset.height
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        raise MosaicError(
            f"{label}: {width}x{height} px is over the orthomosaic limits "
            f"({limits.max_pixels / 1e9:.0f} gigapixels, {limits.max_side} px per side)"
        )
    if dataset.count not in (3, 4):
        raise MosaicError(
            f"{label}: has {dataset.count} band(s); orthomosaics must be RGB (3 bands) or RGB + alpha "
            "(4 bands), the model was trained on colour photos (pick bands with gdal_translate -b; "
            "`predict` reads a single band as a greyscale photo)"
        )
    dtypes = set(dataset.dtypes[:3])
    if not dtypes <= {"uint8", "uint16"} or len(dtypes) != 1:
        raise MosaicError(
            f"{label}: samples are {', '.join(sorted(dtypes))}; orthomosaics must be 8-bit or 16-bit "
            "unsigned RGB (elevation or reflectance rasters are not photos)"
        )
    notices = []
    if dataset.count == 4 and dataset.colorinterp[3].name != "alpha":
        notices.append(f"{label}: band 4 is not marked as alpha and was ignored (nodata still applies)")
    return notices


def _stretch(dataset, grid: int = 4, side: int = 256) -> tuple[float, float]:
    """(low, high) 16-bit values from a grid x grid sample of small windows of valid pixels."""
    from rasterio.windows import Window

    samples = []
    for row in range(grid):
        for col in range(grid):
            h, w = min(side, dataset.height), min(side, dataset.width)
            y = int((dataset.height - h) * (row + 0.5) / grid)
            x = int((dataset.width - w) * (col + 0.5) / grid)
            window = Window(x, y, w, h)
            try:
                values = dataset.read((1, 2, 3), window=window)
                valid = dataset.dataset_mask(window=window) > 0
            except _rasterio().errors.RasterioIOError:
                continue  # a corrupt tile is reported when the windows are segmented
            samples.append(values[:, valid].ravel())
    values = np.concatenate(samples) if samples else np.zeros(0)
    if values.size == 0:
        return 0.0, 65535.0
    low, high = np.percentile(values, STRETCH_PERCENTILES)
    return float(low), float(max(high, low + 1))


def inspect_mosaic(path: str | Path, limits: MosaicLimits = DEFAULT_LIMITS) -> MosaicInfo:
    """Read a mosaic's header and check it against `limits`.

    Raises:
        MosaicError: not readable by GDAL, or outside the stated limits (the message says which).
    """
    rasterio = _rasterio()
    path = Path(path)
    label = str(path)
    if not path.is_file():
        raise MosaicError(f"{label}: file not found")
    try:
        with rasterio.Env(**GDAL_ENV), rasterio.open(path) as dataset:
            notices = _check(dataset, limits, label)
            dtype = dataset.dtypes[0]
            stretch = _stretch(dataset) if dtype == "uint16" else None
            return MosaicInfo(
                path=path,
                width=dataset.width,
                height=dataset.height,
                crs_wkt=dataset.crs.to_wkt(),
                transform=tuple(dataset.transform)[:6],
                gsd=_raster_gsd(dataset),
                dtype=dtype,
                stretch=stretch,
                notices=tuple(notices),
            )
    except rasterio.errors.RasterioError as exc:
        raise MosaicError(f"{label}: not a raster GDAL can read ({str(exc).splitlines()[0][:160]})") from None


def read_window(
    dataset, info: MosaicInfo, window, out_shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Decode one window resampled to out_shape (rows, cols): (HxWx3 uint8 RGB, HxW bool valid).

    Colour is averaged when shrinking (area resampling, as the photo path does); the valid mask
    is taken nearest so a nodata edge stays sharp.

    Raises:
        WindowReadError: the window's tiles cannot be decoded.
    """
    from rasterio.enums import Resampling

    rasterio = _rasterio()
    try:
        values = dataset.read(
            info.rgb_bands, window=window, out_shape=(3, *out_shape), resampling=Resampling.average
        )
        valid = dataset.dataset_mask(window=window, out_shape=out_shape, resampling=Resampling.nearest) > 0
    except rasterio.errors.RasterioIOError as exc:
        raise WindowReadError(
            f"{info.path}: the window at column {int(window.col_off)}, row {int(window.row_off)} "
            f"could not be decoded ({str(exc).splitlines()[0][:120]})"
        ) from None
    if info.stretch is not None:
        low, high = info.stretch
        scaled = (values.astype(np.float32) - low) * (255.0 / (high - low))
        values = np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
    rgb = np.ascontiguousarray(values.transpose(1, 2, 0))
    rgb[~valid] = 0  # what StormSeg treats as background; these pixels are written as nodata
    return rgb, valid


def decode_tiff(data: bytes, label: str) -> np.ndarray:
    """Decode a TIFF that Pillow cannot (planar 16-bit, LERC, ...) with GDAL: HxW or HxWxC array.

    The caller has already applied the photo pixel cap from the header.

    Raises:
        MosaicError: GDAL cannot decode it either.
    """
    rasterio = _rasterio()
    try:
        with rasterio.Env(**GDAL_ENV), rasterio.MemoryFile(data) as memfile, memfile.open() as dataset:
            values = dataset.read()
    except rasterio.errors.RasterioError as exc:
        raise MosaicError(f"{label}: the file is damaged ({str(exc).splitlines()[0][:160]})") from None
    return values[0] if values.shape[0] == 1 else np.ascontiguousarray(values.transpose(1, 2, 0))


def footprint_wgs84(info: MosaicInfo, points_per_side: int = 8) -> list[list[float]]:
    """The raster's outline as a closed [lon, lat] ring (densified, so a UTM square stays exact)."""
    from pyproj import CRS, Transformer

    a, b, c, d, e, f = info.transform
    steps = np.linspace(0, 1, points_per_side, endpoint=False)
    cols = np.concatenate([steps, np.ones_like(steps), 1 - steps, np.zeros_like(steps)]) * info.width
    rows = np.concatenate([np.zeros_like(steps), steps, np.ones_like(steps), 1 - steps]) * info.height
    x, y = a * cols + b * rows + c, d * cols + e * rows + f
    transformer = Transformer.from_crs(CRS.from_wkt(info.crs_wkt), "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(x, y)
    ring = [[round(float(o), 7), round(float(t), 7)] for o, t in zip(lon, lat, strict=True)]
    return ring + [ring[0]]
