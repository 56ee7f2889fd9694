"""Centred key placement: each run's key frame at the frame nearest the run's mean picture,
sent ahead of the frames before it (format 2.0), decoded back in display order."""

import io
from fractions import Fraction

import numpy as np
import pytest

from imfcodec import bitstream as bs
from imfcodec import intra
from imfcodec.codec import Codec
from imfcodec.errors import FormatError
from imfcodec.io.reader import VideoInfo
from imfcodec.options import EncodeOptions
from imfcodec.source import Source
from imfcodec.keyplace import central_frame, descriptor

from .conftest import synthetic_frames


def encode(frames, model, **options):
    source = frames if isinstance(frames, Source) else Source.from_frames(frames, Fraction(10))
    stream = Codec(model).encode(source, options=EncodeOptions(**options))
    return stream.data, stream.stats


def key_frames(data: bytes) -> dict[int, str]:
    return {r.frame_index: r.reason.name.lower()
            for _, r in bs.read_records(io.BytesIO(data)) if isinstance(r, bs.KeyFrame)}


def test_central_frame_is_the_one_nearest_the_mean_thumbnail():
    grey = lambda v: np.full((48, 80, 3), v, np.uint8)  # any frame size, not only square
    assert descriptor(grey(255)).shape == (32 * 32,)
    assert descriptor(grey(255)) == pytest.approx(1.0)
    # values 0, 10, 20, 200: mean 57.5, nearest 20 (position 2), not the middle position
    assert central_frame([descriptor(grey(v)) for v in (0, 10, 20, 200)]) == 2
    assert central_frame([descriptor(grey(9))]) == 0
    assert central_frame([descriptor(grey(v)) for v in (5, 5, 5)]) == 0  # the earliest of equals


def test_runs_start_where_they_would_and_each_key_is_its_runs_central_frame(tiny_model):
    frames = synthetic_frames(24, 64, 64, seed=4)
    settings = dict(refresh_threshold=99.0, min_refresh_gap=7, chunk_seconds=0.4)
    start_data, _ = encode(frames, tiny_model, key_placement="start", **settings)
    centre_data, result = encode(frames, tiny_model, key_placement="centre", **settings)
    starts = sorted(key_frames(start_data))
    assert starts == [0, 7, 14, 21]
    ends = starts[1:] + [len(frames)]
    expected = {s + central_frame([descriptor(f) for f in frames[s:e]]): reason
                for (s, reason), e in zip(sorted(key_frames(start_data).items()), ends)}
    assert key_frames(centre_data) == expected == result.key_reasons
    assert any(k not in starts for k in expected)  # the test moves at least one key frame
    # the refreshes are predicted key frames (format 3.0) in both; centred ones lead their runs
    assert centre_data[4:6] == start_data[4:6] == bytes([3, 0])
    assert result.frames == len(frames) and result.bytes_total == len(centre_data)


def test_a_leading_key_frame_decodes_in_display_order(tiny_model):
    frames = synthetic_frames(17, 64, 64, seed=5)
    # (hold=0: plain rounding, so that a token's levels depend on its frame alone; with the
    # quantiser's hysteresis they also depend on the token sent before it)
    data, result = encode(frames, tiny_model, quality=6, chunk_seconds=0.3, hold=0.0)
    (key,) = key_frames(data)
    assert 0 < key < len(frames) - 1  # one run, its key frame inside it
    decoded = list(Codec(tiny_model).decode(data))
    assert len(decoded) == len(frames)
    record = next(r for _, r in bs.read_records(io.BytesIO(data)) if isinstance(r, bs.KeyFrame))
    picture = intra.decode(record.data, record.codec)
    assert np.array_equal(decoded[key], picture)  # the key frame is shown at its own index
    assert np.abs(picture.astype(int) - frames[key]).mean() < 8
    # the tokens of the other frames do not depend on where the key frame is (unrefined)
    levels_start = encode(frames, tiny_model, quality=6, chunk_seconds=0.3, hold=0.0,
                          key_placement="start")[1].levels
    centre_levels = dict(zip([i for i in range(len(frames)) if i != key], result.levels))
    assert len(centre_levels) == len(frames) - 1
    for i in range(1, len(frames)):
        if i != key:
            assert np.array_equal(centre_levels[i], levels_start[i - 1])


def test_a_one_shot_iterator_gives_the_same_file_as_a_list(tiny_model):
    """Key placement reads its source twice: frames from a one-shot iterator are held."""
    frames = synthetic_frames(9, 64, 64, seed=6)
    from_list, _ = encode(frames, tiny_model)
    from_iterator, _ = encode(Source.from_frames(iter(frames), Fraction(10)), tiny_model)
    assert from_list == from_iterator


def test_unknown_key_placement_is_refused(tiny_model):
    with pytest.raises(ValueError, match="key placement"):
        encode(synthetic_frames(3, 64, 64), tiny_model, key_placement="middle")


# --- the reader's frame-order rules for key frames sent ahead --------------------------------


def stream(version, records, frames=4) -> bytes:
    header = bs.Header("t", bytes(16), 32, 64, 64, 64, 64, Fraction(10), frames, 3, 0.35, 1, 39,
                       bs.Fit.CROP, 10, 0)
    return bs.file_start(version) + b"".join(bs.record_bytes(r) for r in [header, *records])


KEY = lambda i: bs.KeyFrame(i, 1, 39, bs.KeyReason.START, b"pic")
TOK = lambda first, n, absolute: bs.TokenChunk(first, n, absolute, b"\0\0\0\0")


def test_a_key_frame_ahead_of_its_leading_frames_reads_in_version_2():
    records = [KEY(2), TOK(0, 2, True), TOK(3, 1, False), bs.End(4)]
    assert len(list(bs.read_records(io.BytesIO(stream((2, 0), records))))) == 5
    assert bs.version_for(records) == (2, 0)
    assert bs.version_for([KEY(0), TOK(1, 3, True), bs.End(4)]) == (1, 0)


@pytest.mark.parametrize("version,records,message", [
    ((1, 0), [KEY(2), TOK(0, 2, True), TOK(3, 1, False), bs.End(4)], "key frame for frame 2, expected 0"),
    ((2, 0), [KEY(1), TOK(0, 2, True), TOK(2, 2, False), bs.End(4)], "runs over the key frame at 1"),
    ((2, 0), [KEY(2), TOK(0, 1, True), KEY(1), bs.End(4)], "ahead of the key frame at 2"),
    ((2, 0), [KEY(3), TOK(0, 2, True), bs.End(4)], "ends before the frames ahead"),
    ((2, 0), [KEY(4), TOK(0, 4, True), bs.End(4)], "header counts 4"),
    ((2, 0), [KEY(0), KEY(0), bs.End(4)], "key frame for frame 0, expected 1"),
])
def test_frame_order_violations_are_refused(version, records, message):
    with pytest.raises(FormatError, match=message):
        list(bs.read_records(io.BytesIO(stream(version, records))))


def test_an_input_that_changes_between_reads_is_a_clear_error(tiny_model):
    from imfcodec.errors import IMFError

    frames = synthetic_frames(8, 64, 64, seed=7)
    reads = []

    def reader(size, fit):
        reads.append(1)
        return iter(frames if len(reads) == 1 else frames[:5])  # shorter on every later read

    source = Source("changing", VideoInfo(64, 64, Fraction(10), 8), 64, "crop", reader)
    with pytest.raises(IMFError, match="when read again"):
        encode(source, tiny_model)
