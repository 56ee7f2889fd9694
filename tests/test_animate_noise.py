"""`imfcodec animate` says when the driving video shows no face-like motion (issue 40): a
clip of noise is not its first frame moved, a structured clip is (animate.check_motion)."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest
from click.testing import CliRunner

from imfcodec.animate import MIN_COHERENCE, check_motion
from imfcodec.cli import main

from .conftest import synthetic_frames, write_clip


def noise(n: int, side: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(n)]


def test_noise_is_not_its_first_frame_moved_and_a_moving_picture_is():
    frames = noise(9, 256)
    judged = check_motion(frames[0], frames[1:])
    assert not judged.face_like and judged.coherence < 0.2 and judged.samples == 8
    frames = synthetic_frames(9, 256, 256, seed=1)  # a disc crossing a gradient
    judged = check_motion(frames[0], frames[1:])
    assert judged.face_like and judged.coherence > 0.8
    assert check_motion(frames[0], []).face_like  # one frame: nothing to judge


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("noise")
    portrait = folder / "portrait.png"
    av.VideoFrame.from_ndarray(synthetic_frames(1, 96, 80, seed=3)[0],
                               format="rgb24").to_image().save(portrait)
    return {"portrait": portrait,
            "noise": write_clip(folder / "noise.mp4", noise(16, 128), Fraction(12)),
            "structured": write_clip(folder / "moving.mp4", synthetic_frames(16, 128, 128, seed=1),
                                     Fraction(12))}


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_animate_warns_of_a_noise_driving_video(clips, tmp_path):
    r = run("animate", clips["portrait"], clips["noise"], tmp_path / "a.mkv")
    assert r.exit_code == 0, r.output
    warnings = [line for line in r.output.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "shows no face-like motion" in warnings[0], r.output
    r = run("animate", clips["portrait"], clips["noise"], tmp_path / "b.mkv", "--json")
    motion = json.loads(r.output.strip().splitlines()[-1])["driving_motion"]
    assert motion["face_like"] is False and motion["coherence"] < MIN_COHERENCE


def test_animate_does_not_warn_of_a_structured_driving_video(clips, tmp_path):
    r = run("animate", clips["portrait"], clips["structured"], tmp_path / "a.mkv")
    assert r.exit_code == 0 and "face-like" not in r.output, r.output
    r = run("animate", clips["portrait"], clips["structured"], tmp_path / "b.mkv", "--json")
    motion = json.loads(r.output.strip().splitlines()[-1])["driving_motion"]
    assert motion["face_like"] is True and motion["coherence"] >= MIN_COHERENCE
