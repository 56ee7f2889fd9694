"""Sound beside a rate target, several audio streams, and sound longer than the video (issue
40): clips are made here, synthetic video with tones (tests/test_audio.py's write_av)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import av
import numpy as np
import pytest
from click.testing import CliRunner

from imfcodec import bitstream as bs
from imfcodec.audio import DEFAULT_BITRATE, AudioSettings
from imfcodec.cli import main
from imfcodec.codec import Codec
from imfcodec.errors import InputError
from imfcodec.motion.static import StaticMotion
from imfcodec.ratecontrol import VIDEO_MIN_KBPS, share_with_sound

from .conftest import synthetic_frames, write_clip
from .test_audio import FPS, peak_hz, sound_of, write_av


@pytest.fixture(scope="module")
def codec():
    return Codec(StaticMotion(image_size=64))


def write_two_tones(path, frames, tones=(440.0, 880.0), fps=FPS, rate=48000):
    """Video (libx264) with one audio stream (pcm_s16le, mono) per tone, each as long as the
    video, the second tagged as commentary."""
    seconds = len(frames) / fps
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.height, v.width = frames[0].shape[:2]
        v.pix_fmt = "yuv420p"
        streams = [c.add_stream("pcm_s16le", rate=rate, layout="mono") for _ in tones]
        streams[1].metadata["title"] = "Commentary"
        for rgb in frames:
            for p in v.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        n = round(float(seconds) * rate)
        for stream, tone in zip(streams, tones):
            pcm = (8000 * np.sin(2 * np.pi * tone * np.arange(n) / rate)).astype(np.int16)
            for pos in range(0, n, 960):
                frame = av.AudioFrame.from_ndarray(pcm[None, pos:pos + 960], format="s16", layout="mono")
                frame.sample_rate, frame.pts = rate, pos
                for p in stream.encode(frame):
                    c.mux(p)
            for p in stream.encode(None):
                c.mux(p)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rates")
    frames = synthetic_frames(50, 64, 64)  # 2 s at 25 fps
    return {
        "mp4": write_av(folder / "tone.mp4", frames),
        "long": write_av(folder / "long.mp4", frames, seconds=12.0),
        "two": write_two_tones(folder / "two.mkv", frames),
        "silent": write_clip(folder / "silent.mp4", frames[:20], fps=FPS),
    }


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, message):
    """Exit status 2 (bad input), the error one line and the last (what is being coded may
    come first), and nothing written."""
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and lines[-1].startswith("error: ") and message in lines[-1], \
        result.output
    assert sum(line.startswith("error: ") for line in lines) == 1 and "Traceback" not in result.output


# --- the split of a whole-file target, as a policy ----------------------------------------


@dataclass
class FakeTrack:
    """What share_with_sound reads of a coded sound: bytes, length, start."""

    bytes: int
    seconds: float
    start: float = 0.0

    @property
    def header(self):
        return bs.AudioHeader(bs.OPUS, 1, 48000, 312, round(self.start * 48000), 0)


def coded_at(bitrate: int, seconds: float = 10.0, start: float = 0.0) -> FakeTrack:
    """A sound that comes to its target rate plus 2 % (Opus's framing and the records')."""
    return FakeTrack(round(bitrate * 1.02 * seconds / 8), seconds, start)


def split(kbps, settings=AudioSettings(), seconds=10.0, sound_seconds=10.0, start=0.0):
    recoded = []

    def recode(at):
        recoded.append(at.bitrate)
        return coded_at(at.bitrate, sound_seconds, start)

    track, chosen = share_with_sound(kbps, coded_at(settings.rate, sound_seconds, start),
                                     settings, seconds, recode)
    return track, chosen, recoded


def test_the_sound_keeps_its_default_rate_while_the_video_gets_its_minimum():
    _, chosen, recoded = split(20.0)
    assert chosen.choice == "default" and chosen.audio_bitrate == DEFAULT_BITRATE and not recoded
    assert chosen.video_kbps == pytest.approx(20 - 12.24)
    _, chosen, _ = split(12.24 + VIDEO_MIN_KBPS + 0.01)
    assert chosen.choice == "default"


@pytest.mark.parametrize("kbps", [9.0, 10.0, 12.24 + VIDEO_MIN_KBPS - 0.1])
def test_a_lower_target_lowers_the_sound_to_leave_the_video_its_minimum(kbps):
    track, chosen, recoded = split(kbps)
    assert chosen.choice == "lowered" and recoded and 6000 <= chosen.audio_bitrate < DEFAULT_BITRATE
    assert chosen.sound_kbps == pytest.approx(track.bytes * 8 / 1000 / 10.0)
    # the video gets its minimum (the sound's rate is set in steps of 100 bits a second)
    assert VIDEO_MIN_KBPS <= chosen.video_kbps <= VIDEO_MIN_KBPS + 0.15
    assert chosen.sound_kbps + chosen.video_kbps == pytest.approx(kbps)


def test_between_the_lowest_sound_and_the_minimum_the_video_gets_what_is_left():
    _, chosen, _ = split(7.0)
    assert chosen.choice == "lowered" and chosen.audio_bitrate == 6000
    assert chosen.video_kbps == pytest.approx(7.0 - 6.12)


def test_a_target_no_split_reaches_is_refused():
    with pytest.raises(InputError, match=r"cannot hold the sound even at its lowest .* aim at 6\.8k"):
        split(6.5)


def test_a_sound_rate_given_is_kept():
    _, chosen, recoded = split(16.0, AudioSettings(12000))
    assert chosen.choice == "as given" and not recoded and chosen.audio_bitrate == 12000
    with pytest.raises(InputError, match=r"leaves the video .* as given"):
        split(8.0, AudioSettings(12000))


def test_sound_longer_than_the_video_is_shared_over_the_file_length():
    """2 s of video beside 10 s of sound: the file lasts 10 s; the sound's 12k is its share
    of the target over those 10 s, and the video may spend the rest of the file's bytes."""
    _, chosen, _ = split(20.0, seconds=2.0, sound_seconds=10.0)
    assert chosen.sound_kbps == pytest.approx(12.24)
    assert chosen.video_kbps == pytest.approx((20 - 12.24) * 10 / 2)
    # a few hundredths of a second past the video (AAC priming) count within its length
    _, near, _ = split(20.0, seconds=9.98, sound_seconds=10.0)
    assert near.sound_kbps == pytest.approx(12.24 * 10 / 9.98)


