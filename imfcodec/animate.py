"""`imfcodec animate`: a still portrait set in motion by someone else's video.

The motion tokens the codec sends are the motion: the driving video's tokens, applied to the
source picture as its reference, through the same motion-model interface as decoding
(motion/base.py), so every model animates.

- Relative (default, as FOMM's and LIA's relative mode): each driving frame's motion from the
  driving video's first frame is applied to the source. What the model's rendering of no
  motion misses of the source (a fixed picture) is added to every frame, so a driving frame
  identical to the first shows the source exactly, and the output does not jump after its
  first frame. For a model whose analysis looks at
  the reference (the flow model), that is the driving frame analysed against the driving
  video's first frame; for a model whose tokens describe a frame alone (imf-small), it is the
  driving token minus the first driving token, plus the source's own token.
- Absolute (``relative=False``): for the flow model, each driving frame analysed against the
  source itself; for imf-small, the driving tokens as they are.

Picture size: the output has the source picture's own size and shape (up to 1920x1080, as
`imfcodec encode` codes a video; a square ``size`` gives the model's square as before). The
model works at its own size on a square region of each picture (motion/fullsize.py): the
driving video's where it moves most (as the encoder places it), the source's at the same
place along its longer side; the motion is applied to the full-size source picture.

Alignment: a talking head in the source may sit elsewhere, or at another scale, than the one
in the driving video. Without a face detector in this OpenCV build, the two are aligned by
the mean terms of their optical flow: a similarity (scale and shift) fitted to the DIS flow
from the driving video's first frame to the source over the picture's central part, kept
when the fit is consistent. The source is brought into the driving frame's geometry, set in
motion there, and each output frame is brought back.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from itertools import islice
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from . import frames as fr
from .audio import AudioSettings, encode_audio, extradata, timed_packets
from .errors import InputError
from .io.output import Sound, save_video
from .layout import Layout, plan
from .motion import flowfield
from .motion.base import MotionModel
from .motion.fullsize import FullSize
from .source import Source

# The sound of the driving video, coded once for the output (it is not the codec's low rate:
# the output is a video file, not a stream to send).
OUTPUT_SOUND = AudioSettings(bitrate=64000, channels=2)
# A fitted similarity is kept only within these bounds (scale; shift as a share of the side)
# and when it explains the flow of the central part to within this many pixels RMS (at 256).
SCALE_RANGE = (0.5, 2.0)
MAX_SHIFT = 0.4
MAX_RESIDUAL = 12.0
# Relative motion's correction of the model's rendering of no motion fades as exp(-d / FADE),
# d the token's distance from no motion in quantiser units (RMS over its numbers).
FADE = 1.0
# The driving video's motion is face-like when its frames are its first frame moved: the first
# frame warped by each checked frame's DIS flow (the flow the model's analysis starts from)
# correlates with that frame, in luma over the central part, with a median of at least
# MIN_COHERENCE. Measured at 256: the val talking heads 0.91..1.0 at every checked frame, a
# synthetic disc crossing a gradient 0.65..1.0 (median 0.87); a clip of independent noise
# 0.02..0.04, blurred noise 0.45..0.58. Checked: MOTION_SAMPLES frames of the first
# MOTION_SECONDS.
MIN_COHERENCE = 0.6
MOTION_SECONDS = 2.0
MOTION_SAMPLES = 8


@dataclass(frozen=True)
class MotionCheck:
    """Whether the driving video moves as a face would (check_motion)."""

    coherence: float | None  # the median correlation; None: under two frames, nothing to check
    samples: int = 0

    @property
    def face_like(self) -> bool:
        return self.coherence is None or self.coherence >= MIN_COHERENCE

    def warning(self, name: str) -> str | None:
        """One line for a driving video without face-like motion (None for one with it)."""
        if self.face_like:
            return None
        return (f"warning: {name} shows no face-like motion: its frames are not its first frame "
                f"moved (optical flow explains them with correlation {self.coherence:.2f}; a "
                f"moving face gives {MIN_COHERENCE:g} or more). Noise or cuts? The output will "
                f"not move like a face")

    def to_dict(self) -> dict:
        return {"face_like": self.face_like, "samples": self.samples,
                "coherence": None if self.coherence is None else round(self.coherence, 4)}


def check_motion(first: np.ndarray, frames: list[np.ndarray]) -> MotionCheck:
    """How well each of ``frames`` is ``first`` moved: the correlation of its luma with
    ``first``'s warped by its DIS flow against ``first`` (frame(x) ~ first(x + f(x))), over
    the central part (an eighth of each side left out); the median over the frames."""
    if not frames:
        return MotionCheck(None)
    luma = flowfield.gray(first)
    height, width = luma.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    my, mx = height // 8, width // 8
    scores = []
    for frame, flow in zip(frames, flowfield.estimate(frames, luma)):
        moved = cv2.remap(luma, xs + flow[0], ys + flow[1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
        a = flowfield.gray(frame)[my:height - my, mx:width - mx].astype(np.float64)
        b = moved[my:height - my, mx:width - mx].astype(np.float64)
        a, b = a - a.mean(), b - b.mean()
        scale = np.sqrt((a * a).sum() * (b * b).sum())
        scores.append(float((a * b).sum() / scale) if scale > 0 else 0.0)
    return MotionCheck(float(np.median(scores)), len(scores))


@dataclass(frozen=True)
class Alignment:
    """Source coordinates of a driving-frame point p: scale * p + shift (pixels)."""

    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)
    found: bool = False  # False: no consistent fit, the identity is used
    residual: float = 0.0

    def matrix(self) -> np.ndarray:
        """2x3: driving-frame point -> source point."""
        s, (tx, ty) = self.scale, self.shift
        return np.array([[s, 0.0, tx], [0.0, s, ty]], dtype=np.float64)

    def describe(self) -> str:
        if not self.found and self.residual == 0:
            return "the source is used as it is (not aligned)"
        if not self.found:
            return (f"no consistent face alignment between the source and the driving video "
                    f"(flow fit off by {self.residual:.1f} px); the source is used as it is")
        return (f"source aligned to the driving video: scale {self.scale:.3f}, shift "
                f"({self.shift[0]:+.1f}, {self.shift[1]:+.1f}) px")


def fit_alignment(source: np.ndarray, driving: np.ndarray) -> Alignment:
    """The similarity that maps the driving frame's head onto the source's, from the mean
    terms of the DIS flow of the driving frame against the source (flowfield's convention:
    content at driving point p sits at p + f(p) in the source), over the central half."""
    size = source.shape[0]
    flow = flowfield.estimate([driving], flowfield.gray(source))[0]  # (2, H, W)
    lo, hi = size // 4, size - size // 4
    ys, xs = np.mgrid[lo:hi, lo:hi].astype(np.float64)
    fx, fy = flow[0, lo:hi, lo:hi].astype(np.float64), flow[1, lo:hi, lo:hi].astype(np.float64)
    # least squares: p + f(p) = s p + t, over x and y together
    p = np.concatenate([xs.ravel(), ys.ravel()])
    q = np.concatenate([(xs + fx).ravel(), (ys + fy).ravel()])
    ones = np.concatenate([np.ones(xs.size), np.zeros(xs.size)])
    zeros = 1 - ones
    design = np.stack([p, ones, zeros], 1)
    (s, tx, ty), *_ = np.linalg.lstsq(design, q, rcond=None)
    residual = float(np.sqrt(np.mean((design @ np.array([s, tx, ty]) - q) ** 2)) * 256 / size)
    found = (SCALE_RANGE[0] <= s <= SCALE_RANGE[1] and max(abs(tx), abs(ty)) <= MAX_SHIFT * size * max(1, s)
             and residual <= MAX_RESIDUAL)
    if not found:
        return Alignment(found=False, residual=residual)
    return Alignment(float(s), (float(tx), float(ty)), True, residual)


def _warp(picture: np.ndarray, matrix: np.ndarray, inverse: bool = False,
          border: int | None = None) -> np.ndarray:
    """out(p) = picture(matrix p) (or the inverse map), bilinear; outside the picture its
    edges repeated, or the constant ``border``."""
    size = picture.shape[1], picture.shape[0]
    flags = cv2.INTER_LINEAR | (0 if inverse else cv2.WARP_INVERSE_MAP)
    if border is None:
        return cv2.warpAffine(picture, matrix, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    return cv2.warpAffine(picture, matrix, size, flags=flags, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=border)


class Animation:
    """The source set in motion by the driving video: iterate it for (H, W, 3) uint8 frames
    (the driving video's count and rate, at the source picture's size), or ``save`` it with
    the driving video's sound.

    ``driving``: a Source read at its own size (Codec.open) and ``seen``, the model as it
    sees that video (Codec.motion_for: a FullSize with the video's region, or the model
    itself for its own square). ``size``: 'WxH' for the output, as `encode --size`."""

    def __init__(self, model: MotionModel, source: str | Path | np.ndarray, driving: Source,
                 seen: MotionModel, relative: bool = True, fit: str = "crop", sound: bool = True,
                 align: bool = True, size: str | None = None) -> None:
        self.model, self.relative, self.driving = model, relative, driving
        self.view = seen.view if isinstance(seen, FullSize) else (lambda frame: frame)
        first = next(iter(self.driving.frames()), None)
        if first is None:
            raise InputError(f"{self.driving.name}: the driving video has no frames")
        self.first_frame = first
        self.first = self.view(first)  # the driving video's first frame, in the model's square
        where = _place(seen.layout) if isinstance(seen, FullSize) else None
        self.source, self.picture = _picture(model, source, fit, size, where)
        own = self.picture.view(self.source)  # the source's region, in the model's square
        self.alignment = fit_alignment(own, self.first) if align else Alignment(found=False)
        # the source in the driving frame's geometry (the working square's alignment, at the
        # picture's size around its region)
        self.matrix = _at_picture(self.alignment.matrix(), self.picture)
        self.aligned = _warp(self.source, self.matrix) if self.alignment.found else self.source
        self._sound = sound

    @cached_property
    def motion(self) -> MotionCheck:
        """Whether the driving video moves as a face would (check_motion over frames of its
        first MOTION_SECONDS, in the model's square), checked once, on first use."""
        count = max(2, round(float(self.fps) * MOTION_SECONDS))
        frames = [self.view(f) for f in islice(self.driving.frames(), 1, count)]
        step = max(1, len(frames) // MOTION_SAMPLES)
        return check_motion(self.first, frames[step - 1::step][:MOTION_SAMPLES])

    @property
    def fps(self) -> Fraction:
        return self.driving.fps

    @property
    def size(self) -> tuple[int, int]:
        return self.source.shape[1], self.source.shape[0]

    def tokens(self, batch: list[np.ndarray]) -> np.ndarray:
        """The motion tokens of a batch of driving frames, to apply to the (aligned) source."""
        model = self.model
        batch = [self.view(frame) for frame in batch]
        if model.analysis_uses_reference:
            return model.analyse(batch, self._analysis_reference)
        tokens = model.analyse(batch, None)
        return tokens + self._token_shift if self.relative else tokens

    @cached_property
    def _analysis_reference(self):
        """What driving frames are analysed against: their own first frame (relative), or
        the source (absolute)."""
        return self.model.reference(self.first if self.relative else self.picture.view(self.aligned))

    @cached_property
    def _token_shift(self) -> np.ndarray:
        """Relative motion for a model whose tokens describe a frame alone: the source's own
        token minus the driving video's first."""
        first, own = self.model.analyse([self.first, self.picture.view(self.aligned)], None)
        return own - first

    @cached_property
    def _source_reference(self):
        return self.picture.reference(self.aligned)

    @cached_property
    def _inside(self) -> np.ndarray:
        """(H, W, 1) weights: 1 where the aligned geometry covers the source's, 0 outside."""
        mask = np.full(self.source.shape[:2], 255, np.uint8)
        return _warp(mask, self.matrix, inverse=True, border=0)[..., None] / 255.0

    def _render(self, tokens: np.ndarray) -> np.ndarray:
        """The model's frames for a batch of tokens, in the source's geometry: brought back
        from the aligned geometry, with the source itself where that falls outside it."""
        made = self.picture.synthesise(self._source_reference, tokens.astype(np.float32))
        if not self.alignment.found:
            return made
        back = np.stack([_warp(f, self.matrix, inverse=True) for f in made])
        return np.round(self._inside * back + (1 - self._inside) * self.source).astype(np.uint8)

    @cached_property
    def _zero(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Relative motion: the tokens of no motion (the driving video's first frame) and what
        the model's rendering of them misses of the source."""
        if not self.relative:
            return None
        zero = self.tokens([self.first_frame])
        miss = self.source.astype(np.float32) - self._render(zero)[0].astype(np.float32)
        return zero[0], miss

    def __iter__(self) -> Iterator[np.ndarray]:
        zero = self._zero
        scale = np.maximum(self.model.token_scale, 1e-6)
        batch: list[np.ndarray] = []

        def flush() -> Iterator[np.ndarray]:
            tokens = self.tokens(batch)
            made = self._render(tokens)
            if zero is not None:
                # What the rendering of no motion misses of the source is added back, in full
                # where there is no motion (so no motion shows the source exactly and the
                # output does not jump after its first frame), fading as the motion grows
                # (so the fixed correction does not ghost over a face that moved).
                offset = (tokens - zero[0]) / scale
                distance = np.sqrt(np.mean(offset ** 2, axis=1)) if offset.shape[1] else np.zeros(len(offset))
                weight = np.exp(-distance / FADE)[:, None, None, None]
                made = np.clip(np.round(made + weight * zero[1]), 0, 255).astype(np.uint8)
                made[distance == 0] = self.source  # exactly, whatever the batch's rounding
            yield from made
            batch.clear()

        for frame in self.driving.frames():
            batch.append(frame)
            if len(batch) == fr.BATCH:
                yield from flush()
        if batch:
            yield from flush()

    def sound(self) -> Sound | None:
        """The driving video's first audio stream, coded for the output (None without one);
        coded once, on first use."""
        return self._coded_sound

    @cached_property
    def _coded_sound(self) -> Sound | None:
        path = self.driving.path
        if not self._sound or path is None:
            return None
        track = encode_audio(path, self.driving.info.start, OUTPUT_SOUND)
        if track is None:
            return None
        chunks = [chunk for _, chunk in track.chunks]
        return Sound(track.header.channels, extradata(track.header), track.header.start,
                     lambda: timed_packets(track.header, chunks))

    def save(self, target: str | Path, force: bool = False, progress=None) -> Path:
        """Writes the animation (and the driving video's sound) like `imfcodec decode`."""
        return save_video(target, self, self.fps, self.size, self.sound(), force, progress)


class _Square:
    """The model's own square picture, as FullSize's interface needs it (no region)."""

    def __init__(self, model: MotionModel) -> None:
        self.model = model
        self.layout = Layout.square(model.image_size)

    def view(self, picture: np.ndarray) -> np.ndarray:
        return picture

    def reference(self, picture: np.ndarray):
        return self.model.reference(picture)

    def synthesise(self, reference, tokens: np.ndarray) -> np.ndarray:
        return self.model.synthesise(reference, tokens)


def _place(layout: Layout) -> float | None:
    """Where a region lies along its picture's longer side, 0 (left or top) to 1 (right or
    bottom); None for a square."""
    x, y, side = layout.region
    slack = max(layout.width, layout.height) - side
    return None if slack == 0 else (x if layout.width > layout.height else y) / slack


def _picture(model: MotionModel, source: str | Path | np.ndarray, fit: str, size: str | None,
             where: float | None) -> tuple[np.ndarray, "FullSize | _Square"]:
    """The source picture at its output size and how the model sees it: its own size (up to
    1920x1080; layout.plan, as encodes plan it), its region at ``where`` along the longer
    side (the driving video's place; the centre when None)."""
    square = model.image_size
    if isinstance(source, np.ndarray):
        if source.ndim != 3 or source.shape[2] != 3 or source.dtype != np.uint8:
            raise InputError(f"the source picture must be (H, W, 3) uint8, not {source.shape} "
                             f"{source.dtype}")
        height, width = source.shape[:2]
        planned = plan(width, height, square, size)
        read = planned.read if not isinstance(planned.read, int) else (planned.read, planned.read)
        picture = source
        if (width, height) != read:
            if width == height or not isinstance(planned.read, int):
                picture = cv2.resize(source, read, interpolation=cv2.INTER_AREA)
            else:  # a square from a wider picture: cropped or padded by fit
                picture = _squared(source, planned.read, fit)
    else:
        picture = still(path=source, size=square, fit=fit, own=True, box=size)
    height, width = picture.shape[:2]
    if width == height == square:
        return picture, _Square(model)
    side = min(width, height)
    slack = max(width, height) - side
    offset = round(slack / 2 if where is None else where * slack)
    region = (offset, 0, side) if width > height else (0, offset, side)
    return picture, FullSize(model, Layout(width, height, region))


def _squared(picture: np.ndarray, side: int, fit: str) -> np.ndarray:
    """A picture cropped (its centre square) or padded (black) to a square, at ``side``."""
    height, width = picture.shape[:2]
    if fit == "pad":
        longer = max(width, height)
        square = np.zeros((longer, longer, 3), np.uint8)
        top, left = (longer - height) // 2, (longer - width) // 2
        square[top : top + height, left : left + width] = picture
    else:
        shorter = min(width, height)
        top, left = (height - shorter) // 2, (width - shorter) // 2
        square = picture[top : top + shorter, left : left + shorter]
    shrink = cv2.INTER_AREA if square.shape[0] > side else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(square), (side, side), interpolation=shrink)


def _at_picture(matrix: np.ndarray, picture: "FullSize | _Square") -> np.ndarray:
    """A working-square similarity (2x3, driving point -> source point) at the picture's size
    around its region: P = R + k p takes the square's points to the picture's."""
    x, y, side = picture.layout.region
    k = side / picture.model.image_size
    s, tx, ty = matrix[0, 0], matrix[0, 2], matrix[1, 2]
    return np.array([[s, 0.0, (1 - s) * x + k * tx], [0.0, s, (1 - s) * y + k * ty]], np.float64)


def still(path: str | Path, size: int, fit: str, own: bool = False, box: str | None = None) -> np.ndarray:
    """A picture file, or a video's first frame, at ``size`` x ``size``; with ``own``, at its
    own size (up to 1920x1080, or fitted into ``box``, 'WxH', as encodes plan it)."""
    try:
        opened = Source.open(path, size, fit)
        if own:
            planned = plan(opened.info.width, opened.info.height, size, box)
            opened = opened.fitted(planned.read, fit)
        frame = next(iter(opened.frames()), None)
    except InputError as exc:
        raise InputError(str(exc).replace("has no video stream", "holds no readable image")) from None
    if frame is None:
        raise InputError(f"{path}: holds no readable image")
    return frame
