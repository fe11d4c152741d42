"""The classic U-Net (Ronneberger et al., 2015) written from scratch, as in the original study.

Four max-pool steps down and four up-convolutions up, each level a double 3x3 convolution with
BatchNorm and ReLU, skip connections concatenated. Differences from the 2015 paper, and why:
- "same" padding instead of valid convolutions, so the output matches the input size without
  the paper's overlap-tile cropping;
- BatchNorm after every convolution (not in the paper) so it trains from scratch with Adam or
  SGD at ordinary learning rates.
Upsampling is the paper's 2x2 transposed convolution ("up-convolution") rather than bilinear +
conv: it is learnable, halves the channels in the same step, and with kernel = stride = 2 the
output windows do not overlap, so it has none of the checkerboard artefacts transposed
convolutions are known for (those need kernel % stride != 0).
"""

from __future__ import annotations

import torch
from torch import nn

from seg_core.models.padding import pad_to_multiple

DEPTH = 4  # pooling steps; the input must therefore be padded to a multiple of 2**DEPTH


class DoubleConv(nn.Sequential):
    """(3x3 conv -> BatchNorm -> ReLU) x 2; the conv bias is dropped because BatchNorm adds one."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class UNetEncoder(nn.Module):
    """Contracting path; returns the feature map of every level, finest first."""

    def __init__(self, in_channels: int, widths: list[int]) -> None:
        super().__init__()
        self.stem = DoubleConv(in_channels, widths[0])
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), DoubleConv(w_in, w_out))
            for w_in, w_out in zip(widths[:-1], widths[1:], strict=True)
        )

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        features = [self.stem(images)]
        for down in self.downs:
            features.append(down(features[-1]))
        return features


class UpBlock(nn.Module):
    """Up-convolve (halving channels), concatenate the skip, then DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.conv = DoubleConv(out_channels * 2, out_channels)

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(coarse)], dim=1))


class UNet(nn.Module):
    """Classic U-Net with a configurable width.

    Args:
        in_channels: image channels (3 for RGB).
        num_classes: output channels (one logit per class).
        base_width: channels of the first level; level i has base_width * 2**i
            (64 gives the paper's 64..1024 and ~31 M parameters, 32 gives ~7.8 M).

    Shape:
        images (N, in_channels, H, W) of any H, W -> logits (N, num_classes, H, W). Sizes that
        are not multiples of 16 are padded inside `forward` and the logits cropped back.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 25, base_width: int = 64) -> None:
        super().__init__()
        widths = [base_width * 2**level for level in range(DEPTH + 1)]
        self.encoder = UNetEncoder(in_channels, widths)
        self.decoder = nn.ModuleList(
            UpBlock(w_in, w_out) for w_in, w_out in zip(widths[:0:-1], widths[-2::-1], strict=True)
        )
        self.segmentation_head = nn.Conv2d(widths[0], num_classes, kernel_size=1)
        self._init_weights()

    def _init_weights(self) -> None:
        # He init suits ReLU nets trained from scratch (PyTorch's default scales for leaky ReLU
        # with a=sqrt(5) and shrinks activations level after level).
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        features = self.encoder(pad_to_multiple(images, 2**DEPTH))
        decoded = features[-1]
        for block, skip in zip(self.decoder, reversed(features[:-1]), strict=True):
            decoded = block(decoded, skip)
        return self.segmentation_head(decoded)[..., :height, :width]
