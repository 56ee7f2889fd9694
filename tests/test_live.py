"""The live stream (format 9.0 to 11.0) and its streaming API: LiveEncoder's packets decode as
they come (LiveDecoder) and, put end to end, as a file; bad packets are refused, never shown."""

from __future__ import annotations

import contextlib
import io
from fractions import Fraction

import numpy as np
import pytest

from imfcodec import bitstream as bs
from imfcodec.bitstream.packets import PacketReader, Start
from imfcodec.entropy import adaptive, coder
from imfcodec.errors import FormatError, InputError
from imfcodec.info import describe
from imfcodec.entropy import quantize as quant
from imfcodec.live import LiveDecoder, LiveEncoder, LiveSettings
from imfcodec.live.encoder import live_tuning
from imfcodec.metrics import psnr

from .conftest import synthetic_frames

FPS = Fraction(25)
# each predicted frame a FRAME record of its own (format 10.0): where records sit is known
SINGLE = LiveSettings(interpolate=False)
# every frame that can be rebuilt between its neighbours is (format 11.0): FRAME records of two
PAIRS = LiveSettings(tuning=live_tuning(FPS, between_tolerance=1e9))


def tone(seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * 48000)) / 48000
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)[:, None]


def live_stream(codec, frames, sound=None, settings=SINGLE, keys_at=()):
    """The packets of a live stream of ``frames`` (sound: int16 samples given 40 ms at a
    time beside the frames), and LiveDecoder's frames as each packet arrives."""
    encoder = LiveEncoder(codec, FPS, settings, sound=sound is not None)
    decoder = LiveDecoder(codec)
    packets, shown, heard = [], [], []

    def deliver(new):
        packets.extend(new)
        for packet in new:
            out = decoder.packet(packet)
            shown.extend(out.frames)
            heard.extend(out.sound)

    deliver(encoder.start())
    for i, frame in enumerate(frames):
        if i in keys_at:
            encoder.request_key()
        deliver(encoder.frame(frame))
        if sound is not None:
            step = 1920
            deliver(encoder.audio(sound[i * step : (i + 1) * step], i / 25))
    deliver(encoder.close())
    return encoder, packets, shown, heard


@pytest.fixture(scope="module")
def frames():
    return synthetic_frames(20, 64, 64, seed=3)


