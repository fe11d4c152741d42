"""Segmenting a georeferenced orthomosaic of any size, window by window, into a class GeoTIFF.

    result = segment_mosaic(predictor, "ortho.tif", "out/ortho_classes.tif")

How memory stays flat in the raster's size: the mosaic is cut into core tiles; each is read with
a margin of context around it (`MosaicSettings.context`), resampled by GDAL while decoding to
the model's working GSD, segmented by the Predictor (one forward per window: a window is at most
one predictor tile), and only the core is kept, upsampled (nearest) back to the mosaic's grid and
written into its place in the output. Nothing is ever held for more than one window; the output
is written tile by tile (core sizes are whole multiples of the output's 256 px blocks, so every
block is written once, complete). The margins are the overlap: each kept pixel saw `context`
working pixels of real neighbours on every side, so windows meet without seams (the one-pass
mask is reproduced exactly by a per-pixel model, tests/test_mosaic.py).

Stop (`should_stop` returning True, or Ctrl-C) ends the loop after the current window; what was
done is kept and finished like a complete run (nodata elsewhere, overviews, colour table).

The output: uint8 class ids of the model's label scheme, 255 = nodata (outside the mosaic's valid
pixels or not yet done), the input's CRS and geotransform, written as a Cloud-Optimised GeoTIFF
(deflate, 512 px tiles, nearest overviews) with the scheme's palette as its colour table and the
scheme itself in its `STORMSEG_SCHEME` metadata tag.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from seg_core.analytics.exposure import flood_water_ids
from seg_core.gis import NODATA, SCHEME_TAG
from seg_core.imagery.gsd import Gsd, model_gsd
from seg_core.imagery.raster import (
    DEFAULT_LIMITS,
    GDAL_ENV,
    MosaicInfo,
    MosaicLimits,
    WindowReadError,
    inspect_mosaic,
    read_window,
)
from seg_core.inference.backend import PredictorBase
from seg_core.schemes.scheme import LabelScheme

__all__ = ["NODATA", "MosaicResult", "MosaicSettings", "segment_mosaic"]


@dataclass(frozen=True)
class MosaicSettings:
    """How a mosaic is windowed.

    Attributes:
        window: working px per window side, context included, capped at the Predictor's tile so
            each window is one forward pass. 768: a 1024 px window peaked at 1.49 GB with the
            default model (the target is 1.5 GB), 768 px keeps ~69% of each window, close to
            1024's 74%, at a lower peak (docs/benchmarks-analysis.md, section 12).
        context: working px on each side that are segmented but thrown away: the overlap that
            keeps windows seamless. 64 (7.5 m at 11.7 cm/px) is half the photo path's tile
            overlap, as each side of a seam gets its own.
        block: output tile side; core tiles are whole multiples of it so no block is written twice.
        model_gsd_cm: override the working GSD the checkpoint records (or the Harvey default).
    """

    window: int = 768
    context: int = 64
    block: int = 256
    model_gsd_cm: float | None = None

    def __post_init__(self):
        if self.window < 64:
            raise ValueError(f"window {self.window} px must be at least 64")
        if self.context < 0 or self.block < 16 or self.block % 16:
            raise ValueError(f"context {self.context} must be >= 0 and block {self.block} a multiple of 16")


@dataclass
class MosaicResult:
    """What a mosaic run produced.

    Attributes:
        path: the class GeoTIFF written.
        info: the input's header facts.
        model_gsd, scale: the working GSD and source px per working px.
        windows_total, windows_done: how many windows there were and how many ran.
        scheme: the model's label scheme (what the class ids stand for).
        class_pixels: (C,) pixel counts per class of `scheme`, in the input's grid, over what was done.
        pixel_area_m2: ground area of one input pixel (at the mosaic's centre for lon/lat CRSs).
        stopped: the run was stopped before the last window.
        notices: skipped windows and other remarks, one sentence each.
        seconds: wall time.
        tiles: one row per window done: its core box, centre (WGS84) and flooded share.
    """

    path: Path
    info: MosaicInfo
    model_gsd: Gsd
    scale: float
    windows_total: int
    scheme: LabelScheme
    windows_done: int = 0
    class_pixels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pixel_area_m2: float = 0.0
    stopped: bool = False
    notices: list[str] = field(default_factory=list)
    seconds: float = 0.0
    tiles: list[dict] = field(default_factory=list)

    def class_areas_m2(self) -> dict[str, float]:
        return {
            name: float(n) * self.pixel_area_m2
            for name, n in zip(self.scheme.names, self.class_pixels, strict=True)
        }

    def flooded_share(self) -> float | None:
        """Share of the valid pixels that are flood water; None when none were done or the scheme
        marks no flood water."""
        return _flooded_share(self.class_pixels, self.scheme)


def _flooded_share(counts: np.ndarray, scheme: LabelScheme) -> float | None:
    total, water = int(counts.sum()), flood_water_ids(scheme)
    return float(counts[list(water)].sum()) / total if total and water else None


@dataclass(frozen=True)
class WindowPlan:
    """The core tile grid in source px and the context margin around each core."""

    core: int  # source px per core side (a multiple of the block)
    margin: int  # source px of context on each side
    scale: float  # source px per working px
    rows: int
    cols: int

    def core_box(self, row: int, col: int, width: int, height: int) -> tuple[int, int, int, int]:
        x0, y0 = col * self.core, row * self.core
        return x0, y0, min(width, x0 + self.core), min(height, y0 + self.core)


def plan_windows(info: MosaicInfo, window: int, context: int, block: int, scale: float) -> WindowPlan:
    """Core tiles as large as fit in `window` working px with `context` on each side."""
    usable = (window - 2 * context) * scale
    # At least one block: a window that comes out larger than the predictor's tile is tiled and
    # blended inside the predictor, so results stay correct, only slower.
    core = max(block, int(usable // block) * block)
    return WindowPlan(
        core, round(context * scale), scale, math.ceil(info.height / core), math.ceil(info.width / core)
    )


def _colormap(scheme: LabelScheme) -> dict[int, tuple[int, int, int, int]]:
    table = {c.id: (*c.color, 255) for c in scheme.classes}
    table[NODATA] = (0, 0, 0, 0)
    return table


def _segment_window(predictor: PredictorBase, dataset, info: MosaicInfo, plan: WindowPlan, box) -> np.ndarray:
    """Class ids (255 = nodata) for one core box, in source px."""
    from rasterio.windows import Window

    x0, y0, x1, y1 = box
    rx0, ry0 = max(0, x0 - plan.margin), max(0, y0 - plan.margin)
    rx1, ry1 = min(info.width, x1 + plan.margin), min(info.height, y1 + plan.margin)
    out_shape = (max(1, round((ry1 - ry0) / plan.scale)), max(1, round((rx1 - rx0) / plan.scale)))
    rgb, valid = read_window(dataset, info, Window(rx0, ry0, rx1 - rx0, ry1 - ry0), out_shape)
    if not valid.any():
        return np.full((y1 - y0, x1 - x0), NODATA, np.uint8)
    working = predictor.predict_working(rgb)
    full = working
    if working.shape != (ry1 - ry0, rx1 - rx0):
        full = np.asarray(Image.fromarray(working).resize((rx1 - rx0, ry1 - ry0), Image.Resampling.NEAREST))
    core = full[y0 - ry0 : y1 - ry0, x0 - rx0 : x1 - rx0]
    core_valid = dataset.dataset_mask(window=Window(x0, y0, x1 - x0, y1 - y0)) > 0
    return np.where(core_valid, core, NODATA).astype(np.uint8)


def _pixel_area_m2(info: MosaicInfo) -> float:
    return (info.gsd.cm_per_px / 100) ** 2


def segment_mosaic(
    predictor: PredictorBase,
    source: str | Path,
    out_path: str | Path,
    settings: MosaicSettings = MosaicSettings(),
    limits: MosaicLimits = DEFAULT_LIMITS,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> MosaicResult:
    """Segment an orthomosaic window by window into a class COG at `out_path`.

    Raises:
        MosaicError: the mosaic is outside the stated limits (nothing is written).
    """
    import rasterio

    info = inspect_mosaic(source, limits)
    gsd = model_gsd(predictor.meta, settings.model_gsd_cm)
    scale = gsd.cm_per_px / info.gsd.cm_per_px
    window = min(settings.window, predictor.tile)
    plan = plan_windows(info, window, settings.context, settings.block, scale)
    scheme = predictor.scheme
    result = MosaicResult(
        Path(out_path),
        info,
        gsd,
        scale,
        plan.rows * plan.cols,
        scheme,
        class_pixels=np.zeros(scheme.num_classes, np.int64),
        notices=list(info.notices),
    )
    result.pixel_area_m2 = _pixel_area_m2(info)
    if scale < 0.5:
        result.notices.append(
            f"{info.path}: its {info.gsd.describe()} is over twice the model's {gsd.describe()}: "
            "windows are upsampled, small objects will be missed"
        )
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    draft = out_path.with_name(out_path.name + f".{os.getpid()}.partial.tif")
    profile = {
        "driver": "GTiff",
        "width": info.width,
        "height": info.height,
        "count": 1,
        "dtype": "uint8",
        "crs": rasterio.CRS.from_wkt(info.crs_wkt),
        "transform": rasterio.Affine(*info.transform),
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": settings.block,
        "blockysize": settings.block,
        "compress": "deflate",
        "BIGTIFF": "IF_SAFER",
    }
    start = time.perf_counter()
    try:
        with (
            rasterio.Env(**GDAL_ENV),
            rasterio.open(info.path) as dataset,
            rasterio.open(draft, "w", **profile) as out,
        ):
            _run_windows(predictor, dataset, out, info, plan, result, progress, should_stop)
            out.write_colormap(1, _colormap(scheme))
            out.update_tags(**{SCHEME_TAG: json.dumps(scheme.to_dict())})
        _finish_cog(draft, out_path)
    finally:
        draft.unlink(missing_ok=True)
        Path(str(draft) + ".ovr").unlink(missing_ok=True)
    result.seconds = time.perf_counter() - start
    return result


def _run_windows(predictor, dataset, out, info, plan, result, progress, should_stop) -> None:
    from pyproj import Transformer
    from rasterio.windows import Window

    to_wgs84 = Transformer.from_crs(dataset.crs.to_wkt(), "EPSG:4326", always_xy=True)
    boxes = [plan.core_box(r, c, info.width, info.height) for r in range(plan.rows) for c in range(plan.cols)]
    try:
        for done, box in enumerate(boxes, start=1):
            if should_stop and should_stop():
                result.stopped = True
                break
            x0, y0, x1, y1 = box
            try:
                classes = _segment_window(predictor, dataset, info, plan, box)
            except WindowReadError as exc:
                result.notices.append(f"{exc}; left as nodata")
                classes = np.full((y1 - y0, x1 - x0), NODATA, np.uint8)
            out.write(classes, 1, window=Window(x0, y0, x1 - x0, y1 - y0))
            counts = np.bincount(classes.ravel(), minlength=256)[: result.scheme.num_classes]
            result.class_pixels += counts
            result.tiles.append(_tile_row(box, counts, result.scheme, dataset, to_wgs84))
            result.windows_done = done
            if progress:
                progress(done, len(boxes))
    except KeyboardInterrupt:
        result.stopped = True  # Ctrl-C: keep and finish what was written
    if result.stopped:
        result.notices.append(
            f"stopped after {result.windows_done} of {len(boxes)} windows; the rest of the map is nodata"
        )


def _tile_row(box, counts: np.ndarray, scheme: LabelScheme, dataset, to_wgs84) -> dict:
    """A window's line in the mosaic's tile table (`<stem>_tiles.csv`)."""
    x0, y0, x1, y1 = box
    lon, lat = to_wgs84.transform(*dataset.xy((y0 + y1) / 2, (x0 + x1) / 2, offset="ul"))
    valid = int(counts.sum())
    return {
        "col_off": x0,
        "row_off": y0,
        "width": x1 - x0,
        "height": y1 - y0,
        "longitude": round(lon, 7),
        "latitude": round(lat, 7),
        "valid_px": valid,
        "flooded_share": None if (share := _flooded_share(counts, scheme)) is None else round(share, 5),
    }


def _finish_cog(draft: Path, out_path: Path) -> None:
    """Copy the draft into a Cloud-Optimised GeoTIFF (overviews by nearest class), atomically."""
    import rasterio
    from rasterio.shutil import copy as gdal_copy

    tmp = out_path.with_name(out_path.name + f".{os.getpid()}.cog.partial")
    try:
        with rasterio.Env(**GDAL_ENV):
            gdal_copy(
                draft,
                tmp,
                driver="COG",
                compress="DEFLATE",
                blocksize=512,
                overview_resampling="NEAREST",
                bigtiff="IF_SAFER",
            )
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
