"""The encoder's loop over frames: a Source's frames in, .imf records out.

The encoder predicts from exactly what the decoder will have: the *decoded* key frame as
the reference, and quantised tokens. With a refresh rule (refresh.py) it also rebuilds every
frame as the decoder will and codes a new key frame where the rule says so. With
``refine_steps`` each token is first fitted to its frame through the decoder (the motion
model's ``refine``). With ``key_placement="centre"`` (the default) a first pass decides where
each run of frames between key frames starts and ends, and the second codes each run's key
frame at the frame nearest the run's mean picture, sent ahead of the frames before it
(keyplace.py, docs/keyplace.md). Records go to a sink; bitstream.pack makes the file.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Callable, Iterator

import numpy as np

from . import bitstream as bs
from . import frames as fr
from . import intra
from .audio import file_seconds
from .entropy import quantize as quant
from .entropy.tables import MAX_LEVEL
from .errors import IMFError, InputError
from .keyplace import Run, descriptor, plan_runs
from .metrics import mse
from .motion.base import MotionModel
from .motion.fullsize import FullSize
from .options import EncodeOptions
from .prediction import Predictor
from .references import Held, HeldKey, blend, choose, partner_of
from .refresh import RefreshRule, forced_reason
from .source import Source
from .tokens import TokenChunker

# Key frames the refresh rule adds are coded as predicted from the key frame before them
# (where the intra codec can: HEVC); the first, interval and scene-cut key frames stay intra,
# so that a reader can start decoding there.
PREDICTED_REASONS = frozenset({bs.KeyReason.QUALITY})


def predicts(reason: bs.KeyReason) -> bool:
    """Whether a key frame placed for ``reason`` is coded from the key frame before it."""
    return reason in PREDICTED_REASONS


@dataclass
class EncodeStats:
    """What an encode produced: counts, bytes by part, and the parameters it coded with."""

    model: str
    frames: int
    key_frames: int
    bytes_total: int
    bytes_key_frames: int
    bytes_tokens: int
    fps: Fraction
    width: int
    height: int
    key_reasons: dict = field(default_factory=dict)  # frame index -> reason name
    levels: list = field(default_factory=list, repr=False)  # (F_inter, D) quantised tokens
    token_step: float = 0.0
    intra_qp: int = 0
    bytes_audio: int = 0  # the sound's records (audio.AudioTrack.bytes)
    audio: dict | None = None  # the sound's description (audio.describe), when there is one
    # the largest token number quantised, in quantiser steps, of those the token step scales
    # (past MAX_LEVEL: clamped)
    token_peak: float = 0.0
    # the token step asked for (the quality level's, or rate control's), where the encoder
    # raised it so that the motion fits (None: not raised)
    step_raised_from: float | None = None

    @property
    def seconds(self) -> float:
        return self.frames / float(self.fps) if self.frames else 0.0

    def _kbps(self, size: int) -> float:
        return size * 8 / 1000 / self.seconds if self.seconds else 0.0

    @property
    def file_seconds(self) -> float:
        """How long the file lasts: the video's length, or the span of video and sound where
        the sound runs well past it (audio.file_seconds)."""
        sound = self.audio or {}
        return file_seconds(self.seconds, sound.get("start_seconds"), sound.get("seconds"))

    @property
    def kbps(self) -> float:
        """The whole file's rate, sound included, over the file's length (file_seconds)."""
        seconds = self.file_seconds
        return self.bytes_total * 8 / 1000 / seconds if seconds else 0.0

    @property
    def video_kbps(self) -> float:
        """The rate without the sound's records: what rate-distortion curves compare."""
        return self._kbps(self.bytes_total - self.bytes_audio)

    @property
    def audio_kbps(self) -> float:
        """The sound's records over the sound's own length."""
        seconds = (self.audio or {}).get("seconds") or 0.0
        return self.bytes_audio * 8 / 1000 / seconds if seconds else 0.0

    @property
    def bits_per_pixel(self) -> float:
        pixels = self.frames * self.width * self.height
        return (self.bytes_total - self.bytes_audio) * 8 / pixels if pixels else 0.0

    def to_dict(self) -> dict:
        """JSON-ready numbers (the command line's --json keys)."""
        return {"model": self.model, "frames": self.frames, "key_frames": self.key_frames,
                "fps": float(self.fps), "seconds": round(self.seconds, 4),
                "file_seconds": round(self.file_seconds, 4),
                "bytes": self.bytes_total, "bytes_key_frames": self.bytes_key_frames,
                "bytes_tokens": self.bytes_tokens, "bytes_audio": self.bytes_audio,
                "kbps": round(self.kbps, 4), "video_kbps": round(self.video_kbps, 4),
                "audio_kbps": round(self.audio_kbps, 4), "audio": self.audio,
                "bits_per_pixel": round(self.bits_per_pixel, 6), "width": self.width,
                "height": self.height, "token_step": self.token_step,
                "token_step_raised_from": self.step_raised_from, "intra_qp": self.intra_qp,
                "key_frame_reasons": {str(k): v for k, v in self.key_reasons.items()}}


