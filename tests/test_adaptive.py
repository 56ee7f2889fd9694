"""Closed-loop key frames and rate control."""

import io
import json
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

from imfcodec import bitstream as bs
from imfcodec.cli import main
from imfcodec.codec import Codec, Stream
from imfcodec.encoder import EncodeStats
from imfcodec.intra import IntraCodec
from imfcodec.options import AdaptiveDefaults, EncodeOptions, with_adaptive
from imfcodec.ratecontrol import (X_MAX, X_MIN, encode_at_bitrate,
                                  encode_at_bitrate_auto, parameters_at, parse_bitrate)
from imfcodec.refresh import key_frame_pays, refresh_lambda_at
from imfcodec.source import Source

from .conftest import synthetic_frames, write_clip


def reasons(data: bytes) -> dict:
    return {r.frame_index: r.reason.name.lower()
            for _, r in bs.read_records(io.BytesIO(data)) if isinstance(r, bs.KeyFrame)}


def encode(frames, model, **options):
    """These tests are about where runs start: each key frame is coded at its run's start."""
    options.setdefault("key_placement", "start")
    stream = Codec(model).encode(Source.from_frames(frames, Fraction(10)),
                                 options=EncodeOptions(**options))
    return stream.data, stream.stats


def test_threshold_refresh_is_closed_loop_and_respects_the_gap(tiny_model):
    frames = synthetic_frames(20, 64, 64)
    data, result = encode(frames, tiny_model, refresh_threshold=99.0, min_refresh_gap=6)
    assert reasons(data) == {0: "start", 6: "quality", 12: "quality", 18: "quality"}
    assert result.key_reasons == reasons(data)
    data, _ = encode(frames, tiny_model, refresh_threshold=0.0, min_refresh_gap=1)
    assert reasons(data) == {0: "start"}


def test_key_frame_pays_when_the_error_saved_outweighs_its_bits():
    # 10 frames of 100 samples, 20 squared-error units saved per sample: 20000 units.
    assert key_frame_pays(50.0, 30.0, 100, 10, 1.0, 19999)
    assert not key_frame_pays(50.0, 30.0, 100, 10, 1.0, 20000)
    assert not key_frame_pays(50.0, 30.0, 100, 10, 2.0, 10000)
    assert not key_frame_pays(30.0, 50.0, 100, 10, 0.0, 1)  # worse after a refresh: never


@pytest.mark.slow
def test_rd_refresh_is_closed_loop_and_monotone_in_lambda(tiny_model):
    frames = synthetic_frames(10, 64, 64) + [255 - f for f in synthetic_frames(10, 64, 64, seed=3)]
    counts = []
    for lam in (0.0, 1e-3, 1e-1, 10.0, 1e3, 1e12):
        data, result = encode(frames, tiny_model, refresh_lambda=lam, min_refresh_gap=3)
        keys = sorted(reasons(data))
        assert keys[0] == 0 and all(b - a >= 3 for a, b in zip(keys, keys[1:]))
        assert set(reasons(data).values()) <= {"start", "quality"}
        counts.append(len(keys))
    assert counts == sorted(counts, reverse=True)  # a dearer key frame: never more refreshes
    assert counts[-1] == 1  # a key frame no error can pay for
    assert counts[0] > 1  # a free one is taken whenever it lowers the error


def test_cli_refresh_lambda(tmp_path, tiny_model_path):
    clip = write_clip(tmp_path / "c.mp4", synthetic_frames(12, 64, 64, seed=2))
    run = lambda *extra: CliRunner().invoke(main, ["encode", str(clip), str(tmp_path / "o.imf"), "-f",
                                                   "--model", str(tiny_model_path), "--json", *extra])
    r = run("--refresh-lambda", "1e12", "--key-placement", "start")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["key_frame_reasons"] == {"0": "start"}
    r = run("--refresh-lambda", "-1")
    assert r.exit_code == 2 and "refresh-lambda" in r.output


