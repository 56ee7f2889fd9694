"""Quality metrics on RGB frames, from maintained implementations: PSNR (scikit-image),
MS-SSIM (pytorch-msssim), and VMAF / VMAF-NEG (Netflix's libvmaf, through PyAV's FFmpeg)."""

from __future__ import annotations

import gc
import json
import tempfile
from pathlib import Path

import av
import av.filter
import numpy as np
import torch
from pytorch_msssim import ms_ssim, ssim
from skimage.metrics import peak_signal_noise_ratio

from .device import threads as device_threads


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


# libvmaf's built-in models (no file to download), by the name each score takes in its log:
# the default model, and its "no enhancement gain" twin, which does not reward sharpening or
# contrast boosts a codec adds (the one to quote for a codec that post-processes).
VMAF_MODELS = {"vmaf": "vmaf_v0.6.1", "vmaf_neg": "vmaf_v0.6.1neg"}
# each metric's short name in a report, and how it is printed
NAMES = {"psnr": "PSNR", "msssim": "MS-SSIM", "vmaf": "VMAF", "vmaf_neg": "VMAF-NEG"}


def formatted(value: float, metric: str) -> str:
    """A metric's value as reports print it: MS-SSIM to 4 places, the others to 2."""
    return f"{value:.4f}" if metric == "msssim" else f"{value:.2f}"


def _check_pair(reference: list[np.ndarray], test: list[np.ndarray]) -> None:
    """InputError unless the two lists hold equally many frames, all of one (H, W, 3) size."""
    from .errors import InputError

    if len(reference) != len(test):
        raise InputError(f"{len(reference)} reference frames but {len(test)} test frames")
    if not reference:
        raise InputError("no frames to compare")
    shape = reference[0].shape
    for i, (r, t) in enumerate(zip(reference, test)):
        if r.shape != shape or t.shape != shape or len(shape) != 3 or shape[2] != 3:
            raise InputError(f"frame {i}: reference {r.shape} and test {t.shape} are not both "
                             f"(H, W, 3) frames of {shape}")


def _yuv(frame: np.ndarray, index: int) -> av.VideoFrame:
    """An RGB frame as libvmaf reads it: 8-bit 4:2:0 (the same conversion for both inputs)."""
    out = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24").reformat(format="yuv420p")
    out.pts = index
    return out


class Vmaf:
    """VMAF and VMAF-NEG (VMAF_MODELS) computed by libvmaf in an FFmpeg filter graph, fed one
    pair of frames at a time: two buffer sources (distorted first, reference second, as the
    filter expects) into ``libvmaf``, whose JSON log is read back by ``scores``. Frames go in
    display order: VMAF's motion feature compares each frame with the one before."""

    def __init__(self, width: int, height: int, threads: int | None = None) -> None:
        self.size, self.count = (height, width), 0
        self._folder = tempfile.TemporaryDirectory(prefix="imfcodec-vmaf-")
        self._log = Path(self._folder.name) / "vmaf.json"
        models = "|".join(f"version={version}\\:name={name}" for name, version in VMAF_MODELS.items())
        threads = threads or device_threads()  # (--threads, as every library's)
        path = str(self._log).replace("\\", "/").replace(":", "\\:")  # a filter option's escaping
        self._graph = graph = av.filter.Graph()
        self._main, self._ref = (graph.add_buffer(width=width, height=height, format="yuv420p",
                                                  time_base="1/25") for _ in range(2))
        vmaf = graph.add("libvmaf", f"log_path={path}:log_fmt=json:n_threads={threads}:model={models}")
        self._sink = graph.add("buffersink")
        self._main.link_to(vmaf, 0, 0)
        self._ref.link_to(vmaf, 0, 1)
        vmaf.link_to(self._sink)
        graph.configure()

    def add(self, reference: np.ndarray, test: np.ndarray) -> None:
        """One more pair of uint8 (H, W, 3) RGB frames of the meter's size."""
        if reference.shape[:2] != self.size or test.shape[:2] != self.size:
            from .errors import InputError

            raise InputError(f"frame {self.count}: {reference.shape[1]}x{reference.shape[0]} and "
                             f"{test.shape[1]}x{test.shape[0]}, not both {self.size[1]}x{self.size[0]}")
        self._main.push(_yuv(test, self.count))
        self._ref.push(_yuv(reference, self.count))
        self.count += 1
        self._drain()

    def scores(self) -> dict[str, np.ndarray]:
        """Every frame's score in each model ({"vmaf": [...], "vmaf_neg": [...]}); ends the meter."""
        try:
            self._main.push(None)
            self._ref.push(None)
            self._drain()
            self._free()
            frames = json.loads(self._log.read_text())["frames"] if self.count else []
        finally:
            self.close()
        if len(frames) != self.count:
            raise RuntimeError(f"libvmaf scored {len(frames)} frames of {self.count}")
        return {name: np.array([f["metrics"][name] for f in frames], dtype=np.float64)
                for name in VMAF_MODELS}

    def close(self) -> None:
        """Frees the filter graph, then its log's folder (a meter given up on midway)."""
        self._free()
        self._folder.cleanup()

    def __enter__(self) -> "Vmaf":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _free(self) -> None:
        # libvmaf writes its log when the filter is freed: drop every handle on the graph
        if self._graph is not None:
            self._graph = self._main = self._ref = self._sink = None
            gc.collect()

    def _drain(self) -> None:
        """Takes whatever frames the filter lets through (libvmaf passes the distorted ones)."""
        while True:
            try:
                self._sink.pull()
            except (av.BlockingIOError, av.EOFError):
                return


def vmaf_frames(reference: list[np.ndarray], test: list[np.ndarray],
                threads: int | None = None) -> dict[str, np.ndarray]:
    """Per-frame VMAF and VMAF-NEG of ``test`` against ``reference``, uint8 (H, W, 3) RGB
    frames in display order (Vmaf); InputError on frames that do not pair up."""
    _check_pair(reference, test)
    with Vmaf(reference[0].shape[1], reference[0].shape[0], threads) as meter:
        for r, t in zip(reference, test):
            meter.add(r, t)
        return meter.scores()


def quality_frames(reference: list[np.ndarray], test: list[np.ndarray],
                   vmaf: bool = False) -> dict[str, np.ndarray]:
    """Per-frame PSNR and MS-SSIM, and with ``vmaf`` VMAF and VMAF-NEG, of two equally long
    lists of frames of one size (InputError otherwise)."""
    _check_pair(reference, test)
    with torch.inference_mode():
        sims = msssim_frames(reference, test)
    out = {"psnr": np.array([psnr(r, t) for r, t in zip(reference, test)]), "msssim": sims}
    return out | (vmaf_frames(reference, test) if vmaf else {})


def clip_quality(reference: list[np.ndarray], test: list[np.ndarray], vmaf: bool = False) -> dict:
    """Mean per-frame PSNR and MS-SSIM (and VMAF, VMAF-NEG with ``vmaf``) of two clips."""
    return {k: float(np.mean(v)) for k, v in quality_frames(reference, test, vmaf).items()}


def frame_to_frame_psnr(frames: list[np.ndarray]) -> float:
    """Mean PSNR between consecutive frames of one video (100 dB for identical pairs): how
    much it changes from frame to frame. A decoded video far below its source's value
    shimmers; far above, it freezes. NaN for a single frame."""
    if len(frames) < 2:
        return float("nan")
    return float(np.mean([psnr(a, b) for a, b in zip(frames[:-1], frames[1:])]))