@pytest.mark.parametrize("settings", [SINGLE, PAIRS], ids=["frames", "pairs"])
def test_packets_decode_as_they_come_and_end_to_end_as_a_file(tiny_codec, frames, tmp_path,
                                                              settings):
    encoder, packets, shown, heard = live_stream(tiny_codec, frames, tone(0.8), settings)
    # frame i is shown as soon as its packet arrives, in order
    assert [index for index, _ in shown] == list(range(len(frames)))
    assert psnr(frames[0], shown[0][1]) > 25  # the key frame (the tiny model's others: noise)
    # the start, then one record a packet: a key frame and a token record a frame, or (pairs)
    # two frames a FRAME record where the first is rebuilt between its neighbours
    reader = PacketReader()
    items = [reader.packet(p) for p in packets]
    version = (11, 0) if settings.interpolate else (10, 0)
    assert isinstance(items[0], Start) and items[0].version == version
    assert items[0].stream_id == encoder.stream_id
    tokens = [r for r in items if isinstance(r, bs.TokenChunk)]
    assert sum(r.frame_count for r in tokens) == len(frames) - encoder.key_frames
    assert all(r.adaptive and (r.frame_count == 1 or r.compact) for r in tokens)
    pairs = sum(r.frame_count == 2 for r in tokens)
    # (pairs: after each run's first token, one frame held, then two a record)
    assert pairs == (0 if not settings.interpolate else (len(frames) - 2) // 2)
    # each run's first token whole in a TOKENS record, every other frame in a FRAME record
    assert sum(not r.compact for r in tokens) == encoder.key_frames
    assert all(len(p) == len(r.data) + 3 for p, r in zip(packets, items)
               if isinstance(r, bs.TokenChunk) and r.compact)
    assert isinstance(items[1], bs.Header) and items[1].frame_count == 0
    assert isinstance(items[-1], bs.End) and items[-1].frame_count == len(frames)
    # put end to end, the packets are an .imf file: decode and info read it, bit-exact
    path = tmp_path / "call.imf"
    path.write_bytes(b"".join(packets))
    video = tiny_codec.decode(path)
    assert video.frame_count == len(frames)
    for (_, live), filed in zip(shown, video):
        assert np.array_equal(live, filed)
    facts = describe(path)
    assert facts["format_version"] == "%d.0" % version[0] and facts["live"]
    assert facts["frames"] == len(frames)
    assert facts["token_chunks_frame_records"] == sum(r.compact for r in tokens) > 0
    assert facts["frames_between"] == pairs
    # the sound: every packet timed from the first frame, the last trimmed to what was fed
    assert heard[0][0] == -encoder.sound.pre_skip
    played = sum(duration for _, duration, _ in heard)
    assert played == encoder.sound.real + encoder.sound.pre_skip
    assert heard == _sound_of(path)


def _sound_of(path):
    from imfcodec.decoder import sound_packets

    with open(path, "rb") as f:
        return list(sound_packets(f))


def test_adaptive_tables_cost_less_per_frame_and_round_trip():
    rng = np.random.default_rng(0)
    rows = rng.laplace(0, 1.2, size=(40, 64)).round().astype(np.int64)
    state = adaptive.TableState(64)
    alone = [adaptive.encode_chunk(row[None], None, state) for row in rows]
    named = [coder.encode_chunk(row[None], None) for row in rows]
    # each frame alone: the adaptive tables send no table indices (64 x 5 bits a frame)
    assert sum(map(len, alone)) < 0.6 * sum(map(len, named))
    back = adaptive.TableState(64)
    for data, row in zip(alone, rows):
        residuals, absolute = adaptive.decode_chunk(data, 1, 64, False, back)
        assert absolute is None and np.array_equal(residuals[0], row)
    assert np.array_equal(back.mean, state.mean)  # both sides end in the same state
    # a reader with another state reads other numbers, or refuses: never the same by chance
    wrong = adaptive.TableState(64)
    try:
        got, _ = adaptive.decode_chunk(alone[-1], 1, 64, False, wrong)
        assert not np.array_equal(got[0], rows[-1])
    except FormatError:
        pass


def test_bad_packets_are_refused_and_nothing_is_shown_until_a_key_frame(tiny_codec, frames):
    _, packets, _, _ = live_stream(tiny_codec, frames, keys_at=(12,))
    other = live_stream(tiny_codec, frames[:6])[1]
    reader = PacketReader()
    kinds = [type(reader.packet(p)).__name__ for p in packets]
    key12 = [i for i, k in enumerate(kinds) if k == "KeyFrame"][-1]
    decoder = LiveDecoder(tiny_codec)
    shown = []
    for i, packet in enumerate(packets):
        if i == 6:  # damaged on the way
            bad = bytearray(packet)
            bad[-6] ^= 0x40
            with pytest.raises(FormatError, match="checksum"):
                decoder.packet(bytes(bad))
            assert decoder.wants_key
            continue
        if i == 8:  # a record of another stream (its CRC covers its own stream id)
            with pytest.raises(FormatError, match="another stream"):
                decoder.packet(other[2])
        shown += decoder.packet(packet).frames
    indices = [index for index, _ in shown]
    # frames before the loss, then nothing until the requested key frame, then all of them
    lost = 6 - 2  # packets 0 and 1 are the start and the header; 2..5 frames 0..3
    assert indices[:lost] == list(range(lost))
    assert indices[lost:] == list(range(12, len(frames)))
    assert decoder.counts.refused == 2 and not decoder.wants_key
    assert key12 > 8


def test_a_key_frame_asked_for_after_records_dropped_on_the_way_is_taken_up_at_once(
        tiny_codec, frames):
    # a slow link's queue dropped what waited (the sender then asks its encoder for a key frame)
    _, packets, _, _ = live_stream(tiny_codec, frames, keys_at=(12,))
    reader = PacketReader()
    items = [reader.packet(p) for p in packets]
    asked = next(i for i, r in enumerate(items) if isinstance(r, bs.KeyFrame)
                 and r.reason == bs.KeyReason.REQUEST)
    decoder, shown, lost = LiveDecoder(tiny_codec), [], []
    for i, packet in enumerate(packets):
        if asked - 4 <= i < asked:
            continue  # dropped on the way
        out = decoder.packet(packet)
        shown += [index for index, _ in out.frames]
        lost += out.lost
    # nothing refused: the frames before the drop, then the key frame asked for and all after
    assert decoder.counts.refused == 0 and shown[-1] == len(frames) - 1
    assert lost and shown == [i for i in range(len(frames)) if i not in lost]
    assert lost == list(range(min(lost), 12)) and 12 in shown


def test_out_of_order_and_early_records_are_refused(tiny_codec, frames):
    _, packets, _, _ = live_stream(tiny_codec, frames[:8])
    decoder = LiveDecoder(tiny_codec)
    with pytest.raises(FormatError, match="before any stream"):
        decoder.packet(packets[3])
    for packet in packets[:4]:
        decoder.packet(packet)
    with pytest.raises(FormatError, match="out of order"):
        decoder.packet(packets[5])  # frame 2 before frame 1 (a FRAME record: its CRC says so)
    assert decoder.wants_key
    with pytest.raises(FormatError, match="cut short"):
        decoder.packet(packets[4][:-1])
    with pytest.raises(FormatError, match="after its record"):
        decoder.packet(packets[4] + packets[5])


@pytest.mark.parametrize("settings", [SINGLE, PAIRS], ids=["frames", "pairs"])
def test_frame_records_lost_reordered_or_of_another_stream_are_refused(tiny_codec, frames,
                                                                        settings):
    packets = live_stream(tiny_codec, frames[:8], settings=settings)[1]
    other = live_stream(tiny_codec, frames[:8], settings=settings)[1]
    reader = PacketReader()
    items = [reader.packet(p) for p in packets]
    first = next(i for i, r in enumerate(items) if isinstance(r, bs.TokenChunk) and r.compact)
    cases = {"another stream": other[first], "out of order": packets[first + 1],
             "damaged": bytes(packets[first][:-2]) + bytes(b ^ 1 for b in packets[first][-2:])}
    for why, bad in cases.items():
        decoder = LiveDecoder(tiny_codec)
        shown = [f for p in packets[:first] for f in decoder.packet(p).frames]
        with pytest.raises(FormatError, match="FRAME record for frame"):
            decoder.packet(bad)  # (the FRAME record of the right frame is the one skipped)
        assert decoder.wants_key and decoder.counts.refused == 1, why
        after = [f for p in packets[first + 1 : -1] for f in decoder.packet(p).frames]
        # nothing until a key frame (pairs: the frame held for the first FRAME record neither)
        assert len(shown) == first - 2 and after == [], why
    # a file with a FRAME record missing does not read
    with pytest.raises(FormatError, match="out of order"):
        list(bs.read_records(io.BytesIO(b"".join(packets[:first] + packets[first + 1 :]))))


def test_version_9_streams_still_decode(tiny_codec, frames):
    encoder = LiveEncoder(tiny_codec, FPS, sound=False, frame_records=False)
    packets = encoder.start() + [p for f in frames[:6] for p in encoder.frame(f)] + encoder.close()
    assert packets[0][4:6] == bytes([9, 0])
    reader = PacketReader()
    assert not any(getattr(reader.packet(p), "compact", False) for p in packets)
    decoder = LiveDecoder(tiny_codec)
    live = [f for p in packets for _, f in decoder.packet(p).frames]
    filed = list(tiny_codec.decode(b"".join(packets)))
    assert len(live) == 6 and all(np.array_equal(a, b) for a, b in zip(live, filed))


def test_a_byte_stream_in_any_pieces_gives_the_same_frames(tiny_codec, frames):
    _, packets, shown, _ = live_stream(tiny_codec, frames[:10], tone(0.4))
    data = b"".join(packets)
    rng = np.random.default_rng(1)
    cuts = sorted(rng.choice(len(data), 40, replace=False))
    decoder = LiveDecoder(tiny_codec)
    got = []
    for piece in np.split(np.frombuffer(data, np.uint8), cuts):
        out, errors = decoder.feed(piece.tobytes())
        assert not errors
        got += out.frames
    assert [i for i, _ in got] == [i for i, _ in shown]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, shown))