def test_rd_qp_set_by_rate_control_makes_refreshes_rarer_below_level_0(tiny_model):
    assert parameters_at(0, EncodeOptions()).rd_qp == pytest.approx(51)
    assert parameters_at(-2, EncodeOptions()).rd_qp == pytest.approx(59)  # past the key's 51
    assert parameters_at(-2, EncodeOptions()).intra_qp == 51
    frames = synthetic_frames(10, 64, 64) + [255 - f for f in synthetic_frames(10, 64, 64, seed=3)]
    _, free = encode(frames, tiny_model, refresh_lambda=0.0, min_refresh_gap=3)
    _, dear = encode(frames, tiny_model, refresh_lambda=1e-9, rd_qp=400.0, min_refresh_gap=3)
    assert free.key_frames > 1 and dear.key_frames == 1


def test_rd_lambda_follows_the_key_frame_qp():
    assert refresh_lambda_at(1.0, 15, IntraCodec.HEVC) == pytest.approx(2 * refresh_lambda_at(1.0, 12, IntraCodec.HEVC))
    assert refresh_lambda_at(3.0, 40, IntraCodec.HEVC) == pytest.approx(3 * refresh_lambda_at(1.0, 40, IntraCodec.HEVC))
    assert refresh_lambda_at(1.0, 63, IntraCodec.AV1) == pytest.approx(refresh_lambda_at(1.0, 51, IntraCodec.HEVC))


def test_max_interval_and_scene_cut(tiny_model):
    frames = synthetic_frames(10, 64, 64) + [255 - f for f in synthetic_frames(10, 64, 64, seed=3)]
    data, _ = encode(frames, tiny_model, max_keyframe_interval=8, scene_cut=0.1)
    assert reasons(data) == {0: "start", 8: "interval", 10: "scene_cut", 18: "interval"}


def test_the_decoder_follows_refreshed_streams(tmp_path, tiny_model, tiny_model_path):
    frames = synthetic_frames(14, 64, 64)
    data, result = encode(frames, tiny_model, refresh_threshold=99.0, min_refresh_gap=4)
    (tmp_path / "a.imf").write_bytes(data)
    r = CliRunner().invoke(main, ["decode", str(tmp_path / "a.imf"), str(tmp_path / "f"),
                                  "--model", str(tiny_model_path), "--json"])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "f").iterdir())) == 14
    r = CliRunner().invoke(main, ["info", str(tmp_path / "a.imf"), "--json"])
    info = json.loads(r.stdout)
    assert [k["reason"] for k in info["key_frames"]] == ["start", "quality", "quality", "quality"]


@pytest.mark.parametrize("text,kbps", [("8k", 8.0), ("8 kbps", 8.0), ("8000", 8.0), ("1.5M", 1500.0)])
def test_parse_bitrate(text, kbps):
    assert parse_bitrate(text) == pytest.approx(kbps)


def test_parameters_are_monotone_in_quality():
    steps = [parameters_at(x, EncodeOptions()).token_step for x in np.linspace(X_MIN, X_MAX, 30)]
    qps = [parameters_at(x, EncodeOptions()).intra_qp for x in np.linspace(X_MIN, X_MAX, 30)]
    assert all(a > b for a, b in zip(steps, steps[1:])) and all(a >= b for a, b in zip(qps, qps[1:]))


def _passes(codec, clip):
    """Rate control's encode: one whole pass at the options it asks for, sharing the analysis."""
    cache = {}
    return lambda options: codec.encode(clip, options=options, audio=None, token_cache=cache)


@pytest.mark.slow
def test_rate_control_lands_within_10_percent(tmp_path, tiny_model):
    codec = Codec(tiny_model)
    clip = codec.open(write_clip(tmp_path / "long.mp4", synthetic_frames(60, 64, 64, seed=5)))
    encode = _passes(codec, clip)
    low = encode_at_bitrate(encode, EncodeOptions(), 0.001).stats.kbps
    high = encode_at_bitrate(encode, EncodeOptions(), 10000).stats.kbps
    assert high > 2 * low  # a range of rates to aim inside
    for target in np.geomspace(low * 1.3, high * 0.7, 3):
        stream = encode_at_bitrate(encode, EncodeOptions(), float(target))
        rc = stream.rate_control
        assert rc.reached and abs(stream.stats.kbps - target) <= 0.10 * target, (target, stream.stats.kbps)
        assert len(stream.data) == stream.stats.bytes_total
        assert stream.stats.kbps == pytest.approx(len(stream.data) * 8 / 1000 / 6.0)


