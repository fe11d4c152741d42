"""Albumentations presets for training.

- `none`: crop only.
- `seed`: the student study's recipe: 90-degree rotations, horizontal and vertical flips.
- `strong`: `seed` plus scale/shift, brightness/contrast/hue, blur/noise and cast shadows, for
  the lighting and altitude changes between drone flights.

Geometric transforms move the mask with the image exactly (nearest-neighbour for the mask);
pixels that padding or shifting invents are labelled IGNORE_INDEX so no loss is computed there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from seg_core.schemes.scheme import IGNORE_INDEX

if TYPE_CHECKING:  # imported where used: albumentations loads torch (~seconds), and the training
    # settings (TrainConfig, which the CLI checks before anything heavy) need only the names
    import albumentations as A

AUGMENT_PRESETS: tuple[str, ...] = ("none", "seed", "strong")


def _seed_transforms() -> list[A.BasicTransform]:
    import albumentations as A

    # Rotation by k*90 (k uniform) with an independent flip covers all 8 symmetries of a square
    # equally; the vertical flip is the study's and keeps the distribution uniform.
    return [A.RandomRotate90(p=1.0), A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)]


def _strong_transforms() -> list[A.BasicTransform]:
    import albumentations as A
    import cv2

    return [
        *_seed_transforms(),
        A.Affine(
            scale=(0.8, 1.25),
            translate_percent=(-0.06, 0.06),
            rotate=(-10, 10),
            border_mode=cv2.BORDER_CONSTANT,
            fill=0,
            fill_mask=IGNORE_INDEX,
            p=0.5,
        ),
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
        A.HueSaturationValue(hue_shift_limit=8, sat_shift_limit=20, val_shift_limit=10, p=0.3),
        A.OneOf([A.GaussianBlur(sigma_limit=(0.3, 1.2)), A.GaussNoise(std_range=(0.02, 0.06))], p=0.3),
        A.RandomShadow(shadow_roi=(0, 0, 1, 1), num_shadows_limit=(1, 2), p=0.2),
    ]


def build_augmentation(preset: str = "none", crop: int | None = None) -> A.Compose:
    """The training transform: optional random square crop, then the preset.

    Args:
        preset: one of AUGMENT_PRESETS.
        crop: side of the random square crop in px (images smaller than it are padded with
            black and IGNORE_INDEX); None or 0 keeps the whole image.

    Returns:
        An `A.Compose` called as ``t(image=HxWx3 uint8, mask=HxW uint8)``.
    """
    import albumentations as A
    import cv2

    if preset not in AUGMENT_PRESETS:
        raise ValueError(f"unknown augmentation preset {preset!r}; valid: {', '.join(AUGMENT_PRESETS)}")
    steps: list[A.BasicTransform] = []
    if crop:
        steps += [
            A.PadIfNeeded(crop, crop, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=IGNORE_INDEX),
            A.RandomCrop(crop, crop),
        ]
    if preset == "seed":
        steps += _seed_transforms()
    elif preset == "strong":
        steps += _strong_transforms()
    return A.Compose(steps, seed=0)


def reseed(transform: A.BaseCompose | A.BasicTransform, seed: int) -> None:
    """Seed a pipeline so each transform draws from its own stream.

    albumentations' `Compose.set_random_seed` hands every child the *same* seed, so two p=0.5
    flips always agree and half the symmetries never occur; this gives each child a distinct
    seed derived from `seed` (np.random.SeedSequence), keeping runs reproducible.
    """
    transform.set_random_seed(seed)
    children = list(getattr(transform, "transforms", ()))
    for child, child_seed in zip(
        children, np.random.SeedSequence(seed).generate_state(len(children)), strict=True
    ):
        reseed(child, int(child_seed))
