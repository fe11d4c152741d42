"""A GeoTIFF orthomosaic uploaded on the Segment page: segmented window by window like `map`, shown
as a downsampled overlay with its figures, and kept as a map folder (so the Map page lists it).

    if geoupload.is_orthomosaic(name, data):
        result = geoupload.analyse_mosaic(predictor, name, data, progress=..., should_stop=...)

The engine work is `seg_core.gis.geojob.map_mosaic` (class COG, GeoJSON, GeoPackage,
summary and tile table, all at full resolution in the input's CRS); this module adds what the
page needs on top: the page's size limits, sentences that name the uploaded file instead of the
folder it was saved in, a downsampled overlay, the figures and a familiarity check sampled from a
few windows at the model's working GSD (the mosaic path itself keeps no confidence map).
Plain data, no streamlit.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seg_core.analytics.familiarity import familiarity_of
from seg_core.analytics.report import safe_stem
from seg_core.gis.mapstore import new_map_folder
from seg_core.gis.preview import mosaic_preview
from seg_core.imagery.gsd import model_gsd
from seg_core.imagery.raster import (
    GDAL_ENV,
    MosaicError,
    MosaicInfo,
    inspect_mosaic,
    looks_georeferenced,
    read_window,
)
from seg_core.services.caller import Caller

# Streamlit's upload limit (.streamlit/config.toml, maxUploadSize) is 200 MB per file: about
# 65 MP of 8-bit RGB GeoTIFF with deflate; larger mosaics go through `python -m seg_core map`.
MAX_UPLOAD_MB = 200
UPLOAD_TYPES = ("tif", "tiff", "jpg", "jpeg", "png")
# The upload itself is capped by Streamlit's maxUploadSize (.streamlit/config.toml), 200 MB.
MAX_GEOTIFF_MB = MAX_UPLOAD_MB
# 100 MP (1 km x 1 km at 10 cm/px): every 200 MB upload of photo-like
# content (~65 MP with deflate) fits, and the default model at its 11.7 cm/px takes ~5.6 CPU-s per
# source megapixel (docs/benchmarks-analysis.md, section 12), so ~9 CPU-minutes while the page waits; larger
# (sparser) mosaics go through `map`, which runs headless with the engine's 4-gigapixel limit.
MAX_GEOTIFF_PIXELS = 100_000_000
# Windows sampled for the familiarity check: 4 forwards at the working GSD cost a few seconds
# and cover the corners of the flight, where unfamiliar ground (rural, dry) usually is.
FAMILIARITY_WINDOWS = 4


@dataclass(frozen=True)
class MosaicAnalysis:
    """A segmented orthomosaic, ready to display.

    Attributes:
        name: the uploaded file's name.
        folder: the map folder holding the full-resolution outputs (`geojob.map_mosaic`).
        summary: what `map_mosaic` wrote to `<stem>_summary.json` (GSDs, areas, footprint, ...).
        preview: HxWx3 uint8 overlay, long side <= gis.preview.PREVIEW_SIDE.
        size: (width, height) of the mosaic in pixels.
        familiarity: (uncertainty dict, familiarity dict) from sampled windows, or None when no
            window had enough valid pixels.
    """

    name: str
    folder: Path
    summary: dict
    preview: np.ndarray
    size: tuple[int, int]
    familiarity: tuple[dict, dict] | None = None
    notices: tuple[str, ...] = field(default=())

    def downloads(self) -> list[Path]:
        """The full-resolution georeferenced outputs: class COG, GeoJSON, GeoPackage, tile table."""
        names = [self.summary["classes_tif"], *self.summary.get("vectors", [])]
        if self.summary.get("tiles_csv"):
            names.append(self.summary["tiles_csv"])
        return [self.folder / n for n in names if (self.folder / n).is_file()]


def is_orthomosaic(name: str, data: bytes) -> bool:
    """Whether an upload is a georeferenced TIFF, sorted as `map` sorts its inputs
    (`imagery.raster.looks_georeferenced`); everything else stays a photo."""
    return looks_georeferenced(name, data)


def check_upload_size(name: str, size_bytes: int) -> None:
    """Refuse a file over the page's limit before anything is written.

    Raises:
        MosaicError: the file is larger than MAX_GEOTIFF_MB.
    """
    if size_bytes > MAX_GEOTIFF_MB * 1024 * 1024:
        raise MosaicError(
            f"{name}: {size_bytes / 2**20:,.0f} MB is over the Segment page's {MAX_GEOTIFF_MB} MB limit "
            "for orthomosaics; segment it with `python -m seg_core map`"
        )


def _check_pixels(info: MosaicInfo, name: str) -> None:
    pixels = info.width * info.height
    if pixels > MAX_GEOTIFF_PIXELS:
        raise MosaicError(
            f"{name}: {info.width}x{info.height} px ({pixels / 1e6:,.0f} MP) is over the Segment page's "
            f"{MAX_GEOTIFF_PIXELS / 1e6:.0f} MP limit for orthomosaics; segment it with "
            "`python -m seg_core map`"
        )


def analyse_mosaic(
    predictor,
    name: str,
    data: bytes,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    caller: Caller | None = None,
    model_name: str = "",
) -> MosaicAnalysis:
    """Save the upload into a new map folder and segment it there (see the module docstring).

    Args:
        model_name: the model file's name, recorded in the folder for models without a run id.
        caller: who uploads; the upload counts against their daily quota as the photo path's do
            (AccessDenied when over it; nothing is written). None: the owner, no quota.

    Raises:
        MosaicError: over the page's limits or refused by the orthomosaic path (no CRS, rotated,
            wrong bands, unreadable); the sentence names `name`, and no folder is left behind.
    """
    from seg_core.gis.geojob import map_mosaic, record_model

    check_upload_size(name, len(data))
    (caller or Caller()).charge_upload(len(data), f"orthomosaic to Segment: {name}")
    folder = new_map_folder(name)
    path = folder / "inputs" / f"{safe_stem(name)}{Path(name).suffix.lower()}"
    path.parent.mkdir()
    path.write_bytes(data)
    try:
        info = inspect_mosaic(path)
        _check_pixels(info, name)
        summary = map_mosaic(predictor, path, folder, progress=progress, should_stop=should_stop)
        record_model(folder, predictor, model_name)
        familiarity = sample_familiarity(predictor, info)
        preview = _preview(folder, summary)
    except MosaicError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise MosaicError(str(exc).replace(str(path), name)) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    notices = tuple(n.replace(str(path), name) for n in summary["notices"])
    return MosaicAnalysis(name, folder, summary, preview, (info.width, info.height), familiarity, notices)


def _preview(folder: Path, summary: dict) -> np.ndarray:
    """The overlay over the mosaic; the class colours alone where the mosaic cannot be read whole
    (a corrupt tile, already reported as a notice, must not cost the user the map)."""
    try:
        return mosaic_preview(folder, summary)
    except MosaicError:
        return mosaic_preview(folder, {**summary, "input": ""})


def sample_windows(
    info: MosaicInfo, side_px: int, count: int = FAMILIARITY_WINDOWS
) -> list[tuple[int, int, int, int]]:
    """Up to `count` square windows (col, row, width, height) of `side_px` source px, spread on a
    diagonal cross over the mosaic (corners first, then the centre)."""
    width, height = min(side_px, info.width), min(side_px, info.height)
    spots = [(0.15, 0.15), (0.85, 0.85), (0.85, 0.15), (0.15, 0.85), (0.5, 0.5)]
    boxes = []
    for fx, fy in spots:
        box = (int((info.width - width) * fx), int((info.height - height) * fy), width, height)
        if box not in boxes:
            boxes.append(box)
    return boxes[:count]


def sample_familiarity(predictor, info: MosaicInfo, min_valid: float = 0.5) -> tuple[dict, dict] | None:
    """Uncertainty and familiarity of a few windows read at the model's working GSD, pooled.

    Each window is one predictor frame (its working resolution) of mostly valid pixels; the pooled
    valid pixels are judged against the checkpoint's reference like a photo. None when no window
    had at least `min_valid` valid pixels.
    """
    import rasterio
    from rasterio.windows import Window

    gsd = model_gsd(predictor.meta)
    scale = gsd.cm_per_px / info.gsd.cm_per_px  # source px per working px
    side = max(1, round(predictor.resolution * scale))
    masks, confidences = [], []
    with rasterio.Env(**GDAL_ENV), rasterio.open(info.path) as dataset:
        for col, row, width, height in sample_windows(info, side):
            shape = (max(1, round(height / scale)), max(1, round(width / scale)))
            try:
                rgb, valid = read_window(dataset, info, Window(col, row, width, height), shape)
            except MosaicError:
                continue  # a corrupt tile: already a notice of the mosaic run
            if valid.mean() < min_valid:
                continue
            prediction = predictor.predict_full(rgb, confidence=True, name=info.path.name)
            masks.append(prediction.mask[valid])
            confidences.append(prediction.confidence[valid])
    if not masks:
        return None
    uncertainty, familiarity = familiarity_of(
        np.concatenate(masks), np.concatenate(confidences), predictor.meta
    )
    return uncertainty.to_dict(), familiarity.to_dict()
