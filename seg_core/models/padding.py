"""Let any image size through networks that need sides divisible by their output stride.

Encoders halve the resolution five times (output stride 32), so smp models reject, say, a
97x130 crop. Rather than forcing every caller (training crops, tiled inference, the app) to
round sizes, `PadToMultiple` pads the input up to the next multiple and crops the logits back,
so pixel (i, j) of the output always belongs to pixel (i, j) of the input.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def padded_size(size: int, multiple: int, min_size: int = 1) -> int:
    """Smallest multiple of `multiple` that is >= both `size` and `min_size`."""
    return math.ceil(max(size, min_size) / multiple) * multiple


def pad_to_multiple(images: torch.Tensor, multiple: int, min_size: int = 1) -> torch.Tensor:
    """Pad the bottom and right edges of `images` so both sides are multiples of `multiple`.

    Reflection keeps textures continuous across the border (zeros would draw an artificial
    edge the network may react to); it needs the pad to be smaller than the side, so tiny inputs
    padded up to `min_size` fall back to replicating the last row/column.

    Args:
        images: batch to pad.
        multiple: required divisor of height and width.
        min_size: smallest allowed height/width after padding (some decoders pool further).

    Returns:
        The padded batch (the input itself when no padding is needed).

    Shape:
        images: (N, C, H, W) -> (N, C, H', W') with H' = padded_size(H), W' = padded_size(W).
    """
    height, width = images.shape[-2:]
    pad_bottom = padded_size(height, multiple, min_size) - height
    pad_right = padded_size(width, multiple, min_size) - width
    if pad_bottom == 0 and pad_right == 0:
        return images
    mode = "reflect" if pad_bottom < height and pad_right < width else "replicate"
    return F.pad(images, (0, pad_right, 0, pad_bottom), mode=mode)


class PadToMultiple(nn.Module):
    """Wrap a segmentation network so it accepts any input size.

    The wrapper owns no parameters or buffers; the network is registered as `self.model`, so
    state_dict keys are the network's own keys prefixed by `model.` (for smp models e.g.
    `model.encoder.model.conv_stem.weight`, `model.decoder.…`, `model.segmentation_head.…`).
    Every model from `create_model` is wrapped this way, so checkpoints share one key layout.

    Args:
        model: network mapping (N, 3, H, W) -> (N, K, H, W) for H, W divisible by `multiple`.
        multiple: the divisor the network needs (its encoder's output stride).
        min_size: smallest side the network can handle (PAN pools its 1/16 map by 8 more).

    Shape:
        input (N, 3, H, W) of any H, W >= 1 -> logits (N, K, H, W).
    """

    def __init__(self, model: nn.Module, multiple: int, min_size: int = 1) -> None:
        super().__init__()
        if multiple < 1 or min_size < 1:
            raise ValueError(f"multiple and min_size must be >= 1, got {multiple} and {min_size}")
        self.model = model
        self.multiple = multiple
        self.min_size = min_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        logits = self.model(pad_to_multiple(images, self.multiple, self.min_size))
        return logits[..., :height, :width]

    def extra_repr(self) -> str:
        return f"multiple={self.multiple}, min_size={self.min_size}"
