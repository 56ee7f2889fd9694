"""Sound: the input's first audio stream coded with Opus, carried in the .imf and restored on
decode (issue 27). Clips are made here: synthetic video with a tone."""

from __future__ import annotations

import io
import json
from fractions import Fraction

import av
import numpy as np
import pytest
from click.testing import CliRunner

from imfcodec import bitstream as bs
from imfcodec.audio import AudioSettings, encode_audio, timed_packets
from imfcodec.cli import main
from imfcodec.codec import Codec
from imfcodec.errors import FormatError, InputError
from imfcodec.motion.static import StaticMotion

from .conftest import synthetic_frames, write_clip

FPS = Fraction(25)
TONE = 440.0


def write_av(path, frames, fps=FPS, tone=TONE, start=0.0, seconds=None, rate=44100,
             channels=1, codec=None, times=None):
    """A clip with video (libx264) and a sine tone starting ``start`` seconds after the first
    frame (negative: before it) and lasting ``seconds`` (default: as long as the video).
    ``times``: each frame's time in seconds (variable frame rate); ``codec``: the audio
    codec (pcm_s16le in .mkv, aac in .mp4 by default)."""
    codec = codec or ("aac" if str(path).endswith(".mp4") else "pcm_s16le")
    seconds = len(frames) / fps if seconds is None else seconds
    layout = "mono" if channels == 1 else "stereo"
    lead = max(0.0, -start)  # the video's clock starts at 0: a tone before it shifts both
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.height, v.width = frames[0].shape[:2]
        v.pix_fmt = "yuv420p"
        if times is not None:
            v.codec_context.time_base = Fraction(1, 1000)
        a = c.add_stream(codec, rate=rate, layout=layout)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            t = (times[i] if times is not None else i / fps) + lead
            frame.pts = round(t * 1000) if times is not None else round(t * fps)
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        n = round(float(seconds) * rate)
        t = np.arange(n) / rate
        pcm = (0.3 * np.sin(2 * np.pi * tone * t)).astype(np.float32)
        size = a.codec_context.frame_size or 1024
        first = round((start + lead) * rate)
        for pos in range(0, n, size):
            chunk = np.repeat(pcm[None, pos:pos + size], channels, 0)
            if codec == "pcm_s16le":
                chunk = (chunk * 32767).astype(np.int16).T.reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout=layout)
            else:
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout=layout)
            frame.sample_rate, frame.pts = rate, first + pos
            for p in a.encode(frame):
                c.mux(p)
        for p in a.encode(None):
            c.mux(p)
    return path


def sound_of(path):
    """(start in seconds relative to the first video frame, samples as float mono, rate,
    channels) of a file's first audio stream, as FFmpeg decodes it."""
    with av.open(str(path)) as c:
        video_start = 0.0
        if c.streams.video:
            vs = c.streams.video[0]
            video_start = float(vs.start_time * vs.time_base) if vs.start_time is not None else 0.0
        a = c.streams.audio[0]
        chunks, start, rate, channels = [], None, a.rate, a.channels
        for frame in c.decode(a):
            if start is None:
                start = float(frame.pts * frame.time_base)
            data = frame.to_ndarray().astype(np.float64)
            if frame.format.is_planar:
                chunks.append(data.mean(0))
            else:
                chunks.append(data.reshape(-1, channels).mean(1))
    return start - video_start, np.concatenate(chunks), rate, channels


def peak_hz(samples, rate):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))]


def first_sound(samples, rate):
    """Seconds into ``samples`` where the tone is first clearly there."""
    loud = np.flatnonzero(np.abs(samples) > 0.3 * np.abs(samples).max())
    return loud[0] / rate


@pytest.fixture(scope="module")
def codec():
    return Codec(StaticMotion(image_size=64))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sound")
    frames = synthetic_frames(50, 64, 64)
    return {
        "mkv": write_av(folder / "tone.mkv", frames, start=0.2, seconds=1.5),
        "mp4": write_av(folder / "tone.mp4", frames, rate=44100),
        "stereo": write_av(folder / "stereo.mkv", frames, channels=2, rate=48000),
        "early": write_av(folder / "early.mkv", frames, start=-0.3, seconds=2.3),
        "silent": write_clip(folder / "silent.mp4", frames[:20], fps=FPS),
        "folder": folder,
    }


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# --- the bitstream ---------------------------------------------------------------------------


