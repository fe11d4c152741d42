"""seg_core.models: every architecture, any input size, weights (offline, hub, files), specs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seg_core.models import (
    ARCHITECTURES,
    WEIGHT_CHOICES,
    ModelSpec,
    PadToMultiple,
    UNet,
    count_parameters,
    create_model,
    describe,
    list_encoders,
    normalization,
)
from seg_core.models import weights as model_weights

LITE0 = "tu-efficientnet_lite0"


def _logits(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    # eval: DeepLab's ASPP pooling and PSPNet's pyramid BatchNorm a 1x1 map, impossible on batch 1
    model.eval()
    with torch.inference_mode():
        return model(images)


@pytest.mark.parametrize("arch", [a for a in ARCHITECTURES if a != "unet"])
def test_every_smp_architecture_maps_odd_sizes_to_same_size_logits(arch):
    torch.manual_seed(0)
    # alternate encoders so both timm-universal and smp's own encoders are covered
    encoder = "resnet18" if arch in ("fpn", "deeplabv3plus", "linknet") else LITE0
    model = create_model(ModelSpec(arch=arch, encoder=encoder, weights="none"))
    logits = _logits(model, torch.rand(1, 3, 97, 130))
    assert logits.shape == (1, 25, 97, 130)
    assert torch.isfinite(logits).all()


def test_segformer_builds_with_its_default_encoder():
    logits = _logits(
        create_model(ModelSpec(arch="segformer", encoder="mit_b0", weights="none")), torch.rand(1, 3, 33, 47)
    )
    assert logits.shape == (1, 25, 33, 47)


def test_classic_unet_width_8_trains_on_odd_size():
    model = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=8, num_classes=25))
    assert isinstance(model.model, UNet)
    images = torch.rand(2, 3, 45, 61)
    logits = model.train()(images)
    assert logits.shape == (2, 25, 45, 61)
    logits.mean().backward()
    first_conv = model.model.encoder.stem[0].weight
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0
    # the bare UNet pads by itself too (usable without the wrapper)
    assert UNet(3, 4, base_width=4).eval()(torch.rand(1, 3, 17, 23)).shape == (1, 4, 17, 23)


def test_classic_unet_widths_double_per_level():
    model = UNet(3, 25, base_width=64)
    assert count_parameters(model) == 31_039_193  # the paper's 64..1024 channels, ~31 M
    assert model.encoder.downs[-1][1][0].out_channels == 1024


def test_pad_to_multiple_is_transparent_on_divisible_sizes_and_honours_min_size():
    inner = torch.nn.Conv2d(3, 2, 3, padding=1)
    wrapped = PadToMultiple(inner, multiple=32, min_size=64)
    images = torch.rand(1, 3, 64, 96)
    assert torch.equal(wrapped(images), inner(images))
    assert list(wrapped.state_dict()) == ["model.weight", "model.bias"]  # no tensors of its own

    seen = []
    wrapped.model.register_forward_hook(lambda module, args, out: seen.append(args[0].shape))
    assert wrapped(torch.rand(1, 3, 5, 70)).shape == (1, 2, 5, 70)
    assert seen[-1] == (1, 3, 64, 96)
    with pytest.raises(ValueError, match="multiple"):
        PadToMultiple(inner, multiple=0)


def test_state_dict_round_trips_through_load_weights_false():
    spec = ModelSpec(arch="fpn", encoder=LITE0, weights="none")
    trained = create_model(spec)
    assert all(key.startswith("model.") for key in trained.state_dict())
    rebuilt = create_model(spec, load_weights=False)
    rebuilt.load_state_dict(trained.state_dict())
    images = torch.rand(1, 3, 40, 50)
    assert torch.equal(_logits(trained, images), _logits(rebuilt, images))


def test_deeplabv3plus_uses_a_dilated_lite0_at_output_stride_16():
    model = create_model(ModelSpec(arch="deeplabv3plus", encoder=LITE0, weights="none"))
    assert model.multiple == 16
    features = model.model.encoder(torch.rand(1, 3, 64, 96))
    assert features[-1].shape[-2:] == (4, 6)  # 1/16, not 1/32: the last stage is dilated


# --------------------------------------------------------------------------- weights


def test_imagenet_offline_loads_the_package_tensors():
    source = model_weights.load_lite0_package_state()
    assert len(source) == 296
    model = create_model(ModelSpec(arch="deeplabv3plus", encoder=LITE0, weights="imagenet-offline"))
    loaded = model.model.encoder.model.state_dict()
    assert torch.equal(loaded["conv_stem.weight"], source["_conv_stem.weight"])
    # the last encoder tensor is the last block's projection BN, just before the classifier head
    assert torch.equal(loaded["blocks.6.0.bn3.running_var"], source["_blocks.15._bn2.running_var"])


def test_offline_lite0_weights_mapped_by_position_classify_a_crossword():
    """The mapping is right only if the full classifier still recognises ImageNet classes."""
    import timm

    classifier = timm.create_model("efficientnet_lite0", pretrained=False).eval()
    mapped = model_weights.map_by_position(model_weights.load_lite0_package_state(), classifier.state_dict())
    classifier.load_state_dict(mapped)
    rng = np.random.default_rng(1)
    grid = np.ones((224, 224), dtype=np.float32)
    cell = 15
    black = rng.random((15, 15)) < 0.18
    black |= black[::-1, ::-1]  # crosswords are point-symmetric
    for i, j in zip(*np.nonzero(black), strict=True):
        grid[i * cell : (i + 1) * cell, j * cell : (j + 1) * cell] = 0
    grid[: 15 * cell + 1 : cell, : 15 * cell] = 0
    grid[: 15 * cell, : 15 * cell + 1 : cell] = 0
    image = torch.from_numpy(np.stack([grid] * 3))[None]
    mean, std = normalization(ModelSpec())
    probs = _logits(
        classifier, (image - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    ).softmax(-1)
    assert probs.argmax().item() == 918  # ImageNet "crossword puzzle"
    assert probs.max().item() > 0.5


def test_map_by_position_names_tensors_that_do_not_line_up():
    source = {"a.weight": torch.zeros(3, 3), "b.weight": torch.zeros(4)}
    target = {"x.weight": torch.zeros(3, 3), "y.weight": torch.zeros(5)}
    with pytest.raises(ValueError, match=r"b\.weight \(4,\) would go to y\.weight \(5,\)"):
        model_weights.map_by_position(source, target)


def test_imagenet_without_network_fails_fast_with_advice(monkeypatch):
    cache_only = []  # the hub unreachable: only the local cache is tried, no ~25 s of retries
    real = model_weights._cache_only
    monkeypatch.setattr(model_weights, "_cache_only", lambda build: cache_only.append(1) or real(build))
    try:
        model = create_model(ModelSpec(arch="fpn", encoder="resnet18", weights="imagenet"))
    except RuntimeError as error:
        assert cache_only == [1]
        message = str(error)
        assert "ImageNet weights for encoder resnet18 could not be downloaded" in message
        assert "imagenet-offline" in message and "--weights none" in message
    else:  # only possible with a network or a warm cache: then the weights must really be there
        assert count_parameters(model) > 0
        pytest.skip("ImageNet weights were available (network or cache present)")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("prefix", ["", "encoder.", "model.encoder."])
def test_encoder_weights_round_trip_through_files(tmp_path, suffix, prefix):
    from safetensors.torch import save_file

    source = create_model(ModelSpec(arch="fpn", encoder=LITE0, weights="none"))
    state = {f"{prefix}{k}": v.clone().contiguous() for k, v in source.model.encoder.state_dict().items()}
    path = tmp_path / f"encoder{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)

    target = create_model(ModelSpec(arch="deeplabv3plus", encoder=LITE0, weights=str(path)))
    for key, tensor in source.model.encoder.state_dict().items():
        assert torch.equal(target.model.encoder.state_dict()[key], tensor), key


def test_weight_file_errors_name_the_file_and_the_offending_keys(tmp_path):
    resnet_file = tmp_path / "resnet18_encoder.pth"
    torch.save(
        create_model(ModelSpec(arch="fpn", encoder="resnet18", weights="none")).model.encoder.state_dict(),
        resnet_file,
    )
    with pytest.raises(
        ValueError, match=r"resnet18_encoder\.pth does not fit this encoder: missing keys"
    ) as caught:
        create_model(ModelSpec(arch="fpn", encoder=LITE0, weights=str(resnet_file)))
    assert "model.conv_stem.weight" in str(caught.value) and "unexpected keys" in str(caught.value)

    lite0 = create_model(ModelSpec(arch="fpn", encoder=LITE0, weights="none")).model.encoder.state_dict()
    lite0["model.conv_stem.weight"] = torch.zeros(8, 3, 3, 3)
    torch.save(lite0, tmp_path / "wrong_shape.pt")
    with pytest.raises(ValueError, match=r"shape mismatches \(1\): model\.conv_stem\.weight \(8, 3, 3, 3\)"):
        create_model(ModelSpec(arch="fpn", encoder=LITE0, weights=str(tmp_path / "wrong_shape.pt")))

    with pytest.raises(ValueError, match=r"missing\.pth does not exist"):
        create_model(ModelSpec(arch="fpn", encoder=LITE0, weights=str(tmp_path / "missing.pth")))
    (tmp_path / "garbage.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ValueError, match=r"Could not read weights file .*garbage\.safetensors"):
        create_model(ModelSpec(arch="fpn", encoder=LITE0, weights=str(tmp_path / "garbage.safetensors")))


def test_load_weights_false_reads_no_weights(monkeypatch, tmp_path):
    def forbidden(*args, **kwargs):
        raise AssertionError("weights were read")

    for name in ("read_state_file", "load_lite0_package_state", "build_with_hub_weights", "_hub_reachable"):
        monkeypatch.setattr(model_weights, name, forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    for weights in ("imagenet-offline", "imagenet", str(tmp_path / "gone.pth")):
        model = create_model(ModelSpec(arch="fpn", encoder=LITE0, weights=weights), load_weights=False)
        assert isinstance(model, PadToMultiple)
    with pytest.raises(AssertionError, match="weights were read"):  # the patch really is in the path
        create_model(ModelSpec(arch="fpn", encoder=LITE0, weights="imagenet-offline"))


# --------------------------------------------------------------------------- spec


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"arch": "deeplab"}, "Unknown architecture 'deeplab'; choose one of unet, smp-unet"),
        ({"encoder": "resnet9"}, "Unknown encoder 'resnet9'; choose one of tu-efficientnet_lite0, resnet18"),
        (
            {"weights": "imagenet21k"},
            "Unknown weights 'imagenet21k'; choose one of none, imagenet, imagenet-offline",
        ),
        ({"encoder": "resnet18"}, "'imagenet-offline' exist only for encoder 'tu-efficientnet_lite0'"),
        ({"arch": "unet"}, "use weights 'none'"),
        ({"num_classes": 0}, "num_classes must be an integer >= 1, got 0"),
        ({"unet_base_width": 2.5}, "unet_base_width must be an integer"),
    ],
)
def test_bad_specs_name_the_value_and_the_choices(fields, expected):
    with pytest.raises(ValueError, match=expected.replace("(", r"\(")):
        ModelSpec(**fields)


def test_unsupported_architecture_encoder_pair_is_a_value_error():
    with pytest.raises(ValueError, match="'unetplusplus' cannot use encoder 'mit_b0'"):
        create_model(ModelSpec(arch="unetplusplus", encoder="mit_b0", weights="none"))


def test_spec_canonicalises_names():
    spec = ModelSpec(arch=" DeepLabV3Plus ", weights="NONE")
    assert (spec.arch, spec.weights) == ("deeplabv3plus", "none")
    assert ModelSpec(arch="unet", encoder="resnet50", weights="none").encoder == "none"
    assert ModelSpec(weights="weights/Encoder.PTH").weights == "weights/Encoder.PTH"  # paths keep case
    assert WEIGHT_CHOICES == ("none", "imagenet", "imagenet-offline")


def test_every_listed_encoder_is_accepted_by_smp():
    encoders = list_encoders()
    assert encoders[0] == LITE0
    assert {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "mobilenet_v2"} <= set(encoders)
    for encoder in encoders:
        assert ModelSpec(encoder=encoder, weights="none").encoder == encoder
    for encoder in ("mobilenet_v2", "tu-mobilenetv3_large_100"):  # two of them actually built
        assert _logits(
            create_model(ModelSpec(arch="fpn", encoder=encoder, weights="none")), torch.rand(1, 3, 32, 32)
        ).shape == (1, 25, 32, 32)


def test_normalization_follows_the_weights():
    half, imagenet = ((0.5,) * 3, (0.5,) * 3), ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert normalization(ModelSpec()) == half  # the TF-Lite port expects [-1, 1] inputs
    assert normalization(ModelSpec(weights="none")) == half
    assert normalization(ModelSpec(arch="unet", weights="none")) == half
    assert normalization(ModelSpec(encoder="resnet18", weights="imagenet")) == imagenet
    assert normalization(ModelSpec(encoder=LITE0, weights="imagenet")) == imagenet  # timm's ra_in1k
    assert normalization(ModelSpec(encoder="tu-tf_efficientnet_lite0", weights="imagenet")) == half
    assert normalization(ModelSpec(encoder="resnet34", weights="enc.pth")) == imagenet


def test_describe_is_one_readable_line():
    assert describe(ModelSpec()) == "FPN · EfficientNet-Lite0 (ImageNet, offline) · 25 classes"
    assert describe(ModelSpec(arch="fpn", encoder="resnet34", weights="/w/enc.pth", num_classes=3)) == (
        "FPN · ResNet-34 (weights from enc.pth) · 3 classes"
    )
    assert describe(ModelSpec(arch="unet", weights="none", unet_base_width=32)) == (
        "U-Net (classic, width 32, random init) · 25 classes"
    )


def test_count_parameters_can_skip_frozen_ones():
    model = create_model(ModelSpec(arch="fpn", encoder=LITE0, weights="none"))
    total = count_parameters(model)
    for parameter in model.model.encoder.parameters():
        parameter.requires_grad_(False)
    encoder = sum(p.numel() for p in model.model.encoder.parameters())
    assert count_parameters(model, trainable_only=True) == total - encoder > 0
