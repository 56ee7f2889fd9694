"""A clip sent through the live encoder and read back record by record, as a receiver reads
it: what the live measurements (benchmarks/live/records.py, the studies of the live encoder)
count bytes and rebuild frames from."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..bitstream import KeyFrame, TokenChunk
from ..bitstream.container import RecordChecker, record_type
from ..bitstream.packets import PacketReader
from ..decoder import RecordDecoder
from ..live import LiveEncoder, LiveSettings


@dataclass
class LiveRun:
    picture: np.ndarray  # the decoded key frame
    # its token frames' levels, in order (a frame rebuilt between its neighbours: their midpoint)
    levels: list[np.ndarray] = field(default_factory=list)


@dataclass
class LiveStream:
    packets: list[bytes]  # the stream's start, then one record each
    records: list  # the start (packets.Start), then the records, each with its order checked
    runs: list[LiveRun]


def live_stream(codec, frames: list[np.ndarray], fps: Fraction | float,
                settings: LiveSettings) -> LiveStream:
    """``frames`` coded by LiveEncoder (no sound) and read back by a PacketReader, its records'
    order checked and its tokens decoded to levels as imfcodec's reader does."""
    encoder = LiveEncoder(codec, fps, settings, sound=False)
    packets = encoder.start() + [p for f in frames for p in encoder.frame(f)] + encoder.close()
    reader = PacketReader()
    records = [reader.packet(p) for p in packets]
    checker = RecordChecker(records[0].version, records[0].stream_id)
    decoder = RecordDecoder(records[1], codec.model)
    runs: list[LiveRun] = []
    for record in records[1:]:
        checker.check(record_type(record), record)
        if isinstance(record, KeyFrame):
            runs.append(LiveRun(decoder.key_frame(record)))
        elif isinstance(record, TokenChunk):
            runs[-1].levels.extend(decoder.tokens(record)[0])
    return LiveStream(packets, records, runs)