def test_opus_packet_durations_follow_the_toc_byte():
    assert bs.opus_samples(bytes([(1 << 3) | 0])) == 960  # SILK 20 ms, one frame
    assert bs.opus_samples(bytes([(31 << 3) | 1, 0])) == 1920  # CELT 20 ms, two frames
    assert bs.opus_samples(bytes([(16 << 3) | 3, 6])) == 720  # CELT 2.5 ms, six frames
    for bad in (b"", bytes([3]), bytes([(3 << 3) | 3, 3])):  # empty; no count; 180 ms
        with pytest.raises(FormatError):
            bs.opus_samples(bad)


def test_audio_records_round_trip_and_signed_start():
    for start in (0, 1, -1, 24000, -123456):
        header = bs.AudioHeader(bs.OPUS, 2, 44100, 312, start, 12000)
        assert bs.AudioHeader.from_bytes(header.to_bytes()) == header
    chunk = bs.AudioChunk(2000, [bytes([8, 1, 2]), bytes([8]) * 40])
    assert bs.AudioChunk.from_bytes(chunk.to_bytes()) == chunk and chunk.samples == 1920
    with pytest.raises(FormatError, match="unknown audio codec"):
        bs.AudioHeader.from_bytes(bytes([2]) + header.to_bytes()[1:])


def _file(records, version=None):
    header = bs.Header("static", b"\0" * 16, 0, 64, 64, 64, 64, FPS, 2, 3, 0.5, 1, 30)
    buffer = io.BytesIO()
    writer = bs.Writer(buffer)
    writer.start(version or bs.version_for(records))
    for record in [header, *records, bs.End(2)]:
        writer.write(record)
    return buffer.getvalue()


def _read(data):
    return [r for _, r in bs.read_records(io.BytesIO(data))]


def test_record_order_rules_for_sound():
    key = bs.KeyFrame(0, 1, 30, bs.KeyReason.START, b"picture")
    tokens = bs.TokenChunk(1, 1, True, b"")
    head = bs.AudioHeader(bs.OPUS, 1, 48000, 312, 0, 12000)
    packet = bytes([8])  # 20 ms
    ok = [head, key, bs.AudioChunk(960, [packet]), tokens, bs.AudioChunk(1500, [packet])]
    assert bs.version_for(ok) == (4, 0)
    assert [type(r) for r in _read(_file(ok))][1:3] == [bs.AudioHeader, bs.KeyFrame]
    cases = {
        "came in 4.0": (ok, (3, 0)),
        "not the record after the header": ([key, head, tokens], None),
        "a second audio header": ([head, head, key, tokens], None),
        "without an audio header": ([key, bs.AudioChunk(960, [packet]), tokens], (4, 0)),
        "granule position": ([head, key, bs.AudioChunk(961, [packet]), tokens], None),
        "after the one that trimmed": ([head, key, bs.AudioChunk(900, [packet]),
                                        bs.AudioChunk(1800, [packet]), tokens], None),
    }
    for message, (records, version) in cases.items():
        with pytest.raises(FormatError, match=message):
            _read(_file(records, version))


def test_interleave_puts_each_audio_record_before_later_video():
    key = bs.KeyFrame(0, 1, 30, bs.KeyReason.START, b"k")
    a, b = bs.TokenChunk(1, 24, True, b""), bs.TokenChunk(25, 25, False, b"")
    sound = [(-0.1, "s0"), (0.5, "s1"), (1.0, "s2"), (1.5, "s3"), (9.0, "s4")]
    order = bs.interleave([key, a, b], FPS, sound)
    # a is needed from frame 1 (0.04 s), b from frame 25 (1.0 s)
    assert order == ["s0", key, a, "s1", "s2", b, "s3", "s4"]


# --- encode and decode -----------------------------------------------------------------------


