"""Demo geodata: a georeferenced synthetic orthomosaic and a flight of GPS-tagged photos, so the
map works out of the box (`python -m seg_core geo-demo --out DIR`).

Both are drawn with the scene generator (`seg_core.demo.synth`) over Houston (UTM zone 15N).
The mosaic is written scene tile by scene tile, so any size is written in bounded memory; its
corners are cut off by the alpha band, as an orthomosaic's irregular outline is. The photos carry
EXIF GPS and a DJI XMP packet with the relative altitude that gives their GSD and the camera
heading (also EXIF GPSImgDirection) that turns their footprints on the map.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from seg_core.demo.synth import generate_scene
from seg_core.imagery.camera import FULL_FRAME_DIAGONAL_MM, tag_photo

DEMO_CRS = "EPSG:32615"
DEMO_ORIGIN = (271500.0, 3294000.0)  # UTM 15N easting, northing: west Houston, flooded by Harvey
DEMO_LATLON = (29.7604, -95.3698)
# The scene generator draws 120 m across a frame; a 1024 px tile is therefore 11.7 cm/px.
SCENE_WIDTH_M = 120.0
# The demo flight mows the lawn: rows of three photos, east then west, the camera facing forward
# (its frame's long side across the track: 120 m, rows 100 m apart; 90 m along it, shots ~68 m
# apart), as a survey flight's photos overlap.
ROW_STEP_DEG, SHOT_STEP_DEG = 0.0009, 0.0007
ROW_HEADINGS_DEG = (90.0, 270.0)


def write_demo_orthomosaic(
    path: str | Path, cols: int = 3, rows: int = 2, tile_px: int = 1024, distinct: int = 6, seed: int = 0
) -> Path:
    """A cols x rows mosaic of synthetic scenes (RGB + alpha, deflate, tiled) at 120 m per tile.

    Args:
        distinct: scenes generated; larger mosaics repeat them (the benchmark's 1 GP raster).
    """
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.windows import Window

    if cols < 1 or rows < 1 or tile_px < 64:
        raise ValueError(f"demo mosaic of {cols}x{rows} tiles of {tile_px} px: need >= 1x1 tiles of >= 64 px")
    rng = np.random.default_rng(seed)
    scenes = [generate_scene(tile_px, tile_px, rng)[0] for _ in range(min(distinct, cols * rows))]
    width, height = cols * tile_px, rows * tile_px
    pixel = SCENE_WIDTH_M / tile_px
    transform = rasterio.Affine(pixel, 0, DEMO_ORIGIN[0], 0, -pixel, DEMO_ORIGIN[1])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 4,
        "dtype": "uint8",
        "crs": DEMO_CRS,
        "transform": transform,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "BIGTIFF": "IF_SAFER",
        "photometric": "RGB",
        "alpha": "UNASSOCIATED",
    }
    cut = tile_px // 2  # alpha cuts a triangle off two corners: nodata for the map to honour
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
        for row in range(rows):
            for col in range(cols):
                rgb = scenes[(row * cols + col) % len(scenes)]
                alpha = np.full((tile_px, tile_px), 255, np.uint8)
                y, x = np.mgrid[0:tile_px, 0:tile_px]
                if row == 0 and col == 0:
                    alpha[(x + y) < cut] = 0
                if row == rows - 1 and col == cols - 1:
                    alpha[(tile_px - 1 - x) + (tile_px - 1 - y) < cut] = 0
                bands = np.concatenate([rgb.transpose(2, 0, 1), alpha[None]])
                dataset.write(bands, window=Window(col * tile_px, row * tile_px, tile_px, tile_px))
    return path


def write_demo_flight(
    folder: str | Path, count: int = 6, size: tuple[int, int] = (1024, 768), seed: int = 1
) -> list[Path]:
    """`count` photos along a flight line with GPS and DJI XMP tags; the relative altitude is the
    height at which the tagged camera (8.8 mm lens, 24 mm equivalent) sees the scene's 120 m, the
    heading the row's direction (`ROW_HEADINGS_DEG`)."""
    if count < 1:
        raise ValueError(f"demo flight of {count} photos: need at least 1")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    long_side, short_side = max(size), min(size)
    sensor_mm = FULL_FRAME_DIAGONAL_MM * 8.8 / 24.0 * long_side / np.hypot(long_side, short_side)
    height_m = round(SCENE_WIDTH_M * 8.8 / sensor_mm, 2)
    paths = []
    for index in range(count):
        image, _ = generate_scene(*size, rng)
        row, shot = divmod(index, 3)
        lat = DEMO_LATLON[0] + ROW_STEP_DEG * row
        lon = DEMO_LATLON[1] + SHOT_STEP_DEG * (shot if row % 2 == 0 else 2 - shot)
        paths.append(
            tag_photo(
                Image.fromarray(image),
                folder / f"DJI_{index + 1:04d}.JPG",
                lat,
                lon,
                24.0 + height_m,
                height_m,
                heading_deg=ROW_HEADINGS_DEG[row % 2],
            )
        )
    return paths
