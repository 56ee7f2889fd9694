"""E_T: the latent token encoder, a frame to one vector of token_dim numbers."""

from __future__ import annotations

import torch
from torch import nn

from .config import IMFConfig
from .layers import ResBlock, act


class TokenEncoder(nn.Module):
    """Conv stem, halving residual blocks down to 4x4, a 4x4 valid conv, an MLP to the token."""

    def __init__(self, cfg: IMFConfig) -> None:
        super().__init__()
        chans = cfg.token_enc_channels
        self.stem = nn.Conv2d(3, chans[0], 3, padding=1)
        self.blocks = nn.Sequential(
            *[ResBlock(cin, cout, "down") for cin, cout in zip((chans[0],) + chans[:-1], chans)]
        )
        self.to_vector = nn.Conv2d(chans[-1], cfg.token_mlp_width, 4)  # 4x4 -> 1x1
        layers: list[nn.Module] = []
        for _ in range(cfg.token_mlp_layers):
            layers += [nn.Linear(cfg.token_mlp_width, cfg.token_mlp_width), nn.LeakyReLU(0.2)]
        self.mlp = nn.Sequential(*layers)
        self.out = nn.Linear(cfg.token_mlp_width, cfg.token_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(act(self.stem(x * 2 - 1)))  # (B, C, 4, 4)
        h = act(self.to_vector(h)).flatten(1)  # (B, width)
        return self.out(self.mlp(h))  # (B, token_dim)
