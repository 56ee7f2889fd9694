"""Quality metrics on RGB frames in [0, 1], from maintained implementations."""

from __future__ import annotations

import numpy as np
import torch
from pytorch_msssim import ms_ssim, ssim
from skimage.metrics import peak_signal_noise_ratio


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """PSNR in dB of one uint8 (H, W, 3) frame (scikit-image), capped at 100 dB."""
    if np.array_equal(reference, test):
        return 100.0
    return float(peak_signal_noise_ratio(reference, test, data_range=255))


def msssim(reference: np.ndarray, test: np.ndarray) -> float:
    """MS-SSIM of one uint8 (H, W, 3) frame pair (pytorch-msssim, RGB in [0, 1]).

    The standard 11-tap window needs sides over 160 pixels; smaller frames use the largest odd
    window that fits the 5 scales, and frames of 32 pixels or less single-scale SSIM.
    """
    a = torch.from_numpy(reference).permute(2, 0, 1)[None].double() / 255
    b = torch.from_numpy(test).permute(2, 0, 1)[None].double() / 255
    side = min(reference.shape[:2])
    win = 11
    while win > 3 and side <= (win - 1) * 16:
        win -= 2
    if side <= (win - 1) * 16:
        return float(ssim(a, b, data_range=1.0, size_average=True, win_size=min(7, side | 1)))
    return float(ms_ssim(a, b, data_range=1.0, size_average=True, win_size=win))


def clip_quality(reference: list[np.ndarray], test: list[np.ndarray]) -> dict:
    """Mean per-frame PSNR and MS-SSIM of two equally long frame lists."""
    if len(reference) != len(test):
        raise ValueError(f"{len(reference)} reference frames but {len(test)} test frames")
    return {
        "psnr": float(np.mean([psnr(r, t) for r, t in zip(reference, test)])),
        "msssim": float(np.mean([msssim(r, t) for r, t in zip(reference, test)])),
    }