def _token_sink(stats: EncodeStats, sink: Callable[[Any], None]) -> Callable[[bs.TokenChunk], None]:
    """Counts a TOKENS record's bytes and passes it on."""
    def emit(record: bs.TokenChunk) -> None:
        stats.bytes_tokens += len(bs.record_bytes(record))
        sink(record)

    return emit


@dataclass(frozen=True)
class _Fixed:
    """What stays the same for a whole pass over the frames."""

    motion: MotionModel
    header: bs.Header
    options: EncodeOptions
    rule: RefreshRule | None  # the closed-loop decision (None: no frame is rebuilt to decide)
    sink: Callable[[Any], None]
    progress: fr.Progress | None
    # (a live stream with a look-ahead) which frame a run starting at a frame, for a reason,
    # sends as its key frame: (its index, its picture); None: the run's first
    placer: Callable[[int, np.ndarray, bs.KeyReason], tuple[int, np.ndarray]] | None = None


@dataclass
class _Carry:
    """What the pass carries from one frame to the next within a run."""

    # refined minus analysed token of the last frame sent since the key frame (refinement)
    correction: np.ndarray | None = None
    last_source: np.ndarray | None = None  # the last token frame's source (pairs)
    ahead: int | None = None  # a key frame sent ahead of its run's leading frames


class KeyCoder:
    """Codes the key frames in order and decodes each as the decoder will (predicted key
    frames need every key frame before them decoded, so each is); remembers why each is one
    and what a refresh is expected to cost."""

    def __init__(self, header: bs.Header, options: EncodeOptions) -> None:
        self.encoder = intra.KeyEncoder(header.intra_codec, header.intra_qp,
                                        options.tuning.key_preset)
        self.decoder = intra.KeyDecoder()
        self.intra_codec, self.qp = header.intra_codec, header.intra_qp
        self.predicted_share = options.tuning.predicted_key_share
        self.reasons: dict[int, bs.KeyReason] = {}  # index -> why it is a key frame
        # sizes of the last predicted key frames (Tuning.refresh_cost_memory of them)
        self.predicted_bits: deque[int] = deque(maxlen=options.tuning.refresh_cost_memory)

    def code(self, index: int, frame: np.ndarray | None, reason: bs.KeyReason,
             coded: tuple[int, bytes] | None = None) -> tuple[bs.KeyFrame, np.ndarray]:
        """Frame ``index``'s KEYFRAME record (``coded``: its codec byte and picture, already
        coded in this order) and its decoded picture."""
        codec, data = coded if coded is not None else self.encoder.code(frame, predicts(reason))
        self.reasons[index] = reason
        return bs.KeyFrame(index, codec, self.qp, reason, data), self.decoder.decode(data, codec)

    def refresh_bits(self, bits: int, codec: int) -> int:
        """The expected size of the next refresh, given the key frame just coded: the mean
        size of the last predicted key frames (Tuning.refresh_cost_memory: by default the last
        one's), once there is one; before that an intra key frame's size, times
        Tuning.predicted_key_share where refreshes are predicted (HEVC)."""
        if codec == intra.PREDICTED_HEVC:
            self.predicted_bits.append(bits)
        if self.predicted_bits:
            return round(sum(self.predicted_bits) / len(self.predicted_bits))
        if self.intra_codec == intra.IntraCodec.HEVC:
            return round(bits * self.predicted_share)
        return bits


