"""A motion model at the output's own size: the model works on the layout's square region
seen at its working size, and its motion is applied to the whole full-size key frame.

- analyse / refine: the frames' region, resized to the working size, through the model;
- synthesise: the model's dense flow in the region (working pixels) is scaled up to the
  region's size and the full-size decoded key frame is warped by it (OpenCV's remap,
  bilinear), so the picture keeps the key frame's sharpness; the change the model's
  correction network makes at the working size is scaled up and added on top (a low-pass
  correction cannot blur the sharp warp). Outside the region the key frame stays still;
  at the region's inner edges the motion fades out over a margin, so no seam shows. A model
  without an explicit flow (imf-small) adds its frame's difference from the key frame's
  working view, scaled up, to the full-size key frame, faded at the same margins.

With the picture's global motion (format 8.0, motion/camera.py), every token carries 8 more
numbers, the corners' displacement, and the whole key frame is first moved by that
homography: outside the region the frame is the moved key frame, and at the region's inner
edges the model's motion fades into it instead of into a still picture.

Both the encoder and the decoder go through this class, so the encoder's rebuilt frames are
the decoder's output bit for bit. Blending a second key frame is not offered at full size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..layout import Layout
from . import camera
from .base import Description, MotionModel

# The share of the region's side over which the motion fades out at an inner edge.
MARGIN = 1 / 8


@dataclass
class FullReference:
    """A full-size decoded key frame and the model's reference of its working view."""

    picture: np.ndarray  # (H, W, 3) uint8
    inner: Any


def _ramp(length: int, fade: int, start: bool, end: bool) -> np.ndarray:
    """1 inside, falling linearly to 0 over ``fade`` samples at the ends that are marked."""
    ramp = np.ones(length, np.float32)
    steps = (np.arange(fade, dtype=np.float32) + 0.5) / fade
    if start:
        ramp[:fade] = np.minimum(ramp[:fade], steps)
    if end:
        ramp[length - fade:] = np.minimum(ramp[length - fade:], steps[::-1])
    return ramp


