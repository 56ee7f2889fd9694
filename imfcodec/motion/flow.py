"""The "flow" motion model: a token is a point in a motion dictionary (dictionary.py), and a
frame is its key frame warped by the token's flow (flowfield.py).

- analyse: DIS flow from each frame to the decoded key frame, its block means on the grid,
  projected onto the dictionary (least squares);
- synthesise: the grid flow rebuilt from the dequantised coefficients, upsampled (bicubic),
  and the decoded key frame warped by it (bilinear ``grid_sample``); a model with a
  correction network (models/warp_refiner.py) then corrects the warped frame;
- refine: the coefficients fitted through that warp to the frame (refine.py), so the encoder
  sends what rebuilds the frame best, not merely the flow's projection.

Weights: a safetensors file (kind ``flow``) with the dictionary's tensors, the correction
network's (``refiner.*``, when it has one) and the config.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..entropy.coder import SHARES
from ..errors import ModelError
from ..frames import to_images, to_tensor
from ..models import weights
from ..models.warp_refiner import RefinerConfig, WarpRefiner
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
    directions: int = 64
    token_scale: float = 1.0  # the quantiser's unit at token step 1, in pixels RMS
    preset: str = "medium"  # DIS preset of the encoder's analysis (the decoder never runs DIS)
    refiner: RefinerConfig | None = None  # the correction network's shape (None: no network)

    def __post_init__(self) -> None:
        if self.preset not in flowfield.PRESETS:
            raise ValueError(f"unknown DIS preset {self.preset!r}")
        if self.image_size % self.grid:
            raise ValueError(f"a {self.grid}x{self.grid} grid does not divide the image size {self.image_size}")

    def to_dict(self) -> dict:
        values = dict(self.__dict__)
        values["refiner"] = self.refiner.to_dict() if self.refiner else None
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "FlowConfig":
        values = dict(values)
        refiner = values.pop("refiner", None)
        return cls(**values, refiner=RefinerConfig(**refiner) if refiner else None)


@dataclass
class FlowReference:
    """A decoded key frame as the flow model uses it."""

    picture: torch.Tensor  # (1, 3, H, W) in [0, 1]
    luma: np.ndarray  # (H, W) uint8, DIS's input
    digest: bytes = b""  # of the luma: names the picture in ``between``
    # flows of this key frame into others (digest -> (1, 2, H, W)), computed once a pair
    between: dict = field(default_factory=dict, repr=False)


class FlowMotion(MotionModel):
    analysis_uses_reference = True
    blends = True

    def __init__(self, dictionary: MotionDictionary, config: FlowConfig, name: str,
                 digest: bytes, device: str = "cpu", refiner: WarpRefiner | None = None,
                 metadata: dict | None = None) -> None:
        parameters = sum(p.numel() for p in refiner.parameters()) if refiner else 0
        super().__init__(Description(name, KIND, dictionary.size, config.image_size, parameters),
                         digest, np.full(dictionary.size, config.token_scale, np.float32))
        self.dictionary, self.config = dictionary, config
        self.metadata = metadata or {}  # the weights file's metadata (how it was made)
        self.device = torch.device(device)
        self.refiner = refiner.eval().to(self.device) if refiner else None
        for p in (refiner.parameters() if refiner else ()):
            p.requires_grad_(False)  # refinement differentiates through it, never into it

    @classmethod
    def from_weights(cls, data: bytes, where: str, device: str = "cpu") -> "FlowMotion":
        metadata = weights.check_safetensors(data, where)
        try:
            config = FlowConfig.from_dict(json.loads(metadata["config"]))
            tensors = {k: v.float() for k, v in st_load(data).items()}
            dims = 2 * config.grid * config.grid
            dictionary = MotionDictionary(*(tensors[k].numpy() for k in ("mean", "basis")),
                                          config.grid, tensors["variance"].numpy())
            if dictionary.mean.shape != (dims,) or dictionary.basis.shape != (config.directions, dims):
                raise ValueError("dictionary shapes do not fit the config")
            refiner = _refiner(config, tensors)
        except (KeyError, ValueError, TypeError, RuntimeError, SafetensorError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelError(f"{where}: corrupt flow model ({first})") from None
        if not all(bool(torch.isfinite(v).all()) for v in tensors.values()):
            raise ModelError(f"{where}: the weights hold NaN or infinite values")
        return cls(dictionary, config, metadata.get("name", "flow"), weights.digest(data), device,
                   refiner, metadata)

    def reference(self, picture: np.ndarray) -> FlowReference:
        luma = flowfield.gray(picture)
        return FlowReference(to_tensor([picture], self.device), luma, hashlib.sha1(luma).digest())

    def analyse(self, frames: list[np.ndarray], reference: FlowReference) -> np.ndarray:
        dense = flowfield.estimate(frames, reference.luma, self.config.preset)
        return self.dictionary.project(flowfield.to_grid(dense, self.config.grid))

    def warp(self, pictures: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(1 or B, 3, H, W) key frames warped by (B, K) coefficients -> (dense flow (B, 2, H, W),
        warped frames (B, 3, H, W)), before the correction network (differentiable)."""
        dense = flowfield.upsample(self.dictionary.rebuild(tokens), self.image_size)
        return dense, flowfield.warp(pictures, dense)

    def render(self, reference: FlowReference, tokens: torch.Tensor) -> torch.Tensor:
        """(B, K) coefficients -> (B, 3, H, W) frames (differentiable; the network's output is
        not clamped)."""
        dense, warped = self.warp(reference.picture, tokens)
        return self._corrected(warped, reference.picture, dense)

    def _corrected(self, warped: torch.Tensor, picture: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        """A key frame warped by a dense flow, through the correction network when there is one."""
        return warped if self.refiner is None else self.refiner(warped, picture, dense)

    def _between(self, reference: FlowReference, partner: FlowReference) -> torch.Tensor:
        """The flow of the reference's picture into the partner's (DIS on the decoded key
        frames, which encoder and decoder both hold), cached on the reference."""
        if partner.digest not in reference.between:
            flow = flowfield.between(reference.luma, partner.luma, self.config.preset)
            reference.between[partner.digest] = torch.from_numpy(flow).to(self.device)
        return reference.between[partner.digest]

    def blend_pictures(self, reference: FlowReference, partner: FlowReference,
                       tokens: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The frames rebuilt from the reference, and from the partner through the tokens'
        flow composed with the flow between the two key frames (no second token), both
        through the correction network: (B, 3, H, W) each."""
        with torch.inference_mode():
            dense, warped = self.warp(reference.picture, torch.from_numpy(tokens).to(self.device))
            composed = flowfield.compose(dense, self._between(reference, partner))
            return (self._corrected(warped, reference.picture, dense),
                    self._corrected(flowfield.warp(partner.picture, composed), partner.picture, composed))

    def mix(self, own: torch.Tensor, theirs: torch.Tensor, shares: np.ndarray) -> np.ndarray:
        weight = torch.tensor([SHARES[int(i)] for i in shares], dtype=own.dtype,
                              device=own.device).view(-1, 1, 1, 1)
        return to_images(_blended(own, theirs, weight))

    def best_shares(self, own: torch.Tensor, theirs: torch.Tensor,
                    frames: list[np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            sources = to_tensor(frames, self.device)
            return np.array([int(np.argmin([float((_blended(mine, other, w).clamp(0, 1) - source)
                                                  .square().mean()) for w in SHARES]))
                             for mine, other, source in zip(own, theirs, sources)])

    def synthesise(self, reference: FlowReference, tokens: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return to_images(self.render(reference, torch.from_numpy(tokens).to(self.device)))

    def preview(self, reference: FlowReference, tokens: np.ndarray) -> np.ndarray:
        """The key frame warped by the tokens' flow, without the correction network (a sixth
        of the time): whether a frame's midpoint token rebuilds it within 5 % of its own
        token's squared error agrees with synthesise's answer on 97 % of frames (435 frames
        of 3 train/ clips, quality 3; docs/live.md)."""
        with torch.inference_mode():
            return to_images(self.warp(reference.picture, torch.from_numpy(tokens).to(self.device))[1])

    def working_layers(self, reference: FlowReference, tokens: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        """The dense flow, and the correction network's change to the warped key frame."""
        with torch.inference_mode():
            dense, warped = self.warp(reference.picture, torch.from_numpy(tokens).to(self.device))
            change = self._corrected(warped, reference.picture, dense) - warped
            return (dense.cpu().numpy(),
                    (change * 255).permute(0, 2, 3, 1).contiguous().cpu().numpy())

    def refine(self, reference: FlowReference, frames: list[np.ndarray], tokens: np.ndarray,
               steps: int, grid: np.ndarray, previous: np.ndarray | None,
               rate_weight: float) -> np.ndarray:
        before = None if previous is None else torch.from_numpy(previous).to(self.device)
        refined = refine_tokens(lambda t: self.render(reference, t), to_tensor(frames, self.device),
                                torch.from_numpy(tokens).to(self.device), steps,
                                lr=LEARNING_RATE, unit=torch.from_numpy(grid).to(self.device),
                                previous=before, rate_weight=rate_weight)
        return refined.cpu().numpy()


def _blended(own: torch.Tensor, theirs: torch.Tensor, weight) -> torch.Tensor:
    """``own`` with the share ``weight`` (a number, or one a frame) of ``theirs``."""
    return own * (1 - weight) + theirs * weight


def _refiner(config: FlowConfig, tensors: dict) -> WarpRefiner | None:
    if config.refiner is None:
        return None
    network = WarpRefiner(config.refiner)
    prefix = "refiner."
    network.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)},
                            strict=True)
    return network


def serialize(dictionary: MotionDictionary, config: FlowConfig, name: str,
              extra: dict | None = None, refiner: WarpRefiner | None = None) -> bytes:
    """The bytes of a flow model's weights file (float32 tensors, config in the metadata)."""
    if (refiner is None) != (config.refiner is None):
        raise ValueError("a refiner's weights go with its config, and only with it")
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
               for k, v in (("mean", dictionary.mean), ("basis", dictionary.basis),
                            ("variance", dictionary.variance))}
    for key, value in (refiner.state_dict().items() if refiner else ()):
        tensors[f"refiner.{key}"] = value.detach().cpu().float().contiguous()
    metadata = weights.metadata(name, config.to_dict(), {weights.KIND_KEY: KIND, **(extra or {})})
    return weights.canonical(st_save(tensors, metadata=metadata))
