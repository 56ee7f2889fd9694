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
        self.bound = cfg.token_bound
        # Variance-preserving initialisation: with PyTorch's default one every layer shrinks
        # the input-dependent part of the signal, and after the 11 layers of the small preset
        # the token varied by 1e-7 between unrelated pictures: a constant that the decoder
        # could only learn to ignore (and training never revived it).
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, a=0.2, nonlinearity="leaky_relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(act(self.stem(x * 2 - 1)))  # (B, C, 4, 4)
        h = act(self.to_vector(h)).flatten(1)  # (B, width)
        token = self.out(self.mlp(h))  # (B, token_dim)
        if self.bound:
            token = self.bound * torch.tanh(token / self.bound)
        return token
