"""Gallery thumbnails and comparison strips: sizes, colours where the mask says, paging, bad files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from seg_core.datasets.discovery import validate_dataset
from seg_core.schemes.classes import PALETTE, class_id
from seg_core.schemes.scheme import HARVEY
from seg_core.views.gallery import STRIP_GAP_PX, comparison_strip, thumbnail_overlays, top_classes

FLOODED, ROAD = class_id("Flooded"), class_id("Road/Highway")


def _write_pair(root, stem, size=(400, 200), suffix=".jpg"):
    """A grey photo whose left half is Flooded and right quarter Road; returns (image, mask) paths."""
    width, height = size
    (root / "train_images").mkdir(parents=True, exist_ok=True)
    (root / "train_masks").mkdir(parents=True, exist_ok=True)
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[:, : width // 2] = FLOODED
    mask[:, 3 * width // 4 :] = ROAD
    image_path = root / "train_images" / f"{stem}{suffix}"
    Image.fromarray(np.full((height, width, 3), 128, dtype=np.uint8)).save(image_path, quality=95)
    Image.fromarray(mask, mode="L").save(root / "train_masks" / f"{stem}.png")
    return image_path, root / "train_masks" / f"{stem}.png"


@pytest.fixture
def pairs(tmp_path):
    for i in range(5):
        _write_pair(tmp_path / "ds", f"p{i}")
    return validate_dataset(tmp_path / "ds").pairs


def test_thumbnails_are_small_coloured_where_the_mask_says_and_captioned(pairs):
    thumbs = thumbnail_overlays(pairs, HARVEY, max_side=100, opacity=1.0, count=9)
    assert [t.stem for t in thumbs] == [f"p{i}" for i in range(5)]
    first = thumbs[0]
    assert first.overlay.shape == (50, 100, 3) and first.overlay.dtype == np.uint8
    # opacity 1: the palette colour itself where the mask has a class; Background stays the photo.
    assert np.array_equal(first.overlay[25, 10], PALETTE[FLOODED])
    assert np.array_equal(first.overlay[25, 90], PALETTE[ROAD])
    assert np.abs(first.overlay[25, 60].astype(int) - 128).max() <= 3
    assert first.top_classes == ["Flooded", "Road/Highway"]  # Background left out, largest first
    assert first.top_shares == pytest.approx([0.5, 0.25])
    assert first.caption == "p0 · Flooded 50%, Road/Highway 25%"


def test_opacity_zero_shows_the_photo(pairs):
    thumb = thumbnail_overlays(pairs, HARVEY, max_side=64, opacity=0.0, count=1)[0]
    assert np.abs(thumb.overlay.astype(int) - 128).max() <= 3


def test_paging_returns_the_requested_slice(pairs):
    assert [t.stem for t in thumbnail_overlays(pairs, HARVEY, max_side=32, start=3, count=9)] == ["p3", "p4"]
    assert thumbnail_overlays(pairs, HARVEY, max_side=32, start=10) == []


def test_a_file_damaged_after_validation_gives_one_error_tile(pairs):
    pairs[1].image.write_bytes(b"not a jpeg")
    thumbs = thumbnail_overlays(pairs, HARVEY, max_side=32, count=3)
    assert thumbs[0].error is None and thumbs[2].error is None
    assert thumbs[1].overlay is None and "p1.jpg" in thumbs[1].error
    assert thumbs[1].caption == "p1: unreadable"


@pytest.mark.parametrize(
    "kwargs, message",
    [({"max_side": 4}, "thumbnail size 4"), ({"opacity": 1.5}, "opacity 1.5"), ({"start": -1}, "start -1")],
)
def test_bad_settings_name_the_value(pairs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        thumbnail_overlays(pairs, HARVEY, **kwargs)


def test_top_classes_keeps_background_only_when_alone():
    assert top_classes(np.zeros((4, 4), np.uint8), HARVEY) == [("Background", 1.0)]
    mask = np.zeros((4, 4), np.uint8)
    mask[0, :] = FLOODED
    assert top_classes(mask, HARVEY) == [("Flooded", 0.25)]


def test_comparison_strip_puts_photo_truth_prediction_side_by_side(tmp_path):
    image_path, mask_path = _write_pair(tmp_path, "a", size=(400, 200), suffix=".png")
    predicted = np.full((200, 400), ROAD, dtype=np.uint8)  # full size: resized nearest to the panel
    strip = comparison_strip(image_path, mask_path, predicted, HARVEY, max_side=100)
    assert strip.shape == (50, 3 * 100 + 2 * STRIP_GAP_PX, 3)
    photo, truth, prediction = (
        strip[:, :100],
        strip[:, 100 + STRIP_GAP_PX : 200 + STRIP_GAP_PX],
        strip[:, -100:],
    )
    assert (photo == 128).all()
    assert np.array_equal(truth[10, 10], PALETTE[FLOODED]) and np.array_equal(truth[10, 90], PALETTE[ROAD])
    assert (prediction == PALETTE[ROAD]).all()
    assert (strip[:, 100 : 100 + STRIP_GAP_PX] == 255).all()


def test_comparison_strip_rejects_a_bad_prediction(tmp_path):
    image_path, mask_path = _write_pair(tmp_path, "a", suffix=".png")
    with pytest.raises(ValueError, match="id 30"):
        comparison_strip(image_path, mask_path, np.full((200, 400), 30, np.uint8), HARVEY)
    with pytest.raises(ValueError, match="HxW"):
        comparison_strip(image_path, mask_path, np.zeros((2, 2, 3), np.uint8), HARVEY)