@pytest.mark.parametrize("bitrate", [6000, 12000, 24000])
def test_tone_round_trips_in_sync(codec, clips, tmp_path, bitrate):
    """Duration within 40 ms of the source's, start within one frame, frequency kept."""
    stream = codec.encode(clips["mkv"], quality=3, audio=AudioSettings(bitrate))
    assert stream.stats.audio is not None and bs.file_version(io.BytesIO(stream.data)) == (4, 0)
    out = codec.decode(stream).save(tmp_path / "out.mp4")
    src_start, src, src_rate, _ = sound_of(clips["mkv"])
    start, got, rate, channels = sound_of(out)
    assert rate == 48000 and channels == 1
    assert abs(len(got) / rate - len(src) / src_rate) <= 0.040
    onset = start + first_sound(got, rate)
    assert abs(onset - (src_start + first_sound(src, src_rate))) <= 1 / float(FPS)
    assert abs(peak_hz(got, rate) - TONE) <= 5
    # the audio's rate is what its records take, near what was asked (VBR, 1.5 s)
    assert 0.5 * bitrate <= stream.stats.bytes_audio * 8 / 1.5 <= 1.6 * bitrate


def test_aac_in_mp4_and_the_summary(codec, clips, tmp_path):
    stream = codec.encode(clips["mp4"], quality=3)
    sound = stream.summary()["audio"]
    assert sound["channels"] == 1 and sound["source_codec"] == "aac"
    assert abs(sound["seconds"] - 2.0) < 0.1 and abs(sound["start_seconds"]) < 0.05
    assert stream.stats.kbps > stream.stats.video_kbps > 0
    assert stream.stats.bytes_audio > 0


def test_stereo_is_mixed_down_unless_asked(codec, clips, tmp_path):
    mono = codec.encode(clips["stereo"], quality=3)
    stereo = codec.encode(clips["stereo"], quality=3, audio=AudioSettings(24000, channels=2))
    assert mono.stats.audio["channels"] == 1 and stereo.stats.audio["channels"] == 2
    out = codec.decode(stereo).save(tmp_path / "stereo.mkv")
    assert sound_of(out)[3] == 2


def test_sound_that_starts_before_the_video_keeps_all_of_it(codec, clips, tmp_path):
    stream = codec.encode(clips["early"], quality=3)
    assert stream.stats.audio["start_seconds"] == pytest.approx(-0.3, abs=0.03)
    out = codec.decode(stream).save(tmp_path / "early.mp4")
    start, got, rate, _ = sound_of(out)
    assert len(got) / rate >= 2.25  # nothing before the first frame was cut
    src_start, src, src_rate, _ = sound_of(clips["early"])
    onset = start + first_sound(got, rate)
    assert abs(onset - (src_start + first_sound(src, src_rate))) <= 1 / float(FPS)


def test_variable_frame_rate_keeps_sync(codec, tmp_path):
    frames = synthetic_frames(40, 64, 64)
    times = np.cumsum([0.0] + [0.04 if i % 7 else 0.12 for i in range(39)])
    clip = write_av(tmp_path / "vfr.mkv", frames, times=list(times), start=0.25, seconds=1.0)
    stream = codec.encode(clip, quality=3)
    assert stream.source.resampled is not None
    out = codec.decode(stream).save(tmp_path / "vfr.mp4")
    start, got, rate, _ = sound_of(out)
    src_start, src, src_rate, _ = sound_of(clip)
    assert abs(start + first_sound(got, rate) - (src_start + first_sound(src, src_rate))) <= 1 / float(FPS)


def test_no_audio_and_no_sound(codec, clips):
    dropped = codec.encode(clips["mkv"], quality=3, audio=None)
    silent = codec.encode(clips["silent"], quality=3)
    for stream in (dropped, silent):
        assert stream.stats.audio is None and stream.stats.bytes_audio == 0
        assert bs.file_version(io.BytesIO(stream.data)) < (4, 0)


def test_cli_says_what_became_of_the_sound(clips, tmp_path):
    r = run("encode", clips["mkv"], tmp_path / "a.imf", "--model", "static", "--audio-bitrate", "6k")
    assert r.exit_code == 0 and "audio: pcm_s16le -> Opus 1 channel(s) at 6k" in r.output, r.output
    r = run("encode", clips["mkv"], tmp_path / "b.imf", "--model", "static", "--no-audio")
    assert r.exit_code == 0 and "dropped (--no-audio)" in r.output, r.output
    r = run("encode", clips["silent"], tmp_path / "c.imf", "--model", "static")
    assert r.exit_code == 0 and "audio: the input has none" in r.output, r.output
    info = json.loads(run("info", tmp_path / "a.imf", "--json").output)
    assert info["bytes_audio"] > 0 and info["audio"]["channels"] == 1 and info["kbps_audio"] > 0
    assert info["bytes_audio"] + info["bytes_key_frames"] + info["bytes_tokens"] < info["bytes"]
    assert "audio" in run("info", tmp_path / "a.imf").output
    r = run("decode", tmp_path / "a.imf", tmp_path / "a.mp4", "--no-audio")
    assert r.exit_code == 0 and "left out (--no-audio)" in r.output
    with av.open(str(tmp_path / "a.mp4")) as c:
        assert not c.streams.audio