def test_a_new_stream_continues_after_the_end_or_a_restart(tiny_codec, frames):
    first = live_stream(tiny_codec, frames[:5])[1]
    second = live_stream(tiny_codec, frames[5:9])[1]
    decoder = LiveDecoder(tiny_codec)
    headers, count = 0, 0
    for packet in first[:-3] + second:  # the first stream cut off, then a new one
        out = decoder.packet(packet)
        headers += out.header is not None
        count += len(out.frames)
    assert headers == 2 and count == 5 - 2 + 4


def test_live_features_are_refused_in_older_versions(tiny_codec, frames):
    encoder = LiveEncoder(tiny_codec, FPS, sound=False)
    packets = encoder.start() + encoder.frame(frames[0]) + encoder.frame(frames[1]) + encoder.close()
    reader = PacketReader()
    items = [reader.packet(p) for p in packets]
    header = items[1]
    body = [r for r in items[2:] if not isinstance(r, bs.End)]
    for version in ((8, 0), (4, 0)):
        with pytest.raises(FormatError, match="9.0"):
            data = bs.file_start(version) + b"".join(bs.record_bytes(r) for r in [header, *body])
            list(bs.read_records(io.BytesIO(data + bs.record_bytes(bs.End(2)))))
    # and the writers pick 9.0 for them
    assert bs.version_for(body, header) == (9, 0)


