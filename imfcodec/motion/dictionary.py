"""A motion dictionary: a mean flow and K principal directions of flows on a G x G grid.

A token is a point in the dictionary: its K coefficients. Coefficients are in pixels, RMS over
the grid: the directions are orthogonal with an RMS value of 1 per grid number, so a change of
c in one coefficient moves the flow by c pixels in RMS, and quantisation errors in every
coefficient cost the same. This is LIA's linear motion decomposition (Wang et al., ICLR 2022)
obtained in closed form (principal components of measured flows) instead of by training.

``build`` gathers DIS flows (flowfield.py) of frame pairs at varied distances from clips,
adds their mirror images, and keeps the K leading principal directions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from . import flowfield


@dataclass(frozen=True)
class MotionDictionary:
    mean: np.ndarray  # (2 G G,) float32: the mean flow on the grid
    basis: np.ndarray  # (K, 2 G G) float32: directions, orthogonal, RMS 1 each
    grid: int
    variance: np.ndarray  # (K,) float32: the training flows' variance along each direction

    @property
    def size(self) -> int:
        return len(self.basis)

    def project(self, coarse: np.ndarray) -> np.ndarray:
        """(B, 2, G, G) grid flows -> (B, K) coefficients (least squares)."""
        x = coarse.reshape(len(coarse), -1).astype(np.float64) - self.mean
        return (x @ self.basis.T.astype(np.float64) / self.basis.shape[1]).astype(np.float32)

    def rebuild(self, coefficients: torch.Tensor) -> torch.Tensor:
        """(B, K) coefficients -> (B, 2, G, G) grid flows (differentiable)."""
        basis = torch.from_numpy(self.basis).to(coefficients)
        mean = torch.from_numpy(self.mean).to(coefficients)
        flat = torch.addmm(mean[None].expand(len(coefficients), -1), coefficients, basis)
        return flat.view(-1, 2, self.grid, self.grid)

    def truncated(self, k: int) -> "MotionDictionary":
        return MotionDictionary(self.mean, self.basis[:k], self.grid, self.variance[:k])


def mirrored(coarse: np.ndarray) -> np.ndarray:
    """Grid flows of the left-right mirrored frame pairs."""
    out = coarse[..., ::-1].copy()
    out[:, 0] *= -1
    return out


def pairs(frame_count: int, per_clip: int, rng: random.Random) -> list[tuple[int, int]]:
    """(current, reference) index pairs: half at random distances across the clip (a key
    frame serves every frame of its run), half within 1..16 frames (motion between neighbours)."""
    if frame_count < 2:
        return []
    out = []
    for i in range(per_clip):
        r = rng.randrange(frame_count)
        if i % 2:
            c = rng.randrange(frame_count)
        else:
            c = min(frame_count - 1, max(0, r + rng.choice((-1, 1)) * rng.randint(1, 16)))
        if c != r:
            out.append((c, r))
    return out


def gather(clips: Iterable[list[np.ndarray]], grid: int, per_clip: int, preset: str = "medium",
           seed: int = 0, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Grid flows of frame pairs from each clip (a list of frames), mirrored too: (N, 2, G, G)."""
    rng = random.Random(seed)
    found = []
    for frames in clips:
        for c, r in pairs(len(frames), per_clip, rng):
            flow = flowfield.estimate([frames[c]], flowfield.gray(frames[r]), preset)
            found.append(flowfield.to_grid(flow, grid))
        if progress:
            progress(1)
    coarse = np.concatenate(found)
    return np.concatenate([coarse, mirrored(coarse)])


def principal(coarse: np.ndarray, k: int) -> MotionDictionary:
    """The mean and the k leading principal directions of grid flows (N, 2, G, G)."""
    grid = coarse.shape[-1]
    x = coarse.reshape(len(coarse), -1).astype(np.float64)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    dims = x.shape[1]
    basis = vt[:k] * np.sqrt(dims)  # RMS 1 per grid number
    variance = (s[:k] ** 2) / len(x) / dims  # per coefficient, in pixels^2
    # a fixed sign per direction (SVD's is arbitrary): the largest entry positive
    signs = np.sign(basis[np.arange(len(basis)), np.abs(basis).argmax(axis=1)])
    basis *= signs[:, None]
    return MotionDictionary(mean.astype(np.float32), basis.astype(np.float32), grid,
                            variance.astype(np.float32))


def read_clips(paths: list[Path], size: int) -> Iterable[list[np.ndarray]]:
    from ..source import Source

    for path in paths:
        yield Source.open(path, size).read()


def total_variance(coarse: np.ndarray) -> float:
    """The grid flows' variance per grid number, summed over all directions (pixels^2)."""
    x = coarse.reshape(len(coarse), -1).astype(np.float64)
    return float(((x - x.mean(axis=0)) ** 2).sum() / len(x) / x.shape[1])