class FrameLoop:
    """One pass over the frames. Frames wait in a batch of up to fr.BATCH for the motion
    model; a refresh decided inside a batch splits it. The held key frames and the choice
    among them are references.py's; tokens and rebuilt frames prediction.py's."""

    def __init__(self, motion: MotionModel, header: bs.Header, options: EncodeOptions, sink,
                 progress: fr.Progress | None = None, token_cache: dict | None = None,
                 decide: bool = True, adaptive_tables: bool = False,
                 frame_records: bool = False, pairs: bool = False, placer=None) -> None:
        """``adaptive_tables``: token chunks whose tables follow the run (a live stream's);
        ``frame_records`` (with it): predicted frames alone in FRAME records (10.0); ``pairs``
        (with that, a frame a chunk): a frame rebuilt between its neighbours' tokens, its own
        not sent, where that rebuilds it within Tuning.between_tolerance (11.0); ``placer``:
        _Fixed.placer."""
        rule = RefreshRule.of(options, header.fps, header.intra_codec, header.intra_qp) if decide else None
        self.fixed = _Fixed(motion, header, options, rule, sink, progress, placer)
        self.predict = Predictor(motion, header, options, token_cache)
        self.stats = EncodeStats(motion.name, 0, 0, 0, 0, 0, header.fps, header.width,
                                 header.height, token_step=header.token_step,
                                 intra_qp=header.intra_qp)
        # (the chunker's callback must not hold the loop: a reference cycle would keep each
        # pass's decoded-reference features alive until a full garbage collection, and rate
        # control's passes would pile them up)
        self.chunker = TokenChunker(header.chunk_frames, _token_sink(self.stats, sink),
                                    adaptive_tables, frame_records, pairs)
        self.pending: list[tuple[int, np.ndarray]] = []  # frames waiting for a batch
        self.held = Held(options.references)  # the key frames a decoder holds
        self.keys = KeyCoder(header, options)
        self.carry = _Carry()

    @property
    def ahead(self) -> int | None:
        """The index of a key frame sent ahead of its run's leading frames (None: none)."""
        return self.carry.ahead

    def _needs_reference(self) -> bool:
        f = self.fixed
        return (f.rule is not None or f.options.refine_steps > 0 or f.motion.analysis_uses_reference
                or f.options.references > 1)

    def key_frame(self, index: int, frame: np.ndarray | None, reason: bs.KeyReason,
                  coded: tuple[int, bytes] | None = None, run_start: int | None = None) -> None:
        """Sends frame ``index`` as a key frame (``coded``: its record's codec byte and
        picture, already coded in this order). With ``run_start`` below ``index`` the key
        frame leads its run: the run's token frames start at run_start and step over ``index``."""
        f = self.fixed
        if run_start is None or run_start == index:
            self.chunker.key_frame(index + 1)
        else:
            self.chunker.key_frame(run_start, skip=index)
        self.carry.correction = None
        record, picture = self.keys.code(index, frame, reason, coded)
        self.stats.key_frames += 1
        self.stats.bytes_key_frames += len(bs.record_bytes(record))
        f.sink(record)
        # the reference is the decoded picture, as the decoder's
        key = HeldKey(index, digest=hashlib.sha1(picture.tobytes()).digest())
        self.held.push(key)
        if self._needs_reference():
            key.reference = f.motion.reference(picture)
            if f.rule is not None and f.rule.lam is not None:
                # What a refresh buys: the key frame rebuilt from its own token and itself.
                key.bits = self.keys.refresh_bits(8 * len(bs.record_bytes(record)), record.codec)
                levels, _ = self._levels(key, [(index, frame)])
                key.fresh_mse = mse(frame, self.predict.rebuild(key, levels)[0])
        if f.progress:
            f.progress(1)

    def _levels(self, key: HeldKey, batch: list[tuple[int, np.ndarray]]
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """The quantised tokens of a batch of frames against ``key``, refined first when
        asked to; with refinement also its corrections (refined minus analysed)."""
        if not self.fixed.options.refine_steps:
            return self.predict.quantised(key, batch, self.chunker.last), None
        return self.predict.refined(key, batch, self.chunker.last, self.carry.correction)

    def _first_refresh(self, key: HeldKey, batch: list[tuple[int, np.ndarray]], levels: np.ndarray,
                       rebuilt: np.ndarray | None = None) -> int | None:
        """The position in the batch of the first frame the refresh rule turns into a key
        frame (None: none). Frames too near the last key frame are not even rebuilt;
        ``rebuilt``: the batch as the decoder will show it (from ``key``), when already known."""
        rule, last = self.fixed.rule, self.held.last
        if rule is None:
            return None
        eligible = [j for j, (index, _) in enumerate(batch) if rule.eligible(index, last.index)]
        if not eligible:
            return None
        pictures = self.predict.rebuild(key, levels[eligible]) if rebuilt is None else rebuilt[eligible]
        for j, picture in zip(eligible, pictures):
            if rule.wants_key(batch[j][1], picture, last.fresh_mse, last.bits):
                return j
        return None

    def _between(self, key: HeldKey):
        """The chunker's test of a held frame (pairs): whether the midpoint of the tokens
        either side of it rebuilds it (from ``key``) with at most Tuning.between_tolerance
        more squared error than its own token does, both judged on the model's preview."""
        tolerance = self.fixed.options.tuning.between_tolerance

        def test(before: np.ndarray, held: np.ndarray, after: np.ndarray) -> bool:
            levels = np.stack([held.astype(np.float32), quant.midpoint(before, after)])
            own, mid = list(self.predict.preview(key, levels))
            source = self.fixed.motion.previewed(self.carry.last_source)
            return mse(source, mid) <= (1 + tolerance) * mse(source, own)
        return test

    def _code(self, batch: list[tuple[int, np.ndarray]]
              ) -> tuple[HeldKey, np.ndarray, np.ndarray | None, list[int], np.ndarray | None]:
        """The batch's reference, levels, corrections (refinement), share indices and rebuilt
        frames (None where not yet known). Several references: the held key frame it is
        rebuilt from is chosen first (references.choose); with refinement the levels are then
        refined against it (the choice's rebuild no longer holds)."""
        options, chunker, corrections, rebuilt = self.fixed.options, self.chunker, None, None
        if len(self.held) > 1:
            back, levels, rebuilt = choose(self.predict, self.held, chunker.reference, batch,
                                           chunker.last, options.tuning.switch_gain)
            if back != chunker.reference:
                chunker.switch(back)
        key = self.held.back(chunker.reference)
        if rebuilt is None or options.refine_steps:
            (levels, corrections), rebuilt = self._levels(key, batch), None
        partner = partner_of(self.held, chunker.reference, self.fixed.motion.blends)
        chunker.switch(chunker.reference, partner)
        shares = [0] * len(batch)
        if partner is not None:
            shares, rebuilt = blend(self.predict, self.held, chunker.reference, partner, batch, levels)
        return key, levels, corrections, shares, rebuilt

    def run_batch(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            key, levels, corrections, shares, rebuilt = self._code(batch)
            split = self._first_refresh(key, batch, levels, rebuilt)
            accepted = batch if split is None else batch[:split]
            between = self._between(key) if self.chunker.pairs else None
            for (_, frame), row, share in zip(accepted, levels, shares):
                self.chunker.add(row, share, between)
                self.carry.last_source = frame
                self.stats.levels.append(row)
            if accepted and corrections is not None:
                self.carry.correction = corrections[len(accepted) - 1]
            if self.fixed.progress and accepted:
                self.fixed.progress(len(accepted))
            if split is not None:
                index, frame = batch[split]
                leads = self._start_run(index, frame, bs.KeyReason.QUALITY)
                self.pending = batch[split if leads else split + 1 :]

    def _start_run(self, index: int, frame: np.ndarray, reason: bs.KeyReason) -> bool:
        """A run starts at frame ``index``: its key frame sent, that frame or the one the
        placer picks ahead of it (then ``index`` is the run's first leading frame, to be sent
        as a token: True)."""
        placer = self.fixed.placer
        key, picture = (index, frame) if placer is None else placer(index, frame, reason)
        self.key_frame(key, picture, reason, run_start=index)
        self.carry.ahead = key if key != index else None
        return key != index

    def _queue(self, index: int, frame: np.ndarray) -> None:
        """A frame to send as a token: it waits for a full batch."""
        self.pending.append((index, frame))
        if len(self.pending) == fr.BATCH:
            self.run_batch()

    def _finish(self, frames: int) -> EncodeStats:
        self.run_batch()
        self.chunker.flush()
        self.stats.frames = frames
        self.stats.token_peak = self.predict.peak
        self.stats.key_reasons = {index: reason.name.lower()
                                  for index, reason in self.keys.reasons.items()}
        return self.stats

    def step(self, index: int, frame: np.ndarray, previous: np.ndarray | None,
             asked: bs.KeyReason | None = None, now: bool = False) -> None:
        """Frame ``index`` (``previous``: the one before it): a key frame where a rule (or
        ``asked``) wants one, else a token; ``now``: coded at once, not when a batch is full
        (a live stream's frames, one by one)."""
        if index == self.carry.ahead:  # (sent already, ahead of its run's leading frames)
            self.carry.ahead = None
            return
        options = self.fixed.options
        reason = asked if asked is not None else \
            forced_reason(options, index, self.held.last.index, frame, previous)
        if reason is not None and asked is None:
            self.run_batch()
            # a refresh decided in that batch may have moved the last key frame: ask again
            reason = forced_reason(options, index, self.held.last.index, frame, previous)
        if reason is not None:
            self.run_batch()
            if not self._start_run(index, frame, reason):
                return
        self._queue(index, frame)
        if now:
            self.run_batch()

    def encode(self, frames: Iterator[np.ndarray]) -> EncodeStats:
        """Frames in order, each key frame first in its run (the decisions made as it goes)."""
        count, previous = 0, None
        for index, frame in enumerate(frames):
            self.step(index, frame, previous)
            previous, count = frame, index + 1
        return self._finish(count)

    def encode_runs(self, frames: Iterator[np.ndarray], runs: list[Run]) -> EncodeStats:
        """Codes planned runs: each run's key frame first (its picture coded in the plan),
        then the run's other frames in order, all rebuilt from it; no decisions left."""
        starts = {run.start: run for run in runs}
        key, count = -1, 0
        for index, frame in enumerate(frames):
            run = starts.get(index)
            if run is not None:
                self.run_batch()
                self.key_frame(run.key, None, run.reason, coded=run.coded, run_start=run.start)
                key = run.key
            if index != key:
                self._queue(index, frame)
            count = index + 1
        if runs and count != runs[-1].end:
            raise IMFError(f"the input gave {count} frames when read again, {runs[-1].end} before")
        return self._finish(count)


def _planned_runs(source: Source, motion: MotionModel, header: bs.Header, options: EncodeOptions,
                  token_cache: dict, progress: fr.Progress | None) -> list[Run]:
    """The first pass of centred key placement: where runs start (the refresh decisions of
    an encode with each key frame at its run's start, unrefined), each run's central frame,
    and that frame's coded picture, the key frames coded in order (the source is read again
    only for those)."""
    descriptors: list[np.ndarray] = []

    def tapped() -> Iterator[np.ndarray]:
        for frame in source.frames():
            descriptors.append(descriptor(frame))
            yield frame

    plan = replace(options, refine_steps=0, key_placement="start")
    planner = FrameLoop(motion, header, plan, lambda record: None, progress, token_cache)
    planner.encode(tapped())
    runs = plan_runs(planner.keys.reasons, descriptors)
    wanted = {run.key: run for run in runs}
    coder = intra.KeyEncoder(header.intra_codec, header.intra_qp)
    for index, frame in enumerate(source.frames()):
        if index in wanted:
            run = wanted[index]
            run.coded = coder.code(frame, predicts(run.reason))
    if any(run.coded is None for run in runs):
        raise IMFError("the input gave fewer frames when read again")
    return runs


def encode_frames(source: Source, motion: MotionModel, header: bs.Header, options: EncodeOptions,
                  sink, progress: fr.Progress | None = None,
                  token_cache: dict | None = None) -> EncodeStats:
    """Encodes a source's frames to records, calling ``sink(record)`` for each.

    ``token_cache`` (frame index -> token; for a model whose analysis looks at the reference,
    (key index, intra codec, QP, frame index) -> token) lets repeated passes over the same
    frames (rate control, and key placement's two passes) skip the motion model's analysis
    of a frame against a reference it has already been analysed against. With centred key
    placement ``progress`` counts every frame twice.
    """
    if options.key_placement == "start":
        return FrameLoop(motion, header, options, sink, progress, token_cache).encode(source.frames())
    cache = {} if token_cache is None else token_cache
    runs = _planned_runs(source, motion, header, options, cache, progress)
    loop = FrameLoop(motion, header, options, sink, progress, cache, decide=False)
    return loop.encode_runs(source.frames(), runs)


def make_header(motion: MotionModel, options: EncodeOptions, fps: Fraction,
                source_size: tuple[int, int]) -> bs.Header:
    """The HEADER: a full-size picture (motion.fullsize) names its size and motion region."""
    token_dim, global_motion = motion.token_dim, False
    if isinstance(motion, FullSize):
        width, height, region = motion.layout.width, motion.layout.height, motion.layout.region
        token_dim, global_motion = motion.model.token_dim, motion.global_motion
    else:
        width = height = motion.image_size
        region = None
    return bs.Header(
        model_name=motion.name,
        model_digest=motion.digest,
        token_dim=token_dim,
        width=width,
        height=height,
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
        region=region,
        global_motion=global_motion,
    )


def fitting_step(step: float, peak: float) -> float:
    """The token step at which a token ``peak`` steps of ``step`` large is MAX_LEVEL levels,
    with 2 % to spare (for the decisions that the coarser step moves)."""
    return step * peak / MAX_LEVEL * 1.02


def encode_stream(source: Source, motion: MotionModel, options: EncodeOptions,
                  progress: fr.Progress | None = None,
                  token_cache: dict | None = None) -> tuple[bytes, bs.Header, EncodeStats]:
    """A source -> the bytes of a complete .imf file, its header and the statistics.

    Where a token went past the quantiser's range (a motion larger than the quality level's
    token step can count to MAX_LEVEL: far from its key frame, or a wide picture's region),
    the frames are coded again with the step raised until the largest fits (fitting_step;
    the header stores the step, so decoders need nothing new): a clamped token rebuilds
    the wrong motion, where a coarser step costs a little precision on every frame."""
    cache = {} if token_cache is None else token_cache
    header = make_header(motion, options, source.fps, source.source_size)
    records: list = []
    stats = encode_frames(source, motion, header, options, records.append, progress, cache)
    if stats.token_peak > MAX_LEVEL:
        raised = replace(options, token_step=fitting_step(header.token_step, stats.token_peak))
        header = make_header(motion, raised, source.fps, source.source_size)
        records = []
        stats = encode_frames(source, motion, header, raised, records.append, None, cache)
        stats.step_raised_from = options.step()
    if stats.frames == 0:
        raise InputError("the video has no frames")
    header.frame_count = stats.frames
    data = bs.pack(header, records)
    stats.bytes_total = len(data)
    return data, header, stats

