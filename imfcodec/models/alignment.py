"""IMF_A: implicit motion alignment, one cross-attention plus transformer blocks per scale.

Q comes from the current token's motion features, K from the reference token's motion
features, V from the reference frame's dense features. Everything that depends only on the
reference is computed once per key frame by ``reference()``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import GridAttention, TransformerBlock
from .config import IMFConfig


def to_tokens(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).transpose(1, 2)  # (B, C, H, W) -> (B, H*W, C)


class AlignLevel(nn.Module):
    def __init__(self, cfg: IMFConfig, level: int) -> None:
        super().__init__()
        motion, value = cfg.motion_channels[level], cfg.feat_out_channels[level]
        size, heads = cfg.scales[level], cfg.attn_heads[level]
        dim, window = cfg.attn_dim[level], cfg.attn_window[level]
        self.size = size
        # Pixels moved with the features: each grid cell carries its patch of the picture.
        moves_pixels = cfg.pixel_values and (level == 0 or (level == 1 and cfg.coarse_pixels))
        self.patch = cfg.image_size // size if moves_pixels else 0
        self.norm_motion = nn.LayerNorm(motion)
        self.cross = GridAttention(motion, motion, value, dim, heads, window, size,
                                   raw_v=3 * self.patch**2, displaced=cfg.motion_offsets)
        # Motion offsets: each frame's motion features shift its grid positions (zero at
        # first, so the model starts where it would without them). The same head serves the
        # current frame and the reference, so equal tokens mean equal positions.
        self.offset = None
        if cfg.motion_offsets:
            self.offset = nn.Linear(motion, 2)
            nn.init.zeros_(self.offset.weight)
            nn.init.zeros_(self.offset.bias)
        self.blocks = nn.Sequential(
            *[
                TransformerBlock(value, dim, heads, window, size, cfg.mlp_ratio)
                for _ in range(cfg.blocks[level])
            ]
        )

    def reference(self, m_ref: torch.Tensor, f_ref: torch.Tensor,
                  picture: torch.Tensor) -> tuple[torch.Tensor, ...]:
        raw = to_tokens(F.pixel_unshuffle(picture, self.patch)) if self.patch else None
        m = self.norm_motion(to_tokens(m_ref))
        return self.cross.keys_values(m, to_tokens(f_ref), raw, self.positions(m))

    def positions(self, m: torch.Tensor) -> torch.Tensor | None:
        """(B, N, 2) displaced grid positions from normalised motion features, or None."""
        if self.offset is None:
            return None
        return self.cross.pos[None] + self.offset(m).float()

    def forward(self, m_cur: torch.Tensor, ref: tuple[torch.Tensor, ...]):
        """Aligned features (B, C, S, S); with pixel values also the aligned picture."""
        b = m_cur.shape[0]
        m = self.norm_motion(to_tokens(m_cur))
        x = self.cross(m, ref, self.positions(m))  # (B, N, C)
        if self.patch:
            x, raw = x
        x = self.blocks(x).transpose(1, 2).reshape(b, -1, self.size, self.size)
        if self.patch:
            raw = raw.transpose(1, 2).reshape(b, -1, self.size, self.size)  # (B, 3p^2, S, S)
            return x, F.pixel_shuffle(raw, self.patch)  # (B, 3, H, W)
        return x


class MotionAlignment(nn.Module):
    def __init__(self, cfg: IMFConfig) -> None:
        super().__init__()
        self.levels = nn.ModuleList(AlignLevel(cfg, i) for i in range(4))

    def reference(self, m_ref: list[torch.Tensor], f_ref: list[torch.Tensor],
                  picture: torch.Tensor) -> list:
        return [lvl.reference(m, f, picture) for lvl, m, f in zip(self.levels, m_ref, f_ref)]

    def forward(self, m_cur: list[torch.Tensor], ref: list):
        """Aligned features fine to coarse, and the aligned pictures of the levels that move
        pixels, fine first (none without pixel values)."""
        out = [lvl(m, r) for lvl, m, r in zip(self.levels, m_cur, ref)]
        pictures = []
        for i, lvl in enumerate(self.levels):
            if lvl.patch:  # this level also returned its aligned picture
                out[i], picture = out[i]
                pictures.append(picture)
        return out, pictures
