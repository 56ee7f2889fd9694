"""Training losses: reconstruction (L1, perceptual substitute), rate, hinge GAN."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim, ssim


def multiscale_l1(x: torch.Tensor, y: torch.Tensor, scales: int = 3,
                  per_sample: bool = False) -> torch.Tensor:
    """Mean absolute error at 1, 1/2, 1/4 size, averaged (per sample: shape (B,))."""
    total = 0.0
    for i in range(scales):
        if i:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        error = (x - y).abs()
        total = total + (error.flatten(1).mean(1) if per_sample else error.mean())
    return total / scales


def structural(x: torch.Tensor, y: torch.Tensor, per_sample: bool = False) -> torch.Tensor:
    """1 - MS-SSIM (SSIM for frames under 161 pixels, where MS-SSIM's 5 scales do not fit)."""
    average = not per_sample
    if min(x.shape[-2:]) > 160:
        return 1 - ms_ssim(x, y, data_range=1.0, size_average=average)
    return 1 - ssim(x, y, data_range=1.0, size_average=average, win_size=7)


def perceptual_substitute(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Without VGG-19 weights: 1 - MS-SSIM plus multi-scale L1 (docs/training.md)."""
    return structural(x, y) + multiscale_l1(x, y)


def rate_proxy(t_cur: torch.Tensor, t_ref: torch.Tensor, scale: torch.Tensor, step: torch.Tensor):
    """Bits-like cost of the token: log2(1 + |t_cur - t_ref| / unit) per dimension, where unit is
    the quantiser step; tokens that stay close to the reference's code cheaply."""
    unit = (step[:, None] * scale[None]).clamp_min(1e-6)
    return torch.log2(1 + (t_cur - t_ref).abs() / unit).sum(1).mean()
