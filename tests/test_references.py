"""Several references (issue 28): a TOKENS record may name an earlier key frame than its
run's; the decoder holds the last bitstream.MAX_REFERENCES key frames."""

from __future__ import annotations

import io
import weakref
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