def test_frame_records_of_two_frames_are_refused_in_10_0_and_read_in_11_0(tiny_codec, frames):
    packets = live_stream(tiny_codec, frames[:6], settings=PAIRS)[1]
    assert packets[0][4:6] == bytes([11, 0])
    reader = PacketReader()
    items = [reader.packet(p) for p in packets]
    assert [r.frame_count for r in items if isinstance(r, bs.TokenChunk)] == [1, 2, 2]
    assert bs.version_for(items[1:], items[1]) == (11, 0)
    # the same bytes with a 10.0 start: a pair's type byte reads as a one-frame FRAME record
    # of 64 more bytes, which a reader refuses (it runs past the end, or fails its CRC)
    old = packets[0][:4] + bytes([10, 0]) + packets[0][6:]
    with pytest.raises(FormatError):
        list(bs.read_records(io.BytesIO(old + b"".join(packets[1:]))))
    # an 11.0 reader refuses a two-frame record in a file that says 10.0 (record by record)
    from imfcodec.bitstream.versions import refuse_unheld
    pair = next(r for r in items if getattr(r, "frame_count", 1) == 2)
    with pytest.raises(FormatError, match="11.0"):
        refuse_unheld(bs.RecordType.TOKENS, pair, (10, 0))


def test_a_frame_between_is_rebuilt_from_its_neighbours_midpoint(tiny_codec, frames):
    """The frame a two-frame FRAME record leaves out is the model's picture of the midpoint of
    the tokens either side (docs/format.md), the same on the live and the file reader; the
    encoder sends it so only where its test allows (a tolerance of 0 and of 1e9 differ)."""
    encoder, packets, shown, _ = live_stream(tiny_codec, frames[:9], settings=PAIRS)
    reader = PacketReader()
    items = [reader.packet(p) for p in packets]
    from imfcodec.decoder import RecordDecoder

    decoder = RecordDecoder(items[1], tiny_codec.model)
    from imfcodec.bitstream.container import RecordChecker, record_type
    checker = RecordChecker((11, 0), encoder.stream_id)
    rows, key = {}, None
    for record in items[1:]:
        checker.check(record_type(record), record)
        if isinstance(record, bs.KeyFrame):
            key = tiny_codec.model.reference(decoder.key_frame(record))
        elif isinstance(record, bs.TokenChunk):
            levels = decoder.tokens(record)[0]
            for i, row in enumerate(levels):
                rows[record.first_frame + i] = row
    grid = tiny_codec.model.grid(items[1].token_step)
    between = [r.first_frame for r in items if getattr(r, "frame_count", 1) == 2]
    assert between == [2, 4, 6]
    for index in between:
        assert np.array_equal(rows[index], quant.midpoint(rows[index - 1], rows[index + 1]))
        picture = next(iter(tiny_codec.model.synthesise(key, quant.dequantize(rows[index][None], grid))))
        assert np.array_equal(shown[index][1], picture)
    filed = list(tiny_codec.decode(b"".join(packets)))
    assert all(np.array_equal(a, b) for (_, a), b in zip(shown, filed))


def test_the_chunker_holds_a_frame_and_pairs_it_only_where_asked():
    """TokenChunker with pairs: each frame after a run's first is held; the next asks
    ``between(before, held, after)``, and the held frame goes alone where it answers no."""
    from imfcodec.tokens import RunState, TokenChunker

    rng = np.random.default_rng(5)
    rows = list(rng.integers(-20, 20, size=(9, 16)))
    for answers, pairs in (([True] * 8, 4), ([False] * 8, 0),
                           ([True, False, False, True, True, False, True, True], 3)):
        emitted, asked = [], []

        def between(before, held, after, answers=answers):
            asked.append((before, held, after))
            return answers[len(asked) - 1]
        chunker = TokenChunker(1, emitted.append, adaptive=True, frames=True, pairs=True)
        chunker.key_frame(1)
        for row in rows:
            chunker.add(row, 0, between)
            assert sum(r.frame_count for r in emitted) <= len(rows)
        chunker.flush()
        assert [r.first_frame for r in emitted] == \
            list(np.cumsum([1] + [r.frame_count for r in emitted[:-1]]))
        # each question about the frame held, between the last one sent and the new one
        for before, held, after in asked:
            i = next(k for k, r in enumerate(rows) if r is held)
            assert before is rows[i - 1] or np.array_equal(before, rows[i - 1])
            assert after is rows[i + 1]
        # read back: the coded frames exactly, each left-out one at its neighbours' midpoint
        state, got = RunState(), []
        for record in emitted:
            got += list(state.read(record, 16)[0])
        assert len(got) == len(rows)
        for i, record_row in enumerate(got):
            left_out = any(r.frame_count == 2 and r.first_frame - 1 == i for r in emitted)
            want = quant.midpoint(rows[i - 1], rows[i + 1]) if left_out else rows[i]
            assert np.array_equal(record_row, want)
        assert sum(r.frame_count == 2 for r in emitted) == pairs


