"""The validation preview the app shows during training: photo | truth | prediction."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from seg_core.data.classes import colorize
from seg_core.models.checkpoint import TEMP_SUFFIX

PREVIEW_WIDTH = 1200  # the three panels together, px: enough to judge, small to refresh


def preview_strip(image: np.ndarray, truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """HxWx3 photo and two HxW masks -> one Hx3Wx3 image, with ignored pixels shown black."""
    height, width = truth.shape
    photo = np.asarray(image)[:height, :width]
    panels = [photo, colorize(truth), colorize(prediction)]
    strip = np.concatenate(panels, axis=1)
    scale = min(1.0, PREVIEW_WIDTH / strip.shape[1])
    if scale < 1.0:
        size = (round(strip.shape[1] * scale), round(strip.shape[0] * scale))
        strip = np.asarray(Image.fromarray(strip).resize(size, Image.Resampling.NEAREST))
    return strip


def save_preview(path: str | Path, image: np.ndarray, truth: np.ndarray, prediction: np.ndarray) -> Path:
    """Write the strip atomically so the app never reads a half-written PNG.

    The temp file is removed if the write fails (a full disk); one left by a killed trainer has
    the checkpoints' temp suffix, so the next run's `clean_stale_temps` removes it.
    """
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        Image.fromarray(preview_strip(image, truth, prediction)).save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
