"""Small synthetic GeoTIFFs and tagged photos for the geo tests, written with rasterio and Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

UTM = "EPSG:32615"  # Houston's UTM zone
WGS84 = "EPSG:4326"


def write_geotiff(
    path: Path,
    width: int = 300,
    height: int = 200,
    bands: int = 3,
    dtype: str = "uint8",
    crs: str | None = UTM,
    pixel: float = 0.1,
    origin: tuple[float, float] = (270000.0, 3290000.0),
    nodata: float | None = None,
    alpha: bool = False,
    seed: int = 0,
    **profile,
) -> Path:
    """A tiled GeoTIFF of smooth random colour blobs (so neighbouring pixels correlate like a photo)."""
    rng = np.random.default_rng(seed)
    top = 255 if dtype == "uint8" else 4000
    small = rng.integers(0, top, (bands, max(2, height // 8), max(2, width // 8))).astype(np.float64)
    values = np.kron(small, np.ones((8, 8)))[:, :height, :width]
    values = np.pad(
        values, ((0, 0), (0, height - values.shape[1]), (0, width - values.shape[2])), mode="edge"
    )
    values = values.astype(dtype)
    transform = from_origin(*origin, pixel, pixel)
    options = {"tiled": True, "blockxsize": 64, "blockysize": 64, "compress": "deflate", **profile}
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=bands,
        dtype=dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        **options,
    ) as dataset:
        if alpha:
            values[3] = 255
            values[3, :, : width // 4] = 0  # the left quarter is outside the flight
            dataset.colorinterp = [
                rasterio.enums.ColorInterp.red,
                rasterio.enums.ColorInterp.green,
                rasterio.enums.ColorInterp.blue,
                rasterio.enums.ColorInterp.alpha,
            ]
        elif bands == 4:  # GDAL would call a 4th band alpha by default; this one is near-infrared
            dataset.colorinterp = [
                rasterio.enums.ColorInterp.red,
                rasterio.enums.ColorInterp.green,
                rasterio.enums.ColorInterp.blue,
                rasterio.enums.ColorInterp.undefined,
            ]
        dataset.write(values)
    return path
