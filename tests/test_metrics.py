"""VMAF through libvmaf, the SVT-AV1 anchor at reduced sizes and its envelope, `imfcodec compare`."""

from __future__ import annotations

import json
from fractions import Fraction

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from imfcodec.bench.anchors import ANCHORS, code, reduced_size
from imfcodec.bench.envelope import envelope
from imfcodec.cli import main
from imfcodec.errors import InputError
from imfcodec.metrics import clip_quality, vmaf_frames

from .conftest import synthetic_frames, write_clip


def textured(n: int, width: int = 96, height: int = 64) -> list[np.ndarray]:
    """Moving detail for VMAF to see: smoothed noise under the moving disc of synthetic_frames."""
    noise = np.random.default_rng(1).integers(0, 256, (height, width * 2, 3), dtype=np.uint8)
    noise = cv2.GaussianBlur(noise, (0, 0), 1.2).astype(np.int16) - 128
    discs = synthetic_frames(n, width, height)
    return [np.clip(d.astype(np.int16) + noise[:, t : t + width] // 2, 0, 255).astype(np.uint8)
            for t, d in enumerate(discs)]


def blurred(frames: list[np.ndarray], sigma: float) -> list[np.ndarray]:
    return [cv2.GaussianBlur(f, (0, 0), sigma) for f in frames]


def test_vmaf_of_a_clip_against_itself_is_near_100_and_falls_with_blur():
    frames = textured(8)
    same = vmaf_frames(frames, frames)
    assert set(same) == {"vmaf", "vmaf_neg"} and len(same["vmaf"]) == 8
    # libvmaf's model is not clipped to 100: identical pictures score near it, not at it
    assert same["vmaf"].mean() > 95 and same["vmaf_neg"].mean() > 95
    light, heavy = (clip_quality(frames, blurred(frames, s), vmaf=True) for s in (0.8, 2.0))
    assert same["vmaf"].mean() - 5 > light["vmaf"] > heavy["vmaf"] + 5
    assert same["vmaf_neg"].mean() - 5 > light["vmaf_neg"] > heavy["vmaf_neg"] + 5
    # VMAF-NEG does not reward sharpening: a sharpened clip gains in VMAF over VMAF-NEG
    soft = blurred(frames, 1.0)
    sharp = [cv2.addWeighted(f, 2.0, cv2.GaussianBlur(f, (0, 0), 1.5), -1.0, 0) for f in soft]
    gain = clip_quality(frames, sharp, vmaf=True)
    assert gain["vmaf"] - gain["vmaf_neg"] > 1


def test_vmaf_refuses_frames_that_do_not_pair_up():
    frames = textured(3)
    with pytest.raises(InputError, match="3 reference frames but 2 test frames"):
        vmaf_frames(frames, frames[:2])
    with pytest.raises(InputError, match="not both"):
        vmaf_frames(frames, [f[:32] for f in frames])


@pytest.mark.parametrize("width,height", [(256, 256), (1280, 720), (480, 908), (80, 64), (1920, 1080)])
@pytest.mark.parametrize("divisor", [1, 2, 3, 4])
def test_reduced_sizes_are_even_and_nearest_to_the_divided_side(width, height, divisor):
    w, h = reduced_size(width, height, divisor)
    if divisor == 1:
        assert (w, h) == (width, height)
        return
    for side, full in ((w, width), (h, height)):
        assert side % 2 == 0 and abs(side - full / divisor) <= 1


def test_svtav1_at_a_reduced_size_comes_back_at_full_size_with_fewer_bytes():
    frames = synthetic_frames(6, 96, 64)
    full = code(ANCHORS["svtav1"], frames, Fraction(10), 45)
    half = code(ANCHORS["svtav1"], frames, Fraction(10), 45, divisor=2)
    assert [f.shape for f in half.frames] == [(64, 96, 3)] * 6
    assert half.bytes < full.bytes
    assert clip_quality(frames, half.frames)["psnr"] < clip_quality(frames, full.frames)["psnr"]


def test_the_envelope_of_two_crossing_curves_switches_where_they_cross():
    a = ([10, 20, 40], [0.90, 0.93, 0.95])
    b = ([15, 30, 60], [0.88, 0.94, 0.98])
    points = envelope({"a": a, "b": b})
    # a leads up to its segment 20..40 meeting b's 30..60 segment; worked by hand in log2-rate:
    # a(x) = 0.93 + 0.02 (x - log2 20), b(x) = 0.94 + 0.04 (x - log2 30), equal at x below
    x = (0.94 - 0.93 + 0.02 * np.log2(20) - 0.04 * np.log2(30)) / (0.02 - 0.04)
    assert [(p.kbps, p.source) for p in points[:2]] == [(10, "a"), (20, "a")]
    assert points[2].kbps == pytest.approx(2**x) and points[2].source == "b"
    assert points[2].quality == pytest.approx(0.93 + 0.02 * (x - np.log2(20)))
    assert (points[3].kbps, points[3].quality, points[3].source) == (60, 0.98, "b")
    assert len(points) == 4


def test_a_curve_that_leads_everywhere_is_its_own_envelope_and_flat_tails_count():
    best = ([5, 10, 20], [0.90, 0.95, 0.97])
    worse = ([6, 12, 18], [0.85, 0.90, 0.92])
    assert [(p.kbps, p.quality) for p in envelope({"best": best, "worse": worse})] == \
        list(zip(*best))
    # a curve that ends high is held flat: another's cheaper-quality points past it drop out,
    # and the envelope resumes where the other rises above that level
    early = ([5, 10], [0.90, 0.96])
    late = ([8, 16, 64], [0.80, 0.95, 0.99])
    points = envelope({"early": early, "late": late})
    assert [p.source for p in points] == ["early", "early", "late", "late"]
    # the flat run ends where late reaches 0.96: 0.95 + 0.04 * log4(r / 16) = 0.96
    assert points[2].kbps == pytest.approx(16 * 4**0.25)
    assert 0 < points[2].quality - points[1].quality < 1e-6
    # a curve's non-monotone points are left out, as BD-rate leaves them out
    assert [p.kbps for p in envelope({"bumpy": ([1, 2, 3], [0.5, 0.4, 0.6])})] == [1, 3]


curves = st.lists(st.tuples(st.floats(1, 1000), st.floats(0, 1)), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from("abcd"), curves, min_size=1, max_size=4))
def test_the_envelope_is_the_pointwise_best_of_the_curves(found):
    from imfcodec.bench.bdrate import monotone

    given_curves = {k: ([r for r, _ in v], [q for _, q in v]) for k, v in found.items()}
    points = envelope(given_curves)
    rates = np.log([p.kbps for p in points])
    values = np.array([p.quality for p in points])
    assert np.all(np.diff(rates) > 0) and np.all(np.diff(values) > 0)

    def best_at(x):
        out = -np.inf
        for r, q in (monotone(*c) for c in given_curves.values()):
            if len(r) and x >= np.log(r[0]) - 1e-12:
                out = max(out, float(np.interp(x, np.log(r), q)))
        return out

    # every point lies on the best curve there (up to a flat run's tiny step), and straight
    # lines through the points are nowhere below any curve: at every curve's points and
    # halfway between the envelope's own
    for x, value in zip(rates, values):
        assert value == pytest.approx(best_at(x), abs=1e-6)
    checks = [np.log(r) for c in given_curves.values() for r in monotone(*c)[0]]
    checks += [(a + b) / 2 for a, b in zip(rates, rates[1:])]
    for x in checks:
        if x >= rates[0] - 1e-9:
            assert np.interp(x, rates, values) >= best_at(x) - 1e-9


