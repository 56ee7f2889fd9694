"""Shared fixtures: tiny synthetic clips written with PyAV and a tiny model file."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from imfcodec.models import IMF, preset
from imfcodec.models import weights


def synthetic_frames(n: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    """A smooth colour gradient with a bright disc that moves across it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / width, yy / height, 0.5 + 0.0 * xx], -1) * 200 + 20
    frames = []
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    for t in range(n):
        x0 = cx + 0.25 * width * np.sin(t / 4)
        y0 = cy + 0.15 * height * np.cos(t / 5)
        disc = ((xx - x0) ** 2 + (yy - y0) ** 2) < (0.15 * min(width, height)) ** 2
        frame = base.copy()
        frame[disc] = [240, 200, 60]
        frames.append(frame.clip(0, 255).astype(np.uint8))
    return frames


def write_clip(path: Path, frames: list[np.ndarray], fps: Fraction = Fraction(10)) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "12"}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """12 frames, 80x64, 10 fps."""
    folder = tmp_path_factory.mktemp("clips")
    return write_clip(folder / "synthetic.mp4", synthetic_frames(12, 80, 64))


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = IMF(preset("tiny"))
    with torch.no_grad():
        model.token_scale.fill_(0.05)
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    weights.save(model, path, "tiny-test")
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path):
    """The tiny model as a motion model (imfcodec.motion)."""
    from imfcodec import motion

    return motion.load(tiny_model_path)


@pytest.fixture(scope="session")
def tiny_codec(tiny_model):
    from imfcodec.codec import Codec

    return Codec(tiny_model)
