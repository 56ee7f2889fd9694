"""The flow model's correction network: what a smooth, coarse warp of the key frame cannot
show (motion finer than the grid, the interior of mouth and eyes, revealed background, the
blur of bilinear resampling), added to the warped key frame as a residual.

Inputs: the warped key frame, the key frame itself and the dense flow. A small encoder-decoder
(1/2 and 1/4 size, residual blocks at 1/4) whose last convolution starts at zero, so an
untrained network returns the warped key frame exactly, and training starts at the warp's
quality and only improves from there. About 0.4 GFLOP a 256x256 frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

FLOW_UNIT = 16.0  # pixels: the flow input is divided by this (motions are tens of pixels)


@dataclass(frozen=True)
class RefinerConfig:
    width: int = 16  # channels at 1/2 size; 2x at 1/4 size
    blocks: int = 2  # residual blocks at 1/4 size

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class _Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(channels, channels, 3, padding=1)
        self.b = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(F.leaky_relu(self.a(x), 0.2))


class WarpRefiner(nn.Module):
    """No convolution runs at full size (slow on a CPU for few channels): the input is folded
    to half size (pixel unshuffle) and the output unfolded from it (pixel shuffle)."""

    def __init__(self, cfg: RefinerConfig = RefinerConfig()) -> None:
        super().__init__()
        w = cfg.width
        self.cfg = cfg
        self.to_half = nn.Conv2d(8 * 4, w, 3, padding=1)
        self.to_quarter = nn.Conv2d(w, 2 * w, 3, stride=2, padding=1)
        self.blocks = nn.Sequential(*[_Block(2 * w) for _ in range(cfg.blocks)])
        self.up = nn.Conv2d(3 * w, w, 3, padding=1)
        self.out = nn.Conv2d(w, 3 * 4, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, warped: torch.Tensor, reference: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) warped key frame in [0, 1], (1 or B, 3, H, W) key frame, (B, 2, H, W)
        flow in pixels -> (B, 3, H, W) corrected frame (not clamped)."""
        ref = reference.expand(len(warped), -1, -1, -1)
        x = F.pixel_unshuffle(torch.cat([warped * 2 - 1, ref * 2 - 1, flow / FLOW_UNIT], 1), 2)
        half = F.leaky_relu(self.to_half(x), 0.2)
        quarter = self.blocks(F.leaky_relu(self.to_quarter(half), 0.2))
        up = F.interpolate(quarter, scale_factor=2.0, mode="bilinear", align_corners=False)
        up = F.leaky_relu(self.up(torch.cat([up, half], 1)), 0.2)
        return warped + F.pixel_shuffle(self.out(up), 2)
