"""Predictor: original-size masks, EXIF, every input kind, settings from the checkpoint, tiling and
TTA correctness, determinism, bounded memory at 12 MP, bad checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import Pointwise
from PIL import Image

from seg_core.inference.predictor import Predictor, tile_starts
from seg_core.models import ModelSpec, create_model
from seg_core.models.checkpoint import CheckpointError, save_checkpoint
from seg_core.schemes.classes import CLASS_NAMES


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


def test_two_blended_tiles_equal_one_whole_pass_for_a_pointwise_model():
    predictor = Predictor(Pointwise(), _meta(resolution=96), torch.device("cpu"), tile=96, overlap=8)
    with torch.inference_mode():
        image = predictor._to_tensor(_photo(96, 64))
        direct = predictor._forward(image)
        predictor.tile = 64  # forces two overlapping tiles across the width
        tiled = predictor._tiled(image, True)
    np.testing.assert_allclose(direct.numpy(), tiled.numpy(), atol=1e-5)


def test_tiled_prediction_equals_whole_image_where_the_photo_fits_in_one_tile(unet_checkpoint):
    # A real convolutional model (3x3 convolutions, pooling, skips): blending a single tile with
    # its window must give exactly the whole-image pass, borders included.
    predictor = Predictor.from_checkpoint(unet_checkpoint, tile=64, overlap=16)
    with torch.inference_mode():
        image = predictor._to_tensor(_photo(64, 48))
        whole = predictor._forward(image)
        blended = predictor._blend_tiles(image)  # the sliding-window path, one 64x48 tile
    np.testing.assert_allclose(blended.numpy(), whole.numpy(), atol=1e-6)
    untiled = Predictor.from_checkpoint(unet_checkpoint, tile=1024)
    assert np.array_equal(predictor.predict(_photo(64, 48)), untiled.predict(_photo(64, 48)))


def test_tta_averages_the_probabilities_of_the_eight_flips_and_rotations(unet_checkpoint):
    predictor = Predictor.from_checkpoint(unet_checkpoint)
    photo = _photo(64, 48, seed=3)  # already at the working resolution: no resizing involved
    with torch.inference_mode():
        image = predictor._to_tensor(photo)
        views = []
        for k in range(4):
            for flip in (False, True):
                view = torch.rot90(image, k, dims=(2, 3))
                view = torch.flip(view, dims=(3,)) if flip else view
                probs = torch.softmax(predictor.model(view), dim=1)
                probs = torch.flip(probs, dims=(3,)) if flip else probs
                views.append(torch.rot90(probs, -k, dims=(2, 3)))
        mean_confidence, mean_mask = torch.stack(views).mean(0).max(dim=1)
    with_tta = predictor.predict_full(photo, tta=True, confidence=True)
    assert np.array_equal(with_tta.mask, mean_mask[0].numpy())
    np.testing.assert_allclose(with_tta.confidence, mean_confidence[0].numpy(), atol=1e-5)
    # Not vacuous: this model's views disagree, so the average is not the plain prediction.
    plain = predictor.predict_full(photo, confidence=True)
    assert np.abs(plain.confidence - with_tta.confidence).max() > 1e-3


def test_normalisation_and_resolution_come_from_the_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=4), load_weights=False)
    mean, std = [0.2, 0.4, 0.6], [0.1, 0.2, 0.3]
    path = save_checkpoint(
        {"state_dict": model.state_dict(), "meta": _meta(resolution=48, mean=mean, std=std)},
        tmp_path / "m.pt",
    )
    photo = _photo(48, 32, seed=5)
    result = Predictor.from_checkpoint(path).predict_full(photo, confidence=True)
    assert result.working_mask.shape == (32, 48)  # the checkpoint's 48 px, not a default
    # The same weights, normalised by hand with the checkpoint's mean and std.
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.inference_mode():
        expected_confidence, expected_mask = torch.softmax(model.eval()(x), dim=1).max(dim=1)
    np.testing.assert_allclose(result.confidence, expected_confidence[0].numpy(), atol=1e-4)
    assert (result.mask == expected_mask[0].numpy()).mean() > 0.999  # folded norms: rounding only


def test_every_input_kind_gives_the_same_mask(unet_checkpoint, tmp_path):
    predictor = Predictor.from_checkpoint(unet_checkpoint)
    photo = _photo(90, 70, seed=7)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    reference = predictor.predict(photo)
    assert np.array_equal(predictor.predict(tmp_path / "photo.png"), reference)
    assert np.array_equal(predictor.predict(str(tmp_path / "photo.png")), reference)
    assert np.array_equal(predictor.predict(Image.fromarray(photo)), reference)
    assert np.array_equal(predictor.predict((tmp_path / "photo.png").read_bytes()), reference)
    # Other modes are converted to RGB first: grey and palette photos as their RGB rendering.
    for mode in ("L", "P", "RGBA"):
        image = Image.fromarray(photo).convert(mode)
        rgb = np.asarray(image.convert("RGB"))
        assert np.array_equal(predictor.predict(image), predictor.predict(rgb)), mode


MEMORY_PROBE = """
import json, sys
from pathlib import Path
import numpy as np
from seg_core.inference.predictor import Predictor

def status(field):
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field))
    return int(line.split()[1]) / 1024

predictor = Predictor.from_checkpoint(sys.argv[1])
photo = np.random.default_rng(0).integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
predictor.predict(photo[:300, :400])  # warm-up
Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak resident size
before = status("VmRSS")
result = predictor.predict_full(photo, confidence=True)
print(json.dumps({"growth_mb": status("VmHWM") - before, "shape": list(result.mask.shape)}))
"""


@pytest.mark.slow
def test_a_12_megapixel_photo_never_needs_the_full_size_class_tensor(unet_checkpoint):
    import json
    import subprocess
    import sys

    from seg_core.core import paths

    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(unet_checkpoint)],
        cwd=paths.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    result = json.loads(probe.stdout.splitlines()[-1])
    assert result["shape"] == [3000, 4000]
    # 25 float32 scores per pixel at 4000x3000 would be 1200 MB on their own; the mask (12 MB),
    # the confidence map (48 MB) and the resized photo are all that grow with the photo.
    full_size_scores_mb = 25 * 4 * 3000 * 4000 / 2**20
    assert result["growth_mb"] < 300 < full_size_scores_mb, result


class Spy(Pointwise):
    """Records how the Predictor calls the network."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x):
        channels_last = x.is_contiguous(memory_format=torch.channels_last)
        self.calls.append((x.shape[0], torch.is_inference_mode_enabled(), channels_last))
        return super().forward(x)


def test_tiles_run_in_batches_in_inference_mode_and_channels_last():
    spy = Spy()
    predictor = Predictor(spy, _meta(resolution=200), torch.device("cpu"), tile=64, overlap=16, batch_size=4)
    spy.calls.clear()  # building the predictor checks the folded model with one call
    predictor.predict(_photo(200, 150))  # 4 x 3 tiles of 64 px
    assert [batch for batch, _, _ in spy.calls] == [4, 4, 4]
    assert all(inference and channels_last for _, inference, channels_last in spy.calls)


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