def test_settings_are_checked():
    from imfcodec.errors import InputError

    for bad in ({"packet_frames": 0}, {"bitrate": -1}, {"audio_bitrate": 1000},
                {"max_key_seconds": -1}, {"delay": -0.5}, {"delay": 11},
                {"delay": 1, "packet_frames": 2}):
        with pytest.raises(InputError):
            LiveSettings(**bad)


def test_a_delay_is_shared_between_the_look_ahead_and_the_records():
    from imfcodec.live.encoder import delay_frames

    assert delay_frames(2.0, 25, 0.5) == (25, 25) and delay_frames(1.0, 12, 0.5) == (6, 6)
    assert delay_frames(2.0, 25, 1.0) == (50, 1)  # (records of a frame: FRAME records)
    assert delay_frames(0.1, 25, 0.5) == (0, 1)  # (a frame ahead: none)
    assert delay_frames(0.16, 25, 0.5) == (2, 2)


# a latency budget of 0.4 s at 25 fps: 7 frames looked ahead (Tuning.lookahead_share 0.75),
# records of up to 3 frames
DELAYED = LiveSettings(delay=0.4)


def test_a_delayed_stream_sends_each_runs_most_typical_frame_as_its_key_ahead_of_it(
        tiny_codec, frames, tmp_path):
    from imfcodec.keyplace import central_frame, descriptor

    encoder, packets, shown, heard = live_stream(tiny_codec, frames, tone(0.8), DELAYED)
    assert encoder.ahead.size == 7 and packets[0][4] == 12  # (format 12.0: key frames may lead)
    # every frame shown once, in order, however far ahead its key frame came
    assert [index for index, _ in shown] == list(range(len(frames)))
    reader = PacketReader()
    items = [reader.packet(p) for p in packets]
    keys = [r for r in items if isinstance(r, bs.KeyFrame)]
    # the first key frame: the frame nearest the mean of the first seven (not the first)
    first = central_frame([descriptor(f) for f in frames[:7]])
    assert first > 0 and keys[0].frame_index == first
    assert keys[0].reason == bs.KeyReason.START
    assert psnr(frames[first], dict(shown)[first]) > 25
    # records of up to 3 frames; the leading frames in TOKENS records, never FRAME records
    tokens = [r for r in items if isinstance(r, bs.TokenChunk)]
    assert items[1].chunk_frames == 3 and all(r.frame_count <= 3 for r in tokens)
    assert tokens[0].first_frame == 0 and not tokens[0].compact
    assert sum(r.frame_count for r in tokens) == len(frames) - len(keys)
    # the sound stays in time order with the frames: an AUDIO record goes out once the
    # frames of its start are (all but the last, which the end lets out)
    out, starts = set(), []  # the frames sent so far
    for r in items[:-2]:
        unsent = min(set(range(len(frames) + 1)) - out)
        if isinstance(r, bs.TokenChunk):  # (a FRAME record: the next frame not yet sent)
            begins = unsent if r.compact else r.first_frame
            out.update(range(begins, begins + r.frame_count))
        elif isinstance(r, bs.KeyFrame):
            out.add(r.frame_index)
        elif isinstance(r, bs.AudioChunk):
            starts.append((r.end - r.samples - encoder.sound.pre_skip) / 48000)
            assert starts[-1] <= unsent / 25
    assert len(starts) > 5
    assert heard and isinstance(items[-1], bs.End) and items[-1].frame_count == len(frames)
    # end to end, a file the file decoder reads: the same frames, and the sound
    path = tmp_path / "delayed.imf"
    path.write_bytes(b"".join(packets))
    assert all(np.array_equal(a, b) for (_, a), b in zip(shown, tiny_codec.decode(path)))
    assert describe(path)["frames"] == len(frames)
    assert bs.version_for(items[1:], items[1]) == (12, 0)
    # below 12.0 a live stream's frames come in order: the key frame ahead is refused there
    for major in (10, 11):
        older = bytearray(packets[0])
        older[4] = major
        with pytest.raises(FormatError, match=f"key frame for frame {first}, expected 0"):
            tiny_codec.decode(bytes(older) + b"".join(packets[1:]))
        decoder = LiveDecoder(tiny_codec)
        at = items.index(keys[0])
        for packet in [bytes(older)] + packets[1:at]:  # (the start, the headers)
            decoder.packet(packet)
        with pytest.raises(FormatError, match="expected 0"):
            decoder.packet(packets[at])


