"""Encoding: frames to .imf records, with closed-loop key-frame refresh, and encode_video.

The encoder predicts from exactly what the decoder will have: the *decoded* key frame as
the reference, and quantised tokens. With a refresh threshold it also rebuilds every frame
as the decoder will and, when the picture falls below the threshold, codes that frame as a
new key frame instead. With ``refine_steps`` each token is first fitted to its frame through
the decoder (imfcodec/refine.py). With ``key_placement="centre"`` (the default) a first pass
decides where each run of frames between key frames starts and ends, and the second codes
each run's key frame at the frame nearest the run's mean picture, sent ahead of the frames
before it (imfcodec/keyplace.py, docs/keyplace.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, Union

import numpy as np
import torch

from . import bitstream as bs
from . import frames as fr
from . import intra
from .entropy import coder
from .entropy import quantize as quant
from .errors import IMFError
from .io.atomic import atomic_path
from .io.reader import probe, read_frames
from .keyplace import Run, central_frame, descriptor
from .metrics import mse, psnr
from .models.weights import LoadedModel
from .quality import ADAPTIVE, AdaptiveDefaults, level
from .refine import refine_tokens

Progress = Callable[[int], None]
# Frames to encode: a function giving a fresh iterator over them each time (a file read
# again), or a sequence held in memory. Key placement reads them twice.
Source = Union[Callable[[], Iterator[np.ndarray]], Sequence[np.ndarray]]
KEY_PLACEMENTS = ("centre", "start")

# Refinement's price of a token bit, in reconstruction error per estimated bit, per unit of
# token step (so finer levels weigh the rate less); measured in docs/refine.md.
REFINE_RATE_WEIGHT = 1e-3


@dataclass
class EncodeOptions:
    quality: int = 3
    keyframe_interval: int = 0  # a key frame every N frames (0: only the first)
    fit: str = "crop"
    intra_codec: intra.IntraCodec = intra.IntraCodec.HEVC
    chunk_seconds: float = 1.0
    # Closed-loop refresh: a new key frame when the rebuilt frame's PSNR (dB) falls below this,
    refresh_threshold: float | None = None
    # or when the squared error a refresh would save over a second outweighs the key frame's
    # bits times refresh_lambda_at(this, QP) (the rate-distortion decision, docs/adaptive.md).
    refresh_lambda: float | None = None
    max_keyframe_interval: int = 0  # refresh at the latest after this many frames (0: never)
    min_refresh_gap: int = 0  # frames at least from the last key frame to a threshold refresh
    scene_cut: float | None = None  # mean absolute change between source frames, in [0, 1]
    # Overrides of the quality level's parameters (set by rate control).
    token_step: float | None = None
    intra_qp: int | None = None
    # The HEVC-scale QP the R-D test's lambda is taken at (None: the key frame's QP). Rate
    # control continues it past QP 51 below level 0, where the key frame's QP cannot follow,
    # so that coarser settings also make refreshes rarer.
    rd_qp: float | None = None
    # Encoder-side token refinement: Adam steps per frame fitting the token to the frame
    # through the decoder (imfcodec/refine.py); 0 keeps the token encoder's tokens.
    refine_steps: int = 0
    # Where a run's key frame goes: "centre", the frame nearest the run's mean picture (two
    # passes; the key frame is sent ahead of the frames before it), or "start", the run's
    # first frame (one pass, frames in order).
    key_placement: str = "centre"

    def step(self) -> float:
        return self.token_step if self.token_step is not None else level(self.quality).token_step

    def passes(self) -> int:
        """How many times the encoder goes over the frames (and calls its progress for each)."""
        return 2 if self.key_placement == "centre" else 1

    def qp(self) -> int:
        return self.intra_qp if self.intra_qp is not None else level(self.quality).intra_qp(self.intra_codec)


def with_adaptive(options: EncodeOptions, fps: Fraction | float,
                  defaults: AdaptiveDefaults = ADAPTIVE) -> EncodeOptions:
    """Turns on closed-loop refresh, the interval cap and scene cuts (`--adaptive`)."""
    rate = float(fps)
    return replace(options, refresh_threshold=defaults.refresh_threshold,
                   refresh_lambda=defaults.refresh_lambda,
                   max_keyframe_interval=round(defaults.max_keyframe_seconds * rate),
                   min_refresh_gap=max(1, round(defaults.min_refresh_seconds * rate)),
                   scene_cut=defaults.scene_cut)


@dataclass
class EncodeResult:
    frames: int
    key_frames: int
    bytes_total: int
    bytes_key_frames: int
    bytes_tokens: int
    fps: Fraction
    width: int
    height: int
    key_reasons: dict = field(default_factory=dict)  # frame index -> reason name
    levels: list = field(default_factory=list, repr=False)  # (F_inter, D) reconstructed levels
    token_step: float = 0.0
    intra_qp: int = 0

    @property
    def seconds(self) -> float:
        return self.frames / float(self.fps) if self.frames else 0.0

    @property
    def kbps(self) -> float:
        return self.bytes_total * 8 / 1000 / self.seconds if self.seconds else 0.0

    @property
    def bits_per_pixel(self) -> float:
        pixels = self.frames * self.width * self.height
        return self.bytes_total * 8 / pixels if pixels else 0.0


class _TokenChunker:
    """Collects quantised levels between key frames and emits TOKENS records."""

    def __init__(self, chunk_frames: int, emit) -> None:
        self.chunk_frames, self.emit = chunk_frames, emit
        self.previous: np.ndarray | None = None
        self.pending: list[np.ndarray] = []
        self.first_frame = 0
        self.skip: int | None = None  # a key frame's index inside the run, sent before it

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

    def add(self, levels: np.ndarray) -> None:
        self.pending.append(levels)
        if len(self.pending) == self.chunk_frames or self.first_frame + len(self.pending) == self.skip:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        rows = np.stack(self.pending)
        absolute, residuals = quant.to_residuals(rows, self.previous)
        data = coder.encode_chunk(residuals, absolute)
        self.emit(bs.TokenChunk(self.first_frame, len(rows), absolute is not None, data))
        self.first_frame += len(rows)
        if self.first_frame == self.skip:
            self.first_frame, self.skip = self.first_frame + 1, None
        self.previous = rows[-1]
        self.pending = []


def refresh_lambda_at(scale: float, qp: float, codec: intra.IntraCodec) -> float:
    """Squared error (in 8-bit units, summed over samples) that one bit of key frame must save.

    Grows as 2^(QP/3) with the key frame's QP, the way HEVC's mode-decision lambda does, so
    coarse levels refresh rarely and fine ones often; AV1 QPs (0..63) are mapped onto the
    HEVC scale first. ``scale`` is the measured constant (quality.ADAPTIVE.refresh_lambda).
    """
    hevc_qp = qp if codec is intra.IntraCodec.HEVC else 51 - (63 - qp) * 2 / 3
    return scale * 2.0 ** ((hevc_qp - 12) / 3)


def key_frame_pays(error: float, fresh_error: float, samples: int, horizon: int, lam: float,
                   key_bits: int) -> bool:
    """The rate-distortion refresh test: a key frame now turns the rebuilt frames' squared
    error per sample from ``error`` (today's, from the old reference) into ``fresh_error``
    (what a frame rebuilt right after a key frame shows) for ``horizon`` frames of ``samples``
    samples; it pays when that saving exceeds ``lam`` per bit of the key frame."""
    return (error - fresh_error) * samples * horizon > lam * key_bits


def scene_change(previous: np.ndarray, current: np.ndarray) -> float:
    """Mean absolute difference of 4x-downsampled grey frames, in [0, 1]."""
    def grey(x: np.ndarray) -> np.ndarray:
        g = x.astype(np.float32).mean(axis=2)
        h, w = (g.shape[0] // 4) * 4, (g.shape[1] // 4) * 4
        return g[:h, :w].reshape(h // 4, 4, w // 4, 4).mean(axis=(1, 3))

    return float(np.abs(grey(previous) - grey(current)).mean() / 255)


class _Encoder:
    """The per-frame loop. Frames wait in a batch of up to BATCH for the networks; a key
    frame decision inside a batch splits it."""

    def __init__(self, loaded: LoadedModel, header: bs.Header, options: EncodeOptions, sink,
                 progress: Progress | None, token_cache: dict | None) -> None:
        self.model, self.header, self.options, self.sink = loaded.model, header, options, sink
        self.progress, self.cache = progress, token_cache
        self.device = fr.device_of(self.model)
        self.grid = quant.unit(header.token_step, self.model.token_scale.cpu().numpy())
        self.unit = torch.from_numpy(self.grid).to(self.device)  # the grid, for refinement
        self.result = EncodeResult(0, 0, 0, 0, 0, header.fps, header.width, header.height,
                                   token_step=header.token_step, intra_qp=header.intra_qp)
        self.chunker = _TokenChunker(header.chunk_frames, self._emit)
        self.pending: list[tuple[int, np.ndarray]] = []
        self.ref = None
        self.last_key = 0
        self.closed_loop = options.refresh_threshold is not None or options.refresh_lambda is not None
        if options.refresh_lambda is not None:
            # A refresh is judged over the second after it (the minimum gap's order).
            self.horizon = max(1, round(float(header.fps)))
            if options.rd_qp is not None:
                self.lam = refresh_lambda_at(options.refresh_lambda, options.rd_qp, intra.IntraCodec.HEVC)
            else:
                self.lam = refresh_lambda_at(options.refresh_lambda, header.intra_qp,
                                             intra.IntraCodec(header.intra_codec))
        # refined minus E_T's token of the last frame sent since the key frame (refinement)
        self.correction: np.ndarray | None = None
        self.keys: dict[int, tuple[bs.KeyReason, bytes]] = {}  # index -> why, its picture's bytes
        self.fresh_mse = 0.0  # error of a frame rebuilt right after the last key frame
        self.key_bits = 0  # size of the last key frame record

    def _emit(self, record) -> None:
        if isinstance(record, bs.TokenChunk):
            self.result.bytes_tokens += len(bs.record_bytes(record))
        self.sink(record)

    def key_frame(self, index: int, frame: np.ndarray | None, reason: bs.KeyReason,
                  data: bytes | None = None, run_start: int | None = None) -> None:
        """Sends frame ``index`` as a key frame (``data``: already intra-coded). With
        ``run_start`` below ``index`` the key frame leads its run: the run's token frames
        start at run_start and step over ``index``."""
        if run_start is None or run_start == index:
            self.chunker.key_frame(index + 1)
        else:
            self.chunker.key_frame(run_start, skip=index)
        self.correction = None
        h = self.header
        if data is None:
            data = intra.encode(frame, h.intra_codec, h.intra_qp)
        record = bs.KeyFrame(index, h.intra_codec, h.intra_qp, reason, data)
        self.result.key_frames += 1
        self.result.bytes_key_frames += len(bs.record_bytes(record))
        self.keys[index] = (reason, data)
        self.sink(record)
        self.last_key = index
        if self.closed_loop or self.options.refine_steps:
            # the reference is the decoded picture, as the decoder's
            decoded = intra.decode(data, h.intra_codec)
            # no_grad, not inference_mode: refinement differentiates through the reference
            with torch.no_grad():
                self.ref = self.model.reference(fr.to_tensor([decoded], self.device))
            if self.options.refresh_lambda is not None and self.closed_loop:
                # What a refresh buys: the key frame rebuilt from its own token and itself.
                self.key_bits = 8 * len(bs.record_bytes(record))
                levels, _ = self._levels([(index, frame)])
                self.fresh_mse = mse(frame, self._decode_levels(levels)[0])
        if self.progress:
            self.progress(1)

    def _tokens(self, batch: list[tuple[int, np.ndarray]]) -> np.ndarray:
        cache = {} if self.cache is None else self.cache
        missing = [(i, f) for i, f in batch if i not in cache]
        if missing:
            with torch.inference_mode():
                tokens = self.model.encode_token(fr.to_tensor([f for _, f in missing], self.device))
            cache.update(zip([i for i, _ in missing], tokens.float().cpu().numpy()))
        return np.stack([cache[i] for i, _ in batch])

    def _levels(self, batch: list[tuple[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray | None]:
        """The quantised tokens of a batch of frames, refined against the reference first
        when asked to; with refinement also its corrections (refined minus E_T's tokens)."""
        tokens = self._tokens(batch)
        if not self.options.refine_steps:
            return quant.quantize(tokens, self.grid), None
        last = self.chunker.last
        previous = None if last is None else \
            torch.from_numpy(quant.dequantize(last, self.grid)).to(self.device)
        # Warm start: the correction refinement made to the last frame sent (since the key
        # frame) is applied to E_T's tokens first; nearby frames need similar corrections.
        start = tokens if self.correction is None else tokens + self.correction
        refined = refine_tokens(self.model, self.ref,
                                fr.to_tensor([f for _, f in batch], self.device),
                                torch.from_numpy(start).to(self.device),
                                self.options.refine_steps, unit=self.unit, previous=previous,
                                rate_weight=REFINE_RATE_WEIGHT * self.header.token_step)
        refined = refined.cpu().numpy()
        return quant.quantize(refined, self.grid), refined - tokens

    def _decode_levels(self, levels: np.ndarray) -> list[np.ndarray]:
        """Frames as the decoder will show them, from quantised tokens and the reference."""
        tokens = torch.from_numpy(quant.dequantize(levels, self.grid))
        with torch.inference_mode():
            return fr.to_images(self.model.decode(tokens.to(self.device), self.ref))

    def _refresh(self, source: np.ndarray, picture: np.ndarray) -> bool:
        """The closed-loop decision for one rebuilt frame."""
        o = self.options
        if o.refresh_threshold is not None and psnr(source, picture) < o.refresh_threshold:
            return True
        if o.refresh_lambda is not None:
            return key_frame_pays(mse(source, picture), self.fresh_mse, source.size, self.horizon,
                                  self.lam, self.key_bits)
        return False

    def run_batch(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            levels, corrections = self._levels(batch)
            split = None
            if self.closed_loop:
                # Only frames far enough from the last key frame can trigger a refresh: the
                # others need no rebuilding (with the 0.5 s default gap, many frames).
                gap = max(1, self.options.min_refresh_gap)
                eligible = [j for j, (index, _) in enumerate(batch) if index - self.last_key >= gap]
                if eligible:
                    rebuilt = self._decode_levels(levels[eligible])
                    for j, picture in zip(eligible, rebuilt):
                        if self._refresh(batch[j][1], picture):
                            split = j
                            break
            accepted = batch if split is None else batch[:split]
            for row in levels[: len(accepted)]:
                self.chunker.add(row)
                self.result.levels.append(row)
            if accepted and corrections is not None:
                self.correction = corrections[len(accepted) - 1]
            if self.progress and accepted:
                self.progress(len(accepted))
            if split is not None:
                index, frame = batch[split]
                self.key_frame(index, frame, bs.KeyReason.QUALITY)
                self.pending = batch[split + 1 :]

    def forced_reason(self, index: int, frame: np.ndarray, previous) -> bs.KeyReason | None:
        o = self.options
        if index == 0:
            return bs.KeyReason.START
        if o.keyframe_interval and index % o.keyframe_interval == 0:
            return bs.KeyReason.INTERVAL
        if o.max_keyframe_interval and index - self.last_key >= o.max_keyframe_interval:
            return bs.KeyReason.INTERVAL
        if o.scene_cut is not None and previous is not None and scene_change(previous, frame) > o.scene_cut:
            return bs.KeyReason.SCENE_CUT
        return None

    def encode(self, frames: Iterator[np.ndarray]) -> EncodeResult:
        index, previous = 0, None
        for index, frame in enumerate(frames):
            reason = self.forced_reason(index, frame, previous)
            if reason is not None:
                self.run_batch()
                # a refresh decided in that batch may have moved last_key: ask again
                reason = self.forced_reason(index, frame, previous)
            if reason is not None:
                self.key_frame(index, frame, reason)
            else:
                self._queue(index, frame)
            previous = frame
        return self._finish(index + 1 if previous is not None else 0)

    def _queue(self, index: int, frame: np.ndarray) -> None:
        """A frame to send as a token: it waits for a full batch."""
        self.pending.append((index, frame))
        if len(self.pending) == fr.BATCH:
            self.run_batch()

    def _finish(self, frames: int) -> EncodeResult:
        self.run_batch()
        self.chunker.flush()
        self.result.frames = frames
        self.result.key_reasons = {index: reason.name.lower() for index, (reason, _) in self.keys.items()}
        return self.result

    def encode_runs(self, frames: Iterator[np.ndarray], runs: list[Run]) -> EncodeResult:
        """Codes planned runs: each run's key frame first (its picture coded in the plan),
        then the run's other frames in order, all rebuilt from it; no decisions left."""
        self.closed_loop = False
        starts = {run.start: run for run in runs}
        key = -1
        count = 0
        for index, frame in enumerate(frames):
            run = starts.get(index)
            if run is not None:
                self.run_batch()
                self.key_frame(run.key, None, run.reason, data=run.data, run_start=run.start)
                key = run.key
            if index != key:
                self._queue(index, frame)
            count = index + 1
        if runs and count != runs[-1].end:
            raise IMFError(f"the input gave {count} frames when read again, {runs[-1].end} before")
        return self._finish(count)


def replayable(frames: Source | Iterable[np.ndarray]) -> Callable[[], Iterator[np.ndarray]]:
    """A function giving a fresh iterator over ``frames`` each call; a one-shot iterator is
    read into memory first."""
    if callable(frames):
        return frames
    if not isinstance(frames, Sequence):
        frames = list(frames)
    return lambda: iter(frames)


def _planned_runs(frames: Callable[[], Iterator[np.ndarray]], loaded: LoadedModel,
                  header: bs.Header, options: EncodeOptions, token_cache: dict,
                  progress: Progress | None) -> list[Run]:
    """The first pass of centred key placement: where runs start (the refresh decisions of
    an encode with each key frame at its run's start, unrefined), each run's central frame,
    and that frame's intra-coded picture (the plan's own where the key stays at its run's
    start; the source is read again only for the others)."""
    descriptors: list[np.ndarray] = []

    def tapped() -> Iterator[np.ndarray]:
        for frame in frames():
            descriptors.append(descriptor(frame))
            yield frame

    plan = replace(options, refine_steps=0, key_placement="start")
    planner = _Encoder(loaded, header, plan, lambda record: None, progress, token_cache)
    planner.encode(tapped())
    starts = sorted(planner.keys)
    ends = starts[1:] + [len(descriptors)]
    runs = [Run(s, e, s + central_frame(descriptors[s:e]), planner.keys[s][0])
            for s, e in zip(starts, ends)]
    for run in runs:
        if run.key == run.start:
            run.data = planner.keys[run.start][1]
    wanted = {run.key: run for run in runs if not run.data}
    if wanted:
        for index, frame in enumerate(frames()):
            if index in wanted:
                wanted[index].data = intra.encode(frame, header.intra_codec, header.intra_qp)
    if any(not run.data for run in runs):
        raise IMFError("the input gave fewer frames when read again")
    return runs


def encode_frames(frames: Source | Iterable[np.ndarray], loaded: LoadedModel, header: bs.Header,
                  options: EncodeOptions, sink, progress: Progress | None = None,
                  token_cache: dict | None = None) -> EncodeResult:
    """Encodes frames to records, calling ``sink(record)`` for each; returns the statistics.

    ``token_cache`` (frame index -> token) lets repeated passes over the same frames (rate
    control, and key placement's two passes) skip the token encoder: a token depends only
    on its frame. With centred key placement ``progress`` counts every frame twice.
    """
    if options.key_placement not in KEY_PLACEMENTS:
        raise ValueError(f"key placement must be one of {KEY_PLACEMENTS}, got {options.key_placement!r}")
    source = replayable(frames)
    if options.key_placement == "start":
        return _Encoder(loaded, header, options, sink, progress, token_cache).encode(source())
    cache = {} if token_cache is None else token_cache
    runs = _planned_runs(source, loaded, header, options, cache, progress)
    return _Encoder(loaded, header, options, sink, progress, cache).encode_runs(source(), runs)


def make_header(loaded: LoadedModel, options: EncodeOptions, fps: Fraction,
                source_size: tuple[int, int]) -> bs.Header:
    cfg = loaded.model.cfg
    return bs.Header(
        model_name=loaded.name,
        model_digest=loaded.digest,
        token_dim=cfg.token_dim,
        width=cfg.image_size,
        height=cfg.image_size,
        source_width=source_size[0],
        source_height=source_size[1],
        fps=fps,
        frame_count=0,
        quality=options.quality,
        token_step=options.step(),
        intra_codec=int(options.intra_codec),
        intra_qp=options.qp(),
        fit=bs.Fit.CROP if options.fit == "crop" else bs.Fit.PAD,
        chunk_frames=max(1, round(float(fps) * options.chunk_seconds)),
        keyframe_interval=options.keyframe_interval,
    )


def encode_to_stream(frames: Source | Iterable[np.ndarray], stream, loaded: LoadedModel,
                     options: EncodeOptions, fps: Fraction, source_size: tuple[int, int],
                     progress: Progress | None = None, token_cache: dict | None = None) -> EncodeResult:
    """Encodes frames into a complete .imf byte stream written to ``stream``."""
    header = make_header(loaded, options, fps, source_size)
    records: list = []
    result = encode_frames(frames, loaded, header, options, records.append, progress, token_cache)
    if result.frames == 0:
        raise IMFError("the video has no frames")
    header.frame_count = result.frames
    writer = bs.Writer(stream)
    writer.start(bs.version_for(records))
    writer.write(header)
    for record in records:
        writer.write(record)
    writer.write(bs.End(result.frames))
    result.bytes_total = writer.bytes_written
    return result


def write_file(data: bytes, target: str | Path, force: bool) -> None:
    with atomic_path(target, force) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def encode_video(source: str | Path, target: str | Path, loaded: LoadedModel,
                 options: EncodeOptions, force: bool = False,
                 progress: Progress | None = None) -> EncodeResult:
    """Any video FFmpeg reads -> an .imf file, written atomically."""
    import io

    info = probe(source)
    size = loaded.model.cfg.image_size

    def frames() -> Iterator[np.ndarray]:
        return read_frames(source, size, options.fit)

    buf = io.BytesIO()
    try:
        result = encode_to_stream(frames, buf, loaded, options, info.fps, (info.width, info.height),
                                  progress)
    except IMFError as exc:
        raise type(exc)(f"{source}: {exc}") from None
    write_file(buf.getvalue(), target, force)
    return result
