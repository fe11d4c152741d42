"""What every prediction backend shares, in numpy only (no torch): the sliding-window tiles and
their blend window, the TTA symmetries, input normalisation and padding, and the way scores at
working resolution become a mask and a confidence map at the photo's original size.

The torch `Predictor` and the torch-free `OnnxPredictor` both build on these, so an exported
model gives the same tiles, the same blending and the same upsampling as its checkpoint; only
the network's forward pass differs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

# Tile side at working resolution. 1024 holds a whole Harvey photo at the default resolution,
# so the common case is a single forward pass; larger working resolutions are tiled.
DEFAULT_TILE = 1024
DEFAULT_OVERLAP = 128  # px shared by neighbouring tiles; blended with a smooth window

# The 8 symmetries of the square: (rotations k*90deg, then optional horizontal flip).
TTA_TRANSFORMS: tuple[tuple[int, bool], ...] = tuple((k, flip) for k in range(4) for flip in (False, True))


@dataclass
class Prediction:
    """Everything one prediction produced.

    Attributes:
        mask: HxW uint8 class ids at the photo's original (EXIF-oriented) size.
        confidence: HxW float32 max class probability at original size, when asked for.
        working_mask: the mask at the working resolution the model saw.
        notices: non-fatal remarks about the input (e.g. extra TIFF pages ignored).
        seconds: time per stage (decode, forward, upsample).
    """

    mask: np.ndarray
    working_mask: np.ndarray
    confidence: np.ndarray | None = None
    notices: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)


def check_tiling(tile: int, overlap: int) -> None:
    if overlap >= tile:
        raise ValueError(f"overlap {overlap} must be smaller than the tile size {tile}")


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering [0, length) with tiles of `tile` px overlapping by >= `overlap`."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def tile_boxes(height: int, width: int, tile: int, overlap: int) -> tuple[int, int, list[tuple[int, int]]]:
    """(tile height, tile width, top-left corners) of the sliding window over an HxW image."""
    tile_h, tile_w = min(tile, height), min(tile, width)
    boxes = [
        (y, x) for y in tile_starts(height, tile_h, overlap) for x in tile_starts(width, tile_w, overlap)
    ]
    return tile_h, tile_w, boxes


def blend_window(height: int, width: int) -> np.ndarray:
    """A separable float32 ramp that is ~0 at tile edges and 1 inside, so overlapping tiles fade
    into each other; never exactly 0, so pixels at the image border (covered once) keep their weight."""

    def ramp(n: int) -> np.ndarray:
        position = np.arange(n, dtype=np.float32)
        return np.minimum(np.minimum(position + 1, n - position), np.float32(n / 4)) / np.float32(n / 4)

    return ramp(height)[:, None] * ramp(width)[None, :]


def normalise(pixels: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> 1x3xHxW float32 normalised with 0..1 `mean`/`std` (as in training)."""
    scaled = (pixels.astype(np.float32) - mean * 255) / (std * 255)
    return np.ascontiguousarray(scaled.transpose(2, 0, 1)[None])


def pad_to_multiple(images: np.ndarray, multiple: int, min_size: int = 1) -> np.ndarray:
    """numpy twin of `seg_core.models.padding.pad_to_multiple`: pad bottom/right of an NCHW batch
    to multiples of `multiple`, reflecting (replicating when the pad is not smaller than the side)."""
    height, width = images.shape[-2:]
    pad_bottom = math.ceil(max(height, min_size) / multiple) * multiple - height
    pad_right = math.ceil(max(width, min_size) / multiple) * multiple - width
    if pad_bottom == 0 and pad_right == 0:
        return images
    mode = "reflect" if pad_bottom < height and pad_right < width else "edge"
    return np.pad(images, ((0, 0), (0, 0), (0, pad_bottom), (0, pad_right)), mode=mode)


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted


def blend_tiles(
    image: np.ndarray,
    forward: Callable[[np.ndarray], np.ndarray],
    num_classes: int,
    tile: int,
    overlap: int,
    batch_size: int,
) -> np.ndarray:
    """1xCxHxW probabilities of overlapping tiles, run in batches through `forward` (NCHW float32
    -> NxCxhxw probabilities) and averaged with `blend_window`."""
    _, _, height, width = image.shape
    tile_h, tile_w, boxes = tile_boxes(height, width, tile, overlap)
    window = blend_window(tile_h, tile_w)
    total = np.zeros((1, num_classes, height, width), dtype=np.float32)
    weight = np.zeros((1, 1, height, width), dtype=np.float32)
    for first in range(0, len(boxes), batch_size):
        chunk = boxes[first : first + batch_size]
        batch = np.concatenate([image[:, :, y : y + tile_h, x : x + tile_w] for y, x in chunk])
        probs = forward(np.ascontiguousarray(batch))
        for (y, x), tile_probs in zip(chunk, probs, strict=True):
            total[0, :, y : y + tile_h, x : x + tile_w] += tile_probs * window
            weight[0, 0, y : y + tile_h, x : x + tile_w] += window
    return total / weight


def to_original_size(
    working_mask: np.ndarray, score: np.ndarray | None, original_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Nearest-neighbour mask and bilinear confidence at the photo's (width, height).

    The argmax is taken at working resolution first: the full-resolution 25-channel float
    tensor (1.2 GB for 4000x3000) is never built.
    """
    width, height = original_size
    mask = working_mask
    if (width, height) != (working_mask.shape[1], working_mask.shape[0]):
        mask = np.asarray(Image.fromarray(working_mask).resize((width, height), Image.Resampling.NEAREST))
    confidence = None
    if score is not None:
        small = Image.fromarray(np.asarray(score, dtype=np.float32))
        confidence = np.asarray(small.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    return mask, confidence
