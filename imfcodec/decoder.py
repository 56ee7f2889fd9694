"""The decoder's loop: an .imf stream's records back to frames, streaming (and its sound's
packets, read on their own: sound_packets).

Records are read and checked by bitstream/, key frames decoded by intra.py, token chunks
turned into levels by tokens.py; the motion model rebuilds each frame from the decoded key
frame and its dequantised token. Memory stays bounded by one token chunk and fr.BATCH
frames, whatever the clip's length.
"""

from __future__ import annotations

from collections import deque
from typing import BinaryIO, Callable, Iterator

import numpy as np

from . import bitstream as bs
from . import frames as fr
from . import intra
from .audio import timed_packets
from .entropy import quantize as quant
from .errors import FormatError, ModelError
from .layout import Layout
from .motion.base import MotionModel
from .motion.fullsize import FullSize
from .tokens import RunState

ModelFor = Callable[[bs.Header], MotionModel]


def check_model(header: bs.Header, model: MotionModel) -> None:
    """The stream must have been made with exactly this model (its weights' digest)."""
    if header.model_digest != model.digest or header.token_dim != model.token_dim:
        raise ModelError(
            f"the stream was made with model {header.model_name}, weights "
            f"{header.model_digest.hex()}; the loaded model is {model.name}, weights "
            f"{model.digest.hex()}"
        )


def iter_decoded(stream: BinaryIO, model_for: ModelFor):
    """Yields ('header', Header, model), then ('key', KeyFrame, rgb) and ('tokens', chunk,
    levels) in stream order, a blended chunk's ('shares', chunk, share indices) just before
    its tokens: everything the decoder reads, before any network runs."""
    records = bs.read_records(stream)
    _, header = next(records)
    model = model_for_header(header, model_for(header))
    yield "header", header, model
    reader = RecordDecoder(header, model)
    for _, record in records:
        if isinstance(record, bs.KeyFrame):
            yield "key", record, reader.key_frame(record)
        elif isinstance(record, bs.TokenChunk):
            levels, shares = reader.tokens(record)
            if shares is not None:
                yield "shares", record, shares
            yield "tokens", record, levels


def model_for_header(header: bs.Header, model: MotionModel) -> MotionModel:
    """The model as a stream's header has it: at a picture's own size (7.0) the model in its
    region, with (8.0) the whole picture's motion."""
    if header.region is not None:
        return FullSize(model, Layout(header.width, header.height, header.region),
                        header.global_motion)
    return model


class RecordDecoder:
    """Key frames to pictures and token chunks to levels, in stream order, before any network
    runs (a file's reader and a live receiver's share it)."""

    def __init__(self, header: bs.Header, model: MotionModel) -> None:
        self.header, self.model = header, model
        self.run = RunState()
        self.reference: int | None = None  # the reference index of the last chunk since the key
        self.keys = intra.KeyDecoder()  # predicted key frames continue the stream before them

    def key_frame(self, record: bs.KeyFrame) -> np.ndarray:
        header = self.header
        rgb = self.keys.decode(record.data, record.codec)
        if rgb.shape != (header.height, header.width, 3):
            raise FormatError(f"key frame is {rgb.shape[1]}x{rgb.shape[0]}, header says "
                              f"{header.width}x{header.height}")
        self.run.reset()
        self.reference = None
        return rgb

    def tokens(self, record: bs.TokenChunk) -> tuple[np.ndarray, np.ndarray | None]:
        if record.partner is not None and not self.model.blends:
            raise FormatError(f"a token chunk blends two key frames, which model "
                              f"{self.model.name} cannot do")
        if record.reference != self.reference:  # another reference: its first token is whole
            self.run.reset()
        self.reference = record.reference
        return self.run.read(record, self.model.token_dim)


def read_start(stream: BinaryIO) -> tuple[bs.Header, bs.AudioHeader | None]:
    """The stream's HEADER and its AUDIO_HEADER (the record after it, from version 4.0), if
    any: what a reader knows before any frame."""
    records = bs.read_records(stream)
    _, header = next(records)
    _, record = next(records)
    return header, record if isinstance(record, bs.AudioHeader) else None


def sound_packets(stream: BinaryIO) -> Iterator[tuple[int, int, bytes]]:
    """The sound's Opus packets as (pts, duration, data), times in 1/48000 s from the first
    frame (audio.timed_packets); nothing for a stream without sound. Every record is read
    and checked; no key frame or token is decoded."""
    records = (record for _, record in bs.read_records(stream))
    header = next((r for r in records if isinstance(r, bs.AudioHeader)), None)
    if header is not None:
        yield from timed_packets(header, (r for r in records if isinstance(r, bs.AudioChunk)))


def decode_frames(stream: BinaryIO, model_for: ModelFor) -> Iterator[np.ndarray]:
    """Every frame of the stream, in display order, as (H, W, 3) uint8."""
    events = iter_decoded(stream, model_for)
    _, header, model = next(events)
    grid = model.grid(header.token_step)
    references: deque = deque(maxlen=bs.MAX_REFERENCES)  # the last key frames, prepared
    shown = 0  # frames yielded so far, in display order
    held: tuple[int, np.ndarray] | None = None  # a key frame sent ahead of its leading frames
    shares = None  # the share indices of the next chunk, when it is blended
    for event, record, payload in events:
        if event == "key":
            references.append(model.reference(payload))
            if record.frame_index == shown:
                shown += 1
                yield payload
            else:
                held = (record.frame_index, payload)
            continue
        if event == "shares":
            shares = payload
            continue
        tokens = quant.dequantize(payload, grid)
        reference = references[-1 - record.reference]
        partner = None if record.partner is None else references[-1 - record.partner]
        for start in range(0, len(tokens), fr.BATCH):
            batch = tokens[start : start + fr.BATCH]
            if partner is None:
                yield from model.synthesise(reference, batch)
            else:
                yield from model.synthesise_blend(reference, partner, batch,
                                                  shares[start : start + fr.BATCH])
        shares = None
        shown += len(tokens)
        if held is not None and held[0] == shown:
            shown += 1
            yield held[1]
            held = None
