import json

import pytest
from click.testing import CliRunner

from imfcodec.bench.bdrate import bd_rate, monotone
from imfcodec.cli import main


def test_bd_rate_of_a_curve_at_half_the_rate_is_minus_50_percent():
    rates, psnr = [100, 200, 400, 800], [30.0, 33.0, 36.0, 39.0]
    result = bd_rate(rates, psnr, [r / 2 for r in rates], psnr)
    assert result.bd_rate == pytest.approx(-50.0, abs=1e-6)
    assert result.overlap == (30.0, 39.0)
    # twice the rate: +100 %
    assert bd_rate(rates, psnr, [r * 2 for r in rates], psnr).bd_rate == pytest.approx(100.0, abs=1e-6)


def test_bd_rate_uses_only_the_overlapping_range_and_says_when_there_is_none():
    rates, psnr = [100, 200, 400, 800], [30.0, 33.0, 36.0, 39.0]
    partial = bd_rate(rates, psnr, [50, 100, 200 * 2**-0.5], [30.0, 33.0, 34.5])
    assert partial.overlap == (30.0, 34.5) and partial.bd_rate == pytest.approx(-50.0, abs=1e-4)
    none = bd_rate(rates, psnr, [10, 20], [20.0, 22.0])
    assert none.bd_rate is None and "do not overlap" in none.note


def test_bd_quality_is_the_mean_gain_at_equal_rate_even_without_quality_overlap():
    rates, psnr = [100, 200, 400, 800], [30.0, 33.0, 36.0, 39.0]
    better = bd_rate(rates, psnr, rates, [p + 1.5 for p in psnr])
    assert better.bd_quality == pytest.approx(1.5, abs=1e-9) and better.rate_overlap == (100, 800)
    # wholly above the anchor's qualities, on a shared rate range: no BD-rate, a BD-quality
    above = bd_rate(rates, psnr, [300, 600], [50.0, 51.0])
    assert above.bd_rate is None and above.bd_quality > 10 and above.rate_overlap == (300, 600)
    apart = bd_rate(rates, psnr, [1000, 2000], [40.0, 41.0])
    assert apart.bd_quality is None and apart.rate_overlap is None


def test_monotone_drops_points_that_do_not_improve_quality():
    r, q = monotone([4, 1, 2, 3], [0.5, 0.2, 0.4, 0.3])
    assert list(r) == [1, 2, 4] and list(q) == [0.2, 0.4, 0.5]


