"""The public API (imfcodec.Codec) and the round trip through it."""

import io
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import imfcodec
from imfcodec import bitstream as bs
from imfcodec import intra
from imfcodec.cli import main
from imfcodec.codec import Codec
from imfcodec.decoder import iter_decoded
from imfcodec.errors import DeviceError, InputError, ModelError
from imfcodec.io.reader import probe, read_frames
from imfcodec.source import Source

from .conftest import synthetic_frames, write_clip

README = Path(__file__).parents[1] / "README.md"


def records(data: bytes) -> list:
    return [r for _, r in bs.read_records(io.BytesIO(data))]


def test_encoder_and_decoder_tokens_are_identical(clip, tiny_codec):
    stream = tiny_codec.encode(clip, quality=5)
    events = list(iter_decoded(io.BytesIO(stream.data), tiny_codec.model_for))
    decoded = np.concatenate([payload for kind, _, payload in events if kind == "tokens"])
    assert np.array_equal(np.stack(stream.stats.levels), decoded)
    assert stream.stats.bytes_total == len(stream.data) == len(stream.to_bytes())
    assert stream.stats.frames == 12 and stream.stats.key_frames == 1


@pytest.mark.parametrize("cli_args, settings", [
    (["--quality", "5"], dict(quality=5)),
    (["--quality", "0", "--adaptive"], dict(quality=0, adaptive=True)),
    (["--key-placement", "start", "--keyframe-interval", "5"],
     dict(key_placement="start", keyframe_interval=5)),
])
def test_the_api_writes_the_bytes_the_cli_writes(tmp_path, clip, tiny_model_path, tiny_codec,
                                                 cli_args, settings):
    out = tmp_path / "cli.imf"
    r = CliRunner().invoke(main, ["encode", str(clip), str(out), "--model", str(tiny_model_path),
                                  "--quiet", *cli_args])
    assert r.exit_code == 0, r.output
    stream = tiny_codec.encode(clip, **settings)
    assert stream.data == out.read_bytes()
    api = stream.save(tmp_path / "api.imf")
    assert api.read_bytes() == out.read_bytes()


