"""Quantised tokens <-> TOKENS records: the step between the quantiser and the container.

The encoder collects each run's quantised levels into chunks (``TokenChunker``); each chunk is
coded as residuals against the token before it (the first token after a key frame whole,
entropy/quantize.py) by the entropy coder (entropy/coder.py). ``read_chunk`` is the inverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import bitstream as bs
from .entropy import adaptive as adaptive_coder
from .entropy import coder
from .entropy import quantize as quant
from .entropy.tables import MAX_LEVEL
from .errors import FormatError


@dataclass(frozen=True)
class ChunkForm:
    """The form a stream's token records take: ``chunk_frames`` frames a chunk at most;
    ``adaptive``: chunks whose tables follow the run's tokens (entropy/adaptive.py, version
    9.0: a live stream's records of a frame or two); ``frames`` (with it): each predicted
    frame alone as a FRAME record (version 10.0) where its bytes fit one; ``pairs`` (with it,
    one frame a chunk): each such frame held until the next comes, which may then send both
    in one FRAME record, the held one rebuilt between its neighbours (version 11.0)."""

    chunk_frames: int
    adaptive: bool = False
    frames: bool = False
    pairs: bool = False

    @classmethod
    def of(cls, chunk_frames: int, adaptive: bool = False, frames: bool = False,
           pairs: bool = False) -> "ChunkForm":
        """The form asked for, as far as it holds: FRAME records only with adaptive tables,
        pairs only with FRAME records of one frame a chunk."""
        frames = adaptive and frames
        return cls(chunk_frames, adaptive, frames, frames and pairs and chunk_frames == 1)

    @property
    def most(self) -> int:
        """The largest payload of a FRAME record of one frame (11.0: at most 63 bytes too)."""
        return bs.MAX_PAIR_PAYLOAD if self.pairs else bs.MAX_FRAME_PAYLOAD


class TokenChunker:
    """Collects quantised levels between key frames and emits TOKENS records."""

    def __init__(self, chunk_frames: int, emit: Callable[[bs.TokenChunk], None],
                 adaptive: bool = False, frames: bool = False, pairs: bool = False) -> None:
        """The records' form (ChunkForm.of: ``adaptive`` tables, ``frames`` records,
        ``pairs``: ``add``'s ``between`` says where a held frame goes with the next)."""
        self.form = ChunkForm.of(chunk_frames, adaptive, frames, pairs)
        self.emit = emit
        self.tables: adaptive_coder.TableState | None = None  # the run's, when adaptive
        self.previous: np.ndarray | None = None
        self.pending: list[np.ndarray] = []
        self.first_frame = 0
        self.skip: int | None = None  # a key frame's index inside the run, sent before it
        self.reference = 0  # the key frame the pending frames are rebuilt from (0: the last)
        self.partner: int | None = None  # the key frame they may blend in (None: none)
        self.shares: list[int] = []  # the pending frames' share indices (coder.SHARES)

    @property
    def pairs(self) -> bool:
        return self.form.pairs

    @property
    def last(self) -> np.ndarray | None:
        """The levels of the last frame added since the key frame (None right after it)."""
        return self.pending[-1] if self.pending else self.previous

    def key_frame(self, next_frame: int, skip: int | None = None) -> None:
        """A new run: its token frames start at ``next_frame``; ``skip`` is the key frame's
        index when the key frame sits inside the run (chunks end before it, resume after)."""
        self.flush()
        self.previous = None
        self.first_frame, self.skip = next_frame, skip
        self.reference, self.partner = 0, None

    def switch(self, reference: int, partner: int | None = None) -> None:
        """The next frames are rebuilt from another held key frame: a new chunk, its first
        token coded whole (a token against one reference does not predict one against another).
        ``partner``: the held key frame they may blend in (a new chunk too when it changes)."""
        if reference != self.reference:
            self.flush()
            self.previous = None
            self.reference = reference
        if partner != self.partner:
            self.flush()
            self.partner = partner

    def add(self, levels: np.ndarray, share: int = 0,
            between: Callable[[np.ndarray, np.ndarray, np.ndarray], bool] | None = None) -> None:
        """One frame's levels, and its share index of the partner (0: none). With ``pairs``
        a frame that a FRAME record could send is held; the next one then asks
        ``between(before, held, levels)`` whether the held frame may be rebuilt from the
        midpoint of the tokens either side of it (None: no, it goes alone)."""
        if share and self.partner is None:
            raise ValueError("a share of a partner key frame without one")
        if self.form.pairs and not share and self.partner is None and not self.reference \
                and self.skip is None and self.previous is not None:
            if self.pending:
                if between is not None and self._pair(levels, between):
                    return
                self.flush()  # the held frame alone
            self.pending.append(levels)  # held until the next frame
            self.shares.append(0)
            return
        self.pending.append(levels)
        self.shares.append(share)
        if len(self.pending) == self.form.chunk_frames or self.first_frame + len(self.pending) == self.skip:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        rows = np.stack(self.pending)
        absolute, residuals = quant.to_residuals(rows, self.previous)
        # blended only when a frame takes a share of the partner (a share of 0 is the frame
        # rebuilt from its reference alone, exactly)
        blended = any(self.shares)
        record = None
        if self.form.adaptive and not blended:
            if absolute is not None or self.tables is None:
                self.tables = adaptive_coder.TableState(rows.shape[1])
            # (a FRAME record holds the next frame in display order: not a leading frame
            # of a key frame sent ahead of it, FrameOrder)
            if self.form.frames and absolute is None and len(rows) == 1 and not self.reference \
                    and self.skip is None:
                record = self._frame(residuals[0])
            if record is None:
                data = adaptive_coder.encode_chunk(residuals, absolute, self.tables)
        else:
            data = coder.encode_chunk(residuals, absolute, self.shares if blended else None)
        self.emit(record or bs.TokenChunk(self.first_frame, len(rows), absolute is not None, data,
                                          self.reference, self.partner if blended else None,
                                          self.form.adaptive and not blended))
        self.first_frame += len(rows)
        if self.first_frame == self.skip:
            self.first_frame, self.skip = self.first_frame + 1, None
        self.previous = rows[-1]
        self.pending, self.shares = [], []

    def _frame(self, residuals: np.ndarray, frames: int = 1) -> bs.TokenChunk | None:
        """One predicted frame (``frames`` 2: the one held and the next) as a FRAME record (the
        tables moved on past it), or None (the tables left as they were) where its bytes are
        more than one holds."""
        tables = adaptive_coder.TableState(len(residuals))
        tables.mean = self.tables.mean.copy()
        data = adaptive_coder.encode_frame(residuals, tables)
        if len(data) > self.form.most:
            return None
        self.tables = tables
        return bs.TokenChunk.frame(data, self.first_frame, frames=frames)

    def _pair(self, levels: np.ndarray, between) -> bool:
        """The held frame and ``levels`` in one FRAME record (the held frame rebuilt between
        the token before it and ``levels``), where it fits one and ``between`` says so."""
        before, held = self.previous, self.pending[0]
        state = self.tables
        record = self._frame(levels - before, frames=2)
        if record is None:
            return False
        if not between(before, held, levels):
            self.tables = state  # (as it was: the held frame goes alone)
            return False
        self.emit(record)
        self.first_frame += 2
        self.previous = levels
        self.pending, self.shares = [], []
        return True


