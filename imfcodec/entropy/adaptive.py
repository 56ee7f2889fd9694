"""Token chunks whose tables follow the tokens before them (version 9.0, a TOKENS record's
flag 8): what lets a live stream send each frame in a record of its own.

A file's chunk names each token dimension's table (coder.py: 5 bits a dimension, 40 bytes
for the 64 numbers of imf-flow), paid once for a second of frames. A live record holds one
frame, so here nothing is sent: encoder and decoder both estimate each dimension's mean
absolute residual from the residuals of the run so far and code the next with the table
whose mean is nearest. Everything is integer arithmetic, so every machine picks the same
tables.

Layout of the range-coded symbols: with an absolute first token, its dimensions' table
indices (uniform over N_TABLES) and then its symbols, as coder.py codes them; then, frame
after frame, each residual symbol with its dimension's table of the moment.

A one-frame record of version 10.0 (``encode_frame``) holds one predicted frame's residuals
alone, in the same order and with the same tables, coded by bytecoder.py (bytes, not words).
"""

from __future__ import annotations

from functools import lru_cache

import constriction
import numpy as np

from .bytecoder import ByteDecoder, ByteEncoder
from .coder import _index_model, _model, best_table, decoding
from .tables import ALPHABET, MAX_RESIDUAL, frequency_table

SHIFT = 3  # the estimate's memory: each residual weighs 1/8, the estimate before it 7/8
ONE = 1 << 16  # a mean absolute residual of 1, in the estimate's units
START = ONE // 2  # the estimate at a run's start: half a step


@lru_cache(maxsize=None)
def table_means() -> np.ndarray:
    """Each table's mean absolute symbol, in units of 2**-24 (exact integers)."""
    magnitudes = np.abs(np.arange(ALPHABET, dtype=np.int64) - MAX_RESIDUAL)
    return (frequency_table() * magnitudes).sum(axis=1)


class TableState:
    """Each dimension's running mean absolute residual in one run (reset at its absolute
    token) and the tables it picks."""

    def __init__(self, dims: int) -> None:
        self.mean = np.full(dims, START, dtype=np.int64)

    def tables(self) -> np.ndarray:
        """Each dimension's table for its next residual: the nearest mean (the first of equals)."""
        distance = np.abs((self.mean << 8)[:, None] - table_means()[None, :])
        return distance.argmin(axis=1)

    def update(self, residuals: np.ndarray) -> None:
        """After one frame's residuals (D,) ints."""
        self.mean += (np.abs(np.asarray(residuals, dtype=np.int64)) << (16 - SHIFT)) \
            - (self.mean >> SHIFT)


def encode_chunk(residuals: np.ndarray, absolute: np.ndarray | None, state: TableState) -> bytes:
    """residuals (F, D) int symbols, absolute (D,) or None; ``state`` is the run's before the
    chunk and is left as it is after it."""
    residuals = np.asarray(residuals, dtype=np.int64)
    if np.abs(residuals).max(initial=0) > MAX_RESIDUAL or (
            absolute is not None and np.abs(absolute).max(initial=0) > MAX_RESIDUAL):
        raise ValueError("symbol outside the coder's alphabet")
    encoder = constriction.stream.queue.RangeEncoder()
    if absolute is not None:
        abs_tables = [best_table(np.asarray(absolute[d : d + 1])) for d in range(len(absolute))]
        encoder.encode(np.array(abs_tables, dtype=np.int32), _index_model())
        for d, table in enumerate(abs_tables):
            encoder.encode(np.int32(absolute[d] + MAX_RESIDUAL), _model(table))
    for row in residuals:
        for d, table in enumerate(state.tables()):
            encoder.encode(np.int32(row[d] + MAX_RESIDUAL), _model(int(table)))
        state.update(row)
    return encoder.get_compressed().astype("<u4").tobytes()


def decode_chunk(data: bytes, n_residual: int, dims: int, has_absolute: bool,
                 state: TableState) -> tuple[np.ndarray, np.ndarray | None]:
    """Inverse of encode_chunk: (residuals (F, D), absolute (D,) or None); ``state`` moves on."""
    residuals = np.zeros((n_residual, dims), dtype=np.int64)
    absolute = np.zeros(dims, dtype=np.int64) if has_absolute else None
    with decoding(data) as decoder:
        if has_absolute:
            abs_tables = decoder.decode(_index_model(), dims)
            for d in range(dims):
                absolute[d] = int(decoder.decode(_model(int(abs_tables[d])))) - MAX_RESIDUAL
        for row in residuals:
            for d, table in enumerate(state.tables()):
                row[d] = int(decoder.decode(_model(int(table)))) - MAX_RESIDUAL
            state.update(row)
    return residuals, absolute


def encode_frame(residuals: np.ndarray, state: TableState) -> bytes:
    """One predicted frame's (D,) residual symbols, byte-coded (a FRAME record's payload);
    ``state`` moves on past the frame."""
    residuals = np.asarray(residuals, dtype=np.int64)
    if np.abs(residuals).max(initial=0) > MAX_RESIDUAL:
        raise ValueError("symbol outside the coder's alphabet")
    encoder = ByteEncoder()
    for value, table in zip(residuals.tolist(), state.tables().tolist()):
        encoder.encode(value + MAX_RESIDUAL, table)
    state.update(residuals)
    return encoder.finish()


def decode_frame(data: bytes, state: TableState) -> np.ndarray:
    """Inverse of encode_frame: the frame's (D,) residuals; ``state`` moves on."""
    decoder = ByteDecoder(data)
    row = np.array([decoder.decode(table) - MAX_RESIDUAL for table in state.tables().tolist()],
                   dtype=np.int64)
    decoder.finish()
    state.update(row)
    return row
