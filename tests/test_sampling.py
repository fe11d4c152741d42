"""Class-aware crops (datasets/sampling.py): which classes are rare, how often a crop is centred on
one, and that the crop holds it; through the training dataset as training uses it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from seg_core.datasets.dataset import ArrayCache, SegmentationDataset
from seg_core.datasets.discovery import validate_dataset
from seg_core.datasets.sampling import RARE_CLASS_TEMPERATURE, RareClassCrops, class_pixel_counts, crop_around
from seg_core.schemes.scheme import IGNORE_INDEX

SIDE, CROP = 48, 16
# (photo, class) -> the one pixel of a rare class; photo 1's lies in a corner, so its crop is shifted.
RARE_PIXELS = {(0, 2): (30, 10), (1, 3): (1, 46)}
PHOTOS = 8


def rare_masks() -> list[np.ndarray]:
    """Left half class 0, right half class 1 (the frequent ones); one pixel of class 2 in photo 0
    and one of class 3 in photo 1."""
    masks = []
    for photo in range(PHOTOS):
        mask = np.zeros((SIDE, SIDE), np.uint8)
        mask[:, SIDE // 2 :] = 1
        for (where, class_id), (row, col) in RARE_PIXELS.items():
            if where == photo:
                mask[row, col] = class_id
        masks.append(mask)
    return masks


@pytest.fixture
def rare_dataset(tmp_path):
    root = tmp_path / "rare"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for photo, mask in enumerate(rare_masks()):
        Image.fromarray(rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)).save(
            root / "images" / f"p{photo}.png"
        )
        Image.fromarray(mask, mode="L").save(root / "masks" / f"p{photo}.png")
    pairs = sorted(validate_dataset(root).pairs, key=lambda pair: pair.image.name)
    return pairs, ArrayCache(long_side=SIDE, root=tmp_path / "cache")


def counts() -> np.ndarray:
    return class_pixel_counts([lambda m=m: m for m in rare_masks()], num_classes=4)


def test_classes_are_drawn_by_daformers_rarity_weights_and_only_from_photos_that_have_them():
    sampler = RareClassCrops(counts(), share=1.0)
    # Classes 2 and 3 (one pixel each) equally; 0 and 1 (half the pixels each) practically never.
    np.testing.assert_allclose(sampler.class_probability, [0, 0, 0.5, 0.5], atol=1e-12)
    rng = np.random.default_rng(0)
    draws = [sampler.draw(rng) for _ in range(400)]
    assert set(draws) == {(0, 2), (1, 3)}  # always centred (share 1), each class only where it is
    assert abs(draws.count((0, 2)) - 200) <= 4 * math.sqrt(400 * 0.25)  # 4 binomial deviations
    assert RareClassCrops(counts(), share=0.0).draw(rng) is None
    with pytest.raises(ValueError, match="within 0..1"):
        RareClassCrops(counts(), share=1.5)


def test_a_class_ten_times_rarer_is_drawn_more_often_by_exp_of_the_share_gap():
    pixel_counts = np.array([[9000, 900, 90, 10, 0]])  # shares 0.9, 0.09, 0.009, 0.001
    sampler = RareClassCrops(pixel_counts, share=1.0)
    probability = sampler.class_probability
    assert probability[4] == 0  # absent: never drawn
    assert probability[3] / probability[2] == pytest.approx(
        math.exp((0.009 - 0.001) / RARE_CLASS_TEMPERATURE)
    )
    assert probability[0] < 1e-30 and probability.sum() == pytest.approx(1.0)
    assert sampler.most_drawn(2) == [(3, pytest.approx(probability[3])), (2, pytest.approx(probability[2]))]


def test_a_centred_crop_holds_its_pixel_at_the_centre_or_shifted_inside_the_photo():
    masks = rare_masks()
    image = np.zeros((SIDE, SIDE, 3), np.uint8)
    rng = np.random.default_rng(0)
    _, inside = crop_around(image, masks[0], 2, CROP, rng)
    assert inside.shape == (CROP, CROP) and inside[CROP // 2, CROP // 2] == 2  # centred
    _, corner = crop_around(image, masks[1], 3, CROP, rng)
    assert corner[1, CROP - 2] == 3  # the window is shifted to stay inside the photo
    small_image, small = crop_around(image[:10, :12], masks[0][:10, :12], 0, CROP, rng)
    assert small.shape == (CROP, CROP) and small_image.shape == (CROP, CROP, 3)
    assert (small[10:] == IGNORE_INDEX).all() and (small[:, 12:] == IGNORE_INDEX).all()
    with pytest.raises(ValueError, match="class 3 has no pixel"):
        crop_around(image, masks[0], 3, CROP, rng)


def random_crop_holds_a_rare_pixel() -> float:
    """The chance that a uniformly placed random crop of a uniformly chosen photo holds a rare
    pixel: over the (SIDE - CROP + 1)^2 crop positions of each photo, counted exactly."""
    positions = SIDE - CROP + 1
    holding = 0
    for row, col in RARE_PIXELS.values():
        rows = sum(1 for top in range(positions) if top <= row < top + CROP)
        cols = sum(1 for left in range(positions) if left <= col < left + CROP)
        holding += rows * cols
    return holding / (positions**2 * PHOTOS)


@pytest.mark.parametrize("share", [0.3, 0.7])
def test_training_crops_hold_a_rare_class_at_the_stated_rate(rare_dataset, share):
    pairs, cache = rare_dataset
    data = SegmentationDataset(pairs, cache, (0.5,) * 3, (0.5,) * 3, crop=CROP, augment="seed", seed=3)
    data.centre_crops_on(RareClassCrops(counts(), share))
    hits = trials = 0
    for epoch in range(60):
        data.set_epoch(epoch)
        for index in range(len(data)):
            _, mask = data[index]
            assert mask.shape == (CROP, CROP)
            hits += int(((mask == 2) | (mask == 3)).any())
            trials += 1
    # A crop holds a rare pixel when it was centred on one (probability `share`), or by chance.
    expected = share + (1 - share) * random_crop_holds_a_rare_pixel()
    tolerance = 4 * math.sqrt(expected * (1 - expected) / trials)  # 4 binomial standard deviations
    assert abs(hits / trials - expected) <= tolerance
    data.set_epoch(7)
    first, again = data[5], data[5]
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(first, again, strict=True))


def test_whole_images_ignore_rare_crops(rare_dataset):
    pairs, cache = rare_dataset
    data = SegmentationDataset(pairs, cache, (0.5,) * 3, (0.5,) * 3, crop=None)
    data.centre_crops_on(RareClassCrops(counts(), 1.0))
    assert data.rare_crops is None and data[0][1].shape == (SIDE, SIDE)