@pytest.mark.slow
def test_rate_control_chooses_adaptive_refresh_above_its_floor_and_one_key_frame_below(
        tmp_path, tiny_model):
    codec = Codec(tiny_model)
    clip = codec.open(write_clip(tmp_path / "long.mp4", synthetic_frames(60, 64, 64, seed=5)))
    # A rule the untrained tiny model always triggers, so that adaptive refresh has a floor.
    rule = AdaptiveDefaults(refresh_threshold=99.0, refresh_lambda=None)
    adaptive = with_adaptive(EncodeOptions(), Fraction(10), rule)
    encode = _passes(codec, clip)
    floor = encode_at_bitrate(encode, adaptive, 0.001).stats
    assert floor.key_frames > 1
    stream = encode_at_bitrate_auto(encode, EncodeOptions(), clip.fps, 2 * floor.kbps,
                                    adaptive_defaults=rule)
    rc = stream.rate_control
    assert rc.policy == "adaptive" and rc.reached and stream.stats.key_frames > 1
    assert abs(stream.stats.kbps - 2 * floor.kbps) <= 0.10 * 2 * floor.kbps
    below = 0.5 * floor.kbps
    stream = encode_at_bitrate_auto(encode, EncodeOptions(), clip.fps, below,
                                    adaptive_defaults=rule)
    rc = stream.rate_control
    assert rc.policy == "single key frame" and stream.stats.key_frames == 1
    assert rc.reached and abs(stream.stats.kbps - below) <= 0.10 * below


@pytest.mark.parametrize("adaptive_kbps, single_kbps, policy", [
    (9.6, 10.2, "adaptive"),          # adaptive lands: one key frame is not tried
    (8.5, 10.2, "single key frame"),  # adaptive jumped past the target (below it): the other lands
    (11.5, 9.8, "single key frame"),  # adaptive's floor is above the target
    (8.5, 12.5, "adaptive"),          # neither lands: the closer miss is kept
    (12.2, 8.1, "single key frame"),
])
def test_rate_control_policy_after_an_adaptive_miss(adaptive_kbps, single_kbps, policy):
    """An encode that stands in for the real one comes to the same rate at every quality
    under each policy: rate control's search then ends at once, and the policy is chosen."""
    tried = []

    def encode(options):
        adaptive = options.refresh_lambda is not None or options.refresh_threshold is not None
        tried.append("adaptive" if adaptive else "single")
        rate = adaptive_kbps if adaptive else single_kbps
        # 12 frames at 10 fps: 150 bytes a kbps.
        stats = EncodeStats("fake", frames=12, key_frames=3 if adaptive else 1,
                            bytes_total=round(rate * 150), bytes_key_frames=0, bytes_tokens=0,
                            fps=Fraction(10), width=80, height=64)
        assert stats.kbps == pytest.approx(rate)
        return Stream(b"", None, stats)

    stream = encode_at_bitrate_auto(encode, EncodeOptions(), Fraction(10), 10.0, tolerance=0.05)
    rc = stream.rate_control
    assert rc.policy == policy
    assert stream.stats.kbps == pytest.approx(adaptive_kbps if policy == "adaptive" else single_kbps)
    assert rc.reached == (abs(stream.stats.kbps - 10.0) <= 0.5)
    assert sorted(set(tried)) == (["adaptive"] if abs(adaptive_kbps - 10) <= 0.5 else ["adaptive", "single"])
    assert rc.passes == len(tried)


def test_cli_bitrate_says_what_it_chose(tmp_path, clip, tiny_model_path):
    r = CliRunner().invoke(main, ["encode", str(clip), str(tmp_path / "a.imf"), "--model",
                                  str(tiny_model_path), "--bitrate", "0.0001k"])
    assert r.exit_code != 0 and "out of range" in r.output
    r = CliRunner().invoke(main, ["encode", str(clip), str(tmp_path / "a.imf"), "--model",
                                  str(tiny_model_path), "--bitrate", "20k"])
    assert r.exit_code == 0, r.output
    assert "rate control:" in r.output and "key-frame QP" in r.output
    assert "chose refresh adaptive" in r.output or "chose refresh single key frame" in r.output
