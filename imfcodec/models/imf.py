"""The Implicit Motion Function: the five modules and the three ways to run them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from .alignment import MotionAlignment
from .config import IMFConfig
from .feature_encoder import FeatureEncoder
from .frame_decoder import FrameDecoder
from .token_decoder import TokenDecoder
from .token_encoder import TokenEncoder


@dataclass
class Reference:
    """Everything the decoder derives from one key frame, computed once and reused."""

    token: torch.Tensor  # (1, token_dim)
    attention: list  # per-scale cached keys and values


class IMF(nn.Module):
    """x_cur ~ D_F(IMF_A(IMF_D(t_cur), IMF_D(t_ref), E_F(x_ref))), t = E_T(x)."""

    def __init__(self, cfg: IMFConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.token_encoder = TokenEncoder(cfg)
        self.feature_encoder = FeatureEncoder(cfg)
        self.token_decoder = TokenDecoder(cfg)
        self.alignment = MotionAlignment(cfg)
        self.frame_decoder = FrameDecoder(cfg)
        # The quantiser's unit per token dimension (kept in the weights file so the grid is part
        # of the model). Training keeps it fixed at 1: the network learns how large its tokens
        # are against fixed-size quantisation noise and the rate term. An adaptive unit (a
        # running spread of the tokens) let the token grow away from its own noise, free of
        # cost because the modulated convs demodulate the style: the unit reached 4e16 in
        # 800 steps and every token residual rounded to zero.
        self.register_buffer("token_scale", torch.ones(cfg.token_dim))

    def encode_token(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, token_dim)."""
        return self.token_encoder(frames)

    def reference(self, key_frame: torch.Tensor) -> Reference:
        """Caches E_F(x_ref), t_ref and the reference motion features' keys: (B, 3, H, W)."""
        token = self.token_encoder(key_frame)
        motion = self.token_decoder(token)
        features = self.feature_encoder(key_frame)
        attention = self.alignment.reference(motion, features, key_frame)
        return Reference(token=token, attention=attention)

    def decode(self, tokens: torch.Tensor, ref: Reference) -> torch.Tensor:
        """(B, token_dim) tokens against a reference of batch 1 or B -> (B, 3, H, W)."""
        aligned, pictures = self.alignment(self.token_decoder(tokens), ref.attention)
        return self.frame_decoder(aligned, pictures)

    def forward(
        self, x_ref: torch.Tensor, x_cur: torch.Tensor, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training path: returns (reconstruction, current token, reference token).

        ``noise`` (B, token_dim), in units of token_scale, stands in for quantisation.
        """
        ref = self.reference(x_ref)
        t_cur = self.encode_token(x_cur)
        t_in = t_cur if noise is None else t_cur + noise * self.token_scale
        return self.decode(t_in, ref), t_cur, ref.token


def extended(model: IMF, **changes) -> IMF:
    """The model with config additions that start at zero (``coarse_pixels=True``,
    ``motion_offsets=True``): trained weights carried over, so the new model rebuilds what
    the old one did and fine-tuning starts from there."""
    new = IMF(dataclasses.replace(model.cfg, **changes)).to(model.token_scale.device)
    missing, unexpected = new.load_state_dict(model.state_dict(), strict=False)
    if unexpected:
        raise ValueError(f"{sorted(changes)} removes weights: {unexpected[:3]}")
    return new


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
