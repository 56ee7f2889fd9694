"""Predicted key frames: a refresh coded as an HEVC P picture from the key frame before it
(record codec 3, format 3.0), decoded from the stream of the key frames before it."""

import io
from fractions import Fraction

import numpy as np
import pytest

from imfcodec import bitstream as bs
from imfcodec import intra
from imfcodec.codec import Codec
from imfcodec.errors import FormatError
from imfcodec.options import EncodeOptions
from imfcodec.source import Source

from .conftest import synthetic_frames

HEVC, AV1, PREDICTED = int(intra.IntraCodec.HEVC), int(intra.IntraCodec.AV1), intra.PREDICTED_HEVC


def test_a_predicted_key_frame_costs_less_and_decodes_after_those_before_it():
    frames = synthetic_frames(25, 64, 64, seed=2)
    coder, decoder = intra.KeyEncoder(intra.IntraCodec.HEVC, 30), intra.KeyDecoder()
    plan = [(0, False), (5, True), (10, True), (15, False), (20, True)]
    coded = [coder.code(frames[i], predicted) for i, predicted in plan]
    assert [codec for codec, _ in coded] == [HEVC, PREDICTED, PREDICTED, HEVC, PREDICTED]
    for (i, predicted), (codec, data) in zip(plan, coded):
        picture = decoder.decode(data, codec)
        assert np.abs(picture.astype(int) - frames[i]).mean() < 6
        alone = intra.encode(frames[i], intra.IntraCodec.HEVC, 30)
        if predicted:
            assert len(data) < len(alone)
        else:  # an intra key frame decodes alone, to the same picture as coded alone
            assert np.array_equal(picture, intra.decode(data, codec))
            assert np.array_equal(picture, intra.decode(alone, HEVC))


def test_a_predicted_key_frame_needs_an_hevc_key_frame_before_it():
    frames = synthetic_frames(6, 64, 64, seed=3)
    coder = intra.KeyEncoder(intra.IntraCodec.HEVC, 30)
    first, second = coder.code(frames[0], False), coder.code(frames[5], True)
    with pytest.raises(FormatError, match="without an HEVC key frame before it"):
        intra.KeyDecoder().decode(second[1], PREDICTED)
    with pytest.raises(FormatError, match="only after the key frames before it"):
        intra.decode(second[1], PREDICTED)
    decoder = intra.KeyDecoder()
    decoder.decode(first[1], HEVC)
    decoder.decode(intra.encode(frames[1], intra.IntraCodec.AV1, 40), AV1)  # an AV1 key between
    with pytest.raises(FormatError, match="without an HEVC key frame before it"):
        decoder.decode(second[1], PREDICTED)
    with pytest.raises(FormatError, match="unknown key-frame codec 4"):
        decoder.decode(second[1], 4)


def test_av1_key_frames_stay_intra():
    frame = synthetic_frames(1, 64, 64)[0]
    assert intra.KeyEncoder(intra.IntraCodec.AV1, 40).code(frame, True)[0] == AV1


def key_records(data: bytes) -> list[bs.KeyFrame]:
    return [r for _, r in bs.read_records(io.BytesIO(data)) if isinstance(r, bs.KeyFrame)]


@pytest.mark.parametrize("placement", ["start", "centre"])
def test_refreshes_are_predicted_and_forced_key_frames_intra(tiny_model, placement):
    frames = synthetic_frames(30, 64, 64, seed=4)
    options = EncodeOptions(refresh_threshold=99.0, min_refresh_gap=4, keyframe_interval=14,
                            key_placement=placement)
    stream = Codec(tiny_model).encode(Source.from_frames(frames, Fraction(10)), options=options)
    records = key_records(stream.data)
    reasons = {r.reason for r in records}
    assert bs.KeyReason.QUALITY in reasons and bs.KeyReason.INTERVAL in reasons
    for record in records:
        expected = PREDICTED if record.reason is bs.KeyReason.QUALITY else HEVC
        assert record.codec == expected, (record.frame_index, record.reason)
    assert stream.data[4:6] == bytes([3, 0]) and stream.stats.bytes_total == len(stream.data)
    # every key frame is shown at its own index as the key decoder gives it
    decoded = list(Codec(tiny_model).decode(stream.data))
    decoder = intra.KeyDecoder()
    for record in records:
        assert np.array_equal(decoded[record.frame_index], decoder.decode(record.data, record.codec))


def test_one_key_frame_files_keep_their_format_version(tiny_model):
    frames = synthetic_frames(8, 64, 64, seed=5)
    data = Codec(tiny_model).encode(Source.from_frames(frames, Fraction(10)),
                                    key_placement="start").data
    assert data[4:6] == bytes([1, 0]) and [r.codec for r in key_records(data)] == [HEVC]


def _stream(version, records, frames=4) -> bytes:
    header = bs.Header("t", bytes(16), 32, 64, 64, 64, 64, Fraction(10), frames, 3, 0.35, 1, 39,
                       bs.Fit.CROP, 10, 0)
    return bs.file_start(version) + b"".join(bs.record_bytes(r) for r in [header, *records])


def test_a_predicted_key_frame_marks_version_3_and_older_versions_refuse_it():
    records = [bs.KeyFrame(0, HEVC, 39, bs.KeyReason.START, b"pic"),
               bs.TokenChunk(1, 1, True, b"\0\0\0\0"),
               bs.KeyFrame(2, PREDICTED, 39, bs.KeyReason.QUALITY, b"pic"),
               bs.TokenChunk(3, 1, True, b"\0\0\0\0"), bs.End(4)]
    assert bs.version_for(records) == (3, 0)
    assert len(list(bs.read_records(io.BytesIO(_stream((3, 0), records))))) == 6
    for version in ((1, 0), (2, 0)):
        with pytest.raises(FormatError, match="predicted key frame in a version"):
            list(bs.read_records(io.BytesIO(_stream(version, records))))


def test_a_damaged_predicted_key_frame_is_caught(tiny_model, tmp_path):
    frames = synthetic_frames(30, 64, 64, seed=4)
    options = EncodeOptions(refresh_threshold=99.0, min_refresh_gap=4, key_placement="start")
    data = bytearray(Codec(tiny_model).encode(Source.from_frames(frames, Fraction(10)),
                                              options=options).data)
    predicted = next(r for r in key_records(bytes(data)) if r.codec == PREDICTED)
    at = bytes(data).find(predicted.data) + len(predicted.data) // 2
    data[at] ^= 0x55
    with pytest.raises(FormatError, match="checksum"):
        list(Codec(tiny_model).decode(bytes(data)))


def test_info_names_predicted_key_frames(tiny_model, tmp_path):
    import json

    from click.testing import CliRunner

    from imfcodec.cli import main

    frames = synthetic_frames(30, 64, 64, seed=4)
    options = EncodeOptions(refresh_threshold=99.0, min_refresh_gap=4, key_placement="start")
    path = tmp_path / "a.imf"
    Codec(tiny_model).encode(Source.from_frames(frames, Fraction(10)), options=options).save(path)
    result = CliRunner().invoke(main, ["info", str(path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["format_version"] == "3.0"
    codecs = {k["reason"]: set() for k in info["key_frames"]}
    for k in info["key_frames"]:
        codecs[k["reason"]].add(k["codec"])
    assert codecs == {"start": {"hevc"}, "quality": {"hevc-p"}}
    text = CliRunner().invoke(main, ["info", str(path)]).output
    assert "(quality, predicted," in text and "(start, predicted" not in text