class FullSize(MotionModel):
    """``model`` applied to pictures of ``layout``'s size through its region."""

    blends = False

    def __init__(self, model: MotionModel, layout: Layout, global_motion: bool = False) -> None:
        d = model.description
        # the picture's global motion: camera.DIMS more numbers per token, after the model's
        self.extra = camera.DIMS if global_motion else 0
        super().__init__(Description(d.name, d.kind, d.token_dim + self.extra, d.image_size,
                                     d.parameters),
                         model.digest, np.concatenate([model.token_scale,
                                                       np.ones(self.extra, np.float32)]))
        self.model, self.layout = model, layout
        self.analysis_uses_reference = model.analysis_uses_reference
        self.reference_dims = self.extra
        x, y, side = layout.region
        size = model.image_size
        # the fade at the working size, 1 in the region's interior, 0 at its inner edges
        # (the layers are faded before they are scaled up: cheaper, and as smooth)
        fade = max(1, round(size * MARGIN))
        rows = _ramp(size, fade, y > 0, y + side < layout.height)
        cols = _ramp(size, fade, x > 0, x + side < layout.width)
        self.window = (rows[:, None] * cols[None, :])[..., None]
        # each region pixel's own position in the picture, (side, side, 2) as (x, y)
        grid = np.meshgrid(np.arange(side, dtype=np.float32) + x, np.arange(side, dtype=np.float32) + y)
        self.base = np.ascontiguousarray(np.stack(grid, axis=-1))
        self._outside: np.ndarray | None = None  # 1 - the fade at the region's size (global motion)

    @classmethod
    def of(cls, model: MotionModel, layout: Layout, global_motion: bool = True) -> "FullSize":
        """``model`` at ``layout``'s picture, with the picture's global motion where enough of
        the picture lies outside the region (camera.useful) and ``global_motion`` allows it
        (a model that sends no motion, static, shows its key frame as it is)."""
        moves = global_motion and model.token_dim > 0
        return cls(model, layout,
                   moves and camera.useful(layout.width, layout.height, layout.region))

    @property
    def global_motion(self) -> bool:
        """Whether its tokens carry the picture's global motion (format 8.0)."""
        return self.extra > 0

    def grid(self, step: float) -> np.ndarray:
        """The model's quantiser unit, then 1 pixel for each number of the global motion."""
        return np.concatenate([self.model.grid(step), np.ones(self.extra, np.float32)])

    def _split(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tokens -> (the model's, the global motion's)."""
        inner = self.model.token_dim
        return tokens[:, :inner], tokens[:, inner:]

    def view(self, picture: np.ndarray) -> np.ndarray:
        """A full-size picture's region at the model's working size."""
        x, y, side = self.layout.region
        crop = picture[y : y + side, x : x + side]
        size = self.image_size
        if side == size:
            return np.ascontiguousarray(crop)
        shrink = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR  # (a small picture: enlarged)
        return cv2.resize(crop, (size, size), interpolation=shrink)

    def reference(self, picture: np.ndarray) -> FullReference:
        return FullReference(picture, self.model.reference(self.view(picture)))

    def analyse(self, frames: list[np.ndarray], reference: FullReference | None) -> np.ndarray:
        inner = None if reference is None else reference.inner
        tokens = self.model.analyse([self.view(f) for f in frames], inner)
        if not self.extra:
            return tokens
        moved = self.analyse_reference(frames, reference)
        return np.concatenate([np.asarray(tokens, np.float32).reshape(len(frames), -1), moved], 1)

    def analyse_reference(self, frames: list[np.ndarray], reference: FullReference | None) -> np.ndarray:
        """The global motion of each frame to the key frame (camera.estimate)."""
        if not self.extra or reference is None:
            return np.zeros((len(frames), self.extra), np.float32)
        return camera.estimate(reference.picture, frames, self.layout.region)

    def refine(self, reference: FullReference, frames: list[np.ndarray], tokens: np.ndarray,
               steps: int, grid: np.ndarray, previous: np.ndarray | None,
               rate_weight: float) -> np.ndarray:
        """The model's numbers fitted in its region; the global motion's kept as they are."""
        inner = self.model.token_dim
        own, moved = self._split(tokens)
        fitted = self.model.refine(reference.inner, [self.view(f) for f in frames], own, steps,
                                   grid[:inner], None if previous is None else previous[:inner],
                                   rate_weight)
        return np.concatenate([fitted, moved], 1) if self.extra else fitted

    def preview(self, reference: FullReference, tokens: np.ndarray) -> np.ndarray:
        """The model's preview of the region at its working size (the global motion left
        out): at 1280x720 a full rebuild took 25 ms a frame on 2 cores, and a live stream
        previews two a frame."""
        return self.model.preview(reference.inner, self._split(tokens)[0])

    def previewed(self, frame: np.ndarray) -> np.ndarray:
        return self.view(frame)

    def synthesise(self, reference: FullReference, tokens: np.ndarray) -> np.ndarray:
        own, moved = self._split(tokens)
        flows, changes = self.model.working_layers(reference.inner, own)
        matrices = [None] * len(changes)
        if self.extra:
            width, height = self.layout.width, self.layout.height
            matrices = [camera.homography(width, height, m) for m in moved]
        return np.stack([self._frame(reference.picture, None if flows is None else flows[i],
                                     changes[i], matrices[i]) for i in range(len(changes))])

    def _up(self, layer: np.ndarray) -> np.ndarray:
        """A working-size (S, S, C) layer at the region's size."""
        side = self.layout.region[2]
        if layer.shape[0] == side:
            return layer
        return cv2.resize(layer, (side, side), interpolation=cv2.INTER_LINEAR)

    def _frame(self, picture: np.ndarray, flow: np.ndarray | None, change: np.ndarray,
               matrix: np.ndarray | None = None) -> np.ndarray:
        """One full-size frame: the key frame (moved by the global motion's ``matrix``, if
        any), its region warped by ``flow`` ((2, S, S) in working pixels) plus ``change``
        ((S, S, 3), 0..255 units), faded at the inner edges."""
        x, y, side = self.layout.region
        if matrix is None:
            out = picture.copy()
        else:
            out = cv2.warpPerspective(picture, matrix, (self.layout.width, self.layout.height),
                                      flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                      borderMode=cv2.BORDER_REPLICATE)
        region = out[y : y + side, x : x + side]
        if flow is None:  # the model's picture: its difference from the key frame's view, added
            difference = (change - self.view(picture).astype(np.float32)) * self.window
            region[...] = cv2.add(region, self._up(difference), dtype=cv2.CV_8U)
            return out
        scale = side / self.image_size
        moved = self._up(np.ascontiguousarray(flow.transpose(1, 2, 0)) * (self.window * scale))
        where = self.base + moved
        if matrix is not None:  # the model's motion fades into the global one, not to stillness
            if self._outside is None:
                outside = 1 - self._up(self.window)
                self._outside = outside[..., None] if outside.ndim == 2 else outside
            where += self._outside * (camera.positions(matrix, self.base) - self.base)
        warped = cv2.remap(picture, where, None, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        # the key frame warped, plus the correction (rounded and saturated to 0..255)
        region[...] = cv2.add(warped, self._up(change * self.window), dtype=cv2.CV_8U)
        return out
