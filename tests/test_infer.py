"""Predictor: original-size masks, EXIF, tiling and TTA correctness, determinism, bad checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import Pointwise
from PIL import Image

from seg_core.checkpoint import CheckpointError, save_checkpoint
from seg_core.classes import CLASS_NAMES
from seg_core.infer import Predictor, tile_starts
from seg_core.models import ModelSpec, create_model


def _meta(resolution=64, **extra):
    return {
        "arch": "unet",
        "encoder": "none",
        "num_classes": 25,
        "class_names": list(CLASS_NAMES),
        "resolution": resolution,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "unet_base_width": 4,
        **extra,
    }


@pytest.fixture(scope="module")
def unet_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=4), load_weights=False)
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint({"state_dict": model.state_dict(), "meta": _meta()}, path)
    return path


def _photo(width, height, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("size", [(101, 67), (67, 101), (300, 200), (33, 33)])
def test_mask_has_the_original_size(unet_checkpoint, size):
    predictor = Predictor.from_checkpoint(unet_checkpoint)
    mask = predictor.predict(_photo(*size))
    assert mask.shape == (size[1], size[0]) and mask.dtype == np.uint8
    assert mask.max() < 25


def test_exif_rotated_photo_gives_mask_of_displayed_size(unet_checkpoint, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(_photo(120, 80)).save(path, exif=exif)
    mask = Predictor.from_checkpoint(unet_checkpoint).predict(path)
    assert mask.shape == (120, 80)  # displayed: 80 wide, 120 tall


def test_same_photo_twice_gives_identical_mask(unet_checkpoint):
    predictor = Predictor.from_checkpoint(unet_checkpoint)
    photo = _photo(150, 100)
    assert np.array_equal(predictor.predict(photo), predictor.predict(photo))


def test_tiles_and_tta_match_whole_image_for_a_pointwise_model():
    photo = _photo(200, 150)
    whole = Predictor(Pointwise(), _meta(resolution=200), torch.device("cpu"), tile=1024)
    tiled = Predictor(
        Pointwise(), _meta(resolution=200), torch.device("cpu"), tile=64, overlap=16, batch_size=3
    )
    reference = whole.predict_full(photo, confidence=True)
    tiled_result = tiled.predict_full(photo, confidence=True)
    assert np.array_equal(reference.mask, tiled_result.mask)
    np.testing.assert_allclose(reference.confidence, tiled_result.confidence, atol=1e-5)
    assert np.array_equal(reference.mask, whole.predict(photo, tta=True))  # inverse transforms are exact


def test_single_tile_path_equals_the_general_tiling_path():
    predictor = Predictor(Pointwise(), _meta(resolution=96), torch.device("cpu"), tile=96, overlap=8)
    with torch.inference_mode():
        image = predictor._to_tensor(_photo(96, 64))
        direct = predictor._forward(image)
        predictor.tile = 64  # forces two overlapping tiles across the width
        tiled = predictor._tiled(image, True)
    np.testing.assert_allclose(direct.numpy(), tiled.numpy(), atol=1e-5)


def test_tile_starts_cover_the_whole_length_with_overlap():
    assert tile_starts(100, 128, 16) == [0]
    starts = tile_starts(300, 128, 32)
    assert starts[0] == 0 and starts[-1] == 300 - 128
    assert all(b - a <= 128 - 32 for a, b in zip(starts, starts[1:], strict=False))


def test_confidence_and_working_mask(unet_checkpoint):
    result = Predictor.from_checkpoint(unet_checkpoint).predict_full(_photo(256, 128), confidence=True)
    assert result.working_mask.shape == (32, 64)  # long side 64 = the checkpoint's resolution
    assert result.confidence.shape == (128, 256)
    assert result.confidence.min() > 0.0 and result.confidence.max() <= 1.0
    assert set(result.seconds) == {"decode", "forward", "upsample"}


def test_checkpoints_that_do_not_fit_are_refused(tmp_path):
    model = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=4), load_weights=False)
    wrong_arch = tmp_path / "wrong_arch.pt"
    save_checkpoint(
        {"state_dict": model.state_dict(), "meta": _meta(arch="fpn", encoder="resnet18")}, wrong_arch
    )
    with pytest.raises(CheckpointError, match="wrong_arch.pt: its weights do not fit"):
        Predictor.from_checkpoint(wrong_arch)
    wrong_classes = tmp_path / "wrong_classes.pt"
    save_checkpoint({"state_dict": model.state_dict(), "meta": _meta(num_classes=7)}, wrong_classes)
    with pytest.raises(CheckpointError, match="7 classes"):
        Predictor.from_checkpoint(wrong_classes)
