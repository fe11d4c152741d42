import albumentations as A
import numpy as np
import pytest
from PIL import Image, ImageFilter

from seg_core.datasets.augment import AUGMENT_PRESETS, IGNORE_INDEX, build_augmentation, reseed


def _coded_pair(size=64):
    """An image whose pixels encode their own mask id, so alignment is checkable exactly."""
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 25, (size, size), dtype=np.uint8)
    image = np.stack([mask * 10, mask * 10, mask * 10], axis=-1).astype(np.uint8)
    return image, mask


@pytest.mark.parametrize("preset", ["none", "seed"])
def test_geometric_transforms_keep_mask_aligned_exactly(preset):
    image, mask = _coded_pair()
    transform = build_augmentation(preset, crop=32)
    for seed in range(20):
        reseed(transform, seed)
        out = transform(image=image, mask=mask)
        assert out["image"].shape == (32, 32, 3) and out["mask"].shape == (32, 32)
        assert np.array_equal(out["image"][..., 0], out["mask"] * 10)


def test_seed_preset_actually_rotates_and_flips():
    image, mask = _coded_pair()
    transform = build_augmentation("seed")
    outputs = set()
    for seed in range(60):
        reseed(transform, seed)
        outputs.add(transform(image=image, mask=mask)["mask"].tobytes())
    assert len(outputs) == 8  # every symmetry of the square occurs


def _interior(mask: np.ndarray) -> np.ndarray:
    """Labelled pixels whose 5x5 neighbourhood has one label and lies inside the frame, where bilinear
    image sampling and nearest mask sampling must agree exactly."""
    low = np.asarray(Image.fromarray(mask).filter(ImageFilter.MinFilter(5)))
    high = np.asarray(Image.fromarray(mask).filter(ImageFilter.MaxFilter(5)))
    inside = (low == high) & (mask != IGNORE_INDEX)
    inside[:2], inside[-2:], inside[:, :2], inside[:, -2:] = False, False, False, False
    return inside


def test_strong_preset_moves_mask_with_image_through_scale_shift_and_rotation():
    """The strong preset's geometric steps (crop, rot90, flips, affine scale/shift/rotate) with its
    colour steps switched off: an image of 8x8 label blocks coded as grey levels still matches its
    transformed mask exactly inside every block, and a 3-pixel misalignment would be caught."""
    blocks = np.random.default_rng(0).integers(0, 25, (12, 12), dtype=np.uint8)
    mask = np.kron(blocks, np.ones((8, 8), np.uint8))
    image = np.repeat((mask * 10)[..., None], 3, axis=2)
    transform = build_augmentation("strong", crop=64)
    for step in transform.transforms:
        if not isinstance(step, A.DualTransform):  # brightness, hue, blur/noise, shadows: image only
            step.p = 0.0
    invented = 0
    for seed in range(40):
        reseed(transform, seed)
        out = transform(image=image, mask=mask)
        grey, labels = out["image"][..., 0].astype(int), out["mask"]
        inside = _interior(labels)
        assert inside.sum() > 200
        np.testing.assert_array_equal(grey[inside], labels[inside].astype(int) * 10)
        shifted = np.roll(labels, 3, axis=1).astype(int) * 10
        assert (grey[inside] != shifted[inside]).any()
        invented += int((labels == IGNORE_INDEX).any())
    assert 5 <= invented <= 35  # the affine step ran (it fills borders) on some seeds, not all


def test_strong_preset_marks_invented_pixels_ignore_and_keeps_labels():
    image, mask = _coded_pair()
    transform = build_augmentation("strong", crop=48)
    for seed in range(20):
        reseed(transform, seed)
        out = transform(image=image, mask=mask)
        values = set(np.unique(out["mask"]).tolist())
        assert values <= set(range(25)) | {IGNORE_INDEX}


def test_small_images_are_padded_with_ignore():
    image, mask = _coded_pair(16)
    out = build_augmentation("none", crop=32)(image=image, mask=mask)
    assert out["mask"].shape == (32, 32)
    assert (out["mask"] == IGNORE_INDEX).sum() == 32 * 32 - 16 * 16


def test_unknown_preset_lists_valid_ones():
    assert AUGMENT_PRESETS == ("none", "seed", "strong")
    with pytest.raises(ValueError, match="none, seed, strong"):
        build_augmentation("wild")


def test_seed_preset_only_moves_pixels_while_strong_also_relights_blurs_and_shadows():
    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    histogram = np.sort(image.reshape(-1, 3), axis=0)
    seed_preset, strong = build_augmentation("seed"), build_augmentation("strong")
    relit = 0
    for seed in range(20):
        reseed(seed_preset, seed)
        moved = seed_preset(image=image, mask=mask)["image"]
        np.testing.assert_array_equal(np.sort(moved.reshape(-1, 3), axis=0), histogram)  # same pixels
        reseed(strong, seed)
        relit += not np.array_equal(
            np.sort(strong(image=image, mask=mask)["image"].reshape(-1, 3), axis=0), histogram
        )
    assert relit >= 10
    steps = [
        *strong.transforms,
        *(c for t in strong.transforms if isinstance(t, A.OneOf) for c in t.transforms),
    ]
    names = {type(step).__name__ for step in steps}
    expected = {"RandomRotate90", "HorizontalFlip", "VerticalFlip", "Affine", "RandomBrightnessContrast"}
    assert expected | {"HueSaturationValue", "GaussianBlur", "GaussNoise", "RandomShadow"} <= names
