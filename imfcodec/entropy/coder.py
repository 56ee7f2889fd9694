"""Entropy coding of quantised tokens with constriction's range coder.

One coded chunk holds the residual symbols of up to a few dozen consecutive frames that
share a key frame (so the coder's 32-bit padding is paid once per chunk, not per frame).
Layout of the symbols inside the range-coded stream, in order:

0. in a blended chunk: each frame's share of the blended key frame (uniform over SHARES);
1. for each token dimension: its table index for residual symbols (uniform over N_TABLES);
2. if the chunk starts right after a key frame: for each dimension, the table index of the
   absolute first token;
3. for each dimension d: the absolute symbol (if present) then the residual symbols of the
   chunk's frames in order.

Symbols are stored offset by MAX_RESIDUAL so they are non-negative.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache

import constriction
import numpy as np

from ..errors import FormatError
from .tables import MAX_RESIDUAL, N_TABLES, TOTAL_BITS, cost_table, frequency_table


@lru_cache(maxsize=None)
def _model(index: int):
    probabilities = frequency_table()[index].astype(np.float64) / float(1 << TOTAL_BITS)
    return constriction.stream.model.Categorical(probabilities, perfect=False)


@lru_cache(maxsize=None)
def _index_model():
    return constriction.stream.model.Categorical(np.full(N_TABLES, 1.0 / N_TABLES), perfect=False)


# A blended frame's share of the second key frame: the symbol is its index here.
SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)


@lru_cache(maxsize=None)
def _share_model():
    return constriction.stream.model.Categorical(np.full(len(SHARES), 1.0 / len(SHARES)), perfect=False)


def best_table(symbols: np.ndarray) -> int:
    """Index of the table that codes these residual symbols in the fewest bits."""
    if symbols.size == 0:
        return 0
    costs = cost_table()[:, symbols + MAX_RESIDUAL].sum(axis=1)
    return int(np.argmin(costs))


def encode_chunk(residuals: np.ndarray, absolute: np.ndarray | None,
                 shares: np.ndarray | None = None) -> bytes:
    """residuals: (F, D) int symbols of frames that follow a predicted token (F may be 0);
    absolute: (D,) symbols of a token coded without prediction, or None; shares: the
    chunk's frames' share indices (into SHARES) when it is blended, or None."""
    residuals = np.asarray(residuals, dtype=np.int64)
    dims = residuals.shape[1] if absolute is None else len(absolute)
    if np.abs(residuals).max(initial=0) > MAX_RESIDUAL or (
        absolute is not None and np.abs(absolute).max(initial=0) > MAX_RESIDUAL
    ):
        raise ValueError("symbol outside the coder's alphabet")
    res_tables = [best_table(residuals[:, d]) for d in range(dims)]
    encoder = constriction.stream.queue.RangeEncoder()
    if shares is not None:
        shares = np.asarray(shares, dtype=np.int32)
        if shares.min(initial=0) < 0 or shares.max(initial=0) >= len(SHARES):
            raise ValueError("share index outside SHARES")
        encoder.encode(shares, _share_model())
    encoder.encode(np.array(res_tables, dtype=np.int32), _index_model())
    if absolute is not None:
        abs_tables = [best_table(np.asarray(absolute[d : d + 1])) for d in range(dims)]
        encoder.encode(np.array(abs_tables, dtype=np.int32), _index_model())
    for d in range(dims):
        if absolute is not None:
            encoder.encode(np.int32(absolute[d] + MAX_RESIDUAL), _model(abs_tables[d]))
        if residuals.shape[0]:
            column = (residuals[:, d] + MAX_RESIDUAL).astype(np.int32)
            encoder.encode(column, _model(res_tables[d]))
    return encoder.get_compressed().astype("<u4").tobytes()


def decode_chunk(data: bytes, n_residual: int, dims: int, has_absolute: bool, n_shares: int = 0):
    """Inverse of encode_chunk: returns (residuals (F, D), absolute (D,) or None, shares
    (n_shares,) or None when n_shares is 0)."""
    with decoding(data) as decoder:
        shares = decoder.decode(_share_model(), n_shares).astype(np.int64) if n_shares else None
        res_tables = decoder.decode(_index_model(), dims)
        abs_tables = decoder.decode(_index_model(), dims) if has_absolute else None
        residuals = np.zeros((n_residual, dims), dtype=np.int64)
        absolute = np.zeros(dims, dtype=np.int64) if has_absolute else None
        for d in range(dims):
            if has_absolute:
                absolute[d] = int(decoder.decode(_model(int(abs_tables[d])))) - MAX_RESIDUAL
            if n_residual:
                column = decoder.decode(_model(int(res_tables[d])), n_residual)
                residuals[:, d] = column.astype(np.int64) - MAX_RESIDUAL
    return residuals, absolute, shares


@contextmanager
def decoding(data: bytes):
    """A range decoder over a chunk's words, for the ``with`` block that decodes every symbol
    of the chunk: any failure of the coder is a FormatError, and so are words left over."""
    if len(data) % 4:
        raise FormatError("token chunk length is not a multiple of 4 bytes")
    words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
    try:
        decoder = constriction.stream.queue.RangeDecoder(words)
        yield decoder
        exhausted = decoder.maybe_exhausted()
    except (KeyboardInterrupt, SystemExit, FormatError):
        raise
    except BaseException as exc:  # constriction reports Rust panics as a BaseException
        raise FormatError(f"token chunk does not decode: {type(exc).__name__}") from None
    if not exhausted:
        raise FormatError("token chunk has coded data left over after its last symbol")
