"""IMF_D: the latent token decoder, a StyleGAN2-style generator of motion features."""

from __future__ import annotations

import torch
from torch import nn

from .config import IMFConfig
from .layers import StyledConv


class TokenDecoder(nn.Module):
    """A learned constant at image/64, then per scale: upsample + two modulated convs.

    The token is the style of every modulated conv. No noise injection.
    """

    def __init__(self, cfg: IMFConfig) -> None:
        super().__init__()
        size = cfg.image_size // 64
        self.const = nn.Parameter(torch.randn(1, cfg.motion_const, size, size))
        coarse_to_fine = tuple(reversed(cfg.motion_channels))
        self.levels = nn.ModuleList()
        cin = cfg.motion_const
        for cout in coarse_to_fine:
            self.levels.append(
                nn.ModuleList(
                    [
                        StyledConv(cin, cout, cfg.token_dim, upsample=True),
                        StyledConv(cout, cout, cfg.token_dim),
                    ]
                )
            )
            cin = cout

    def forward(self, token: torch.Tensor) -> list[torch.Tensor]:
        """Returns motion features fine to coarse: image/4, /8, /16, /32."""
        h = self.const.expand(token.shape[0], -1, -1, -1)
        outs = []
        for up, conv in self.levels:
            h = conv(up(h, token), token)
            outs.append(h)
        return outs[::-1]
