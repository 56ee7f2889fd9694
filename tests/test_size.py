"""The picture at the input's own size (format 7.0): the output's size and shape, the motion
region, the full-size warp, the picture's global motion (8.0), and what bad sizes give."""

from __future__ import annotations

import io
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

from imfcodec import bitstream as bs
from imfcodec.cli import main
from imfcodec.codec import Codec
from imfcodec.errors import FormatError, InputError
from imfcodec.layout import Layout, choose_region, output_size, parse_size, plan
from imfcodec.metrics import psnr
from imfcodec.motion import camera
from imfcodec.motion.fullsize import FullSize
from imfcodec.options import Tuning
from imfcodec.motion.static import StaticMotion
from imfcodec.source import Source

from .conftest import synthetic_frames, write_clip
from .test_flow import flow_model, flow_model_path, shifted, texture  # noqa: F401 (fixtures)


def test_output_sizes_keep_the_aspect_and_fit_1080p():
    assert output_size(1280, 720) == (1280, 720)
    assert output_size(720, 1280) == (720, 1280)
    assert output_size(3840, 2160) == (1920, 1080)
    assert output_size(2160, 3840) == (1080, 1920)
    assert output_size(7680, 4320) == (1920, 1080)
    assert output_size(481, 907) == (480, 906)  # 4:2:0 wants even sides
    assert output_size(1280, 720, (640, 640)) == (640, 360)
    assert parse_size("640x360") == (640, 360)
    for bad in ("640", "x360", "0x10", "99999x10"):
        with pytest.raises(InputError, match="--size"):
            parse_size(bad)


def test_the_plan_says_what_it_did():
    assert plan(256, 256, 256).layout == Layout.square(256)  # the model's square: as before
    big = plan(3840, 2160, 256)
    assert big.read == (1920, 1080) and "scaled down from 3840x2160 to 1920x1080" in big.notes[0]
    square = plan(1280, 720, 256, "256x256")
    assert square.read == 256 and square.layout == Layout.square(256)
    tiny = plan(40, 30, 256)
    assert tiny.read == 256 and "under 64 pixels" in tiny.notes[0]
    own = plan(1280, 720, 256)
    assert own.read == (1280, 720) and own.layout.region == (280, 0, 720) and not own.notes
    # a --size larger than 1080p does not lift the limit
    over = plan(3840, 2160, 256, "3840x2160")
    assert over.read == (1920, 1080) and over.notes[0].endswith("to fit 1920x1080")
    assert plan(3840, 2160, 256, "8192x8192").read == 1080  # a square: at most 1080 a side
    assert plan(2160, 3840, 256, "3840x2160").read == (1080, 1920)
    # another default box (a call's, 640x360), turned to the picture; --size still goes to 1080p
    assert plan(1280, 720, 256, None, (640, 360)).read == (640, 360)
    assert plan(720, 1280, 256, None, (640, 360)).read == (360, 640)
    assert plan(1280, 720, 256, "1280x720", (640, 360)).read == (1280, 720)
    assert plan(256, 256, 256, None, (640, 360)).layout == Layout.square(256)


def test_the_region_goes_where_the_picture_moves():
    assert choose_region(1280, 720) == (280, 0, 720)
    assert choose_region(720, 1280) == (0, 280, 720)
    assert choose_region(512, 512) == (0, 0, 512)
    still = np.zeros((90, 160))
    assert choose_region(1280, 720, still) == (280, 0, 720)
    moving = still.copy()
    moving[:, 100:150] = 1.0  # motion on the right
    x, y, side = choose_region(1280, 720, moving)
    assert y == 0 and side == 720 and 440 <= x and x + side <= 1280  # (ties go to the centre)
    upright = np.zeros((160, 90))
    upright[10:50] = 1.0  # a face near the top of a portrait clip
    assert choose_region(720, 1280, upright)[1] < 100


def test_the_header_carries_the_region_from_version_7_only():
    header = bs.Header("m", bytes(16), 4, 96, 64, 96, 64, Fraction(10), 3, 3, 0.5, 1, 39,
                       region=(16, 0, 64))
    data = bs.pack(header, [])
    assert data[4:6] == bytes([7, 0])
    assert next(bs.read_records(io.BytesIO(data)))[1].region == (16, 0, 64)
    older = bytearray(data)
    older[4] = 6  # the same header claimed by a 6.0 file
    with pytest.raises(FormatError, match="came in 7.0"):
        list(bs.read_records(io.BytesIO(bytes(older))))
    outside = bs.Header("m", bytes(16), 4, 96, 64, 96, 64, Fraction(10), 3, 3, 0.5, 1, 39,
                        region=(40, 0, 64))
    with pytest.raises(FormatError, match="outside the 96x64 picture"):
        bs.Header.from_bytes(outside.to_bytes())
    square = bs.Header("m", bytes(16), 4, 64, 64, 64, 64, Fraction(10), 3, 3, 0.5, 1, 39)
    assert bs.pack(square, [])[4:6] == bytes([1, 0])  # no region: written as before