class RunState:
    """What reading a run's chunks carries from one to the next: the levels of the last token
    and (adaptive chunks) the tables' estimates. ``reset`` at a key frame or a switch."""

    def __init__(self) -> None:
        self.previous: np.ndarray | None = None
        self.tables: adaptive_coder.TableState | None = None

    def reset(self) -> None:
        self.previous = self.tables = None

    def read(self, record: bs.TokenChunk, token_dim: int) -> tuple[np.ndarray, np.ndarray | None]:
        """read_chunk, with the run's state carried on."""
        if record.adaptive and (record.absolute_first or self.tables is None):
            self.tables = adaptive_coder.TableState(token_dim)
        levels, shares = read_chunk(record, token_dim, self.previous, self.tables)
        self.previous = levels[-1].astype(np.int64)
        return levels, shares


def read_chunk(record: bs.TokenChunk, token_dim: int, previous: np.ndarray | None,
               tables: adaptive_coder.TableState | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """A TOKENS record -> its (frames, token_dim) levels and, when it is blended, its frames'
    share indices (coder.SHARES); ``previous``: the levels of the token before it in the run
    (None right after a key frame); ``tables``: an adaptive chunk's run estimates (moved on).
    A FRAME record of two frames (11.0) gives float32 levels, the first frame's halfway
    between ``previous`` and the second's (quant.midpoint)."""
    if record.absolute_first != (previous is None):
        raise FormatError("a FRAME record right after a key frame" if record.compact else
                          "token chunk prediction flag does not match the stream")
    if record.compact:
        residual = adaptive_coder.decode_frame(record.data, tables)
        levels = quant.from_residuals(None, residual[None], previous)
        if np.abs(levels).max(initial=0) > MAX_LEVEL:
            raise FormatError("token levels out of range")
        if record.frame_count == 2:  # (11.0) the first frame rebuilt between its neighbours
            return np.concatenate([quant.midpoint(previous, levels[0])[None],
                                   levels.astype(np.float32)]), None
        return levels, None
    n_res = record.frame_count - (1 if record.absolute_first else 0)
    n_shares = record.frame_count if record.partner is not None else 0
    if record.adaptive:
        residuals, absolute = adaptive_coder.decode_chunk(record.data, n_res, token_dim,
                                                          record.absolute_first, tables)
        shares = None
    else:
        residuals, absolute, shares = coder.decode_chunk(record.data, n_res, token_dim,
                                                         record.absolute_first, n_shares)
    levels = quant.from_residuals(absolute, residuals, previous)
    if np.abs(levels).max(initial=0) > MAX_LEVEL:
        raise FormatError("token levels out of range")
    return levels, shares
