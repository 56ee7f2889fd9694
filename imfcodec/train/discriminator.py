"""The training-only discriminator: patch discriminators at two image scales."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    """4x4 stride-2 spectral-norm convs (width, 2w, 4w, 8w), instance norm and LeakyReLU,
    then a 1x1 conv to one score per patch."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for i, cout in enumerate((width, width * 2, width * 4, width * 8)):
            layers.append(spectral_norm(nn.Conv2d(cin, cout, 4, stride=2, padding=1)))
            if i:
                layers.append(nn.InstanceNorm2d(cout, affine=True))
            layers.append(nn.LeakyReLU(0.2))
            cin = cout
        layers.append(spectral_norm(nn.Conv2d(cin, 1, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)


class MultiScaleDiscriminator(nn.Module):
    """The same patch discriminator design at full and half resolution."""

    def __init__(self, width: int = 64, scales: int = 2) -> None:
        super().__init__()
        self.heads = nn.ModuleList(PatchDiscriminator(width) for _ in range(scales))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        scores = []
        for i, head in enumerate(self.heads):
            scores.append(head(x if i == 0 else F.avg_pool2d(x, 2**i)))
        return scores


def hinge_d_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """E[max(0, 1 - D(x))] + E[max(0, 1 + D(x_hat))], averaged over scales."""
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real, fake)) / len(real)


def hinge_g_loss(fake: list[torch.Tensor]) -> torch.Tensor:
    """-E[D(x_hat)], averaged over scales."""
    return -sum(f.mean() for f in fake) / len(fake)
