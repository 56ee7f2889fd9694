"""encode_video and decode_video: the loop over frames, from input file to .imf and back."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from . import bitstream as bs
from . import intra
from .entropy import coder
from .entropy import quantize as quant
from .entropy.tables import MAX_LEVEL
from .errors import FormatError, IMFError, ModelError
from .io.atomic import atomic_path
from .io.reader import probe, read_frames
from .io.writer import FrameWriter, output_kind
from .models.weights import LoadedModel
from .quality import level

BATCH = 4  # frames per network call on either side; memory does not grow with clip length
Progress = Callable[[int], None]


@dataclass
class EncodeOptions:
    quality: int = 3
    keyframe_interval: int = 0  # 0: only the first frame
    fit: str = "crop"
    intra_codec: intra.IntraCodec = intra.IntraCodec.HEVC
    chunk_seconds: float = 1.0


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
    levels: list = field(default_factory=list, repr=False)  # (F_inter, D) reconstructed levels

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


def to_tensor(frames: list[np.ndarray], device) -> torch.Tensor:
    x = torch.from_numpy(np.stack(frames)).to(device)
    return x.permute(0, 3, 1, 2).float().div_(255.0)


def to_images(x: torch.Tensor) -> np.ndarray:
    return x.clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def _device_of(model) -> torch.device:
    return next(model.parameters()).device


class _TokenChunker:
    """Collects quantised levels between key frames and emits TOKENS records."""

    def __init__(self, chunk_frames: int, emit) -> None:
        self.chunk_frames, self.emit = chunk_frames, emit
        self.previous: np.ndarray | None = None
        self.pending: list[np.ndarray] = []
        self.first_frame = 0

    def key_frame(self, next_frame: int) -> None:
        self.flush()
        self.previous = None
        self.first_frame = next_frame

    def add(self, levels: np.ndarray) -> None:
        self.pending.append(levels)
        if len(self.pending) == self.chunk_frames:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        rows = np.stack(self.pending)
        absolute, residuals = quant.to_residuals(rows, self.previous)
        data = coder.encode_chunk(residuals, absolute)
        self.emit(bs.TokenChunk(self.first_frame, len(rows), absolute is not None, data))
        self.first_frame += len(rows)
        self.previous = rows[-1]
        self.pending = []


def encode_frames(
    frames: Iterator[np.ndarray],
    loaded: LoadedModel,
    header: bs.Header,
    options: EncodeOptions,
    sink,
    progress: Progress | None = None,
) -> EncodeResult:
    """Encodes frames to records, calling ``sink(record)`` for each; returns the statistics.

    The header's frame_count is filled in by the caller once the frames are counted.
    """
    model = loaded.model
    device = _device_of(model)
    grid = quant.unit(header.token_step, model.token_scale.cpu().numpy())
    stats = {"key": 0, "key_bytes": 0, "token_bytes": 0}
    all_levels: list[np.ndarray] = []

    def emit(record) -> None:
        size = len(bs.record_bytes(record))
        if isinstance(record, bs.TokenChunk):
            stats["token_bytes"] += size
        sink(record)

    chunker = _TokenChunker(header.chunk_frames, emit)
    batch: list[np.ndarray] = []

    def run_batch() -> None:
        if not batch:
            return
        with torch.inference_mode():
            tokens = model.encode_token(to_tensor(batch, device)).float().cpu().numpy()
        for row in quant.quantize(tokens, grid):
            chunker.add(row)
            all_levels.append(row)
        if progress:
            progress(len(batch))
        batch.clear()

    index = 0
    for frame in frames:
        if index == 0 or (options.keyframe_interval and index % options.keyframe_interval == 0):
            run_batch()
            chunker.key_frame(index + 1)
            reason = bs.KeyReason.START if index == 0 else bs.KeyReason.INTERVAL
            data = intra.encode(frame, header.intra_codec, header.intra_qp)
            record = bs.KeyFrame(index, header.intra_codec, header.intra_qp, reason, data)
            stats["key"] += 1
            stats["key_bytes"] += len(bs.record_bytes(record))
            sink(record)
            if progress:
                progress(1)
        else:
            batch.append(frame)
            if len(batch) == BATCH:
                run_batch()
        index += 1
    run_batch()
    chunker.flush()
    return EncodeResult(
        frames=index,
        key_frames=stats["key"],
        bytes_total=0,
        bytes_key_frames=stats["key_bytes"],
        bytes_tokens=stats["token_bytes"],
        fps=header.fps,
        width=header.width,
        height=header.height,
        levels=all_levels,
    )


def make_header(loaded: LoadedModel, options: EncodeOptions, fps: Fraction,
                source_size: tuple[int, int]) -> bs.Header:
    q = level(options.quality)
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
        token_step=q.token_step,
        intra_codec=int(options.intra_codec),
        intra_qp=q.intra_qp(options.intra_codec),
        fit=bs.Fit.CROP if options.fit == "crop" else bs.Fit.PAD,
        chunk_frames=max(1, round(float(fps) * options.chunk_seconds)),
        keyframe_interval=options.keyframe_interval,
    )


def encode_to_stream(frames: Iterator[np.ndarray], stream, loaded: LoadedModel,
                     options: EncodeOptions, fps: Fraction, source_size: tuple[int, int],
                     progress: Progress | None = None) -> EncodeResult:
    """Encodes frames into a complete .imf byte stream written to ``stream``."""
    header = make_header(loaded, options, fps, source_size)
    records: list = []
    result = encode_frames(frames, loaded, header, options, records.append, progress)
    if result.frames == 0:
        raise IMFError("the video has no frames")
    header.frame_count = result.frames
    writer = bs.Writer(stream)
    writer.start()
    writer.write(header)
    for record in records:
        writer.write(record)
    writer.write(bs.End(result.frames))
    result.bytes_total = writer.bytes_written
    return result


def encode_video(
    source: str | Path,
    target: str | Path,
    loaded: LoadedModel,
    options: EncodeOptions,
    force: bool = False,
    progress: Progress | None = None,
) -> EncodeResult:
    """Any video FFmpeg reads -> an .imf file, written atomically."""
    info = probe(source)
    frames = read_frames(source, loaded.model.cfg.image_size, options.fit)
    with atomic_path(target, force) as tmp:
        with open(tmp, "wb") as f:
            try:
                result = encode_to_stream(frames, f, loaded, options, info.fps,
                                          (info.width, info.height), progress)
            except IMFError as exc:
                raise type(exc)(f"{source}: {exc}") from None
            f.flush()
            os.fsync(f.fileno())
    return result


# --- decoding ------------------------------------------------------------------------------


def check_model(header: bs.Header, loaded: LoadedModel) -> None:
    if header.model_digest != loaded.digest or header.token_dim != loaded.model.cfg.token_dim:
        raise ModelError(
            f"the stream was made with model {header.model_name}, weights "
            f"{header.model_digest.hex()}; the loaded model is {loaded.name}, weights "
            f"{loaded.digest.hex()}"
        )


def iter_decoded(stream, loaded_for_header: Callable[[bs.Header], LoadedModel]):
    """Yields ('header', Header, model), ('key', KeyFrame, rgb), ('tokens', chunk, levels)."""
    records = bs.read_records(stream)
    _, header = next(records)
    loaded = loaded_for_header(header)
    yield "header", header, loaded
    previous: np.ndarray | None = None
    for _, record in records:
        if isinstance(record, bs.KeyFrame):
            rgb = intra.decode(record.data, record.codec)
            if rgb.shape != (header.height, header.width, 3):
                raise FormatError(f"key frame is {rgb.shape[1]}x{rgb.shape[0]}, header says "
                                  f"{header.width}x{header.height}")
            previous = None
            yield "key", record, rgb
        elif isinstance(record, bs.TokenChunk):
            if record.absolute_first != (previous is None):
                raise FormatError("token chunk prediction flag does not match the stream")
            n_res = record.frame_count - (1 if record.absolute_first else 0)
            residuals, absolute = coder.decode_chunk(
                record.data, n_res, header.token_dim, record.absolute_first
            )
            levels = quant.from_residuals(absolute, residuals, previous)
            if np.abs(levels).max(initial=0) > MAX_LEVEL:
                raise FormatError("token levels out of range")
            previous = levels[-1]
            yield "tokens", record, levels


class StreamDecoder:
    """Reads an .imf stream: ``header`` at once, then ``frames()`` one uint8 frame at a time.

    Memory stays bounded by one token chunk and BATCH frames, whatever the clip length.
    """

    def __init__(self, stream, loaded_for_header: Callable[[bs.Header], LoadedModel]) -> None:
        self._events = iter_decoded(stream, loaded_for_header)
        _, self.header, self.loaded = next(self._events)

    def frames(self) -> Iterator[np.ndarray]:
        model = self.loaded.model
        device = _device_of(model)
        grid = quant.unit(self.header.token_step, model.token_scale.cpu().numpy())
        ref = None
        for event, _, payload in self._events:
            if event == "key":
                with torch.inference_mode():
                    ref = model.reference(to_tensor([payload], device))
                yield payload
                continue
            tokens = quant.dequantize(payload, grid)
            for start in range(0, len(tokens), BATCH):
                part = torch.from_numpy(tokens[start : start + BATCH]).to(device)
                with torch.inference_mode():
                    images = to_images(model.decode(part, ref))
                yield from images


def decode_video(
    source: str | Path,
    target: str | Path,
    loaded_for_header: Callable[[bs.Header], LoadedModel],
    force: bool = False,
    progress: Progress | None = None,
    on_header: Callable[[bs.Header], None] | None = None,
) -> bs.Header:
    """An .imf file -> .mp4 / .mkv / .y4m / a PNG folder, written atomically."""
    kind = output_kind(target)
    source = Path(source)
    if not source.is_file():
        raise IMFError(f"{source}: no such file")
    with open(source, "rb") as f, atomic_path(
        target, force, directory=kind == "png",
        replaceable=lambda d: all(p.suffix == ".png" for p in d.iterdir())
    ) as tmp:
        decoder = StreamDecoder(f, loaded_for_header)
        header = decoder.header
        if on_header:
            on_header(header)
        with FrameWriter(tmp, kind, header.fps, (header.width, header.height)) as writer:
            for frame in decoder.frames():
                writer.write(frame)
                if progress:
                    progress(1)
            writer.close()
    return header
