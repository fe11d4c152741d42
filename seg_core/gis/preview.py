"""A mosaic's class map as a small picture: the mosaic under its class colours (the class
GeoTIFF's own colour table, so any label scheme shows its colours), read from overviews, never
whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seg_core.gis import NODATA

PREVIEW_SIDE = 1024  # px on the long side of the mosaic overlay shown in the page


def mosaic_preview(folder: Path, summary: dict, opacity: float = 0.5, side: int = PREVIEW_SIDE) -> np.ndarray:
    """HxWx3 uint8: the mosaic's colours under its class colours, at most `side` px long, read
    from overviews (never the full raster). Nodata stays the mosaic's own colour."""
    import rasterio
    from rasterio.enums import Resampling

    from seg_core.imagery.raster import GDAL_ENV, inspect_mosaic, read_window

    with rasterio.Env(**GDAL_ENV), rasterio.open(Path(folder) / summary["classes_tif"]) as classes:
        scale = min(1.0, side / max(classes.width, classes.height))
        shape = (max(1, round(classes.height * scale)), max(1, round(classes.width * scale)))
        mask = classes.read(1, out_shape=shape, resampling=Resampling.nearest)
        palette = np.zeros((256, 3), np.uint8)
        for class_id, rgba in classes.colormap(1).items():
            palette[class_id] = rgba[:3]
    base = np.zeros((*shape, 3), np.uint8)
    source = Path(summary["input"])
    if source.is_file():
        from rasterio.windows import Window

        info = inspect_mosaic(source)
        with rasterio.Env(**GDAL_ENV), rasterio.open(source) as dataset:
            base, _ = read_window(dataset, info, Window(0, 0, info.width, info.height), shape)
    known = mask != NODATA
    blended = base.astype(np.float32)
    blended[known] = (1 - opacity) * blended[known] + opacity * palette[mask[known]].astype(np.float32)
    return blended.astype(np.uint8)
