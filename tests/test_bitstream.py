import io
import struct
import zlib
from fractions import Fraction

import pytest

from imfcodec import bitstream as bs
from imfcodec.errors import FormatError


def sample_header(frames=3) -> bs.Header:
    return bs.Header("tiny-test", bytes(range(16)), 32, 64, 64, 80, 60, Fraction(30000, 1001),
                     frames, 3, 0.35, 1, 39, bs.Fit.PAD, 10, 0)


def sample_file() -> bytes:
    out = io.BytesIO()
    w = bs.Writer(out)
    w.start()
    w.write(sample_header())
    w.write(bs.KeyFrame(0, 1, 39, bs.KeyReason.START, b"\x00\x00\x01hevc"))
    w.write(bs.TokenChunk(1, 2, True, b"\x01\x02\x03\x04"))
    w.write(bs.End(3))
    assert w.bytes_written == len(out.getvalue())
    return out.getvalue()


def test_varint_round_trip():
    for value in [0, 1, 127, 128, 300, 2**32, 2**63]:
        data = bs.write_varint(value)
        pos = [0]

        def take(n, data=data):
            pos[0] += n
            return data[pos[0] - n : pos[0]]

        assert bs.read_varint(take, "t") == value


def test_records_round_trip():
    records = [r for _, r in bs.read_records(io.BytesIO(sample_file()))]
    assert records[0] == sample_header()
    assert records[1].data == b"\x00\x00\x01hevc" and records[1].reason is bs.KeyReason.START
    assert records[2].absolute_first and records[2].frame_count == 2
    assert records[3].frame_count == 3


def test_every_flipped_bit_in_a_record_is_caught():
    data = sample_file()
    for pos in range(6, len(data)):
        for bit in range(8):
            bad = bytearray(data)
            bad[pos] ^= 1 << bit
            with pytest.raises(FormatError):
                list(bs.read_records(io.BytesIO(bytes(bad))))


def test_every_truncation_is_a_format_error():
    data = sample_file()
    for n in range(len(data)):
        with pytest.raises(FormatError):
            list(bs.read_records(io.BytesIO(data[:n])))


def test_newer_major_version_is_refused_with_a_clear_message():
    data = bytearray(sample_file())
    data[4] = 13
    with pytest.raises(FormatError, match="format version 13.0 is not supported"):
        list(bs.read_records(io.BytesIO(bytes(data))))


def test_file_matches_docs_format_md_layout():
    """Parses a file by the byte layout written in docs/format.md, independently of imfcodec/bitstream/."""
    data = sample_file()
    assert data[:4] == b"\x89IMF" and data[4:6] == bytes([1, 0])
    pos, records = 6, []
    while pos < len(data):
        kind = data[pos]
        length, shift, i = 0, 0, pos + 1
        while True:
            length |= (data[i] & 0x7F) << shift
            shift += 7
            i += 1
            if not data[i - 1] & 0x80:
                break
        payload = data[i : i + length]
        (crc,) = struct.unpack("<I", data[i + length : i + length + 4])
        assert crc == zlib.crc32(data[pos : i + length])
        records.append((kind, payload))
        pos = i + length + 4
    assert [k for k, _ in records] == [1, 2, 3, 4]
    h = records[0][1]
    assert h[0] == 9 and h[1:10] == b"tiny-test" and h[10:26] == bytes(range(16))
    # token_dim 32, width 64, height 64, source 80x60, fps 30000/1001 (varints), frames 3
    assert h[26:29] == bytes([32, 64, 64]) and h[29:31] == bytes([80, 60])
    assert h[31:34] == bs.write_varint(30000) and h[34:36] == bs.write_varint(1001)
    assert h[36] == 3 and h[37] == 3  # frame count, quality
    assert struct.unpack("<f", h[38:42])[0] == pytest.approx(0.35)
    assert h[42:45] == bytes([1, 39, 1])  # intra codec HEVC, QP 39, fit pad
    assert h[45:] == bytes([10, 0])  # chunk frames, key-frame interval
    k = records[1][1]
    assert k[:4] == bytes([0, 1, 39, 0]) and k[4:] == b"\x00\x00\x01hevc"
    t = records[2][1]
    assert t[:3] == bytes([1, 2, 1]) and t[3:] == b"\x01\x02\x03\x04"
    assert records[3][1] == bytes([3])


@pytest.mark.parametrize("field,value,message", [
    ("width", 0, "frame side"), ("height", 10**6, "frame side"),
    ("frame_count", 2**40, "frame count"), ("token_dim", 1025, "token size"),
])
def test_absurd_header_values_are_refused(field, value, message):
    header = sample_header()
    setattr(header, field, value)
    data = bs.file_start() + bs.record_bytes(header)
    with pytest.raises(FormatError, match=message):
        list(bs.read_records(io.BytesIO(data)))


def test_zero_fps_is_refused():
    header = sample_header()
    payload = bytearray(header.to_bytes())
    # fps numerator is the varint right after source width/height (offset 31, 3 bytes)
    payload[31:34] = b"\x00"
    framed = bytes([1]) + bs.write_varint(len(payload)) + bytes(payload)
    data = bs.file_start() + framed + struct.pack("<I", zlib.crc32(framed))
    with pytest.raises(FormatError, match="frame rate"):
        list(bs.read_records(io.BytesIO(data)))


def test_data_after_the_end_record_is_refused():
    with pytest.raises(FormatError, match="after the end record"):
        list(bs.read_records(io.BytesIO(sample_file() + b"\x00")))
