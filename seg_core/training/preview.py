"""The validation preview the app shows during training: photo | truth | prediction."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from seg_core.core.atomic import atomic_write_bytes
from seg_core.schemes.scheme import LabelScheme

PREVIEW_WIDTH = 1200  # the three panels together, px: enough to judge, small to refresh


def preview_strip(
    image: np.ndarray, truth: np.ndarray, prediction: np.ndarray, scheme: LabelScheme
) -> np.ndarray:
    """HxWx3 photo and two HxW masks -> one Hx3Wx3 image in the scheme's colours, with ignored
    pixels shown black."""
    height, width = truth.shape
    photo = np.asarray(image)[:height, :width]
    panels = [photo, scheme.colorize(truth), scheme.colorize(prediction)]
    strip = np.concatenate(panels, axis=1)
    scale = min(1.0, PREVIEW_WIDTH / strip.shape[1])
    if scale < 1.0:
        size = (round(strip.shape[1] * scale), round(strip.shape[0] * scale))
        strip = np.asarray(Image.fromarray(strip).resize(size, Image.Resampling.NEAREST))
    return strip


def save_preview(
    path: str | Path, image: np.ndarray, truth: np.ndarray, prediction: np.ndarray, scheme: LabelScheme
) -> Path:
    """Write the strip atomically so the app never reads a half-written PNG (a temp left by a
    killed trainer is removed by the next run's `clean_stale_temps`)."""
    buffer = io.BytesIO()
    Image.fromarray(preview_strip(image, truth, prediction, scheme)).save(buffer, format="PNG")
    return atomic_write_bytes(path, buffer.getvalue())