def test_a_delayed_stream_resumes_at_the_key_frame_asked_for_and_skips_the_network_when_behind(
        tiny_codec, frames):
    _, packets, _, _ = live_stream(tiny_codec, frames, settings=DELAYED, keys_at=(14,))
    reader = PacketReader()
    items = [reader.packet(p) for p in packets]
    asked = [r.frame_index for r in items if isinstance(r, bs.KeyFrame)
             and r.reason == bs.KeyReason.REQUEST]
    assert asked == [8]  # (seven frames held when it was asked for)
    # a record after the first key frame is lost on the way: nothing until the key frame asked
    # for, then every frame from it
    lost = next(i for i, r in enumerate(items) if isinstance(r, bs.TokenChunk) and i > 3)
    decoder, shown = LiveDecoder(tiny_codec), []
    for i, packet in enumerate(packets):
        if i == lost:
            continue
        with contextlib.suppress(FormatError):  # (the record after the lost one is refused)
            shown += decoder.packet(packet).frames
    assert decoder.counts.refused == 1
    indices = [index for index, _ in shown]
    resumed = indices.index(8)
    assert indices[resumed:] == list(range(8, len(frames))) and max(indices[:resumed]) < 8
    # a receiver that has fallen behind shows every frame's place, the key frame held ahead
    # among them, without running the network for the others
    decoder, shown = LiveDecoder(tiny_codec), []
    for packet in packets:
        shown += decoder.packet(packet, render=False).frames
    assert [index for index, _ in shown] == list(range(len(frames)))
    keys = {r.frame_index for r in items if isinstance(r, bs.KeyFrame)}
    assert all((picture is not None) == (index in keys) for index, picture in shown)


def test_a_delayed_stream_keeps_a_requested_key_frame_and_repeats_in_place(tiny_codec, frames):
    encoder = LiveEncoder(tiny_codec, FPS, DELAYED, sound=False)
    decoder = LiveDecoder(tiny_codec)
    packets, shown = encoder.start(), []
    for i, frame in enumerate(frames):
        if i == 14:
            encoder.request_key()
        packets += encoder.repeat() if i in (10, 11) else encoder.frame(frame)
    packets += encoder.close()
    for packet in packets:
        shown += decoder.packet(packet).frames
    assert [index for index, _ in shown] == list(range(len(frames)))
    keys = {r.frame_index: r.reason for r in map(PacketReader().packet, packets)
            if isinstance(r, bs.KeyFrame)}
    # asked for as frame 14 came: the intra key frame is the next frame coded (8: seven frames
    # held), at its own frame (a receiver that lost records takes the stream up there)
    assert keys[8] == bs.KeyReason.REQUEST
    # frames 10 and 11 were repeats of frame 9: shown as the same picture
    assert np.array_equal(shown[10][1], shown[9][1]) and np.array_equal(shown[11][1], shown[9][1])


