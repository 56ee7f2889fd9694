"""Training losses: the perceptual substitute and the rate proxy (the reconstruction terms
themselves are in imfcodec/losses.py, shared with refinement)."""

from __future__ import annotations

import torch

from ..losses import multiscale_l1, structural


def perceptual_substitute(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Without VGG-19 weights: 1 - MS-SSIM plus multi-scale L1 (docs/training.md)."""
    return structural(x, y) + multiscale_l1(x, y)


def rate_proxy(t_cur: torch.Tensor, t_ref: torch.Tensor, scale: torch.Tensor, step: torch.Tensor):
    """Bits-like cost of the token: log2(1 + |t_cur - t_ref| / unit) per dimension, where unit is
    the quantiser step; tokens that stay close to the reference's code cheaply."""
    unit = (step[:, None] * scale[None]).clamp_min(1e-6)
    return torch.log2(1 + (t_cur - t_ref).abs() / unit).sum(1).mean()
