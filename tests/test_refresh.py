"""The encoder's key-frame rules (imfcodec/refresh.py) on numbers, and the options they read."""

from fractions import Fraction

import numpy as np
import pytest

from imfcodec.bitstream import KeyReason
from imfcodec.intra import IntraCodec
from imfcodec.options import ADAPTIVE, EncodeOptions, EncodeSettings, with_adaptive
from imfcodec.refresh import (RefreshRule, forced_reason, refresh_lambda_at,
                              scene_change)

GREY = np.full((16, 16, 3), 100, np.uint8)


def test_forced_reasons_in_their_order():
    plain = EncodeOptions()
    assert forced_reason(plain, 0, 0, GREY, None) is KeyReason.START
    assert forced_reason(plain, 7, 0, GREY, GREY) is None
    every5 = EncodeOptions(keyframe_interval=5)
    assert [i for i in range(12) if forced_reason(every5, i, 0, GREY, GREY) is not None] == [0, 5, 10]
    capped = EncodeOptions(max_keyframe_interval=4)
    assert forced_reason(capped, 6, 2, GREY, GREY) is KeyReason.INTERVAL  # 4 since the last key
    assert forced_reason(capped, 5, 2, GREY, GREY) is None
    cut = EncodeOptions(scene_cut=0.15)
    white = np.full_like(GREY, 255)
    assert scene_change(GREY, white) == pytest.approx(155 / 255)
    assert forced_reason(cut, 3, 0, white, GREY) is KeyReason.SCENE_CUT
    assert forced_reason(cut, 3, 0, GREY, GREY) is None


def test_rule_of_options_and_its_lambda():
    assert RefreshRule.of(EncodeOptions(), Fraction(25), 1, 40) is None  # no closed loop
    adaptive = with_adaptive(EncodeOptions(), Fraction(25))
    rule = RefreshRule.of(adaptive, Fraction(25), int(IntraCodec.HEVC), 39)
    assert rule.horizon == 25 and rule.gap == round(ADAPTIVE.min_refresh_seconds * 25)
    assert rule.lam == pytest.approx(ADAPTIVE.refresh_lambda * 2 ** 9)  # (39 - 12) / 3 = 9
    # rate control's rd_qp replaces the key frame's QP, on the HEVC scale
    from dataclasses import replace
    rd = RefreshRule.of(replace(adaptive, rd_qp=54.0), Fraction(25), int(IntraCodec.AV1), 63)
    assert rd.lam == pytest.approx(refresh_lambda_at(ADAPTIVE.refresh_lambda, 54.0, IntraCodec.HEVC))
    # AV1 QPs map onto the HEVC scale: 63 is 51
    assert refresh_lambda_at(1.0, 63, IntraCodec.AV1) == pytest.approx(refresh_lambda_at(1.0, 51, IntraCodec.HEVC))
    assert rule.eligible(20, 8) and not rule.eligible(20, 10)  # the 12-frame gap at 25 fps


def test_rule_decides_on_the_rebuilt_frame():
    off_by_8 = (GREY + 8).astype(np.uint8)  # MSE 64: PSNR 30.07 dB
    floor = RefreshRule(threshold=31.0, lam=None, horizon=10, gap=1)
    assert floor.wants_key(GREY, off_by_8, 0.0, 1000)
    assert not RefreshRule(29.0, None, 10, 1).wants_key(GREY, off_by_8, 0.0, 1000)
    # R-D: saves (64 - 4) * 768 samples * 10 frames = 460800 against lam * bits
    rd = RefreshRule(None, lam=1.0, horizon=10, gap=1)
    assert rd.wants_key(GREY, off_by_8, 4.0, 460799)
    assert not rd.wants_key(GREY, off_by_8, 4.0, 460800)


