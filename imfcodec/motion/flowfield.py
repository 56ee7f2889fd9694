"""Dense motion between a frame and its reference: OpenCV's DIS optical flow, its area average
on a coarse grid, and the backward warp that rebuilds a frame from the reference.

Convention: a flow f of frame c against reference r is the displacement, in pixels, from each
pixel x of c to where that content sits in r, so c(x) ~ r(x + f(x)) (DIS run with c first).
Flows are (B, 2, H, W) with channel 0 horizontal; on a G x G grid each value is the mean of
its (H/G) x (W/G) block, and the grid's values sit at the blocks' centres.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import torch
import torch.nn.functional as F

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
_local = threading.local()  # a DIS object holds state: one per thread and preset


def _dis(preset: str) -> cv2.DISOpticalFlow:
    cache = _local.__dict__.setdefault("dis", {})
    if preset not in cache:
        cache[preset] = cv2.DISOpticalFlow_create(PRESETS[preset])
    return cache[preset]


def gray(picture: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 luma, as DIS takes it."""
    return cv2.cvtColor(np.ascontiguousarray(picture), cv2.COLOR_RGB2GRAY)


def estimate(frames: list[np.ndarray], reference_gray: np.ndarray, preset: str = "medium") -> np.ndarray:
    """Flows of (H, W, 3) uint8 frames against the reference's luma -> (B, 2, H, W) float32."""
    dis = _dis(preset)
    flows = [dis.calc(gray(f), reference_gray, None) for f in frames]
    return np.stack(flows).transpose(0, 3, 1, 2).astype(np.float32)


def between(luma: np.ndarray, other_luma: np.ndarray, preset: str = "medium") -> np.ndarray:
    """The flow of one picture against another, both (H, W) uint8 luma -> (1, 2, H, W)."""
    return _dis(preset).calc(luma, other_luma, None).transpose(2, 0, 1)[None].astype(np.float32)


def compose(flow: torch.Tensor, then: torch.Tensor) -> torch.Tensor:
    """Flows (B, 2, H, W) into a picture r, and ``then`` (1, 2, H, W) of r into another:
    the flows into that other picture (c(x) ~ r(x + f(x)) ~ o(x + f(x) + g(x + f(x))))."""
    return flow + warp(then, flow)


def to_grid(flows: np.ndarray, grid: int) -> np.ndarray:
    """(B, 2, H, W) flows -> (B, 2, G, G): the mean of each block (H and W multiples of G)."""
    b, c, h, w = flows.shape
    if h % grid or w % grid:
        raise ValueError(f"a {w}x{h} flow does not split into a {grid}x{grid} grid")
    return flows.reshape(b, c, grid, h // grid, grid, w // grid).mean(axis=(3, 5), dtype=np.float64).astype(np.float32)


def upsample(coarse: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 2, G, G) grid flows -> (B, 2, size, size), bicubic between block centres."""
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: out(x) = image(x + flow(x)), bilinear, edges repeated.
    image (B or 1, C, H, W); flow (B, 2, H, W) in pixels."""
    b, _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=flow.dtype, device=flow.device),
                            torch.arange(w, dtype=flow.dtype, device=flow.device), indexing="ij")
    # pixel centres -> [-1, 1] with align_corners=False: (x + 0.5) * 2 / w - 1
    gx = (xs + flow[:, 0] + 0.5) * (2.0 / w) - 1.0
    gy = (ys + flow[:, 1] + 0.5) * (2.0 / h) - 1.0
    source = image.expand(b, -1, -1, -1) if image.shape[0] == 1 else image
    return F.grid_sample(source, torch.stack([gx, gy], dim=-1), mode="bilinear",
                         padding_mode="border", align_corners=False)