# --- encodes ---------------------------------------------------------------------------------


def test_bitrate_8k_with_sound_lowers_the_sound_and_lands(codec, clips):
    stream = codec.encode(clips["mp4"], bitrate="8k")
    rc = stream.rate_control
    assert rc.counts == "video and audio" and rc.split.choice == "lowered"
    assert 6000 <= stream.stats.audio["target_bitrate"] == rc.split.audio_bitrate < DEFAULT_BITRATE
    assert abs(stream.stats.kbps - 8) <= 0.10 * 8, stream.stats.kbps
    # 20k leaves the video enough beside the default sound
    assert codec.encode(clips["mp4"], bitrate="20k").rate_control.split.choice == "default"
    with pytest.raises(InputError, match="cannot hold the sound"):
        codec.encode(clips["mp4"], bitrate="5k")


def test_cli_bitrate_8k_says_what_it_chose(clips, tmp_path):
    r = run("encode", clips["mp4"], tmp_path / "a.imf", "--model", "static", "--bitrate", "8k")
    assert r.exit_code == 0, r.output
    assert "note: the sound's rate was lowered from 12k to 6k" in r.output, r.output
    assert "kbps of video and audio for the 8 kbps target (" in r.output
    r = run("encode", clips["mp4"], tmp_path / "b.imf", "--model", "static", "--bitrate", "8k",
            "--json")
    summary = json.loads(r.output)
    assert summary["audio_bitrate_choice"] == "lowered" and summary["audio_bitrate"] == 6000
    assert summary["audio"]["target_bitrate"] == 6000 and summary["target_kbps"] == 8
    assert any("lowered" in note for note in summary["audio_notes"])
    r = run("encode", clips["mp4"], tmp_path / "c.imf", "--model", "static", "--bitrate", "8k",
            "--audio-bitrate", "12k")
    one_line_error(r, "(--audio-bitrate 12k as given)")
    one_line_error(run("encode", clips["mp4"], tmp_path / "c.imf", "--model", "static",
                       "--bitrate", "5k"), "cannot hold the sound even at its lowest")
    assert not (tmp_path / "c.imf").exists()


def test_cli_says_what_a_missed_target_reached_in_kbps(clips, tmp_path):
    r = run("encode", clips["silent"], tmp_path / "a.imf", "--model", "static", "--bitrate", "0.2k",
            "--no-audio")
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if x.startswith("rate control:"))
    assert "kbps of video for the 0.2 kbps target (+" in line, line
    assert "the lowest rate this clip reaches" in line and "quality" not in line, line