def test_decoded_frames_are_the_same_in_memory_and_in_a_lossless_file(tmp_path, clip, tiny_model_path,
                                                                     tiny_codec):
    """The frames the API yields are exactly what `imfcodec decode` writes (.mkv is lossless
    RGB), and a key frame is shown exactly as its intra picture decodes."""
    data = tiny_codec.encode(clip, quality=7, keyframe_interval=5).data
    (tmp_path / "a.imf").write_bytes(data)
    decoded = tiny_codec.decode(data)
    # the input's own 80x64 picture (the model sees its 64x64 region)
    assert (decoded.frame_count, decoded.fps, decoded.size) == (12, probe(clip).fps, (80, 64))
    frames = list(decoded)
    assert np.array_equal(np.stack(frames), np.stack(list(decoded)))  # iterating again: the same
    r = CliRunner().invoke(main, ["decode", str(tmp_path / "a.imf"), str(tmp_path / "a.mkv"),
                                  "--model", str(tiny_model_path), "--quiet"])
    assert r.exit_code == 0, r.output
    assert np.array_equal(np.stack(list(read_frames(tmp_path / "a.mkv", (80, 64)))), np.stack(frames))
    keys = [r for r in records(data) if isinstance(r, bs.KeyFrame)]
    # one key frame a run of 5 (each at its run's most typical frame: key placement)
    assert [k.frame_index // 5 for k in keys] == [0, 1, 2]
    for key in keys:
        assert np.array_equal(frames[key.frame_index], intra.decode(key.data, key.codec))
        # the key frame at quality 7 is close to its source
        source = list(read_frames(clip, (80, 64)))[key.frame_index]
        assert np.abs(frames[key.frame_index].astype(int) - source).mean() < 6


def test_decoded_video_saves_and_says_its_rate(tmp_path, clip, tiny_codec):
    stream = tiny_codec.encode(clip)
    path = stream.save(tmp_path / "a.imf")
    video = tiny_codec.decode(path)
    assert len(video) == 12 and video.bytes == path.stat().st_size
    assert video.kbps == pytest.approx(path.stat().st_size * 8 / 1000 / 1.2)
    assert video.kbps == pytest.approx(stream.stats.kbps)
    video.save(tmp_path / "a.mp4")
    info = probe(tmp_path / "a.mp4")
    assert (info.width, info.height, info.fps) == (80, 64, Fraction(10))
    assert len(list(read_frames(tmp_path / "a.mp4", (80, 64)))) == 12
    with pytest.raises(InputError, match="no such file"):
        tiny_codec.decode(tmp_path / "missing.imf")
    with pytest.raises(InputError, match="is a directory"):
        tiny_codec.decode(tmp_path)


@pytest.mark.slow
def test_the_readme_api_example_runs_as_written(tmp_path, monkeypatch):
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert len(block.strip().splitlines()) <= 10
    monkeypatch.chdir(tmp_path)
    write_clip(tmp_path / "in.mp4", synthetic_frames(6, 96, 80))
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert (tmp_path / "out.imf").exists()
    video = imfcodec.Codec.load().decode("out.imf")
    assert video.frame_count == 6 and video.size == (96, 80)  # the input's own size


def test_static_model_shows_the_key_frame_through_api_and_cli(tmp_path, clip):
    codec = Codec.load("static", "cpu")
    assert codec.model.token_dim == 0 and codec.model.name == "static"
    stream = codec.encode(clip, quality=7, key_placement="start")
    frames = list(codec.decode(stream))
    assert len(frames) == 12 and all(np.array_equal(f, frames[0]) for f in frames)
    out = tmp_path / "s.imf"
    r = CliRunner().invoke(main, ["encode", str(clip), str(out), "--model", "static", "--quality",
                                  "7", "--key-placement", "start", "--quiet"])
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == stream.data
    # decoding needs no --model: the stream names the built-in model
    r = CliRunner().invoke(main, ["decode", str(out), str(tmp_path / "s.mkv"), "--quiet"])
    assert r.exit_code == 0, r.output
    assert np.array_equal(np.stack(list(read_frames(tmp_path / "s.mkv", (80, 64)))), np.stack(frames))
    # a stream of another model is refused by a codec pinned to this one
    with pytest.raises(ModelError, match="made with model"):
        Codec.load("static").decode(Codec.load().encode(clip, quality=0).data)


def test_encode_takes_sources_and_frames_and_refuses_mixed_options(clip, tiny_codec):
    source = tiny_codec.open(clip)
    assert (source.info.width, source.info.height, source.fps) == (80, 64, Fraction(10))
    frames = source.read()
    in_memory = Source.from_frames(frames, source.fps, source_size=source.source_size)
    assert tiny_codec.encode(in_memory).data == tiny_codec.encode(clip).data
    with pytest.raises(ValueError, match="not several"):
        tiny_codec.encode(clip, options=imfcodec.EncodeOptions(), quality=3)
    with pytest.raises(ValueError, match="not several"):
        tiny_codec.encode(clip, imfcodec.EncodeSettings(), quality=3)
    settings = imfcodec.EncodeSettings(quality=2, key_placement="start")
    assert tiny_codec.encode(clip, settings).data == \
        tiny_codec.encode(clip, quality=2, key_placement="start").data
    with pytest.raises(TypeError):
        tiny_codec.encode(clip, no_such_option=1)
    with pytest.raises(ValueError, match="quality"):
        tiny_codec.encode(clip, quality=9)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_missing_cuda_device_is_a_typed_error(tmp_path, clip):
    with pytest.raises(DeviceError, match="no CUDA device"):
        Codec.load(device="cuda")
    for args in (["encode", str(clip), str(tmp_path / "a.imf"), "--device", "cuda"],
                 ["train", "--data", str(clip), "--out", str(tmp_path / "run"), "--device", "cuda",
                  "--steps", "1", "--quiet"]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2 and "no CUDA device" in r.output, r.output
        assert "Traceback" not in r.output and "internal error" not in r.output


def test_decode_of_many_frames_is_batched(tiny_model):
    model = tiny_model.network
    ref = model.reference(torch.rand(1, 3, 64, 64))
    with torch.inference_mode():
        a = model.decode(torch.zeros(4, 32), ref)
        b = model.decode(torch.zeros(1, 32), ref)
    assert torch.allclose(a[0], b[0], atol=1e-5)


def test_key_frame_encoders_are_silent(clip, tiny_codec, capfd):
    for name in ("hevc", "av1"):
        tiny_codec.encode(clip, intra=name)
    captured = capfd.readouterr()
    noise = captured.err + captured.out
    assert "x265" not in noise and "Svt" not in noise, noise[:500]


def test_hevc_key_frames_use_the_shipped_tuning_and_any_tuning_decodes():
    picture = synthetic_frames(1, 64, 64, seed=3)[0]
    shipped = intra.encode(picture, intra.IntraCodec.HEVC, 40)
    assert shipped == intra.encode(picture, intra.IntraCodec.HEVC, 40, intra.HEVC_TUNING)
    medium = intra.encode(picture, intra.IntraCodec.HEVC, 40, {"preset": "medium"})
    assert medium != shipped  # the tuning reaches x265
    for data in (shipped, medium):
        decoded = intra.decode(data, intra.IntraCodec.HEVC)
        assert decoded.shape == picture.shape
        assert np.abs(decoded.astype(int) - picture).mean() < 8


def test_metrics_on_known_frames():
    from imfcodec.metrics import clip_quality, psnr

    a = np.full((64, 64, 3), 100, np.uint8)
    b = a.copy()
    b[0, 0, 0] = 110  # one pixel off by 10: MSE = 100 / (64*64*3)
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / (100 / (64 * 64 * 3))), rel=1e-6)
    q = clip_quality([a, a], [a, a])
    assert q["psnr"] == 100.0 and q["msssim"] == pytest.approx(1.0)


