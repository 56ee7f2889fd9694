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


def mse(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean squared error per sample of two uint8 frames, on the 0..255 scale."""
    return float(np.mean((reference.astype(np.float32) - test.astype(np.float32)) ** 2))


def _window(side: int) -> int:
    """The 11-tap MS-SSIM window needs sides over 160 pixels; smaller frames get the largest odd
    window that fits MS-SSIM's 5 scales (0 when none does: single-scale SSIM is used)."""
    win = 11
    while win > 3 and side <= (win - 1) * 16:
        win -= 2
    return win if side > (win - 1) * 16 else 0


def msssim_frames(reference: list[np.ndarray], test: list[np.ndarray], batch: int = 32) -> np.ndarray:
    """Per-frame MS-SSIM of uint8 (H, W, 3) frames (pytorch-msssim, RGB in [0, 1]), in batches."""
    side = min(reference[0].shape[:2])
    win = _window(side)
    out = []
    for i in range(0, len(reference), batch):
        # Channels-last memory: the library's depthwise Gaussian filters run about twice as
        # fast on CPU than on the planar layout (values agree to 1e-7).
        a, b = (torch.from_numpy(np.stack(x[i : i + batch])).permute(0, 3, 1, 2).float()
                .div(255).contiguous(memory_format=torch.channels_last) for x in (reference, test))
        if win:
            values = ms_ssim(a, b, data_range=1.0, size_average=False, win_size=win)
        else:
            values = ssim(a, b, data_range=1.0, size_average=False, win_size=min(7, side | 1))
        out.append(values.double().numpy())
    return np.concatenate(out)


def msssim(reference: np.ndarray, test: np.ndarray) -> float:
    """MS-SSIM of one frame pair (see msssim_frames)."""
    return float(msssim_frames([reference], [test])[0])


def clip_quality(reference: list[np.ndarray], test: list[np.ndarray]) -> dict:
    """Mean per-frame PSNR and MS-SSIM of two equally long frame lists."""
    if len(reference) != len(test):
        raise ValueError(f"{len(reference)} reference frames but {len(test)} test frames")
    with torch.inference_mode():
        sims = msssim_frames(reference, test)
    return {
        "psnr": float(np.mean([psnr(r, t) for r, t in zip(reference, test)])),
        "msssim": float(np.mean(sims)),
    }


def frame_to_frame_psnr(frames: list[np.ndarray]) -> float:
    """Mean PSNR between consecutive frames of one video (100 dB for identical pairs): how
    much it changes from frame to frame. A decoded video far below its source's value
    shimmers; far above, it freezes. NaN for a single frame."""
    if len(frames) < 2:
        return float("nan")
    return float(np.mean([psnr(a, b) for a, b in zip(frames[:-1], frames[1:])]))