def test_a_second_audio_stream_is_said_and_can_be_chosen(clips, tmp_path):
    codec = Codec.load("static", "cpu")  # the command line's
    r = run("encode", clips["two"], tmp_path / "a.imf", "--model", "static")
    assert r.exit_code == 0, r.output
    assert "the input has 2 audio streams; only stream 0 is kept" in r.output, r.output
    assert "audio: stream 0 pcm_s16le" in r.output
    _, got, rate, _ = sound_of(codec.decode(tmp_path / "a.imf").save(tmp_path / "a.mkv"))
    assert abs(peak_hz(got, rate) - 440) <= 5
    r = run("encode", clips["two"], tmp_path / "b.imf", "--model", "static", "--audio-stream", "1",
            "--json")
    summary = json.loads(r.output)
    assert summary["audio"]["source_stream"] == 1 and summary["audio"]["source_streams"] == 2
    assert "only stream 1 is kept" in summary["audio_notes"][0]
    _, got, rate, _ = sound_of(codec.decode(tmp_path / "b.imf").save(tmp_path / "b.mkv"))
    assert abs(peak_hz(got, rate) - 880) <= 5
    # one stream: no note
    r = run("encode", clips["mp4"], tmp_path / "c.imf", "--model", "static", "--json")
    assert json.loads(r.output)["audio_notes"] == []


@pytest.mark.parametrize("clip, stream, message", [
    ("two", 2, "--audio-stream 2: the input has 2 audio streams (0..1)"),
    ("mp4", 1, "--audio-stream 1: the input has 1 audio stream (0..0)"),
    ("silent", 1, "--audio-stream 1: the input has no audio stream"),
])
def test_an_audio_stream_the_input_lacks_is_one_line_of_error(clips, tmp_path, clip, stream, message):
    one_line_error(run("encode", clips[clip], tmp_path / "x.imf", "--model", "static",
                       "--audio-stream", stream), message)
    assert not (tmp_path / "x.imf").exists()
    with pytest.raises(InputError, match="--audio-stream must be 0 or more"):
        AudioSettings(stream=-1)


def test_sound_longer_than_the_video_is_kept_and_rated_over_its_length(codec, clips, tmp_path):
    stream = codec.encode(clips["long"], quality=3)
    stats = stream.stats
    assert stats.audio["seconds"] == pytest.approx(12.0, abs=0.05)
    # the sound's rate over its own 12 s, near the 12k asked (not its bytes over 2 s: ~75)
    assert 10 < stats.audio_kbps < 14
    assert stats.file_seconds == pytest.approx(12.0, abs=0.05)
    assert stats.kbps == pytest.approx(stats.bytes_total * 8 / 1000 / stats.file_seconds)
    assert stats.video_kbps == pytest.approx((stats.bytes_total - stats.bytes_audio) * 8 / 1000 / 2)
    stream.save(tmp_path / "long.imf")
    info = json.loads(run("info", tmp_path / "long.imf", "--json").output)
    assert info["kbps_audio"] == pytest.approx(stats.audio_kbps, rel=1e-3)
    assert info["kbps"] == pytest.approx(stats.kbps, rel=1e-3) and info["file_seconds"] > 11.9
    decoded = codec.decode(tmp_path / "long.imf")
    assert decoded.kbps == pytest.approx(stats.kbps, rel=1e-3)
    _, got, rate, _ = sound_of(decoded.save(tmp_path / "long.mp4"))
    assert len(got) / rate >= 11.95  # all of it kept
    r = run("encode", clips["long"], tmp_path / "a.imf", "--model", "static")
    assert "note: the sound (12.0" in r.output and "is longer than the video (2.00 s)" in r.output
    assert "(12." in r.output.split("audio: aac")[1].split("kbps)")[0]  # 12.x kbps, not 75
    # a whole-file target is shared over the file's 12 s: not refused as before
    rc = codec.encode(clips["long"], bitrate="16k").rate_control
    assert rc.split.choice == "default" and 10 < rc.split.sound_kbps < 14


def test_the_bench_and_the_encode_agree_on_the_sound_rate(codec, clips):
    from imfcodec.bench import rd

    stream = codec.encode(clips["long"], quality=3)
    assert rd.sound_kbps(clips["long"]) == pytest.approx(stream.stats.audio_kbps, rel=0.01)