def test_an_encode_frees_its_passes_without_the_garbage_collector(clip, tiny_codec):
    """Rate control runs many passes: each pass's loop (and the decoded reference's features it
    holds) must go when the pass ends, not at the next full collection (a reference cycle
    once piled up 120 MB a pass)."""
    import gc

    from imfcodec.encoder import FrameLoop

    gc.collect()
    gc.disable()
    try:
        tiny_codec.encode(clip, adaptive=True)
        alive = [o for o in gc.get_objects() if type(o) is FrameLoop]
    finally:
        gc.enable()
    assert alive == []



def test_a_motion_past_the_quantisers_range_raises_the_step_instead_of_clamping(clip, monkeypatch):
    """A token step so fine that the disc's motion needs more than MAX_LEVEL levels: the
    encoder codes the frames again at a step where the largest token fits. The file says the
    step it used, and its frames are nearer the source than those of the same encode with
    the levels clamped (what the encoder did before: the wrong motion rebuilt)."""
    from imfcodec import encoder
    from imfcodec.entropy.tables import MAX_LEVEL
    from imfcodec.metrics import psnr
    from imfcodec.options import EncodeOptions

    codec = Codec.load()  # imf-flow: its tokens are the flow's size, unbounded
    frames = codec.open(clip).read()
    fine = EncodeOptions(quality=5, token_step=0.004)

    def quality(stream) -> float:
        return float(np.mean([psnr(a, b) for a, b in zip(frames, codec.decode(stream))]))

    stream = codec.encode(clip, options=fine, audio=None)
    stats = stream.stats
    assert stats.step_raised_from == pytest.approx(0.004)
    assert stats.token_step > 0.004 and stats.token_peak <= MAX_LEVEL
    assert stats.to_dict()["token_step_raised_from"] == pytest.approx(0.004)
    header = next(r for r in records(stream.data) if isinstance(r, bs.Header))
    assert header.token_step == pytest.approx(stats.token_step)

    monkeypatch.setattr(encoder, "MAX_LEVEL", float("inf"))  # never raised: levels clamped
    clamped = codec.encode(clip, options=fine, audio=None)
    assert clamped.stats.step_raised_from is None and clamped.stats.token_peak > MAX_LEVEL
    assert quality(stream) > quality(clamped) + 1.0  # dB

    # an encode whose motion fits keeps its level's step
    monkeypatch.undo()
    plain = codec.encode(clip, quality=3, audio=None)
    assert plain.stats.step_raised_from is None and plain.stats.token_peak <= MAX_LEVEL
