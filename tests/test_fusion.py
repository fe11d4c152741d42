"""BatchNorm folding and compiled inference give the same answers as the plain model."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from seg_core.inference.predictor import Predictor
from seg_core.models import ModelSpec, create_model
from seg_core.models.fusion import fold_batchnorm


def _randomise_norms(model: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics, so a wrong fold shows in the outputs."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=generator) - 0.5)
    return model.eval()


def _count_norms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(arch="deeplabv3plus", encoder="tu-efficientnet_lite0", weights="none"),
        ModelSpec(arch="smp-unet", encoder="resnet18", weights="none"),
        ModelSpec(arch="unet", encoder="none", weights="none", unet_base_width=8),
    ],
    ids=["deeplabv3plus-lite0", "unet-resnet18", "classic-unet"],
)
def test_folding_removes_every_norm_after_a_conv_and_keeps_the_outputs(spec):
    torch.manual_seed(0)
    model = _randomise_norms(create_model(spec, load_weights=False))
    before = _count_norms(model)
    folded = fold_batchnorm(model)
    x = torch.randn(2, 3, 96, 128)
    with torch.inference_mode():
        assert torch.allclose(folded(x), model(x), atol=1e-4)
    assert before > 0 and _count_norms(folded) == 0
    assert _count_norms(model) == before  # the original is untouched


class _SharedConvOutput(nn.Module):
    """A conv whose output feeds a BatchNorm *and* a residual add: folding it would be wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.conv(x)
        return self.norm(y) + y


def test_a_conv_output_used_twice_is_never_folded_wrongly():
    model = _randomise_norms(_SharedConvOutput())
    x = torch.randn(1, 3, 16, 16)
    folded = fold_batchnorm(model, x)
    with torch.inference_mode():
        assert torch.allclose(folded(x), model(x), atol=1e-5)


def test_folding_a_training_model_is_refused():
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)).train())


def _tiny_predictor(**settings) -> Predictor:
    torch.manual_seed(0)
    spec = ModelSpec(arch="unet", encoder="none", weights="none", unet_base_width=4)
    model = _randomise_norms(create_model(spec, load_weights=False))
    meta = {"resolution": 64, "mean": [0.5] * 3, "std": [0.5] * 3, "num_classes": 25}
    return Predictor(model, meta, torch.device("cpu"), **settings)


def test_folded_predictor_gives_the_same_masks_as_the_plain_one():
    photo = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    plain = _tiny_predictor(fold_norms=False)
    folded = _tiny_predictor()
    assert _count_norms(plain.model) > 0 and _count_norms(folded.model) == 0
    np.testing.assert_array_equal(folded.predict(photo), plain.predict(photo))


@pytest.mark.slow
def test_compiled_predictor_gives_the_same_masks():
    photo = np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    plain = _tiny_predictor()
    compiled = _tiny_predictor(compile=True)
    scores_plain = plain.predict_full(photo, confidence=True)
    scores_compiled = compiled.predict_full(photo, confidence=True)
    agreement = (scores_plain.mask == scores_compiled.mask).mean()
    assert agreement > 0.999
    np.testing.assert_allclose(scores_compiled.confidence, scores_plain.confidence, atol=1e-4)


def test_space_to_batch_swaps_the_dilated_depthwise_layers_of_deeplabv3plus():
    from seg_core.models.atrous import SpaceToBatchConv2d

    model = create_model(ModelSpec(arch="deeplabv3plus", weights="none"), load_weights=False)
    swapped = [name for name, m in model.named_modules() if isinstance(m, SpaceToBatchConv2d)]
    assert len(swapped) == 4 and all("encoder" in name for name in swapped)
    assert all(m.dilation[0] > 1 for m in model.modules() if isinstance(m, SpaceToBatchConv2d))


@pytest.mark.parametrize("size", [(64, 96), (72, 88)], ids=["multiple-of-d", "fallback"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_space_to_batch_gives_the_dilated_convolution_and_its_gradients(size, channels_last):
    from seg_core.models.atrous import use_space_to_batch

    torch.manual_seed(0)
    plain = nn.Sequential(
        nn.Conv2d(8, 8, 5, padding=4, dilation=2, groups=8), nn.Conv2d(8, 8, 3, padding=2, dilation=2)
    )
    fast = copy.deepcopy(plain)
    assert use_space_to_batch(fast) == 1  # the grouped (depthwise) one only
    x = torch.randn(2, 8, *size)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    a, b = plain(xa), fast(xb)  # with gradients: the space-to-batch path
    assert torch.allclose(a, b, atol=1e-5)
    a.square().sum().backward()
    b.square().sum().backward()
    assert torch.allclose(xa.grad, xb.grad, atol=1e-4)
    for pa, pb in zip(plain.parameters(), fast.parameters(), strict=True):
        assert torch.allclose(pa.grad, pb.grad, rtol=1e-4, atol=1e-3)
    assert plain.state_dict().keys() == fast.state_dict().keys()
