"""Training pairs: (reference, current) frames of one clip, the reference degraded by the
real key-frame codec at a random QP, as the decoder will receive it."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from .. import intra
from ..errors import InputError
from ..source import Source

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".y4m", ".m4v", ".flv", ".mpg", ".ts"}


def find_clips(root: str | Path) -> list[Path]:
    root = Path(root)
    if root.is_file():
        return [root]
    clips = sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if not clips:
        raise InputError(f"{root}: no video clips found")
    return clips


def load_clips(root: str | Path, size: int, max_frames: int | None = None) -> list[np.ndarray]:
    """Every clip under root as a (T, size, size, 3) uint8 array (clips of < 2 frames dropped)."""
    clips = []
    for path in find_clips(root):
        frames = Source.open(path, size).read(max_frames)
        if len(frames) >= 2:
            clips.append(np.stack(frames))
    if not clips:
        raise InputError(f"{root}: no clip with at least 2 frames")
    return clips


class PairSampler:
    """Random (reference, current) pairs with flips, colour jitter and a degraded reference."""

    def __init__(self, clips: list[np.ndarray], max_distance: int = 250, degrade: float = 0.9,
                 qp_range: tuple[int, int] = (23, 51), seed: int = 0, far: float = 0.0) -> None:
        self.clips, self.max_distance, self.degrade, self.qp_range = clips, max_distance, degrade, qp_range
        self.far = far
        self.weights = np.array([len(c) for c in clips], dtype=np.float64)
        self.weights /= self.weights.sum()
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)

    def pair(self) -> tuple[np.ndarray, np.ndarray]:
        clip = self.clips[int(self.np_rng.choice(len(self.clips), p=self.weights))]
        t = len(clip)
        i = self.rng.randrange(t)
        if self.rng.random() < self.far:
            # Any other frame of the clip: with one key frame the decoder meets frames at every
            # distance from it, most of them far (docs/training.md).
            j = (i + self.rng.randrange(1, t)) % t
        else:
            # Distances spread from neighbours to far apart (log-uniform), either direction.
            d = int(round(np.exp(self.rng.uniform(0, np.log(min(self.max_distance, t - 1) + 1))))) - 1
            d, sign = max(d, 1), self.rng.choice((-1, 1))  # d <= t - 1 already
            if not 0 <= i + sign * d < t:
                sign = -sign  # the other way, so a pair near an end keeps its distance
            j = min(t - 1, max(0, i + sign * d))
        ref, cur = clip[i], clip[j]
        if self.rng.random() < self.degrade:
            qp = self.rng.randint(*self.qp_range)
            ref = intra.decode(intra.encode(ref, intra.IntraCodec.HEVC, qp), intra.IntraCodec.HEVC)
        return ref, cur

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        refs, curs = [], []
        for _ in range(size):
            ref, cur = self.pair()
            refs.append(ref)
            curs.append(cur)
        ref_t = torch.from_numpy(np.stack(refs)).permute(0, 3, 1, 2).float() / 255
        cur_t = torch.from_numpy(np.stack(curs)).permute(0, 3, 1, 2).float() / 255
        flip = torch.rand(size) < 0.5
        ref_t[flip], cur_t[flip] = ref_t[flip].flip(-1), cur_t[flip].flip(-1)
        # The same small colour jitter for both frames of a pair (brightness, contrast, tint).
        gain = 1 + 0.1 * (torch.rand(size, 1, 1, 1) - 0.5) * 2
        tint = 0.03 * (torch.rand(size, 3, 1, 1) - 0.5) * 2
        ref_t = (ref_t * gain + tint).clamp(0, 1)
        cur_t = (cur_t * gain + tint).clamp(0, 1)
        return ref_t, cur_t


class PairStream(torch.utils.data.IterableDataset):
    """Endless batches of pairs, for a DataLoader with worker processes: the key-frame codec
    that degrades each reference runs on the CPU, and one process cannot keep a GPU busy.
    Each worker draws from its own seed. Workers start from a fork server (pair_batches), so
    each holds its own copy of the clips."""

    def __init__(self, clips: list[np.ndarray], batch: int, seed: int, far: float = 0.0) -> None:
        super().__init__()
        self.clips, self.batch_size, self.seed, self.far = clips, batch, seed, far

    def __iter__(self):
        info = torch.utils.data.get_worker_info()  # None when iterated in this process
        seed = self.seed if info is None else self.seed + 7919 * (info.id + 1)
        sampler = PairSampler(self.clips, seed=seed, far=self.far)
        while True:
            yield sampler.batch(self.batch_size)


def pair_batches(clips: list[np.ndarray], batch: int, seed: int, workers: int, pin: bool = False,
                 far: float = 0.0):
    """An endless iterator of (reference, current) batches: in this process when workers is 0,
    else from ``workers`` processes. ``far``: the share of pairs drawn at any distance."""
    stream = PairStream(clips, batch, seed, far)
    if workers <= 0:
        return iter(stream)
    # Workers are forked from a fork server, not from this process: a worker forked from a
    # process that has scaled pictures inherits FFmpeg's swscale context with its slice
    # threads gone, and hangs freeing them at its first picture (seen: the key-frame coder's
    # reformat stuck in avpriv_slicethread_free). The clips are copied to each worker.
    return iter(torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers,
                                            pin_memory=pin, prefetch_factor=4,
                                            persistent_workers=True,
                                            multiprocessing_context="forkserver"))
