"""The motion-model interface: what the codec asks of any model that turns frames into tokens
against a decoded key frame, and tokens back into frames.

The codec drives every model the same way (imfcodec/encoder.py, imfcodec/decoder.py):

- ``reference(picture)``: the decoded key frame, prepared once for the frames rebuilt from it;
- ``analyse(frames, reference)``: source frames -> continuous tokens (B, token_dim);
- ``synthesise(reference, tokens)``: dequantised tokens (B, token_dim) -> frames (B, H, W, 3);
- ``refine(...)``: optionally, the encoder fits tokens to frames through ``synthesise``.

Tokens are quantised on the grid ``step * token_scale`` and entropy coded by the codec, never
by the model, so everything the entropy decoder sees is an integer whatever the model does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..entropy.quantize import unit


@dataclass(frozen=True)
class Description:
    """What a model is, as the file header and the console name it."""

    name: str  # stable name, written into every .imf header
    kind: str  # the registry key of its implementation (motion/__init__.py)
    token_dim: int  # numbers per token (0: the model sends no motion)
    image_size: int  # frames are image_size x image_size
    parameters: int = 0  # learned parameters (0 for closed-form models)


class MotionModel(ABC):
    """One motion model, loaded and ready (on its device)."""

    #: True when ``analyse`` looks at the reference: the encoder then cannot reuse a frame's
    #: token across references (its token cache is keyed by frame alone).
    analysis_uses_reference = False
    #: How many numbers at the end of a token depend on the key frame's picture even where
    #: analysis_uses_reference is False (analyse_reference): a full-size picture's global motion.
    reference_dims = 0
    #: True for models built into imfcodec (no weights file; ``cls()`` makes one).
    built_in = False
    #: True when the model can blend a second key frame into a frame (``blend_pictures``).
    blends = False

    def __init__(self, description: Description, digest: bytes, token_scale: np.ndarray) -> None:
        if len(digest) != 16 or len(token_scale) != description.token_dim:
            raise ValueError("a model's digest is 16 bytes and its token scale token_dim numbers")
        self.description = description
        self.digest = digest  # names the exact model in the header; decoders check it
        self.token_scale = np.asarray(token_scale, dtype=np.float32)  # the quantiser's unit

    @property
    def name(self) -> str:
        return self.description.name

    def analyse_reference(self, frames: list[np.ndarray], reference: Any) -> np.ndarray:
        """The last ``reference_dims`` numbers of the frames' tokens, which depend on the key
        frame's picture even where the rest does not (``analyse`` gives them too): (B, 0) for
        a model without such numbers."""
        return np.zeros((len(frames), 0), np.float32)

    def grid(self, step: float) -> np.ndarray:
        """The quantiser's unit of each token number at the header's token ``step``."""
        return unit(step, self.token_scale)

    @property
    def token_dim(self) -> int:
        return self.description.token_dim

    @property
    def image_size(self) -> int:
        return self.description.image_size

    @abstractmethod
    def reference(self, picture: np.ndarray) -> Any:
        """The decoded key frame (H, W, 3 uint8), prepared once for every frame rebuilt from it."""

    @abstractmethod
    def analyse(self, frames: list[np.ndarray], reference: Any) -> np.ndarray:
        """Source frames (H, W, 3 uint8) -> (B, token_dim) float32 tokens."""

    @abstractmethod
    def synthesise(self, reference: Any, tokens: np.ndarray) -> np.ndarray:
        """Dequantised (B, token_dim) float32 tokens -> (B, H, W, 3) uint8 frames."""

    def preview(self, reference: Any, tokens: np.ndarray) -> np.ndarray:
        """A cheaper likeness of ``synthesise``'s frames, for encoder decisions that compare
        tokens' pictures (LiveSettings.interpolate's), compared with ``previewed`` source
        frames; by default the frames themselves."""
        return self.synthesise(reference, tokens)

    def previewed(self, frame: np.ndarray) -> np.ndarray:
        """A source frame as ``preview``'s pictures show it (by default itself)."""
        return frame

    def blend_pictures(self, reference: Any, partner: Any, tokens: np.ndarray) -> tuple[Any, Any]:
        """Dequantised tokens against ``reference`` -> the frames rebuilt from it and from the
        key frame ``partner`` (both prepared), as ``mix`` takes them (models that blend)."""
        raise NotImplementedError(f"model {self.name} does not blend key frames")

    def mix(self, own: Any, theirs: Any, shares: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 frames: each ``own`` frame with share index ``shares[i]`` (of
        entropy.coder.SHARES) of ``theirs``; index 0 gives ``own`` exactly."""
        raise NotImplementedError(f"model {self.name} does not blend key frames")

    def best_shares(self, own: Any, theirs: Any, frames: list[np.ndarray]) -> np.ndarray:
        """For each of ``frames`` the share index whose ``mix`` of ``own`` and ``theirs`` is
        nearest to it in squared error (models that blend)."""
        raise NotImplementedError(f"model {self.name} does not blend key frames")

    def synthesise_blend(self, reference: Any, partner: Any, tokens: np.ndarray,
                         shares: np.ndarray) -> np.ndarray:
        """``synthesise`` with a share of the key frame ``partner`` blended into each frame."""
        own, theirs = self.blend_pictures(reference, partner, tokens)
        return self.mix(own, theirs, shares)

    def working_layers(self, reference: Any, tokens: np.ndarray
                       ) -> tuple[np.ndarray | None, np.ndarray]:
        """What a full-size output (motion/fullsize.py) takes from the model at its working
        size: the dense flow of each frame, (B, 2, S, S) float32 in pixels (None for a model
        that moves no pixels explicitly), and what to add to the key frame warped by it,
        (B, S, S, 3) float32 in 0..255 units (with no flow: the whole frame)."""
        return None, self.synthesise(reference, tokens).astype(np.float32)

    def refine(self, reference: Any, frames: list[np.ndarray], tokens: np.ndarray, steps: int,
               grid: np.ndarray, previous: np.ndarray | None, rate_weight: float) -> np.ndarray:
        """Tokens fitted to ``frames`` through ``synthesise`` with ``steps`` steps, starting at
        ``tokens``; ``grid``: the quantiser's unit (D,); ``previous``: the dequantised token
        sent before the batch (None right after a key frame); ``rate_weight``: error per bit.
        A model that cannot be fitted returns its tokens unchanged."""
        return tokens
