"""What is lost or misreported at the edges: devices and pipes as outputs, irregular timing,
rotation, truncated inputs, our own files as input, signals, exit codes, odd paths."""

import contextlib
import errno
import json
import os
import signal
import stat
import subprocess
import sys
import time
from fractions import Fraction

import av
import numpy as np
import pytest
from click.testing import CliRunner

from imfcodec.cli import main
from imfcodec.io.reader import probe, read_frames
from imfcodec.io.timeline import resampling

from .conftest import synthetic_frames, write_clip


def run(*args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def error_line(result, code, message):
    assert result.exit_code == code, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, result.output
    assert "Traceback" not in result.output


def write_timed(path, times_ms, size=64):
    """A clip whose frame i is shown at times_ms[i] (grey level 10 * i)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        s.time_base = Fraction(1, 1000)
        for i, t in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), 10 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


# --- 1. devices and pipes are never replaced -------------------------------------------------


def test_dev_null_is_written_through_and_stays_a_device(clip, tiny_model_path):
    r = run("encode", clip, "/dev/null", "--model", tiny_model_path, "--force", "--quiet")
    assert r.exit_code == 0, r.output
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_fifo_is_not_replaced(tmp_path, clip, tiny_model_path):
    imf = tmp_path / "a.imf"
    assert run("encode", clip, imf, "--model", tiny_model_path, "--quiet").exit_code == 0
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    r = run("decode", imf, fifo, "--model", tiny_model_path, "--force")
    error_line(r, 3, "is a device or a pipe")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.imf", "pipe"]


# --- 2. timing: irregular timestamps keep the timeline ----------------------------------------


def test_resampling_on_numbers():
    assert resampling([i * 0.04 for i in range(10)]) is None  # regular
    times = [0, 0.04, 0.08, 0.12] + [1.0 + 0.16 * i for i in range(16)]  # last at 3.4 s
    plan = resampling(times, Fraction(25))  # at the rate the container declares
    assert plan.fps == 25 and plan.frames == 86 and plan.dropped == 0  # 3.44 s at 40 ms
    assert plan.shows[:4] == (1, 1, 1, 22)  # the frame at 0.12 s is held until 1.0 s
    assert resampling(times).fps == Fraction(25, 4)  # no declared rate: the median step's
    burst = resampling([0, 0.04, 0.041, 0.08, 0.12, 0.16, 0.2, 0.24], Fraction(25))
    assert burst.dropped == 1 and burst.frames == 7 and burst.shows[1:3] == (0, 1)


def test_a_clip_with_timestamp_gaps_keeps_its_duration(tmp_path, tiny_model_path):
    times = [0, 40, 80, 120] + [1000 + round(2480 * i / 15) for i in range(16)]  # 3.52 s
    clip = write_timed(tmp_path / "gaps.mp4", times)
    out = tmp_path / "gaps.imf"
    r = run("encode", clip, out, "--model", tiny_model_path, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["resampled"] == {"fps": 25.0, "repeated": 68, "dropped": 0}
    assert summary["frames"] == 88 and summary["seconds"] == pytest.approx(3.52)
    r = run("encode", clip, tmp_path / "b.imf", "--model", tiny_model_path)
    assert "variable frame rate: resampled to 25 fps" in r.output
    r = run("decode", out, tmp_path / "gaps.mkv", "--model", tiny_model_path, "--quiet")
    assert r.exit_code == 0, r.output
    decoded = probe(tmp_path / "gaps.mkv")
    assert decoded.fps == 25 and decoded.resampled is None
    assert len(list(read_frames(tmp_path / "gaps.mkv", 64))) == 88


# --- 3. rotation ------------------------------------------------------------------------------


def test_display_rotation_is_applied_before_cropping(tmp_path, tiny_model_path):
    picture = np.zeros((24, 32, 3), np.uint8)
    picture[:6, :6] = 255  # a mark at the top left of the coded picture
    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 32, 24, "yuv420p"
        s.set_display_rotation(90)  # shown turned 90 degrees counter-clockwise
        for _ in range(3):
            for p in s.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (24, 32, 90)
    frame = next(read_frames(path, 24, "pad"))
    ys, xs = np.nonzero(frame.mean(axis=2) > 128)
    assert ys.min() >= 16 and xs.max() < 12  # the mark is now at the bottom left
    r = run("encode", path, tmp_path / "p.imf", "--model", tiny_model_path, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["rotation"] == 90, r.output
    r = run("info", tmp_path / "p.imf", "--json")
    assert (json.loads(r.stdout)["source_width"], json.loads(r.stdout)["source_height"]) == (24, 32)


# --- 4. truncated inputs ----------------------------------------------------------------------


def test_a_truncated_input_says_how_many_frames_it_gave(tmp_path, tiny_model_path):
    full = tmp_path / "full.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(full), "w", options={"movflags": "faststart"}) as c:  # index first
        s = c.add_stream("libx264", rate=10)
        s.width = s.height = 64
        s.pix_fmt = "yuv420p"
        for _ in range(40):
            frame = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    r = run("encode", cut, tmp_path / "cut.imf", "--model", tiny_model_path, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["frames_announced"] == 40 and 0 < summary["frames"] < 40
    assert summary["complete"] is False
    r = run("encode", cut, tmp_path / "cut2.imf", "--model", tiny_model_path)
    assert f"warning: read {summary['frames']} of the 40 frames" in r.output
    assert (tmp_path / "cut2.imf").exists()
    r = run("encode", full, tmp_path / "full.imf", "--model", tiny_model_path, "--json")
    assert json.loads(r.stdout)["complete"] is True


# --- 5. our own files as input ----------------------------------------------------------------


def test_an_imf_file_given_to_encode_says_use_decode(tmp_path, clip, tiny_model_path):
    imf = tmp_path / "a.imf"
    assert run("encode", clip, imf, "--model", tiny_model_path, "--quiet").exit_code == 0
    error_line(run("encode", imf, tmp_path / "b.imf", "--model", tiny_model_path), 2,
               "already an .imf file; use `imfcodec decode`")


# --- 6. signals -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_imf(tmp_path_factory, tiny_model_path):
    """600 frames: decoding takes seconds, so a busy machine cannot finish it between two
    looks at the output folder."""
    folder = tmp_path_factory.mktemp("long")
    clip = write_clip(folder / "long.mp4", synthetic_frames(600, 64, 64))
    imf = folder / "a.imf"
    assert run("encode", clip, imf, "--model", tiny_model_path, "--quiet",
               "--key-placement", "start").exit_code == 0
    return imf


@contextlib.contextmanager
def disposition(sig, handler):
    """Children started meanwhile inherit ``sig`` at ``handler``, SIG_DFL or SIG_IGN (as
    `nohup` starts its command with SIGHUP ignored)."""
    old = signal.signal(sig, handler)
    try:
        yield
    finally:
        signal.signal(sig, old)


def decoding(imf, target, model_path, sig, handler) -> subprocess.Popen:
    """`imfcodec decode imf target`, started with ``sig`` at ``handler``, once it is writing
    (its .part file is there)."""
    with disposition(sig, handler):
        proc = subprocess.Popen([sys.executable, "-m", "imfcodec.cli", "decode", str(imf),
                                 str(target), "--model", str(model_path), "--quiet"],
                                stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not any(p.name.endswith(".part.mkv") for p in target.parent.iterdir()):
        assert proc.poll() is None and time.time() < deadline, "decode ended before it was signalled"
        time.sleep(0.01)
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_during_decode_leaves_nothing(tmp_path, tiny_model_path, long_imf, sig, code):
    imf = tmp_path / "a.imf"
    imf.write_bytes(long_imf.read_bytes())
    target = tmp_path / "out.mkv"
    # (the child starts with the signal at its default, as from a terminal: under `nohup` the
    # tests' own SIGHUP is ignored, and the command rightly keeps it so, below)
    proc = decoding(imf, target, tiny_model_path, sig, signal.SIG_DFL)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert f"terminated by {signal.Signals(sig).name}; no output was written" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.imf"]


@pytest.mark.slow
def test_a_signal_the_caller_ignores_stays_ignored(tmp_path, tiny_model_path, long_imf):
    # `nohup imfcodec decode ...`: the terminal's hangup does not end the command
    target = tmp_path / "out.mkv"
    proc = decoding(long_imf, target, tiny_model_path, signal.SIGHUP, signal.SIG_IGN)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    with av.open(str(target)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 600


# --- 7. exit codes ----------------------------------------------------------------------------


def test_a_full_disk_is_an_output_error_with_nothing_left(tmp_path, clip, tiny_model_path, monkeypatch):
    imf = tmp_path / "a.imf"
    assert run("encode", clip, imf, "--model", tiny_model_path, "--quiet").exit_code == 0
    from imfcodec.io import atomic, writer

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer.FrameWriter, "write", full)
    error_line(run("decode", imf, tmp_path / "a.mkv", "--model", tiny_model_path), 3,
               "No space left on device")
    monkeypatch.setattr(atomic.os, "fsync", full)
    error_line(run("encode", clip, tmp_path / "b.imf", "--model", tiny_model_path), 3,
               "No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.imf"]


def test_weights_with_nan_are_a_model_error(tmp_path, clip):
    import torch

    from imfcodec.models import IMF, preset, weights

    model = IMF(preset("tiny"))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    weights.save(model, tmp_path / "nan.safetensors", "nan")
    error_line(run("encode", clip, tmp_path / "a.imf", "--model", tmp_path / "nan.safetensors"), 5,
               "NaN or infinite")


@pytest.mark.parametrize("command", ["decode", "info"])
def test_missing_files_and_folders_are_bad_input(tmp_path, command):
    extra = [tmp_path / "x.mkv"] if command == "decode" else []
    error_line(run(command, tmp_path / "none.imf", *extra), 2, "no such file")
    error_line(run(command, tmp_path, *extra), 2, "is a directory")


def test_bitrate_errors_are_bad_input(tmp_path, clip, tiny_model_path):
    for value in ("fast", "0.0001k"):
        error_line(run("encode", clip, tmp_path / "a.imf", "--model", tiny_model_path,
                       "--bitrate", value), 2, "--bitrate")


# --- 8. paths, streams and reports ------------------------------------------------------------


def test_encode_writes_imf_files_only_and_never_over_its_input(tmp_path, clip, tiny_model_path):
    error_line(run("encode", clip, tmp_path / "out.txt", "--model", tiny_model_path), 3,
               "encode writes .imf files")
    copy = tmp_path / "in.imf"
    copy.write_bytes(clip.read_bytes())
    before = copy.read_bytes()
    error_line(run("encode", copy, copy, "--model", tiny_model_path, "--force"), 3, "is the input")
    assert copy.read_bytes() == before


def test_dash_is_standard_output_for_imf_and_y4m(tmp_path, clip, tiny_model_path):
    imf = tmp_path / "a.imf"
    assert run("encode", clip, imf, "--model", tiny_model_path, "--quiet").exit_code == 0
    r = CliRunner().invoke(main, ["encode", str(clip), "-", "--model", str(tiny_model_path),
                                  "--quiet"])
    assert r.exit_code == 0 and r.stdout_bytes == imf.read_bytes(), r.output
    r = CliRunner().invoke(main, ["decode", str(imf), "-", "--model", str(tiny_model_path), "--quiet"])
    assert r.exit_code == 0 and r.stdout_bytes.startswith(b"YUV4MPEG2 W80 H64 F10:1")
    assert r.stdout_bytes.count(b"FRAME\n") == 12
    error_line(run("encode", "-", tmp_path / "b.imf", "--model", tiny_model_path), 2,
               "standard input is not supported")
    error_line(run("encode", clip, "-", "--model", tiny_model_path, "--json"), 2,
               "--json and an output of -")


def test_a_failed_training_run_leaves_no_output_folder(tmp_path):
    empty = tmp_path / "data"
    empty.mkdir()
    out = tmp_path / "run"
    r = run("train", "--data", empty, "--out", out, "--preset", "tiny", "--steps", "1", "--quiet")
    error_line(r, 2, "no video clips found")
    assert not out.exists()


def test_info_reports_on_standard_output(tmp_path, clip, tiny_model_path):
    imf = tmp_path / "a.imf"
    assert run("encode", clip, imf, "--model", tiny_model_path, "--quiet").exit_code == 0
    r = CliRunner(mix_stderr=False).invoke(main, ["info", str(imf)]) if "mix_stderr" in \
        CliRunner.__init__.__code__.co_varnames else CliRunner().invoke(main, ["info", str(imf)])
    assert r.exit_code == 0
    assert "where the bytes went" in r.stdout and "key frames" in r.stdout


def test_a_crop_that_keeps_little_of_the_picture_is_said(tmp_path, tiny_model_path):
    frames = [np.full((8, 200, 3), 40 * i, np.uint8) for i in range(4)]
    clip = tmp_path / "strip.mkv"
    with av.open(str(clip), "w") as c:
        s = c.add_stream("ffv1", rate=10)
        s.width, s.height, s.pix_fmt = 200, 8, "bgr0"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="bgr0")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    r = run("encode", clip, tmp_path / "a.imf", "--model", tiny_model_path)
    assert r.exit_code == 0 and "crop keeps 4.0 % of the 200x8 picture" in r.output, r.output
    r = run("encode", clip, tmp_path / "b.imf", "--model", tiny_model_path, "--fit", "pad")
    assert r.exit_code == 0 and "crop keeps" not in r.output


def test_export_names_paths_plainly(tmp_path):
    (tmp_path / "ckpt").mkdir()
    r = run("export", tmp_path / "ckpt", "--out", tmp_path / "x.safetensors")
    error_line(r, 5, f"no model '{tmp_path / 'ckpt' / 'model.safetensors'}'")
    assert "PosixPath" not in r.output and not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize("where", ["analyse", "refine"])
def test_non_finite_tokens_are_a_model_error(clip, tiny_model, monkeypatch, where):
    from imfcodec.codec import Codec
    from imfcodec.errors import ModelError

    real = getattr(tiny_model, where)

    def broken(*args, **kwargs):
        return np.full_like(real(*args, **kwargs), np.nan)

    monkeypatch.setattr(tiny_model, where, broken)
    with pytest.raises(ModelError, match="not finite"):
        Codec(tiny_model).encode(clip, refine=1 if where == "refine" else 0)
