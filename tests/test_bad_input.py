"""The bad-input matrix: every case ends in one clear line, a non-zero exit and no output."""

import sys

import av
import numpy as np
import pytest
from click.testing import CliRunner

from imfcodec.cli import main

from .conftest import synthetic_frames


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, code, message):
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    # informative lines (what is being coded) may come first; the error is one line, the last
    assert len(errors) == 1 and lines[-1] == errors[0] and message in errors[0], result.output
    assert "Traceback" not in result.output


def write_ffv1(path, frames, fps=10):
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=fps)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = "bgr0"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="bgr0")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


@pytest.fixture
def encode_to(tmp_path, tiny_model_path):
    def go(source, *extra):
        return run("encode", source, tmp_path / "out.imf", "--model", tiny_model_path, *extra)
    return go


def test_missing_input(tmp_path, encode_to):
    one_line_error(encode_to(tmp_path / "nope.mp4"), 2, "nope.mp4: no such file")
    assert not (tmp_path / "out.imf").exists()


def test_empty_file(tmp_path, encode_to):
    (tmp_path / "empty.mp4").write_bytes(b"")
    one_line_error(encode_to(tmp_path / "empty.mp4"), 2, "empty.mp4: empty file")


def test_text_file_named_mp4(tmp_path, encode_to):
    (tmp_path / "t.mp4").write_text("not a video\n" * 50)
    one_line_error(encode_to(tmp_path / "t.mp4"), 2, "t.mp4: not a video FFmpeg can read")


def test_audio_only_file(tmp_path, encode_to):
    path = tmp_path / "audio.wav"
    with av.open(str(path), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    one_line_error(encode_to(path), 2, "audio.wav: has no video stream")
    assert not (tmp_path / "out.imf").exists()


def test_video_with_zero_frames(tmp_path, encode_to):
    path = tmp_path / "zero.y4m"  # a valid stream header, then no frame
    path.write_bytes(b"YUV4MPEG2 W32 H32 F10:1 Ip A1:1 C420jpeg\n")
    one_line_error(encode_to(path), 2, "zero.y4m: the video has no frames")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zero.y4m"]


def test_odd_tiny_size_17x9_is_handled(tmp_path, encode_to, tiny_model_path):
    src = write_ffv1(tmp_path / "odd.mkv", synthetic_frames(5, 17, 9))
    r = encode_to(src, "--json")
    assert r.exit_code == 0, r.output
    r = run("decode", tmp_path / "out.imf", tmp_path / "back.mkv", "--model", tiny_model_path, "--quiet")
    assert r.exit_code == 0, r.output
    r = run("info", tmp_path / "out.imf", "--json")
    assert '"source_width": 17' in r.output and '"source_height": 9' in r.output


def test_very_large_size_is_refused(tmp_path, encode_to):
    src = write_ffv1(tmp_path / "wide.mkv", [np.zeros((8, 8200, 3), np.uint8)])
    one_line_error(encode_to(src), 2, "8200x8 is larger than 8192 pixels a side")


def test_existing_output_without_force(tmp_path, clip, encode_to):
    (tmp_path / "out.imf").write_bytes(b"precious")
    one_line_error(encode_to(clip), 3, "out.imf exists (use --force to overwrite)")
    assert (tmp_path / "out.imf").read_bytes() == b"precious"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_unwritable_output_directory(clip, tiny_model_path):
    r = run("encode", clip, "/proc/out.imf", "--model", tiny_model_path)
    one_line_error(r, 3, "/proc: cannot write there")


def test_missing_output_directory(tmp_path, clip, encode_to, tiny_model_path):
    r = run("encode", clip, tmp_path / "no" / "out.imf", "--model", tiny_model_path)
    one_line_error(r, 3, "output directory does not exist")


def test_corrupt_weights_file(tmp_path, clip, tiny_model_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(tiny_model_path.read_bytes()[:5000])
    one_line_error(run("encode", clip, tmp_path / "o.imf", "--model", bad), 5, "bad.safetensors")


def test_pickle_weights_file(tmp_path, clip):
    import pickle

    bad = tmp_path / "model.safetensors"
    bad.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    one_line_error(run("encode", clip, tmp_path / "o.imf", "--model", bad), 5,
                   "refusing a pickle-based weights file")


def test_imf_made_by_another_model(tmp_path, clip, tiny_model_path):
    assert run("encode", clip, tmp_path / "a.imf", "--model", tiny_model_path, "--quiet").exit_code == 0
    from imfcodec.motion import DEFAULT_MODEL

    r = run("decode", tmp_path / "a.imf", tmp_path / "a.mkv", "--model", DEFAULT_MODEL)
    one_line_error(r, 5, "the stream was made with model tiny-test, weights ")
    assert not (tmp_path / "a.mkv").exists()


def test_imf_from_a_newer_format_version(tmp_path, clip, tiny_model_path):
    assert run("encode", clip, tmp_path / "a.imf", "--model", tiny_model_path, "--quiet").exit_code == 0
    data = bytearray((tmp_path / "a.imf").read_bytes())
    data[4] = 5
    (tmp_path / "a.imf").write_bytes(bytes(data))
    r = run("decode", tmp_path / "a.imf", tmp_path / "a.mkv", "--model", tiny_model_path)
    one_line_error(r, 4, "format version 5.0 is not supported (this imfcodec reads 1.x, 2.x, 3.x and 4.x)")
    one_line_error(run("info", tmp_path / "a.imf"), 4, "format version 5.0 is not supported")


def test_not_an_imf_file(tmp_path, clip, tiny_model_path):
    r = run("decode", clip, tmp_path / "a.mkv", "--model", tiny_model_path)
    one_line_error(r, 4, "not an .imf file (bad magic bytes)")


def test_ctrl_c_during_encode_leaves_nothing(tmp_path, clip, tiny_model_path, monkeypatch):
    from imfcodec import encoder

    real = encoder.quant.quantize_held
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(encoder.quant, "quantize_held", interrupted)
    r = run("encode", clip, tmp_path / "o.imf", "--model", tiny_model_path)
    one_line_error(r, 130, "interrupted; no output was written")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_decode_leaves_nothing(tmp_path, clip, tiny_model_path, monkeypatch):
    assert run("encode", clip, tmp_path / "a.imf", "--model", tiny_model_path, "--quiet").exit_code == 0
    from imfcodec.io import writer

    real = writer.FrameWriter.write

    def interrupted(self, rgb):
        if self.count == 3:
            raise KeyboardInterrupt
        return real(self, rgb)

    monkeypatch.setattr(writer.FrameWriter, "write", interrupted)
    for target in ("a.mkv", "frames"):
        r = run("decode", tmp_path / "a.imf", tmp_path / target, "--model", tiny_model_path)
        one_line_error(r, 130, "interrupted; no output was written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.imf"]


def test_debug_shows_the_traceback(tmp_path, tiny_model_path):
    r = CliRunner().invoke(main, ["--debug", "encode", str(tmp_path / "x.mp4"), str(tmp_path / "o.imf"),
                                  "--model", str(tiny_model_path)])
    assert r.exit_code != 0 and r.exception is not None and not isinstance(r.exception, SystemExit)




def test_paths_with_brackets_print_verbatim(tmp_path, encode_to):
    one_line_error(encode_to(tmp_path / "[red]x[/red].mp4"), 2, "[red]x[/red].mp4: no such file")
