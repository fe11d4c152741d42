"""Build the network a `ModelSpec` describes, with its weights, wrapped to accept any size."""

from __future__ import annotations

import warnings

from torch import nn

from seg_core.models import weights as _weights
from seg_core.models.atrous import use_space_to_batch
from seg_core.models.padding import PadToMultiple
from seg_core.models.spec import CLASSIC_UNET, SMP_ARCHITECTURES, ModelSpec
from seg_core.models.unet import DEPTH, UNet

# PAN pools its 1/16 feature map by another 8 (feature pyramid attention), so it needs >= 128 px.
_MIN_SIZE = {"pan": 128}


def _build_smp(spec: ModelSpec, pretrained: bool) -> nn.Module:
    import segmentation_models_pytorch as smp

    # smp wants True for timm-universal ("tu-") encoders and a weights name for its own ones.
    encoder_weights = (True if spec.encoder.startswith("tu-") else "imagenet") if pretrained else None
    with warnings.catch_warnings():
        # smp warns about deprecated aliases and timm about features_only internals; neither
        # is actionable for a user choosing from our lists.
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning, FutureWarning))
        return smp.create_model(
            SMP_ARCHITECTURES[spec.arch],
            encoder_name=spec.encoder,
            encoder_weights=encoder_weights,
            classes=spec.num_classes,
        )


def _build_smp_checked(spec: ModelSpec) -> nn.Module:
    try:
        return _build_smp(spec, pretrained=False)
    except Exception as error:  # smp raises ValueError, KeyError, RuntimeError... for bad combos
        raise ValueError(
            f"Architecture {spec.arch!r} cannot use encoder {spec.encoder!r}: {str(error).splitlines()[0][:200]}"
        ) from error


def create_model(spec: ModelSpec, load_weights: bool = True) -> nn.Module:
    """Build the segmentation network for `spec`.

    Args:
        spec: architecture, encoder, weights and class count.
        load_weights: False builds the same architecture with random init and reads no weights
            (no network, no package, no file): use it when a checkpoint's state_dict follows.

    Returns:
        A `PadToMultiple` whose `.model` is the network (classic `UNet` or an smp model with
        `.encoder`, `.decoder`, `.segmentation_head`); state_dict keys start with `model.`.

    Raises:
        ValueError: the architecture does not support the encoder, or a weights file is missing
            or does not fit the encoder.
        RuntimeError: ImageNet weights could not be downloaded (message says what to use instead).

    Shape:
        (N, 3, H, W) float images normalised with `normalization(spec)`, any H, W ->
        (N, num_classes, H, W) logits.
    """
    if spec.arch == CLASSIC_UNET:
        network: nn.Module = UNet(3, spec.num_classes, spec.unet_base_width)
        multiple = 2**DEPTH
    else:
        network = _build_smp_checked(spec)
        if load_weights and spec.weights == "imagenet":
            network = _weights.build_with_hub_weights(lambda: _build_smp(spec, pretrained=True), spec.encoder)
        # The stride the encoder really reaches (16 for DeepLabV3+, 8 for the dilated
        # DeepLabV3/PSPNet), so inputs are padded no more than the network needs.
        multiple = network.encoder.output_stride
        use_space_to_batch(network)  # dilated depthwise layers: same numbers, faster on CPU
    if load_weights and spec.weights == "imagenet-offline":
        _weights.load_imagenet_offline(network.encoder)
    elif load_weights and spec.weights not in ("none", "imagenet", "imagenet-offline"):
        _weights.load_encoder_file(network.encoder, spec.weights)
    return PadToMultiple(network, multiple, _MIN_SIZE.get(spec.arch, 1))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements in `model` (all, or only those with requires_grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
