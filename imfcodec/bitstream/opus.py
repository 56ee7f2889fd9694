"""Opus packet parsing: how many samples a packet decodes to, from its TOC byte (RFC 6716).
Nothing is decoded here; the container only needs the packets' durations."""

from __future__ import annotations

from ..errors import FormatError

# Opus frame sizes at 48 kHz by the TOC byte's configuration (RFC 6716, section 3.1): SILK
# 10/20/40/60 ms (configurations 0..11), hybrid 10/20 ms (12..15), CELT 2.5/5/10/20 ms (16..31).
_OPUS_FRAME = [480, 960, 1920, 2880] * 3 + [480, 960] * 2 + [120, 240, 480, 960] * 4
OPUS_MAX_PACKET_SAMPLES = 5760  # 120 ms, the longest an Opus packet may last


def opus_samples(packet: bytes) -> int:
    """The samples (at 48 kHz) one Opus packet decodes to, from its TOC byte (and, for code 3,
    its frame count byte); FormatError for a packet that cannot be Opus."""
    if not packet:
        raise FormatError("audio: empty Opus packet")
    toc = packet[0]
    code = toc & 3
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    else:
        if len(packet) < 2:
            raise FormatError("audio: Opus packet ends before its frame count")
        frames = packet[1] & 0x3F
    samples = frames * _OPUS_FRAME[toc >> 3]
    if not 0 < samples <= OPUS_MAX_PACKET_SAMPLES:
        raise FormatError(f"audio: Opus packet of {samples} samples")
    return samples
