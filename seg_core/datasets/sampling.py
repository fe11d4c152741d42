"""Class-aware training crops: a stated share of crops centred on a pixel of a rare class.

In post-storm drone photos the classes responders ask about are the rarest: vehicles, blocked or
flooded roads and destroyed houses each cover well under 1% of RescueNet's or FloodNet's pixels,
so a random crop seldom holds one and the network sees them a few times an epoch. Rare-class
sampling (Hoyer et al., DAFormer, CVPR 2022) draws a class first, with probability proportional
to exp(-f / T) where f is its share of the training split's labelled pixels, then a photo that
has it, then a crop around one of its pixels. With DAFormer's T = 0.01 a class of 0.1% is drawn
2.5 times as often as one of 1% and 20 000 times as often as one of 10%: the frequent classes
practically never, and they still come from the random crops (the rest of the share).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from seg_core.schemes.scheme import IGNORE_INDEX

# DAFormer's temperature: the draw favours classes under a few percent of the pixels.
RARE_CLASS_TEMPERATURE = 0.01


def class_pixel_counts(masks: Sequence[Callable[[], np.ndarray]], num_classes: int) -> np.ndarray:
    """(photos, classes) int64 labelled-pixel counts, one row per mask (each read once through
    its callable, so a dataset passes its cache's readers and nothing is kept in memory). Ids of
    `num_classes` and above (the ignore value) are not counted."""
    counts = np.zeros((len(masks), num_classes), dtype=np.int64)
    for row, read in enumerate(masks):
        counts[row] = np.bincount(np.asarray(read()).reshape(-1), minlength=256)[:num_classes]
    return counts


class RareClassCrops:
    """Which crops are centred on a rare class, and where.

    Args:
        counts: (photos, classes) labelled-pixel counts of the training photos (`class_pixel_counts`).
        share: probability, 0..1, that a crop is centred on a rare-class pixel.

    Attributes:
        class_probability: (classes,) the chance that a centred crop is centred on each class,
            proportional to exp(-f / RARE_CLASS_TEMPERATURE) over the classes present (0 for the
            absent ones), f being the class's share of the labelled pixels.
    """

    def __init__(self, counts: np.ndarray, share: float) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"rare-class crop share {share} must be within 0..1")
        self.share = share
        counts = np.asarray(counts)
        totals = counts.sum(axis=0).astype(np.float64)
        present = totals > 0
        weight = np.zeros_like(totals)
        if present.any():
            # Relative to the rarest class present, so no weight underflows to all zeros.
            share_of_pixels = totals / totals.sum()
            weight[present] = np.exp(
                -(share_of_pixels[present] - share_of_pixels[present].min()) / RARE_CLASS_TEMPERATURE
            )
        self.class_probability = weight / weight.sum() if present.any() else weight
        self._photos_with = [np.flatnonzero(counts[:, c]) for c in range(counts.shape[1])]

    def most_drawn(self, top: int = 5) -> list[tuple[int, float]]:
        """The `top` classes a centred crop most often lands on, with their probability."""
        order = np.argsort(-self.class_probability, kind="stable")[:top]
        return [(int(c), float(self.class_probability[c])) for c in order if self.class_probability[c] > 0]

    def draw(self, rng: np.random.Generator) -> tuple[int, int] | None:
        """(photo index, class) for a centred crop, with probability `share`; else None (a random
        crop of the photo the sampler chose). The class is drawn by `class_probability`, then a
        photo evenly among those that have it."""
        if not self.class_probability.any() or rng.random() >= self.share:
            return None
        class_id = int(rng.choice(len(self.class_probability), p=self.class_probability))
        photos = self._photos_with[class_id]
        return int(photos[rng.integers(len(photos))]), class_id


def crop_around(
    image: np.ndarray, mask: np.ndarray, class_id: int, crop: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A `crop` x `crop` window centred on a random pixel of `class_id` (shifted inside the photo
    at its borders, so the pixel is always in the window); a photo smaller than the crop is
    padded at the bottom and right with black and IGNORE_INDEX, as the random crop pads.

    Shape:
        image (H, W, 3) uint8, mask (H, W) uint8 -> (crop, crop, 3), (crop, crop)
    """
    rows, cols = np.nonzero(np.asarray(mask) == class_id)
    if rows.size == 0:
        raise ValueError(f"class {class_id} has no pixel in this mask")
    pick = rng.integers(rows.size)
    height, width = mask.shape
    top = int(np.clip(rows[pick] - crop // 2, 0, max(height - crop, 0)))
    left = int(np.clip(cols[pick] - crop // 2, 0, max(width - crop, 0)))
    image = np.asarray(image[top : top + crop, left : left + crop])
    mask = np.asarray(mask[top : top + crop, left : left + crop])
    pad = ((0, crop - mask.shape[0]), (0, crop - mask.shape[1]))
    if pad[0][1] or pad[1][1]:
        image = np.pad(image, (*pad, (0, 0)), constant_values=0)
        mask = np.pad(mask, pad, constant_values=IGNORE_INDEX)
    return image, mask
