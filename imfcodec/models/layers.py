"""Small building blocks shared by the IMF modules."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class ResBlock(nn.Module):
    """Residual block of two 3x3 convs that halves (``down``) or doubles (``up``) the size:
    average pooling after the convs, or bilinear upsampling before them."""

    def __init__(self, cin: int, cout: int, resample: str) -> None:
        super().__init__()
        if resample not in ("down", "up"):
            raise ValueError(f"resample must be 'down' or 'up', got {resample!r}")
        self.down = resample == "down"
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:
            y = F.avg_pool2d(act(self.conv2(act(self.conv1(x)))), 2)
            return (y + self.skip(F.avg_pool2d(x, 2))) / math.sqrt(2)
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return (act(self.conv2(act(self.conv1(x)))) + self.skip(x)) / math.sqrt(2)


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution: the style scales input channels, then demodulation."""

    def __init__(self, cin: int, cout: int, style_dim: int, kernel: int = 3) -> None:
        super().__init__()
        self.cin, self.cout, self.kernel = cin, cout, kernel
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.scale = 1.0 / math.sqrt(cin * kernel * kernel)
        # The style starts at 1 (bias) plus a token-dependent part from the first step: a
        # zero-initialised token path left the decoder nothing to learn the token's use from.
        self.style = nn.Linear(style_dim, cin)
        nn.init.normal_(self.style.weight, std=1.0 / math.sqrt(style_dim))
        nn.init.ones_(self.style.bias)
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        s = self.style(style)  # (B, Cin)
        weight = self.scale * self.weight[None] * s[:, None, :, None, None]  # (B, Cout, Cin, k, k)
        demod = torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4)) + 1e-8)  # (B, Cout)
        weight = weight * demod[:, :, None, None, None]
        weight = weight.reshape(b * self.cout, self.cin, self.kernel, self.kernel)
        out = F.conv2d(x.reshape(1, b * self.cin, h, w), weight, padding=self.kernel // 2, groups=b)
        return out.reshape(b, self.cout, h, w) + self.bias[None, :, None, None]


class StyledConv(nn.Module):
    """Optional 2x upsampling, a modulated conv and an activation (no noise injection)."""

    def __init__(self, cin: int, cout: int, style_dim: int, upsample: bool = False) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv = ModulatedConv2d(cin, cout, style_dim)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return act(self.conv(x, style))
