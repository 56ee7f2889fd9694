"""Quality levels: one number for the user (0..7), a token step and a key-frame QP for the codec."""

from __future__ import annotations

from dataclasses import dataclass

from .intra import IntraCodec


@dataclass(frozen=True)
class QualityLevel:
    token_step: float  # quantiser step in units of the model's per-dimension token scale
    hevc_qp: int
    av1_qp: int

    def intra_qp(self, codec: IntraCodec) -> int:
        return self.hevc_qp if codec is IntraCodec.HEVC else self.av1_qp


# Level 0 is the lowest rate; each level up halves the token step every two levels and
# lowers the key frame's QP by 4 (HEVC) / 6 (AV1).
LEVELS = (
    QualityLevel(1.0, 51, 63),
    QualityLevel(0.7, 47, 58),
    QualityLevel(0.5, 43, 52),
    QualityLevel(0.35, 39, 46),
    QualityLevel(0.25, 35, 40),
    QualityLevel(0.18, 31, 34),
    QualityLevel(0.125, 27, 28),
    QualityLevel(0.09, 23, 22),
)
DEFAULT_QUALITY = 3


def level(quality: int) -> QualityLevel:
    if not 0 <= quality < len(LEVELS):
        raise ValueError(f"quality must be 0..{len(LEVELS) - 1}, got {quality}")
    return LEVELS[quality]
