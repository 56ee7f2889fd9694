"""Differentiable reconstruction errors, shared by encoder-side refinement (refine.py) and
training (train/losses.py). Measurements of decoded video are in metrics.py."""

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
