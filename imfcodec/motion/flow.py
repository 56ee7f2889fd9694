"""The "flow" motion model: a token is a point in a motion dictionary (dictionary.py), and a
frame is its key frame warped by the token's flow (flowfield.py).

- analyse: DIS flow from each frame to the decoded key frame, its block means on the grid,
  projected onto the dictionary (least squares);
- synthesise: the grid flow rebuilt from the dequantised coefficients, upsampled (bicubic),
  and the decoded key frame warped by it (bilinear ``grid_sample``);
- refine: the coefficients fitted through that warp to the frame (refine.py), so the encoder
  sends what rebuilds the frame best, not merely the flow's projection.

Weights: a safetensors file (kind ``flow``) with the dictionary's tensors and its config.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..errors import ModelError
from ..frames import to_images, to_tensor
from ..models import weights
from ..refine import refine_tokens
from . import flowfield
from .base import Description, MotionModel
from .dictionary import MotionDictionary

KIND = "flow"
# Refinement's Adam step, in coefficient units (pixels RMS over the grid).
LEARNING_RATE = 0.3


@dataclass(frozen=True)
class FlowConfig:
    image_size: int = 256
    grid: int = 32
    directions: int = 32
    token_scale: float = 0.5  # the quantiser's unit at token step 1, in pixels RMS
    preset: str = "medium"  # DIS preset of the encoder's analysis (the decoder never runs DIS)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, values: dict) -> "FlowConfig":
        config = cls(**values)
        if config.preset not in flowfield.PRESETS or config.image_size % config.grid:
            raise ValueError(f"unusable flow config {values}")
        return config


@dataclass
class FlowReference:
    """A decoded key frame as the flow model uses it."""

    picture: torch.Tensor  # (1, 3, H, W) in [0, 1]
    luma: np.ndarray  # (H, W) uint8, DIS's input


class FlowMotion(MotionModel):
    analysis_uses_reference = True

    def __init__(self, dictionary: MotionDictionary, config: FlowConfig, name: str,
                 digest: bytes, device: str = "cpu") -> None:
        super().__init__(Description(name, KIND, dictionary.size, config.image_size),
                         digest, np.full(dictionary.size, config.token_scale, np.float32))
        self.dictionary, self.config = dictionary, config
        self.device = torch.device(device)

    @classmethod
    def from_weights(cls, data: bytes, where: str, device: str = "cpu") -> "FlowMotion":
        metadata = weights.check_safetensors(data, where)
        try:
            config = FlowConfig.from_dict(json.loads(metadata["config"]))
            tensors = {k: v.float().numpy() for k, v in st_load(data).items()}
            dims = 2 * config.grid * config.grid
            dictionary = MotionDictionary(tensors["mean"], tensors["basis"], config.grid,
                                          tensors["variance"])
            if dictionary.mean.shape != (dims,) or dictionary.basis.shape != (config.directions, dims):
                raise ValueError("dictionary shapes do not fit the config")
        except (KeyError, ValueError, TypeError, SafetensorError) as exc:
            raise ModelError(f"{where}: corrupt flow model ({exc})") from None
        if not all(np.isfinite(v).all() for v in tensors.values()):
            raise ModelError(f"{where}: the weights hold NaN or infinite values")
        digest = hashlib.sha256(data).digest()[:16]
        return cls(dictionary, config, metadata.get("name", "flow"), digest, device)

    def reference(self, picture: np.ndarray) -> FlowReference:
        return FlowReference(to_tensor([picture], self.device), flowfield.gray(picture))

    def analyse(self, frames: list[np.ndarray], reference: FlowReference) -> np.ndarray:
        dense = flowfield.estimate(frames, reference.luma, self.config.preset)
        return self.dictionary.project(flowfield.to_grid(dense, self.config.grid))

    def render(self, reference: FlowReference, tokens: torch.Tensor) -> torch.Tensor:
        """(B, K) coefficients -> (B, 3, H, W) frames in [0, 1] (differentiable)."""
        coarse = self.dictionary.rebuild(tokens)
        return flowfield.warp(reference.picture, flowfield.upsample(coarse, self.image_size))

    def synthesise(self, reference: FlowReference, tokens: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return to_images(self.render(reference, torch.from_numpy(tokens).to(self.device)))

    def refine(self, reference: FlowReference, frames: list[np.ndarray], tokens: np.ndarray,
               steps: int, grid: np.ndarray, previous: np.ndarray | None,
               rate_weight: float) -> np.ndarray:
        before = None if previous is None else torch.from_numpy(previous).to(self.device)
        refined = refine_tokens(lambda t: self.render(reference, t), to_tensor(frames, self.device),
                                torch.from_numpy(tokens).to(self.device), steps,
                                lr=LEARNING_RATE, unit=torch.from_numpy(grid).to(self.device),
                                previous=before, rate_weight=rate_weight)
        return refined.cpu().numpy()


def serialize(dictionary: MotionDictionary, config: FlowConfig, name: str,
              extra: dict | None = None) -> bytes:
    """The bytes of a flow model's weights file (float32 tensors, config in the metadata)."""
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
               for k, v in (("mean", dictionary.mean), ("basis", dictionary.basis),
                            ("variance", dictionary.variance))}
    metadata = {weights.FORMAT_KEY: weights.FORMAT_VALUE, "imfcodec.kind": KIND, "name": name,
                "config": json.dumps(config.to_dict(), sort_keys=True)}
    for key, value in (extra or {}).items():
        metadata[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return weights.canonical(st_save(tensors, metadata=metadata))