def test_y4m_and_png_outputs_get_the_sound_beside_them(clips, tmp_path):
    assert run("encode", clips["mkv"], tmp_path / "a.imf", "--model", "static").exit_code == 0
    r = run("decode", tmp_path / "a.imf", tmp_path / "out.y4m")
    assert r.exit_code == 0 and f"written beside the frames to {tmp_path / 'out.opus'}" in r.output, r.output
    _, got, rate, _ = sound_of(tmp_path / "out.opus")
    assert abs(peak_hz(got, rate) - TONE) <= 5
    # the sound beside is not overwritten without --force, and nothing is half-written
    (tmp_path / "frames.opus").write_bytes(b"keep")
    r = run("decode", tmp_path / "a.imf", tmp_path / "frames")
    assert r.exit_code == 3 and not (tmp_path / "frames").exists()
    assert (tmp_path / "frames.opus").read_bytes() == b"keep"
    assert run("decode", tmp_path / "a.imf", tmp_path / "frames", "--force").exit_code == 0
    assert sound_of(tmp_path / "frames.opus")[1].size > 0


def test_bitrate_counts_the_sound_unless_video_bitrate(codec, clips):
    total = codec.encode(clips["mp4"], bitrate="20k")
    assert total.rate_control.counts == "video and audio"
    assert abs(total.stats.kbps - 20) <= 0.1 * 20
    video = codec.encode(clips["mp4"], video_bitrate="4k")
    assert video.rate_control.counts == "video"
    assert abs(video.stats.video_kbps - 4) <= 0.1 * 4 and video.stats.kbps > 8
    with pytest.raises(InputError, match="leaves the video"):
        codec.encode(clips["mp4"], bitrate="12k", audio=AudioSettings(24000))


def test_old_files_still_decode_without_sound(tmp_path):
    from pathlib import Path

    old = Path(__file__).parent / "data" / "reference.imf"
    assert bs.file_version(io.BytesIO(old.read_bytes())) == (1, 0)
    r = run("decode", old, tmp_path / "old.mp4", "--model", old.parent / "tiny-reference.safetensors")
    assert r.exit_code == 0 and "audio: the stream has none" in r.output, r.output
    with av.open(str(tmp_path / "old.mp4")) as c:
        assert not c.streams.audio and c.streams.video[0].frames > 0


def test_timed_packets_follow_pre_skip_start_and_trim(clips):
    track = encode_audio(clips["mkv"], 0.0, AudioSettings())
    header = track.header
    packets = list(timed_packets(header, [c for _, c in track.chunks]))
    assert packets[0][0] == header.start - header.pre_skip
    played = sum(duration for _, duration, _ in packets) - header.pre_skip
    assert played == track.samples
    ends = [pts + duration for pts, duration, _ in packets]
    assert ends[:-1] == [pts for pts, _, _ in packets[1:]]


def _varint(data, i):
    value, shift = 0, 0
    while True:
        value |= (data[i] & 0x7F) << shift
        shift += 7
        i += 1
        if not data[i - 1] & 0x80:
            return value, i