def test_a_slow_receiver_drops_frames_instead_of_piling_them_up(tiny_codec, frames, tmp_path):
    from imfcodec.live.receive import Receiver, _Sender

    _, packets, _, _ = live_stream(tiny_codec, synthetic_frames(60, 64, 64, seed=4))
    receiver = Receiver(tiny_codec, str(tmp_path / "slow.mkv"), say=lambda message: None)
    sender = _Sender(lambda: None, "test")
    receiver.arrive(sender, "open")
    for packet in packets:  # all of them at once: far more than half a second waits
        receiver.arrive(sender, "packet", packet)
    receiver.thread.start()
    assert receiver.done.wait(60)  # the END record ends it
    report = receiver.finish(interrupted=False)
    # every frame written (the ones not rendered as the last picture again), some skipped
    assert report.frames == 60 and 0 < report.dropped < 60
    import av

    with av.open(str(tmp_path / "slow.mkv")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 60


def test_a_slow_link_drops_what_waits_and_says_so():
    import threading

    from imfcodec.live.transport import SEND_QUEUE, Link

    release = threading.Event()

    class Stuck(Link):
        def _write(self, kind, item):
            release.wait(10)

        def _shut(self):
            pass

    link = Stuck().start()
    sent = [link.send(bytes(20)) for _ in range(SEND_QUEUE + 10)]
    assert not all(sent) and link.dropped > 0  # the queue never holds more than SEND_QUEUE
    assert link.queue.qsize() <= SEND_QUEUE
    release.set()
    link.close()
    assert not link.alive


def test_online_rate_control_prices_refreshes_by_the_bits_spent(tiny_codec):
    encoder = LiveEncoder(tiny_codec, FPS, LiveSettings(bitrate=16000, audio_bitrate=8000),
                          sound=True)
    rate, base = encoder.rate, encoder.loop.fixed.rule.lam
    assert rate.budget == 8000 and rate.per_frame == 8000 / 25
    for _ in range(25):  # a second at twice the budget: refreshes get dearer
        rate.spent(2 * 8000 / 25 / 8)
    assert rate.factor == pytest.approx(2.0, rel=0.05)
    assert encoder.loop.fixed.rule.lam == pytest.approx(base * rate.factor)
    for _ in range(200):  # well under it: cheaper, down to the floor (savings forgotten past 1 s)
        rate.spent(0)
    assert rate.factor == pytest.approx(0.5, rel=0.05) and rate.bucket == -rate.budget


@pytest.mark.parametrize("settings", [SINGLE, PAIRS], ids=["10.0", "11.0"])
def test_a_live_stream_matches_docs_format_md(tiny_codec, frames, settings):
    """Parses a 10.0 or 11.0 stream by docs/format.md (framing, CRCs, FRAME records and their
    range coder), independently of imfcodec/bitstream/ and imfcodec/entropy/, and compares the
    residuals with what imfcodec reads."""
    import binascii
    import struct
    import zlib

    from imfcodec.entropy.tables import frequency_table

    encoder, packets, _, _ = live_stream(tiny_codec, frames[:12], keys_at=(7,), settings=settings)
    data = b"".join(packets)
    major = 11 if settings.interpolate else 10
    assert data[:6] == b"\x89IMF" + bytes([major, 0])
    stream_id = data[6:10]
    freqs = frequency_table().tolist()
    cums = [[sum(row[:s]) for s in range(len(row) + 1)] for row in freqs]
    means = [sum(f * abs(s - 254) for s, f in enumerate(row)) for row in freqs]
    dims = tiny_codec.model.token_dim
    pos, frame, mean, ours, covered = 10, 0, None, [], 0
    while pos < len(data):
        kind = data[pos]
        if kind >= 128:
            n, span = (kind - 128, 1) if major == 10 else (kind & 63, 2 if kind & 64 else 1)
            payload = data[pos + 1 : pos + 1 + n]
            (crc,) = struct.unpack("<H", data[pos + 1 + n : pos + 3 + n])
            head = stream_id + frame.to_bytes(4, "little")
            assert crc == binascii.crc_hqx(head + data[pos : pos + 1 + n], 0)
            padded = payload + b"\0" * 64
            code, width, read, row = int.from_bytes(padded[:8], "big"), 1 << 64, 8, []
            for d in range(dims):
                table = min(range(32), key=lambda i: (abs((mean[d] << 8) - means[i]), i))
                r = width >> 24
                v = code // r
                s = max(i for i in range(509) if cums[table][i] <= v)
                code, width = code - r * cums[table][s], r * freqs[table][s]
                while width <= 1 << 56:
                    code, width, read = (code << 8) | padded[read], width << 8, read + 1
                row.append(s - 254)
                mean[d] += (abs(row[-1]) << 13) - (mean[d] >> 3)
            assert n <= read
            ours.append((frame + span - 1, row))  # (two frames: the second's token)
            covered += span
            frame, pos = frame + span, pos + 3 + n
            continue
        length, shift, i = 0, 0, pos + 1
        while True:
            length |= (data[i] & 0x7F) << shift
            shift, i = shift + 7, i + 1
            if not data[i - 1] & 0x80:
                break
        payload = data[i : i + length]
        (crc,) = struct.unpack("<I", data[i + length : i + length + 4])
        assert crc == zlib.crc32(data[pos : i + length], zlib.crc32(stream_id))
        if kind == 2:  # KEYFRAME: its frame index first
            frame = payload[0] + 1  # (frames under 128: a one-byte varint)
        elif kind == 3:  # TOKENS: a run's first token, whole (flags 8 | 1)
            assert payload[2] == 9 and payload[1] == 1
            frame, mean = payload[0] + 1, [1 << 15] * dims
        pos = i + length + 4
    # every frame but each run's key frame and first token is in a FRAME record, pairs two
    assert covered == 12 - 2 * encoder.key_frames and (major == 10) == (covered == len(ours))
    reader = PacketReader()
    records = [reader.packet(p) for p in packets]
    from imfcodec.bitstream.container import RecordChecker, record_type
    from imfcodec.decoder import RecordDecoder

    decoder = RecordDecoder(records[1], tiny_codec.model)
    checker = RecordChecker((major, 0), encoder.stream_id)
    levels, before = {}, {}
    for record in records[1:]:
        checker.check(record_type(record), record)
        if isinstance(record, bs.KeyFrame):
            decoder.key_frame(record)
        elif isinstance(record, bs.TokenChunk):
            last = record.first_frame + record.frame_count - 1
            before[last] = record.first_frame - 1  # the token its residuals follow
            levels[last] = decoder.tokens(record)[0][-1]
    assert len(ours) == sum(r.compact for r in records[1:] if isinstance(r, bs.TokenChunk))
    for index, row in ours:
        assert np.array_equal(levels[index] - levels[before[index]], row)


# --- a call at the picture's own size ---------------------------------------------------------


def test_a_call_keeps_the_pictures_own_size_and_decodes_as_a_file(tiny_codec, tmp_path):
    wide = synthetic_frames(12, 160, 96, seed=4)  # 5:3, larger than its motion region
    encoder = LiveEncoder(tiny_codec, FPS, LiveSettings(), source_size=(160, 96), sound=False)
    decoder = LiveDecoder(tiny_codec)
    packets = encoder.start()
    for frame in wide:
        packets += encoder.frame(frame)
    packets += encoder.close()
    shown = [p for packet in packets for _, p in decoder.packet(packet).frames]
    header = encoder.header
    assert (header.width, header.height, header.region) == (160, 96, (32, 0, 96))
    assert [p.shape for p in shown] == [(96, 160, 3)] * len(wide)
    assert psnr(wide[0], shown[0]) > 25  # the key frame, at full size
    # a call's key frames larger than the model's square take x265's faster preset
    assert encoder.loop.keys.encoder.tuning["preset"] == "medium"
    path = tmp_path / "wide.imf"
    path.write_bytes(b"".join(packets))
    filed = list(tiny_codec.decode(path))
    assert len(filed) == len(shown) and all(np.array_equal(a, b) for a, b in zip(shown, filed))


def test_a_call_fitted_into_a_size_or_the_models_square(tiny_codec):
    frame = synthetic_frames(1, 320, 180, seed=6)[0]
    side = tiny_codec.model.image_size
    for size, expected in ((None, (320, 180)), ("160x160", (160, 160)),
                           (f"{side}x{side}", (side, side)), ("192x108", (192, 108))):
        encoder = LiveEncoder(tiny_codec, FPS, LiveSettings(size=size), source_size=(320, 180),
                              sound=False)
        assert (encoder.header.width, encoder.header.height) == expected, size
        square = size == f"{side}x{side}"  # the model's own square: as calls were before
        assert (encoder.stream.motion is tiny_codec.model) == square
        assert (encoder.header.region is None) == square
        packets = encoder.start() + encoder.frame(frame) + encoder.close()
        decoder = LiveDecoder(tiny_codec)
        shown = [p for packet in packets for _, p in decoder.packet(packet).frames]
        assert shown[0].shape == (expected[1], expected[0], 3)
    # a camera's 1280x720 (or 720x1280) is sent at 640x360 (360x640) unless --size says more
    for source, size, expected in (((1280, 720), None, (640, 360)), ((720, 1280), None, (360, 640)),
                                   ((1280, 720), "1280x720", (1280, 720))):
        encoder = LiveEncoder(tiny_codec, FPS, LiveSettings(size=size), source_size=source,
                              sound=False)
        assert (encoder.header.width, encoder.header.height) == expected
        assert any("a call's default" in note for note in encoder.stream.plan.notes) == (size is None)
    # key frames: x265 medium above the model's square (given tunings too), else veryslow
    for size, preset in ((None, "medium"), (f"{side}x{side}", "veryslow")):
        encoder = LiveEncoder(tiny_codec, FPS, LiveSettings(size=size, tuning=live_tuning(FPS)),
                              source_size=(320, 180), sound=False)
        assert encoder.loop.keys.encoder.tuning["preset"] == preset
    # no size known: the model's square, as the API always gave
    assert LiveEncoder(tiny_codec, FPS, sound=False).header.width == side
    with pytest.raises(InputError, match="--size"):
        LiveSettings(size="wide")