@pytest.mark.slow
def test_bench_writes_every_output_with_rates_from_real_bytes(tmp_path, clip, tiny_model_path):
    out = tmp_path / "bench"
    args = ["bench", clip, "--out", out, "--codecs", "static,imf,imf-adaptive,x264,svtav1",
            "--qualities", "-2,0,7",
            "--model", tiny_model_path, "--json"]
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    for name in ("results.json", "results.csv", "bd_rate.json", "rd_psnr.png", "rd_msssim.png",
                 "rd_vmaf.png", "rd_vmaf_neg.png"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "results.json").read_text())
    from imfcodec.models import weights
    loaded = weights.load(str(tiny_model_path))
    assert summary["models"] == [{"name": loaded.name, "digest": loaded.digest.hex()}]
    rows = summary["rows"]
    keys = {"clip", "codec", "setting", "param", "frames", "fps", "width", "height", "bytes",
            "kbps", "bpp", "psnr", "msssim", "encode_s", "decode_s", "f2f_psnr", "source_f2f_psnr",
            "audio_kbps", "vmaf", "vmaf_neg", "per_frame"}
    assert all(set(row) == keys for row in rows)
    assert all(row["audio_kbps"] == 0 for row in rows)  # the clip has no sound
    # SVT-AV1 at the full size and at 1/2, 1/3 and 1/4 of each side (80x64: 40x32, 26x22, 20x16)
    scaled = ["svtav1@1/2", "svtav1@1/3", "svtav1@1/4"]
    assert {row["codec"] for row in rows} == {"static", "imf", "imf-adaptive", "x264", "svtav1",
                                              *scaled}
    assert summary["vmaf_models"] == {"vmaf": "vmaf_v0.6.1", "vmaf_neg": "vmaf_v0.6.1neg"}
    for row in rows:
        seconds = row["frames"] / row["fps"]
        assert row["kbps"] == pytest.approx(row["bytes"] * 8 / 1000 / seconds)
        # every codec at the clip's own 80x64 picture
        assert (row["width"], row["height"]) == (80, 64)
        assert row["bpp"] == pytest.approx(row["bytes"] * 8 / (row["frames"] * 80 * 64))
        assert 0 < row["msssim"] <= 1 and row["psnr"] > 5
        assert 0 <= row["vmaf_neg"] <= row["vmaf"] + 0.5 <= 100.5
        # every metric frame by frame, whose mean is the row's value
        assert set(row["per_frame"]) == {"psnr", "msssim", "vmaf", "vmaf_neg"}
        for metric, values in row["per_frame"].items():
            assert len(values) == row["frames"]
            assert sum(values) / len(values) == pytest.approx(row[metric], abs=1e-3)
    # the smaller the size SVT-AV1 codes at, the fewer its bytes at a CRF
    crf = {c: next(r["bytes"] for r in rows if r["codec"] == c and r["setting"] == "crf45")
           for c in ["svtav1", *scaled]}
    assert crf["svtav1"] > crf["svtav1@1/2"] > crf["svtav1@1/4"]
    # the imf rate is the whole .imf file: encode the same clip standalone (the bench shares
    # the token encoder's output across settings) and compare byte counts
    for codec, q, extra in (("imf", "7", []), ("imf-adaptive", "0", ["--adaptive"])):
        imf = tmp_path / f"{codec}-q{q}.imf"
        r = CliRunner().invoke(main, [str(a) for a in ["encode", clip, imf, "--model", tiny_model_path,
                                                       "-q", q, "--quiet", *extra]])
        assert r.exit_code == 0, r.output
        row = next(row for row in rows if row["codec"] == codec and row["setting"] == f"q{q}")
        assert row["bytes"] == imf.stat().st_size, codec
    # below level 0: rate control's coarser settings, never more bytes than level 0
    for codec in ("imf", "imf-adaptive"):
        size = {row["setting"]: row["bytes"] for row in rows if row["codec"] == codec
                and row["clip"] == rows[0]["clip"]}
        assert set(size) == {"x-2", "q0", "q7"} and size["x-2"] <= size["q0"]
    bd = json.loads((out / "bd_rate.json").read_text())
    assert set(bd) == {"imf", "imf-adaptive"}
    anchors = {"static", "x264", "svtav1", *scaled, "svtav1-best"}
    assert set(bd["imf"]) == anchors
    assert set(bd["imf"]["x264"]) == {"psnr", "msssim", "vmaf", "vmaf_neg"}
    assert set(bd["imf-adaptive"]) == anchors | {"imf"}
    # the envelope in each metric, its points each from one of SVT-AV1's curves; per clip too
    envelope = summary["envelopes"]["svtav1-best"]
    assert set(envelope) == {"psnr", "msssim", "vmaf", "vmaf_neg"}
    assert {p["from"] for p in envelope["msssim"]} <= {"svtav1", *scaled}
    mean = summary["bd_rate_per_clip"]["mean"]["imf"]["svtav1-best"]["vmaf_neg"]
    assert mean["of"] == 1
    # the static floor: every frame of a clip is its key frame's picture; no token bytes
    # (at the imf model's size, on the same frames as the other codecs)
    from imfcodec.codec import Codec
    from imfcodec.motion.static import StaticMotion

    static = [row for row in rows if row["codec"] == "static"]
    assert [row["setting"] for row in static] == ["x-2", "q0", "q7"]
    stream = Codec(StaticMotion(image_size=64)).encode(clip, quality=7)
    assert static[2]["bytes"] == len(stream.data) and stream.stats.bytes_tokens < 40


