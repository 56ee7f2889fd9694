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

Both the encoder and the decoder go through this class, so the encoder's rebuilt frames are
the decoder's output bit for bit. Blending a second key frame is not offered at full size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..layout import Layout
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

    def __init__(self, model: MotionModel, layout: Layout) -> None:
        d = model.description
        super().__init__(Description(d.name, d.kind, d.token_dim, d.image_size, d.parameters),
                         model.digest, model.token_scale)
        self.model, self.layout = model, layout
        self.analysis_uses_reference = model.analysis_uses_reference
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
        return self.model.analyse([self.view(f) for f in frames], inner)

    def refine(self, reference: FullReference, frames: list[np.ndarray], tokens: np.ndarray,
               steps: int, grid: np.ndarray, previous: np.ndarray | None,
               rate_weight: float) -> np.ndarray:
        return self.model.refine(reference.inner, [self.view(f) for f in frames], tokens, steps,
                                 grid, previous, rate_weight)

    def synthesise(self, reference: FullReference, tokens: np.ndarray) -> np.ndarray:
        flows, changes = self.model.working_layers(reference.inner, tokens)
        return np.stack([self._frame(reference.picture, None if flows is None else flow, change)
                         for flow, change in zip(flows if flows is not None else changes, changes)])

    def _up(self, layer: np.ndarray) -> np.ndarray:
        """A working-size (S, S, C) layer at the region's size."""
        side = self.layout.region[2]
        if layer.shape[0] == side:
            return layer
        return cv2.resize(layer, (side, side), interpolation=cv2.INTER_LINEAR)

    def _frame(self, picture: np.ndarray, flow: np.ndarray | None, change: np.ndarray) -> np.ndarray:
        """One full-size frame: the key frame, its region warped by ``flow`` ((2, S, S) in
        working pixels) plus ``change`` ((S, S, 3), 0..255 units), faded at the inner edges."""
        x, y, side = self.layout.region
        out = picture.copy()
        region = out[y : y + side, x : x + side]
        if flow is None:  # the model's picture: its difference from the key frame's view, added
            difference = (change - self.view(picture).astype(np.float32)) * self.window
            region[...] = cv2.add(region, self._up(difference), dtype=cv2.CV_8U)
            return out
        scale = side / self.image_size
        moved = self._up(np.ascontiguousarray(flow.transpose(1, 2, 0)) * (self.window * scale))
        warped = cv2.remap(picture, self.base + moved, None, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        # the key frame warped, plus the correction (rounded and saturated to 0..255)
        region[...] = cv2.add(warped, self._up(change * self.window), dtype=cv2.CV_8U)
        return out
