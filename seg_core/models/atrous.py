"""Dilated depthwise convolutions computed by space-to-batch, the way TensorFlow's atrous
convolution does it: same numbers, a faster kernel on CPU.

DeepLabV3+ keeps its encoder's last stages at 1/16 of the input by dilating their depthwise
convolutions (EfficientNet-Lite0: four 1152-channel 5x5 and 3x3 convolutions with dilation 2).
oneDNN has no fast kernel for a *dilated* depthwise convolution's backward pass, and those four
layers' backward took about a quarter of a CPU training step's backward. A convolution with dilation d over an
HxW map equals an undilated one over the d*d interleaved sub-grids of size H/d x W/d stacked
into the batch, so when H and W are multiples of d the layer reshuffles, convolves without
dilation and shuffles back (docs/BENCHMARKS.md has the before/after).

`use_space_to_batch(model)` swaps such layers in place for `SpaceToBatchConv2d`, a Conv2d
subclass that keeps the same parameters (state_dict keys and checkpoints unchanged) and falls
back to the ordinary dilated convolution when the map is not a multiple of d, off the CPU, and
when no gradient is needed (oneDNN's dilated forward is fast; only its backward is not).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SpaceToBatchConv2d(nn.Conv2d):
    """A dilated, stride-1, 'same'-padded depthwise Conv2d computed on d*d sub-grids."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.dilation[0]
        n, c, h, w = x.shape
        # Only the backward pass is slow: a forward alone (inference, validation) stays dilated
        # (1024x768 forward 0.51 s dilated vs 0.63 s by sub-grids); cuDNN has its own kernels.
        if h % d or w % d or x.device.type != "cpu" or not torch.is_grad_enabled():
            return super().forward(x)
        channels_last = x.is_contiguous(memory_format=torch.channels_last)
        # (n, c, h, w) -> (n, c, h/d, d, w/d, d) -> (n, d, d, c, h/d, w/d) -> (n*d*d, c, h/d, w/d)
        grids = (
            x.reshape(n, c, h // d, d, w // d, d)
            .permute(0, 3, 5, 1, 2, 4)
            .reshape(n * d * d, c, h // d, w // d)
        )
        if channels_last:
            grids = grids.contiguous(memory_format=torch.channels_last)
        padding = tuple(p // d for p in self.padding)
        out = F.conv2d(grids, self.weight, self.bias, 1, padding, 1, self.groups)
        out = out.reshape(n, d, d, c, h // d, w // d).permute(0, 3, 4, 1, 5, 2).reshape(n, c, h, w)
        return out.contiguous(memory_format=torch.channels_last) if channels_last else out


# Only the encoders' small dilations (2, 4) were measured; ASPP's 12/24/36 on a 32x32 map would
# become hundreds of 2x2 sub-grids, a shape nobody has timed.
MAX_DILATION = 4


def _qualifies(conv: nn.Module) -> bool:
    if type(conv) is not nn.Conv2d:  # subclasses (timm's same-padding convs) pad differently
        return False
    d = conv.dilation
    return (
        MAX_DILATION >= d[0] == d[1] > 1
        and conv.stride == (1, 1)
        and conv.groups == conv.in_channels == conv.out_channels
        and conv.padding_mode == "zeros"
        and isinstance(conv.padding, tuple)
        and all(
            p == d[0] * (k - 1) // 2 and p % d[0] == 0
            for p, k in zip(conv.padding, conv.kernel_size, strict=True)
        )
    )


def use_space_to_batch(model: nn.Module) -> int:
    """Swap every qualifying dilated depthwise Conv2d for `SpaceToBatchConv2d`, in place.

    Returns:
        How many layers were swapped.
    """
    swapped = 0
    for module in model.modules():
        if _qualifies(module):
            module.__class__ = SpaceToBatchConv2d  # same object, parameters and hooks
            swapped += 1
    return swapped