def test_compare_measures_every_metric_frame_by_frame_and_refuses_mismatches(tmp_path):
    frames = textured(6)
    ref = write_clip(tmp_path / "ref.mp4", frames)
    soft = write_clip(tmp_path / "soft.mp4", blurred(frames, 1.5))
    r = CliRunner().invoke(main, ["compare", str(ref), str(soft), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["frames"] == 6 and (data["width"], data["height"]) == (96, 64)
    assert data["vmaf_models"] == {"vmaf": "vmaf_v0.6.1", "vmaf_neg": "vmaf_v0.6.1neg"}
    assert set(data["metrics"]) == {"psnr", "msssim", "vmaf", "vmaf_neg"}
    for values in data["metrics"].values():
        assert len(values["per_frame"]) == 6 and values["min"] <= values["mean"]
    itself = json.loads(CliRunner().invoke(main, ["compare", str(ref), str(ref), "--json"]).output)
    assert itself["metrics"]["psnr"]["mean"] == 100
    assert itself["metrics"]["vmaf"]["mean"] > data["metrics"]["vmaf"]["mean"] + 5
    r = CliRunner().invoke(main, ["compare", str(ref), str(soft), "--no-vmaf"])
    assert r.exit_code == 0 and "MS-SSIM" in r.output and "VMAF" not in r.output
    # other lengths, other sizes: one line, exit 2; --frames compares the first N of both
    short = write_clip(tmp_path / "short.mp4", frames[:4])
    r = CliRunner().invoke(main, ["compare", str(ref), str(short)])
    assert r.exit_code == 2 and "has 6 frames but" in r.output and "has 4" in r.output
    assert "Traceback" not in r.output
    r = CliRunner().invoke(main, ["compare", str(ref), str(short), "--frames", "3", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["frames"] == 3
    other = write_clip(tmp_path / "other.mp4", [f[:, :80] for f in frames])
    r = CliRunner().invoke(main, ["compare", str(ref), str(other)])
    assert r.exit_code == 2 and "96x64" in r.output and "80x64" in r.output
    r = CliRunner().invoke(main, ["compare", str(ref), str(tmp_path / "missing.mp4")])
    assert r.exit_code == 2 and "no such file" in r.output