def test_the_full_size_warp_moves_the_sharp_key_frame(flow_model):  # noqa: F811
    """A 128x96 picture whose 64x64 working region moves by a whole shift: the full-size
    rebuild moves the full-size key frame (sharper than the working view scaled up)."""
    key = texture(96 * 2, seed=3)[:96, :128]
    layout = Layout(128, 96, (32, 16, 64))
    full = FullSize(flow_model, layout)
    moved = shifted(key, 2.0, 0.0)
    reference = full.reference(key)
    tokens = full.analyse([moved], reference)
    rebuilt = full.synthesise(reference, tokens)[0]
    x, y, side = layout.region
    inner = (slice(y + 16, y + side - 16), slice(x + 16, x + side - 16))  # past the fade
    assert psnr(moved[inner], rebuilt[inner]) > psnr(moved[inner], key[inner]) + 3
    # outside the region the frame is its key frame
    assert np.array_equal(rebuilt[:, :x], key[:, :x]) and np.array_equal(rebuilt[:, x + side:], key[:, x + side:])



def test_the_header_carries_the_global_motion_from_version_8_only():
    header = bs.Header("m", bytes(16), 4, 96, 64, 96, 64, Fraction(10), 3, 3, 0.5, 1, 39,
                       region=(16, 0, 64), global_motion=True)
    data = bs.pack(header, [])
    assert data[4:6] == bytes([8, 0])
    assert next(bs.read_records(io.BytesIO(data)))[1].global_motion
    older = bytearray(data)
    older[4] = 7  # the same header claimed by a 7.0 file
    with pytest.raises(FormatError, match="came in 8.0"):
        list(bs.read_records(io.BytesIO(bytes(older))))
    unknown = header.to_bytes()[:-1] + bytes([2])
    with pytest.raises(FormatError, match="unknown global motion 2"):
        bs.Header.from_bytes(unknown)
    with pytest.raises(ValueError, match="needs a motion region"):
        bs.Header("m", bytes(16), 4, 64, 64, 64, 64, Fraction(10), 3, 3, 0.5, 1, 39,
                  global_motion=True).to_bytes()


def panning(n: int, width: int, height: int, step: float) -> list[np.ndarray]:
    """A textured scene that a camera pans across, ``step`` pixels a frame to the left."""
    scene = texture(2 * max(width, height), seed=5)
    return [np.ascontiguousarray(shifted(scene, -step * t, 0.4 * step * t)[:height, :width])
            for t in range(n)]


def test_the_global_motion_is_found_and_moves_the_outside(flow_model):  # noqa: F811
    """A camera pan over a 160x96 picture with a 64x64 region: the estimate finds the pan
    (within a pixel at the corners), and the rebuild moves what lies outside the region."""
    frames = panning(4, 160, 96, 3.0)
    layout = Layout(160, 96, (48, 16, 64))
    assert camera.useful(160, 96, layout.region)
    moved = camera.estimate(frames[0], frames[1:], layout.region)
    expected = np.array([[3.0 * t, -1.2 * t] * 4 for t in (1, 2, 3)], np.float32)
    assert np.abs(moved - expected).max() < 1.0
    outside = (slice(None), slice(0, 40))  # left of the region and its fade
    with_global, without = FullSize(flow_model, layout, True), FullSize(flow_model, layout)
    for full, gain in ((with_global, 8), (without, None)):
        reference = full.reference(frames[0])
        tokens = full.analyse(frames[1:], reference)
        assert tokens.shape == (3, flow_model.token_dim + full.extra)
        levels = np.rint(tokens / full.grid(0.25))
        rebuilt = full.synthesise(reference, (levels * full.grid(0.25)).astype(np.float32))
        errors = [psnr(f[outside], r[outside]) for f, r in zip(frames[1:], rebuilt)]
        still = [psnr(f[outside], frames[0][outside]) for f in frames[1:]]
        if gain is None:  # without it, the outside is the key frame as it is
            assert all(np.array_equal(r[outside], frames[0][outside]) for r in rebuilt)
        else:
            assert min(e - s for e, s in zip(errors, still)) > gain


def test_a_still_background_sends_no_global_motion():
    """Only a disc moves (in and out of the region): the outside does not move as one, so
    every frame's global motion is 0 and costs a zero residual."""
    frames = synthetic_frames(6, 128, 72, seed=4)
    assert not camera.estimate(frames[0], frames[1:], (28, 0, 72)).any()


def test_a_panning_clip_codes_its_global_motion(flow_model):  # noqa: F811
    """Through the codec: a 8.0 file, decoded the same twice, closer to the pan than the
    same encode without the global motion (a 7.0 file), for a few bytes more."""
    codec = Codec(flow_model)
    frames = panning(10, 160, 96, 2.0)
    source = Source.from_frames(frames, Fraction(10))
    with_global = codec.encode(source, audio=None, quality=5, key_placement="start")
    without = codec.encode(source, audio=None, quality=5, key_placement="start",
                           tuning=Tuning(global_motion=False))
    assert with_global.data[4] == 8 and without.data[4] == 7
    decoded = np.stack(list(codec.decode(with_global)))
    assert np.array_equal(decoded, np.stack(list(codec.decode(with_global.data))))
    plain = np.stack(list(codec.decode(without)))
    quality = np.mean([psnr(f, d) for f, d in zip(frames, decoded)])
    assert quality > np.mean([psnr(f, d) for f, d in zip(frames, plain)]) + 3
    assert len(with_global.data) < len(without.data) + 10 * 8