def test_the_refresh_horizon_is_a_tuning_option():
    from dataclasses import replace

    from imfcodec.options import Tuning
    one = with_adaptive(EncodeOptions(), Fraction(25))
    single = RefreshRule.of(one, Fraction(25), int(IntraCodec.HEVC), 39)
    four = RefreshRule.of(replace(one, references=4), Fraction(25), int(IntraCodec.HEVC), 39)
    assert single.horizon == four.horizon == round(Tuning().refresh_horizon * 25) == 25
    longer = replace(one, references=4, tuning=Tuning(refresh_horizon=2.0))  # what a study tunes
    held = RefreshRule.of(longer, Fraction(25), int(IntraCodec.HEVC), 39)
    assert held.horizon == 50 and held.lam == single.lam and held.gap == single.gap
    # the same drift pays for a key frame over the longer horizon only
    source = np.zeros((64, 64, 3), np.uint8)
    drifted = np.full_like(source, 20)  # MSE 400
    bits = round((400 - 50) * source.size * 30 / single.lam)  # pays over 30 frames, not 25
    assert held.wants_key(source, drifted, 50.0, bits)
    assert not single.wants_key(source, drifted, 50.0, bits)
    with pytest.raises(ValueError):
        Tuning(switch_gain=1.0)


def test_settings_map_to_options_as_the_command_line_does():
    fps = Fraction(30)
    assert EncodeSettings().options(fps) == EncodeOptions()
    assert not EncodeSettings(quality=5, refine=2).refresh_given()
    adaptive = EncodeSettings(adaptive=True).options(fps)
    assert adaptive == with_adaptive(EncodeOptions(), fps) and adaptive.closed_loop
    given = EncodeSettings(adaptive=True, refresh_threshold=30.0, scene_cut=0.3,
                           max_keyframe_interval=0, intra="av1").options(fps)
    assert (given.refresh_threshold, given.refresh_lambda, given.scene_cut) == (30.0, None, 0.3)
    assert given.max_keyframe_interval == 0 and given.intra_codec is IntraCodec.AV1
    # a rule without --adaptive still gets the minimum gap
    alone = EncodeSettings(refresh_lambda=10.0).options(fps)
    assert alone.min_refresh_gap == 15 and alone.max_keyframe_interval == 0
    assert EncodeSettings(max_keyframe_interval=0).refresh_given()
    with pytest.raises(ValueError):
        EncodeSettings(intra="vp9")
    with pytest.raises(ValueError):
        EncodeOptions(key_placement="middle")


def test_the_fast_grey_gives_the_numbers_of_the_float_means():
    """scene_change and key placement's thumbnails sum grey in integers: the same numbers as
    the float means they replace (exactly for the channel mean, to float rounding for the
    scene change), so encodes keep their bytes."""
    import numpy as np

    from imfcodec.frames import channel_mean

    rng = np.random.default_rng(3)
    a, b = (rng.integers(0, 256, (90, 130, 3), dtype=np.uint8) for _ in range(2))
    a[:5] = 255
    assert np.array_equal(channel_mean(a), a.astype(np.float32).mean(axis=2))

    def slow(x):
        g = x.astype(np.float32).mean(axis=2)
        return g[:88, :128].reshape(22, 4, 32, 4).mean(axis=(1, 3))

    expected = float(np.abs(slow(a) - slow(b)).mean() / 255)
    assert scene_change(a, b) == pytest.approx(expected, rel=1e-6)
    assert scene_change(b, a) == pytest.approx(expected, rel=1e-6)  # (b's grey kept from before)


def test_a_refresh_is_priced_at_the_mean_of_the_last_predicted_key_frames():
    from types import SimpleNamespace

    from imfcodec.encoder import KeyCoder
    from imfcodec.intra import PREDICTED_HEVC
    from imfcodec.options import Tuning

    header = SimpleNamespace(intra_codec=int(IntraCodec.HEVC), intra_qp=39)

    def prices(memory):
        coder = KeyCoder(header, EncodeOptions(tuning=Tuning(refresh_cost_memory=memory,
                                                             predicted_key_share=0.25)))
        # an intra key frame first (priced at a share of it), then predicted ones
        return [coder.refresh_bits(8000, int(IntraCodec.HEVC))] + [
            coder.refresh_bits(bits, PREDICTED_HEVC) for bits in (300, 6900, 3000, 900)]

    assert prices(1) == [2000, 300, 6900, 3000, 900]  # the last one's size (what files use)
    assert prices(3) == [2000, 300, 3600, 3400, 3600]
    with pytest.raises(ValueError):
        Tuning(refresh_cost_memory=0)
