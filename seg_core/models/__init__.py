"""Model factory: the study's classic U-Net and smp architectures, encoders and weights.

    spec = ModelSpec(arch="fpn", encoder="tu-efficientnet_lite0", weights="imagenet-offline")
    model = create_model(spec)            # any input size: (N, 3, H, W) -> (N, 25, H, W)
    mean, std = normalization(spec)       # what to normalise 0..1 pixels with

Checkpoint key layout: `create_model` always returns `PadToMultiple`, which holds no tensors of
its own and registers the network as `.model`, so every state_dict key starts with `model.`
(`model.encoder.…`, `model.decoder.…`, `model.segmentation_head.…` for smp and classic U-Net
alike). Rebuild with `create_model(spec, load_weights=False).load_state_dict(state_dict)`.
"""

from seg_core.models.factory import count_parameters, create_model
from seg_core.models.padding import PadToMultiple
from seg_core.models.spec import (
    ARCHITECTURES,
    WEIGHT_CHOICES,
    ModelSpec,
    describe,
    list_encoders,
    normalization,
)
from seg_core.models.unet import UNet

__all__ = [
    "ARCHITECTURES",
    "WEIGHT_CHOICES",
    "ModelSpec",
    "PadToMultiple",
    "UNet",
    "count_parameters",
    "create_model",
    "describe",
    "list_encoders",
    "normalization",
]
