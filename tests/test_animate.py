"""`imfcodec animate` (issue 29) on synthetic clips: frame count, rate and sound follow the
driving clip; relative motion from a still driving clip leaves the source as it is; bad input
is one line and no output."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest
from click.testing import CliRunner

from imfcodec.animate import still
from imfcodec.cli import main
from imfcodec.codec import Codec
from imfcodec.motion.static import StaticMotion

from .conftest import synthetic_frames, write_clip
from .test_audio import write_av
from .test_bad_input import one_line_error, write_ffv1


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("animate")
    portrait = synthetic_frames(1, 96, 80, seed=3)[0]
    av_image = av.VideoFrame.from_ndarray(portrait, format="rgb24").to_image()
    av_image.save(folder / "portrait.png")
    still_frames = synthetic_frames(1, 64, 64, seed=5) * 8
    return {
        "portrait": folder / "portrait.png",
        "driving": write_av(folder / "driving.mkv", synthetic_frames(14, 64, 64, seed=1),
                            fps=Fraction(15), seconds=0.9),
        "still": write_ffv1(folder / "still.mkv", still_frames, fps=12),  # lossless: no motion
        "still_lossy": write_clip(folder / "still.mp4", still_frames, fps=Fraction(12)),
        "folder": folder,
    }


def test_frames_rate_and_sound_follow_the_driving_clip(media, tmp_path):
    r = run("animate", media["portrait"], media["driving"], tmp_path / "out.mp4", "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["frames"] == 14 and summary["fps"] == 15.0
    with av.open(str(tmp_path / "out.mp4")) as c:
        video = c.streams.video[0]
        assert video.frames == 14 and video.average_rate == 15
        # the source picture's own size (96x80), not the model's square
        assert (video.width, video.height) == (96, 80) == (summary["width"], summary["height"])
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "opus"
    # the model's square on request, as before
    r = run("animate", media["portrait"], media["driving"], tmp_path / "square.mkv", "--json",
            "--size", "256x256", "--no-audio")
    assert r.exit_code == 0, r.output
    with av.open(str(tmp_path / "square.mkv")) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (256, 256)


def test_relative_motion_of_a_still_clip_leaves_the_source_unchanged(media):
    codec = Codec.load("imf-flow")
    source = still(media["portrait"], 256, "crop", own=True)
    assert source.shape == (80, 96, 3)
    frames = list(codec.animate(media["portrait"], media["still"]))
    assert len(frames) == 8
    assert all(np.array_equal(f, source) for f in frames)
    # a still clip coded lossily moves by its coding noise only
    from imfcodec.metrics import psnr

    noisy = list(codec.animate(media["portrait"], media["still_lossy"]))
    assert min(psnr(source, f) for f in noisy) > 30
    # absolute motion makes the source into the driving picture instead: it changes
    moved = list(codec.animate(media["portrait"], media["still"], relative=False))
    assert not np.array_equal(moved[0], source)


def test_the_same_picture_is_animated_by_its_own_clip(media):
    """Source = the driving clip's first frame: the animation follows the clip."""
    from imfcodec.metrics import psnr
    from imfcodec.source import Source

    codec = Codec.load("imf-flow")
    clip = Source.open(media["driving"], 256)
    frames = clip.read()
    animation = codec.animate(frames[0], clip)
    assert animation.alignment.found and animation.alignment.scale == pytest.approx(1, abs=0.01)
    out = list(animation)
    shown = np.mean([psnr(a, b) for a, b in zip(frames, out)])
    still_source = np.mean([psnr(a, frames[0]) for a in frames])
    assert shown > still_source + 3  # it moves with the clip, well beyond showing frame 0


def test_every_model_animates_through_the_interface(media):
    frames = list(Codec(StaticMotion()).animate(media["portrait"], media["driving"]))
    assert len(frames) == 14 and all(np.array_equal(f, frames[0]) for f in frames)


def test_bad_input(media, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture\n" * 20)
    one_line_error(run("animate", text, media["driving"], tmp_path / "a.mp4"), 2, "notes.png")
    assert not (tmp_path / "a.mp4").exists()
    voice = tmp_path / "voice.wav"
    with av.open(str(voice), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for p in [*s.encode(frame), *s.encode(None)]:
            c.mux(p)
    one_line_error(run("animate", media["portrait"], voice, tmp_path / "a.mp4"), 2,
                   "has no video stream")
    one_line_error(run("animate", media["portrait"], media["driving"], tmp_path / "a.avi"), 3,
                   "unknown output kind")
    (tmp_path / "b.mp4").write_bytes(b"keep")
    one_line_error(run("animate", media["portrait"], media["driving"], tmp_path / "b.mp4"), 3,
                   "exists")
    assert (tmp_path / "b.mp4").read_bytes() == b"keep"


def test_pictures_and_driving_videos_of_any_shape(tmp_path):
    """A wide picture driven by its own wide clip comes back at its size and follows the clip
    in its motion region; a portrait clip drives a wide picture at the picture's size."""
    from imfcodec.metrics import psnr

    codec = Codec.load("imf-flow")
    frames = synthetic_frames(10, 160, 96, seed=7)
    wide = write_clip(tmp_path / "wide.mp4", frames)
    clip = codec.open(wide)
    shown = clip.read()
    animation = codec.animate(shown[0], wide)
    assert animation.size == (160, 96)
    out = list(animation)
    assert len(out) == 10 and out[0].shape == (96, 160, 3)
    x, y, side = animation.picture.layout.region
    inner = (slice(y, y + side), slice(x, x + side))
    follows = np.mean([psnr(a[inner], b[inner]) for a, b in zip(shown, out)])
    still_first = np.mean([psnr(a[inner], shown[0][inner]) for a in shown])
    assert follows > still_first + 2
    upright = write_clip(tmp_path / "upright.mp4", synthetic_frames(6, 72, 128, seed=8))
    made = list(codec.animate(shown[0], upright))
    assert len(made) == 6 and all(f.shape == (96, 160, 3) for f in made)