def test_bench_refuses_unknown_codecs_and_existing_output(tmp_path, clip, tiny_model_path):
    r = CliRunner().invoke(main, ["bench", str(clip), "--out", str(tmp_path / "b"), "--codecs", "vp9"])
    assert r.exit_code == 2 and "unknown codec(s) vp9" in r.output
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "mine.txt").write_text("x")
    r = CliRunner().invoke(main, ["bench", str(clip), "--out", str(tmp_path / "b"), "--codecs", "x264",
                                  "--frames", "3"])
    assert r.exit_code == 3 and "exists" in r.output
    # refused before any work: not even the model is loaded
    r = CliRunner().invoke(main, ["bench", str(clip), "--out", str(tmp_path / "b"), "--model",
                                  str(tmp_path / "missing.safetensors")])
    assert r.exit_code == 3 and "exists" in r.output
    r = CliRunner().invoke(main, ["bench", str(clip), "--out", str(tmp_path / "b"), "--force",
                                  "--model", str(tmp_path / "missing.safetensors")])
    assert r.exit_code == 3 and "not an imfcodec output folder" in r.output


def test_default_settings_are_the_levels_and_coarser_ones_on_request(clip, tiny_model_path):
    from pathlib import Path

    from imfcodec.bench import rd
    from imfcodec.codec import Codec

    codec = Codec.load(str(tiny_model_path), "cpu")
    rows = rd.run([Path(clip)], ["imf", "imf-adaptive"], [codec], qualities=None, max_frames=3)
    settings = {codec: [r.setting for r in rows if r.codec == codec] for codec in rd.IMF_MODES}
    levels = [f"q{q}" for q in range(8)]
    assert settings["imf"] == levels
    assert settings["imf-adaptive"] == levels
    rows = rd.run([Path(clip)], ["imf-adaptive"], [codec], qualities=[-2, 0], max_frames=3)
    assert [r.setting for r in rows] == ["x-2", "q0"]


def test_several_models_are_measured_side_by_side(clip, tiny_model_path, tmp_path):
    """--model A,B: each model's rows are named by the model, and each is compared with the
    other curves (of two imfcodec curves, the later is measured against the earlier)."""
    import numpy as np

    from imfcodec.motion import dictionary as md
    from imfcodec.motion.flow import FlowConfig, serialize

    flows = np.random.default_rng(0).normal(0, 2, (50, 2, 8, 8)).astype(np.float32)
    flow_path = tmp_path / "flow-a.safetensors"
    flow_path.write_bytes(serialize(md.principal(flows, 4), FlowConfig(64, 8, 4, 0.25, "fast"), "flow-a"))
    out = tmp_path / "bench"
    args = ["bench", clip, "--out", out, "--codecs", "imf,imf-adaptive,x264", "--qualities", "0,5",
            "--frames", "4", "--model", f"{tiny_model_path},{flow_path}", "--json"]
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "results.json").read_text())
    assert [m["name"] for m in summary["models"]] == ["tiny-test", "flow-a"]
    names = {row["codec"] for row in summary["rows"]}
    assert names == {"tiny-test", "tiny-test-adaptive", "flow-a", "flow-a-adaptive", "x264"}
    assert set(summary["bd_rate"]["tiny-test"]) == {"x264"}
    assert set(summary["bd_rate"]["flow-a-adaptive"]) == {"tiny-test", "tiny-test-adaptive", "flow-a", "x264"}


def test_several_reference_counts_are_measured_side_by_side(clip, tiny_model_path, tmp_path):
    """--references 1,4: adaptive refresh once per count (rows imf-adaptive, imf-adaptive-r4),
    the later compared with the earlier; one key frame a clip is measured once."""
    out = tmp_path / "bench"
    args = ["bench", clip, "--out", out, "--codecs", "imf,imf-adaptive", "--qualities", "0,5",
            "--frames", "4", "--model", tiny_model_path, "--references", "1,4", "--json"]
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "results.json").read_text())
    assert summary["references"] == [1, 4]
    names = [row["codec"] for row in summary["rows"]]
    assert sorted(set(names)) == ["imf", "imf-adaptive", "imf-adaptive-r4"]
    assert names.count("imf") == names.count("imf-adaptive-r4") == 2
    assert set(summary["bd_rate"]["imf-adaptive-r4"]) == {"imf", "imf-adaptive"}
    for bad in ("0", "1,1", "5", "x"):
        r = CliRunner().invoke(main, ["bench", str(clip), "--out", str(tmp_path / "b2"),
                                      "--references", bad])
        assert r.exit_code == 2 and "--references" in r.output and "Traceback" not in r.output
        assert not (tmp_path / "b2").exists()
