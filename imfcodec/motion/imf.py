"""The IMF network (imfcodec/models/) as a motion model: the token encoder analyses, the token
decoder, alignment and frame decoder synthesise, and tokens can be refined through them."""

from __future__ import annotations

import numpy as np
import torch

from ..frames import device_of, to_images, to_tensor
from ..models.imf import IMF, Reference, count_parameters
from ..models import weights
from ..refine import refine_tokens
from .base import Description, MotionModel

KIND = "imf"


class IMFMotion(MotionModel):
    def __init__(self, network: IMF, name: str, digest: bytes, metadata: dict | None = None) -> None:
        cfg = network.cfg
        super().__init__(Description(name, KIND, cfg.token_dim, cfg.image_size,
                                     count_parameters(network)),
                         digest, network.token_scale.detach().cpu().numpy())
        self.network = network
        self.metadata = metadata or {}
        self.device = device_of(network)

    @classmethod
    def from_weights(cls, data: bytes, where: str, device: str = "cpu") -> "IMFMotion":
        loaded = weights.load_bytes(data, where, device)
        return cls(loaded.model, loaded.name, loaded.digest, loaded.metadata)

    def reference(self, picture: np.ndarray) -> Reference:
        # no_grad, not inference_mode: refinement differentiates through the reference
        with torch.no_grad():
            return self.network.reference(to_tensor([picture], self.device))

    def analyse(self, frames: list[np.ndarray], reference: Reference | None) -> np.ndarray:
        with torch.inference_mode():
            tokens = self.network.encode_token(to_tensor(frames, self.device))
        return tokens.float().cpu().numpy()

    def synthesise(self, reference: Reference, tokens: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return to_images(self.network.decode(torch.from_numpy(tokens).to(self.device), reference))

    def refine(self, reference: Reference, frames: list[np.ndarray], tokens: np.ndarray, steps: int,
               grid: np.ndarray, previous: np.ndarray | None, rate_weight: float) -> np.ndarray:
        before = None if previous is None else torch.from_numpy(previous).to(self.device)
        refined = refine_tokens(lambda t: self.network.decode(t, reference),
                                to_tensor(frames, self.device), torch.from_numpy(tokens).to(self.device),
                                steps, unit=torch.from_numpy(grid).to(self.device), previous=before,
                                rate_weight=rate_weight)
        return refined.cpu().numpy()
