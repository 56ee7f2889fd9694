import numpy as np
import pytest
import torch

from imfcodec import bitstream as bs
from imfcodec.codec import EncodeOptions, decode_video, encode_video, iter_decoded
from imfcodec.io.reader import probe, read_frames


def _decode_levels(path, loaded):
    with open(path, "rb") as f:
        events = list(iter_decoded(f, lambda header: loaded))
    return [payload for kind, _, payload in events if kind == "tokens"]


def test_encoder_and_decoder_tokens_are_identical(tmp_path, clip, tiny_model):
    out = tmp_path / "a.imf"
    result = encode_video(clip, out, tiny_model, EncodeOptions(quality=5))
    decoded = np.concatenate(_decode_levels(out, tiny_model))
    assert np.array_equal(np.stack(result.levels), decoded)
    assert result.bytes_total == out.stat().st_size
    assert result.frames == 12 and result.key_frames == 1


def test_round_trip_keeps_frame_count_fps_and_size(tmp_path, clip, tiny_model):
    out = tmp_path / "a.imf"
    encode_video(clip, out, tiny_model, EncodeOptions(keyframe_interval=5))
    video = tmp_path / "a.mkv"
    header = decode_video(out, video, lambda h: tiny_model)
    info = probe(video)
    assert header.frame_count == 12 and info.fps == probe(clip).fps
    frames = list(read_frames(video, 64))
    assert len(frames) == 12
    kinds = [type(r).__name__ for _, r in bs.read_records(open(out, "rb"))]
    assert kinds.count("KeyFrame") == 3  # frames 0, 5, 10


def test_decoding_twice_gives_identical_frames(tmp_path, clip, tiny_model):
    out = tmp_path / "a.imf"
    encode_video(clip, out, tiny_model, EncodeOptions())
    decode_video(out, tmp_path / "one", lambda h: tiny_model)
    decode_video(out, tmp_path / "two", lambda h: tiny_model)
    one, two = sorted((tmp_path / "one").iterdir()), sorted((tmp_path / "two").iterdir())
    assert len(one) == 12 and [a.read_bytes() for a in one] == [b.read_bytes() for b in two]


def test_key_frame_is_shown_as_decoded_and_tokens_move_the_picture(tmp_path, clip, tiny_model):
    out = tmp_path / "a.imf"
    encode_video(clip, out, tiny_model, EncodeOptions(quality=7))
    decode_video(out, tmp_path / "f", lambda h: tiny_model)
    frames = [np.asarray(__import__("PIL.Image").Image.open(p)) for p in sorted((tmp_path / "f").iterdir())]
    source = list(read_frames(clip, 64))
    key = next(r for _, r in bs.read_records(open(out, "rb")) if isinstance(r, bs.KeyFrame))
    key_error = np.abs(frames[key.frame_index].astype(int) - source[key.frame_index]).mean()
    assert key_error < 6  # the key frame at quality 7 is close to its source
    assert all(f.shape == (64, 64, 3) for f in frames)


def test_decode_of_many_frames_is_batched(tiny_model):
    model = tiny_model.model
    ref = model.reference(torch.rand(1, 3, 64, 64))
    with torch.inference_mode():
        a = model.decode(torch.zeros(4, 32), ref)
        b = model.decode(torch.zeros(1, 32), ref)
    assert torch.allclose(a[0], b[0], atol=1e-5)


def test_key_frame_encoders_are_silent(tmp_path, clip, tiny_model, capfd):
    from imfcodec.intra import IntraCodec

    for codec in IntraCodec:
        encode_video(clip, tmp_path / f"{codec.name}.imf", tiny_model, EncodeOptions(intra_codec=codec))
    captured = capfd.readouterr()
    noise = captured.err + captured.out
    assert "x265" not in noise and "Svt" not in noise, noise[:500]


def test_hevc_key_frames_use_the_shipped_tuning_and_any_tuning_decodes():
    from imfcodec import intra
    from .conftest import synthetic_frames

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
