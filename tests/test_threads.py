"""--threads (issue 40): one count for torch, OpenCV and FFmpeg's codecs (device.use_threads),
a default that does not oversubscribe the machine, .imf bytes that do not depend on it, and a
bad value that is one line."""

from __future__ import annotations

import cv2
import pytest
import torch
from click.testing import CliRunner

from imfcodec import device
from imfcodec.cli import main

from .conftest import synthetic_frames, write_clip


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(autouse=True)
def threads_restored():
    """The process's thread settings as they were before each test (--threads sets them)."""
    before = torch.get_num_threads(), cv2.getNumThreads(), device._threads
    yield
    torch.set_num_threads(before[0])
    cv2.setNumThreads(before[1])
    device._threads = before[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("threads")
    clip = write_clip(folder / "clip.mp4", synthetic_frames(12, 80, 64, seed=2))
    assert run("encode", clip, folder / "clip.imf", "--quiet", "--threads", "1").exit_code == 0
    return {"clip": clip, "imf": folder / "clip.imf", "folder": folder}


@pytest.mark.parametrize("extra", [
    [],  # the picture at its own size (the model in a region), one key frame in the middle
    ["--size", "64x64", "--adaptive", "--refine", "2", "--references", "2"],  # closed loop
])
def test_encoded_bytes_do_not_depend_on_threads(files, tmp_path, extra):
    coded = {}
    for n in (1, 3):
        out = tmp_path / f"t{n}.imf"
        r = run("encode", files["clip"], out, "--quiet", "--threads", n, *extra)
        assert r.exit_code == 0, r.output
        assert torch.get_num_threads() == n and device.threads() == n
        coded[n] = out.read_bytes()
    assert coded[1] == coded[3]


def test_every_command_takes_threads(files, tmp_path):
    portrait = files["folder"] / "portrait.png"
    import av

    av.VideoFrame.from_ndarray(synthetic_frames(1, 64, 64, seed=4)[0],
                               format="rgb24").to_image().save(portrait)
    commands = {
        "encode": ["encode", files["clip"], tmp_path / "a.imf", "--quiet"],
        "decode": ["decode", files["imf"], tmp_path / "a.mkv", "--quiet"],
        "animate": ["animate", portrait, files["clip"], tmp_path / "b.mkv", "--quiet"],
        "bench": ["bench", files["clip"], "--out", tmp_path / "bench", "--codecs", "static",
                  "--frames", "4", "--json"],
    }
    for n, (name, args) in enumerate(commands.items(), start=1):
        r = run(*args, "--threads", n)
        assert r.exit_code == 0, (name, r.output)
        assert torch.get_num_threads() == n == device.threads() == cv2.getNumThreads(), name
        assert "--threads N" in run(name, "--help").output


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_thread_count_is_one_line(files, tmp_path, value):
    for args in (["encode", files["clip"], tmp_path / "x.imf"],
                 ["decode", files["imf"], tmp_path / "x.mkv"],
                 ["animate", files["clip"], files["clip"], tmp_path / "y.mkv"],
                 ["bench", files["clip"], "--out", tmp_path / "b"]):
        r = run(*args, "--threads", value)
        lines = r.output.strip().splitlines()
        assert r.exit_code == 2 and lines == [f"error: --threads {value}: give a whole number "
                                              f"of threads, 1 or more"], r.output
    assert not any(tmp_path.iterdir())  # refused before any work


def test_the_default_leaves_room_on_small_and_large_machines(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    for cores, expected in ((1, 1), (2, 2), (4, 4), (16, 8), (64, device.MAX_DEFAULT_THREADS)):
        monkeypatch.setattr(device, "cpu_cores", lambda cores=cores: cores)
        assert device.default_threads() == expected
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # what the user set for OpenMP is kept
    assert device.default_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")  # not a number: ignored
    assert device.default_threads() == device.MAX_DEFAULT_THREADS


def test_openmp_workers_wait_passively_unless_the_user_chose():
    """Set on import, before torch loads OpenMP (a spinning worker stalls a busy machine)."""
    import os
    import subprocess
    import sys

    code = "import imfcodec, os; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "PASSIVE"
    out = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
                         capture_output=True, text=True)
    assert out.stdout.strip() == "ACTIVE"


def test_ffmpeg_codecs_take_the_count(tmp_path):
    from fractions import Fraction

    from imfcodec.io.writer import FrameWriter

    device.use_threads(3)
    with FrameWriter(tmp_path / "x.mp4", ".mp4", Fraction(25), (64, 64)) as writer:
        assert writer.stream.thread_count == 3