def test_sound_matches_docs_format_md_layout(codec, clips):
    """Parses the sound's records by docs/format.md, independently of imfcodec/bitstream/."""
    stream = codec.encode(clips["mkv"], quality=3)
    data = stream.data
    assert data[4:6] == bytes([4, 0])
    pos, records = 6, []
    while pos < len(data):
        length, i = _varint(data, pos + 1)
        records.append((data[pos], data[i : i + length]))
        pos = i + length + 4
    kinds = [k for k, _ in records]
    assert kinds[:2] == [1, 5] and kinds[-1] == 4 and kinds.count(5) == 1 and 6 in kinds
    head = records[1][1]
    assert head[0] == 1 and head[1] == 1  # Opus, mono
    rate, i = _varint(head, 2)
    pre_skip, i = _varint(head, i)
    start, i = _varint(head, i)
    start = start // 2 if start % 2 == 0 else -(start + 1) // 2
    bitrate, i = _varint(head, i)
    assert i == len(head) and rate == 44100 and bitrate == 12000  # the source's rate
    assert start == pytest.approx(0.2 * 48000, abs=48)  # the tone starts 0.2 s after frame 0
    frame_ms = [10, 20, 40, 60] * 3 + [10, 20] * 2 + [2.5, 5, 10, 20] * 4
    decoded, granule = 0, 0
    for kind, payload in records:
        if kind != 6:
            continue
        granule, i = _varint(payload, 0)
        count, i = _varint(payload, i)
        for _ in range(count):
            size, i = _varint(payload, i)
            toc = payload[i]
            frames = {0: 1, 1: 2, 2: 2}.get(toc & 3) or payload[i + 1] & 0x3F
            decoded += round(frames * frame_ms[toc >> 3] * 48)
            i += size
        assert i == len(payload) and granule <= decoded
    # the sound lasts G - pre-skip samples: the source's 1.5 s at 48 kHz
    assert granule - pre_skip == round(1.5 * 48000)


def test_bench_shows_the_sound_beside_video_only_rates(clips, tmp_path):
    from imfcodec.bench import rd

    assert rd.sound_kbps(clips["silent"]) == 0.0
    sound = rd.sound_kbps(clips["mkv"])
    assert 8 < sound < 16  # 12k asked
    rows = rd.run([clips["mkv"]], ["static", "x264"], [], qualities=[3], max_frames=10)
    ours = [r for r in rows if r.codec == "static"]
    assert ours and all(r.audio_kbps == sound for r in ours)
    assert all(r.audio_kbps == 0 for r in rows if r.codec == "x264")
    # the curves' rate is the video's: what the records of a video-only encode take
    assert all(r.kbps == r.bytes * 8 / 1000 / (r.frames / r.fps) for r in ours)
    assert rd.mean_curves(ours)["static"][0]["audio_kbps"] == sound


@pytest.mark.slow
def test_cli_bitrate_says_what_it_counts(clips, tmp_path):
    r = run("encode", clips["mp4"], tmp_path / "a.imf", "--model", "static", "--bitrate", "20k")
    assert r.exit_code == 0 and "kbps of video and audio" in r.output, r.output
    r = run("encode", clips["mp4"], tmp_path / "b.imf", "--model", "static", "--video-bitrate", "4k",
            "--json")
    summary = json.loads(r.output)
    assert summary["target_counts"] == "video" and summary["audio"]["channels"] == 1
    assert abs(summary["video_kbps"] - 4) <= 0.4 and summary["kbps"] > summary["video_kbps"]


def test_a_hole_in_the_sound_stays_a_hole(tmp_path):
    """Audio packets missing for 0.3 s (timestamps jump): silence fills it, so the sound
    after it keeps its time."""
    rate = 16000
    path = tmp_path / "gap.mkv"
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=FPS)
        v.width = v.height = 64
        v.pix_fmt = "yuv420p"
        a = c.add_stream("pcm_s16le", rate=rate, layout="mono")
        for rgb in synthetic_frames(33, 64, 64):
            for p in v.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        pcm = (8000 * np.sin(2 * np.pi * TONE * np.arange(rate // 2) / rate)).astype(np.int16)
        for start in (0, round(0.8 * rate)):
            for pos in range(0, len(pcm), 800):
                frame = av.AudioFrame.from_ndarray(pcm[None, pos:pos + 800], format="s16", layout="mono")
                frame.sample_rate, frame.pts = rate, start + pos
                for p in a.encode(frame):
                    c.mux(p)
        for p in a.encode(None):
            c.mux(p)
    track = encode_audio(path, 0.0, AudioSettings())
    assert track.seconds == pytest.approx(1.3, abs=0.005)
    out = Codec(StaticMotion(image_size=64)).decode(
        Codec(StaticMotion(image_size=64)).encode(path, quality=3)).save(tmp_path / "out.mkv")
    start, got, rate_out, _ = sound_of(out)
    later = got[round((0.65 - start) * rate_out):]  # from the middle of the hole on
    assert abs(start + 0.65 + first_sound(later, rate_out) - 0.8) <= 1 / float(FPS)
