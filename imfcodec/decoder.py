"""Decoding: an .imf stream back to frames, streaming, and decode_video to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from . import bitstream as bs
from . import frames as fr
from . import intra
from .entropy import coder
from .entropy import quantize as quant
from .entropy.tables import MAX_LEVEL
from .errors import FormatError, IMFError, ModelError
from .io.atomic import atomic_path
from .io.writer import FrameWriter, output_kind
from .models.weights import LoadedModel

Progress = Callable[[int], None]


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
        device = fr.device_of(model)
        grid = quant.unit(self.header.token_step, model.token_scale.cpu().numpy())
        ref = None
        shown = 0  # frames yielded so far, in display order
        held: tuple[int, np.ndarray] | None = None  # a key frame sent ahead of its leading frames
        for event, record, payload in self._events:
            if event == "key":
                with torch.inference_mode():
                    ref = model.reference(fr.to_tensor([payload], device))
                if record.frame_index == shown:
                    shown += 1
                    yield payload
                else:
                    held = (record.frame_index, payload)
                continue
            tokens = quant.dequantize(payload, grid)
            for start in range(0, len(tokens), fr.BATCH):
                part = torch.from_numpy(tokens[start : start + fr.BATCH]).to(device)
                with torch.inference_mode():
                    images = fr.to_images(model.decode(part, ref))
                yield from images
            shown += len(tokens)
            if held is not None and held[0] == shown:
                shown += 1
                yield held[1]
                held = None


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
