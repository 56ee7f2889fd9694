"""E_F: the dense feature encoder, the reference frame to features at four scales."""

from __future__ import annotations

import torch
from torch import nn

from .config import IMFConfig
from .layers import ResBlock


class FeatureEncoder(nn.Module):
    """7x7 conv + norm + ReLU, then five halving residual blocks; keeps the last four outputs."""

    def __init__(self, cfg: IMFConfig) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, cfg.feat_stem, 7, padding=3),
            nn.GroupNorm(min(8, cfg.feat_stem), cfg.feat_stem),
            nn.ReLU(),
        )
        chans = (cfg.feat_stem,) + tuple(cfg.feat_channels)
        self.blocks = nn.ModuleList(ResBlock(a, b, "down") for a, b in zip(chans[:-1], chans[1:]))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Returns features fine to coarse: image/4, /8, /16, /32."""
        h = self.stem(x * 2 - 1)
        outs = []
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i >= 1:
                outs.append(h)
        return outs
