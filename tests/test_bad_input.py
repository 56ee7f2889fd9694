"""The bad-input matrix: every case ends in one clear line, a non-zero exit and no output."""

import io
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
from click.testing import CliRunner

from imfcodec import bitstream as bs
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
    data[4] = 13
    (tmp_path / "a.imf").write_bytes(bytes(data))
    r = run("decode", tmp_path / "a.imf", tmp_path / "a.mkv", "--model", tiny_model_path)
    one_line_error(r, 4, "format version 13.0 is not supported (this imfcodec reads 1.x, 2.x, 3.x, 4.x, 5.x, 6.x, 7.x, 8.x, 9.x, 10.x, 11.x and 12.x)")
    one_line_error(run("info", tmp_path / "a.imf"), 4, "format version 13.0 is not supported")


def test_not_an_imf_file(tmp_path, clip, tiny_model_path):
    r = run("decode", clip, tmp_path / "a.mkv", "--model", tiny_model_path)
    one_line_error(r, 4, "not an .imf file (bad magic bytes)")


def test_ctrl_c_during_encode_leaves_nothing(tmp_path, clip, tiny_model_path, monkeypatch):
    from imfcodec import prediction

    real = prediction.quant.quantize_held
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(prediction.quant, "quantize_held", interrupted)
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


@pytest.fixture(scope="module")
def sound_clip(tmp_path_factory):
    """Video with a tone (tests/test_audio.py makes it)."""
    from .test_audio import write_av

    return write_av(tmp_path_factory.mktemp("sound") / "tone.mkv", synthetic_frames(25, 64, 64))



# --- sound (issue 27) -------------------------------------------------------------------


def test_damaged_audio_record_is_caught(sound_clip, tmp_path):
    assert run("encode", sound_clip, tmp_path / "a.imf", "--model", "static").exit_code == 0
    data = bytearray((tmp_path / "a.imf").read_bytes())
    # the first AUDIO record: find it by walking the records
    offsets, pos = [], 6
    for size, record in bs.read_records(io.BytesIO(bytes(data))):
        offsets.append((pos, record))
        pos += size
    at = next(p for p, r in offsets if isinstance(r, bs.AudioChunk))
    data[at + 8] ^= 0x40
    (tmp_path / "bad.imf").write_bytes(bytes(data))
    one_line_error(run("decode", tmp_path / "bad.imf", tmp_path / "bad.mp4"), 4, "checksum mismatch")
    assert not (tmp_path / "bad.mp4").exists()
    one_line_error(run("info", tmp_path / "bad.imf"), 4, "checksum mismatch")


def test_undecodable_audio_is_a_clear_error_unless_dropped(tmp_path):
    frames = synthetic_frames(10, 64, 64)
    path = tmp_path / "broken.mkv"
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.height, v.width, v.pix_fmt = 64, 64, "yuv420p"
        a = c.add_stream("mp3", rate=44100)
        for rgb in frames:
            for p in v.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        for i in range(20):
            p = av.Packet(bytes([0xFF, 0xFB, 0x90]) + bytes(range(256)) * 2)
            p.pts, p.stream, p.time_base = i * 1152, a, Fraction(1, 44100)
            c.mux(p)
    r = run("encode", path, tmp_path / "a.imf", "--model", "static")
    if r.exit_code == 0:  # FFmpeg conceals the damage: then the sound is kept, and said so
        assert "audio: mp3 -> Opus" in r.output, r.output
    else:
        one_line_error(r, 2, "audio stream 1 (mp3) cannot be decoded")
        assert not (tmp_path / "a.imf").exists()
    assert run("encode", path, tmp_path / "b.imf", "--model", "static", "--no-audio").exit_code == 0


def test_bad_audio_options(sound_clip, tmp_path):
    for args, message in ((["--audio-bitrate", "2k"], "out of range"),
                          (["--audio-bitrate", "lots"], "--audio-bitrate: cannot read"),
                          (["--bitrate", "8k", "--video-bitrate", "4k"], "not both")):
        r = run("encode", sound_clip, tmp_path / "x.imf", "--model", "static", *args)
        assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output, r.output
        assert not (tmp_path / "x.imf").exists()