def test_a_wide_clip_comes_back_at_its_own_size(tmp_path, tiny_codec):
    frames = synthetic_frames(8, 96, 64, seed=2)
    path = write_clip(tmp_path / "wide.mp4", frames)
    stream = tiny_codec.encode(path, audio=None, quality=7, key_placement="start")
    # (a third of the picture lies outside the region: the global motion comes with it, 8.0)
    assert stream.data[4] == 8 and (stream.header.width, stream.header.height) == (96, 64)
    assert stream.header.global_motion
    assert stream.header.region == (16, 0, 64) or stream.header.region[2] == 64
    decoded = np.stack(list(tiny_codec.decode(stream)))
    assert decoded.shape == (8, 64, 96, 3)
    assert np.array_equal(decoded, np.stack(list(tiny_codec.decode(stream.data))))  # deterministic
    assert psnr(np.stack(frames)[0], decoded[0]) > 30  # the key frame, at full size
    # the model's square on request: the picture of earlier versions, no region
    square = tiny_codec.encode(path, audio=None, size="64x64")
    assert square.header.region is None and square.data[4] <= 6
    assert np.stack(list(tiny_codec.decode(square))).shape == (8, 64, 64, 3)


def test_the_encoders_rebuild_is_the_decoders_output_at_full_size(tmp_path):
    """With the built-in static model every frame shows its key frame: at full size the
    decoder's frames are the full-size decoded key frames, whatever the region."""
    codec = Codec(StaticMotion(image_size=64))
    frames = synthetic_frames(6, 128, 72, seed=4)
    stream = codec.encode(Source.from_frames(frames, Fraction(10)), audio=None, quality=7,
                          key_placement="start")
    assert (stream.header.width, stream.header.height) == (128, 72)
    decoded = list(codec.decode(stream))
    assert all(np.array_equal(d, decoded[0]) for d in decoded)
    assert psnr(frames[0], decoded[0]) > 30


def test_the_command_line_says_what_it_did_with_the_size(tmp_path, tiny_model_path):
    tiny = write_clip(tmp_path / "tiny.mp4", synthetic_frames(4, 48, 32))
    r = CliRunner().invoke(main, ["encode", str(tiny), str(tmp_path / "t.imf"), "--model",
                                  str(tiny_model_path), "--json", "--no-audio"])
    assert r.exit_code == 0, r.output
    assert '"width": 64' in r.output and "under 64 pixels" in r.output
    odd = _odd_clip(tmp_path / "odd.mkv", synthetic_frames(4, 99, 67))
    r = CliRunner().invoke(main, ["encode", str(odd), str(tmp_path / "o.imf"), "--model",
                                  str(tiny_model_path), "--size", "80x80x"])
    assert r.exit_code == 2 and "--size" in r.output
    r = CliRunner().invoke(main, ["encode", str(odd), str(tmp_path / "o.imf"), "--model",
                                  str(tiny_model_path), "--quiet"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["decode", str(tmp_path / "o.imf"), str(tmp_path / "o.mkv"),
                                  "--json", "--model", str(tiny_model_path)])
    assert r.exit_code == 0 and '"width": 98' in r.output and '"height": 66' in r.output


def _odd_clip(path, frames):
    """A clip of odd sides (FFV1, 4:4:4: H.264's 4:2:0 takes even sides only)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=10)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv444p"
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def test_a_phone_clip_comes_back_upright_at_its_own_size(tmp_path, tiny_model_path):
    import av

    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        s.set_display_rotation(90)  # a portrait clip as phones store it
        for frame in synthetic_frames(4, 96, 64):
            c.mux(s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        c.mux(s.encode(None))
    r = CliRunner().invoke(main, ["encode", str(path), str(tmp_path / "p.imf"), "--model",
                                  str(tiny_model_path), "--json"])
    assert r.exit_code == 0, r.output
    import json

    summary = json.loads(r.stdout)
    assert (summary["width"], summary["height"], summary["rotation"]) == (64, 96, 90)
    assert summary["motion_region"][0] == 0 and summary["motion_region"][2] == 64


@pytest.mark.slow
def test_a_4k_input_is_scaled_down_to_1080p_and_said(tmp_path, tiny_model_path):
    import av

    path = tmp_path / "uhd.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 3840, 2160, "yuv420p"
        s.options = {"preset": "ultrafast"}
        for frame in synthetic_frames(2, 3840, 2160):
            c.mux(s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        c.mux(s.encode(None))
    r = CliRunner().invoke(main, ["encode", str(path), str(tmp_path / "u.imf"), "--model",
                                  str(tiny_model_path), "--json", "-q", "0"])
    assert r.exit_code == 0, r.output
    import json

    summary = json.loads(r.stdout)
    assert (summary["width"], summary["height"]) == (1920, 1080)
    assert summary["picture_notes"] == ["scaled down from 3840x2160 to 1920x1080 to fit 1920x1080"]
