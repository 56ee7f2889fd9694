"""Several references (issue 28): a TOKENS record may name an earlier key frame than its
run's; the decoder holds the last bitstream.MAX_REFERENCES key frames."""

from __future__ import annotations

import io
import weakref
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from imfcodec import bitstream as bs
from imfcodec.codec import Codec
from imfcodec.errors import FormatError
from imfcodec.motion.static import StaticMotion
from imfcodec.options import EncodeOptions
from imfcodec.source import Source


def scenes(n: int, period: int = 10, offset: int = 5, side: int = 64) -> list[np.ndarray]:
    """Two pictures taking turns: A for frames < offset, then B and A every ``period``."""
    yy, xx = np.mgrid[0:side, 0:side] / side
    a = (np.stack([xx, yy, 0.5 + 0 * xx], -1) * 220 + 20).astype(np.uint8)  # smooth, so a key
    b = (np.stack([1 - yy, 0.3 + 0 * xx, xx], -1) * 220 + 20).astype(np.uint8)  # frame keeps it
    return [a if i < offset or ((i - offset) // period) % 2 else b for i in range(n)]


def chunks(data: bytes) -> list[bs.TokenChunk]:
    return [r for _, r in bs.read_records(io.BytesIO(data)) if isinstance(r, bs.TokenChunk)]


def test_reference_index_round_trips_and_is_checked():
    chunk = bs.TokenChunk(5, 3, True, b"\x00" * 4, reference=2)
    assert bs.TokenChunk.from_bytes(chunk.to_bytes()) == chunk
    assert chunk.to_bytes()[2] == 3 and chunk.to_bytes()[3] == 2  # flags, then the index
    plain = bs.TokenChunk(5, 3, False, b"")
    assert plain.to_bytes()[2] == 0 and bs.TokenChunk.from_bytes(plain.to_bytes()).reference == 0
    for bad in (bytes([5, 3, 2, 0]), bytes([5, 3, 2, bs.MAX_REFERENCES]), bytes([5, 3, 4])):
        with pytest.raises(FormatError):
            bs.TokenChunk.from_bytes(bad)


@pytest.mark.parametrize("placement", ["start", "centre"])
def test_frames_are_rebuilt_from_the_held_key_frame_that_shows_them(placement):
    codec = Codec(StaticMotion(image_size=64))
    frames = scenes(40)
    source = Source.from_frames(frames, Fraction(10))
    one = codec.encode(source, options=EncodeOptions(keyframe_interval=10, key_placement=placement))
    four = codec.encode(source, options=EncodeOptions(keyframe_interval=10, key_placement=placement,
                                                      references=4))
    assert all(c.reference == 0 for c in chunks(one.data))
    assert any(c.reference > 0 for c in chunks(four.data))
    assert bs.file_version(io.BytesIO(four.data)) == (5, 0)
    assert bs.file_version(io.BytesIO(one.data)) < (5, 0)
    err = {n: np.mean([np.mean((f.astype(float) - d) ** 2) for f, d in zip(frames, codec.decode(s))])
           for n, s in (("one", one), ("four", four))}
    assert err["four"] < 0.5 * err["one"]  # each scene is shown from a key frame of that scene


def test_encoder_and_decoder_hold_the_same_references():
    """The static model shows the reference itself: every decoded frame is one of the held key
    frames, the one the encoder chose (the scene's)."""
    codec = Codec(StaticMotion(image_size=64))
    frames = scenes(60)
    stream = codec.encode(Source.from_frames(frames, Fraction(10)),
                          options=EncodeOptions(keyframe_interval=10, key_placement="start",
                                                references=4))
    decoded = list(codec.decode(stream))
    keys = {i: decoded[i] for i in range(0, 60, 10)}
    for i, (frame, shown) in enumerate(zip(frames, decoded)):
        same_scene = [k for k, picture in keys.items() if k <= i and np.array_equal(frames[k], frame)]
        if same_scene and i - max(same_scene) < 40:  # a key frame of this scene is still held
            assert any(np.array_equal(shown, keys[k]) for k in same_scene), i


def test_a_reference_back_past_the_key_frames_received_is_refused():
    codec = Codec(StaticMotion(image_size=64))
    stream = codec.encode(Source.from_frames(scenes(20), Fraction(10)),
                          options=EncodeOptions(key_placement="start"))
    records = [r for _, r in bs.read_records(io.BytesIO(stream.data))]
    header, body = records[0], records[1:-1]
    body = [bs.TokenChunk(r.first_frame, r.frame_count, r.absolute_first, r.data, 1)
            if isinstance(r, bs.TokenChunk) else r for r in body]
    with pytest.raises(FormatError, match="refers to key frame 1 back"):
        list(bs.read_records(io.BytesIO(bs.pack(header, body))))
    old = bytearray(bs.pack(header, body))
    old[4] = 4  # the same records claimed as 4.0
    with pytest.raises(FormatError, match="came in 5.0"):
        list(bs.read_records(io.BytesIO(bytes(old))))


def test_the_decoder_holds_at_most_max_references_whatever_the_length():
    class Held:
        def __init__(self, picture):
            self.picture = picture

    class Counting(StaticMotion):
        def __init__(self):
            super().__init__(image_size=16)
            self.alive, self.most = weakref.WeakSet(), 0

        def reference(self, picture):
            held = Held(super().reference(picture))  # one object per key frame, tracked while it lives
            self.alive.add(held)
            self.most = max(self.most, len(self.alive))
            return held

        def synthesise(self, reference, tokens):
            return super().synthesise(reference.picture, tokens)

    model = Counting()
    frames = scenes(2000, period=7, offset=3, side=16)
    codec = Codec(model)
    stream = codec.encode(Source.from_frames(frames, Fraction(25)),
                          options=EncodeOptions(keyframe_interval=5, key_placement="start",
                                                references=4))
    assert stream.stats.key_frames == 400
    model.most, model.alive = 0, weakref.WeakSet()
    assert sum(1 for _ in codec.decode(stream)) == 2000
    assert model.most <= bs.MAX_REFERENCES + 1  # the four held and the one being made


def test_info_counts_chunks_from_older_key_frames(tmp_path):
    import json

    from click.testing import CliRunner

    from imfcodec.cli import main

    codec = Codec(StaticMotion(image_size=64))
    stream = codec.encode(Source.from_frames(scenes(40), Fraction(10)),
                          options=EncodeOptions(keyframe_interval=10, key_placement="start",
                                                references=4))
    stream.save(tmp_path / "a.imf")
    info = json.loads(CliRunner().invoke(main, ["info", str(tmp_path / "a.imf"), "--json"]).output)
    assert info["format_version"] == "5.0"
    assert info["token_chunks_older_reference"] == sum(c.reference > 0 for c in chunks(stream.data)) > 0


def flow_codec(side: int = 64) -> Codec:
    """A small flow model (a dictionary of random flows, no correction network): it blends."""
    from imfcodec.motion import dictionary as md
    from imfcodec.motion.flow import FlowConfig, FlowMotion, serialize

    flows = np.random.default_rng(0).normal(0, 0.5, (50, 2, 8, 8)).astype(np.float32)
    data = serialize(md.principal(flows, 4), FlowConfig(side, 8, 4, 0.25, "fast"), "flow-test")
    return Codec(FlowMotion.from_weights(data, "test"))


def crossfade(n: int = 20, side: int = 64) -> list[np.ndarray]:
    """One scene whose middle square is dark in A (frames 0..9), light in B (frame 10), and
    halfway between from frame 11 on: those frames are shown best by blending the two key
    frames half and half (the scene does not move, so the flow between them is about 0)."""
    a = scenes(1, side=side)[0].copy()
    b = a.copy()
    square = slice(side // 4, 3 * side // 4)
    a[square, square], b[square, square] = 40, 220
    half = ((a.astype(np.float32) + b) / 2).round().astype(np.uint8)
    return [a] * 10 + [b] + [half] * (n - 11)


def test_blended_chunk_round_trips_and_is_checked():
    from imfcodec.entropy import coder

    chunk = bs.TokenChunk(5, 3, False, b"\x00" * 4, reference=1, partner=2)
    assert bs.TokenChunk.from_bytes(chunk.to_bytes()) == chunk
    assert chunk.to_bytes()[2] == 6 and chunk.to_bytes()[3:5] == bytes([1, 2])
    assert bs.TokenChunk.from_bytes(bs.TokenChunk(5, 3, False, b"", 2, partner=0).to_bytes()).partner == 0
    for bad in (bytes([5, 3, 6, 1, 1]), bytes([5, 3, 4, bs.MAX_REFERENCES]), bytes([5, 3, 16]),
                    bytes([5, 3, 12, 1])):
        with pytest.raises(FormatError):
            bs.TokenChunk.from_bytes(bad)
    residuals = np.array([[1, -2], [0, 3]])
    data = coder.encode_chunk(residuals, np.array([4, -1]), np.array([0, 4, 2]))
    got_res, got_abs, got_shares = coder.decode_chunk(data, 2, 2, True, 3)
    assert got_res.tolist() == residuals.tolist() and got_abs.tolist() == [4, -1]
    assert got_shares.tolist() == [0, 4, 2]
    assert bs.version_for([chunk]) == bs.BLEND_VERSION


def test_blending_two_held_key_frames_rebuilds_what_neither_shows(tmp_path):
    codec = flow_codec()
    frames = crossfade()
    source = Source.from_frames(frames, Fraction(10))
    options = EncodeOptions(keyframe_interval=10, key_placement="start")
    one = codec.encode(source, options=options)
    two = codec.encode(source, options=replace(options, references=2))
    blended = [c for c in chunks(two.data) if c.partner is not None]
    assert blended and all(c.partner == c.reference + 1 for c in blended)
    assert all(c.partner is None for c in chunks(one.data))
    assert bs.file_version(io.BytesIO(two.data)) == bs.BLEND_VERSION
    assert bs.file_version(io.BytesIO(one.data)) < bs.REFERENCES_VERSION
    err = {n: np.mean([np.mean((f.astype(float) - d) ** 2) for f, d in list(zip(frames, codec.decode(s)))[11:]])
           for n, s in (("one", one), ("two", two))}
    assert err["two"] < 0.25 * err["one"]  # the half-and-half frames, from both key frames
    assert [np.array_equal(x, y) for x, y in zip(codec.decode(two), codec.decode(two))] == [True] * 20
    from imfcodec.info import describe

    path = tmp_path / "two.imf"
    two.save(path)
    assert describe(path)["token_chunks_blended"] == len(blended)


def test_a_blended_chunk_in_an_older_file_or_past_the_key_frames_is_refused():
    codec = flow_codec()
    stream = codec.encode(Source.from_frames(crossfade(), Fraction(10)),
                          options=EncodeOptions(keyframe_interval=10, key_placement="start",
                                                references=2))
    records = [r for _, r in bs.read_records(io.BytesIO(stream.data))]
    header, body = records[0], records[1:-1]
    old = bytearray(bs.pack(header, body))
    old[4] = 5  # the same records claimed as 5.0
    with pytest.raises(FormatError, match="came in 6.0"):
        list(bs.read_records(io.BytesIO(bytes(old))))
    far = [replace(r, partner=3) if isinstance(r, bs.TokenChunk) and r.partner is not None else r
           for r in body]
    with pytest.raises(FormatError, match="refers to key frame 3 back"):
        list(bs.read_records(io.BytesIO(bs.pack(header, far))))


def test_a_blended_chunk_for_a_model_that_cannot_blend_is_a_format_error():
    codec = Codec(StaticMotion(image_size=64))
    stream = codec.encode(Source.from_frames(scenes(20), Fraction(10)),
                          options=EncodeOptions(keyframe_interval=10, key_placement="start"))
    records = [r for _, r in bs.read_records(io.BytesIO(stream.data))]
    header, body = records[0], records[1:-1]
    body = [replace(r, partner=1) if isinstance(r, bs.TokenChunk) and r.first_frame > 10 else r
            for r in body]
    with pytest.raises(FormatError, match="blends two key frames, which model static cannot do"):
        list(codec.decode(bs.pack(header, body)))


def _as_packets(data: bytes) -> list[bytes]:
    """A file's start and records, each a packet of its own (as a live stream sends them)."""
    packets, pos = [data[:6]], 6
    for size, _ in bs.read_records(io.BytesIO(data)):
        packets.append(data[pos : pos + size])
        pos += size
    return packets


@pytest.mark.parametrize("blend", [False, True])
def test_a_live_receiver_rebuilds_from_the_key_frame_each_record_names(blend):
    """A file's records sent as packets (its key frames first in their runs): a LiveDecoder
    holds the key frames a file decoder holds, and rebuilds each token record's frames from
    the one it names (and blends the one it blends), not from the last one."""
    from imfcodec.live import LiveDecoder

    codec = flow_codec() if blend else Codec(StaticMotion(image_size=64))
    frames = crossfade() if blend else scenes(40)
    options = EncodeOptions(keyframe_interval=10, key_placement="start",
                            references=2 if blend else 4)
    stream = codec.encode(Source.from_frames(frames, Fraction(10)), options=options)
    named = [c for c in chunks(stream.data) if (c.partner is not None if blend else c.reference)]
    assert named
    decoder = LiveDecoder(codec)
    live = [picture for p in _as_packets(stream.data) for _, picture in decoder.packet(p).frames]
    filed = list(codec.decode(stream))
    assert len(live) == len(filed) == len(frames)
    # the same pictures (the file decoder runs a record's frames as one batch: a level at most)
    assert max(np.abs(a.astype(int) - b).max() for a, b in zip(live, filed)) <= 1
