"""The "static" motion model: no tokens at all; every frame shows its key frame.

It is the floor every motion model must beat (`imfcodec bench --codecs static`): what the key
frames alone are worth at each quality level. It needs no weights.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .base import Description, MotionModel

NAME = "static"


class StaticMotion(MotionModel):
    built_in = True

    def __init__(self, device: str = "cpu", image_size: int = 256) -> None:
        digest = hashlib.sha256(f"imfcodec built-in model {NAME} {image_size}".encode()).digest()[:16]
        super().__init__(Description(NAME, NAME, 0, image_size), digest, np.zeros(0, np.float32))

    def reference(self, picture: np.ndarray) -> np.ndarray:
        return picture

    def analyse(self, frames: list[np.ndarray], reference) -> np.ndarray:
        return np.zeros((len(frames), 0), np.float32)

    def working_layers(self, reference: np.ndarray, tokens: np.ndarray):
        """No motion and no change: a full-size output shows its key frame."""
        side = reference.shape[0]
        return (np.zeros((len(tokens), 2, side, side), np.float32),
                np.zeros((len(tokens), side, side, 3), np.float32))

    def synthesise(self, reference: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        return np.repeat(reference[None], len(tokens), axis=0)
