"""The model configuration: one dataclass, named presets, saved beside the weights."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class IMFConfig:
    """Every architectural choice of the IMF model.

    Scales: the dense features, the motion features and the alignment work at four scales,
    image_size/4, /8, /16, /32 (64, 32, 16, 8 for 256x256). Tuples that describe those four
    levels are listed fine to coarse: (image/4, image/8, image/16, image/32).
    """

    name: str = "paper"
    image_size: int = 256
    token_dim: int = 32
    # Latent token encoder E_T: stem conv, then one halving residual block per entry, to 4x4.
    token_enc_channels: tuple[int, ...] = (64, 128, 256, 512, 512, 512)
    token_mlp_width: int = 512
    token_mlp_layers: int = 4
    # Dense feature encoder E_F: 7x7 stem, then 5 halving blocks (image/2 .. image/32).
    feat_stem: int = 64
    feat_channels: tuple[int, ...] = (64, 128, 256, 512, 512)
    # Latent token decoder IMF_D: constant at image/64, motion features at the 4 scales.
    motion_const: int = 512
    motion_channels: tuple[int, ...] = (256, 512, 512, 512)
    # Implicit motion alignment IMF_A, per scale (fine to coarse).
    attn_dim: tuple[int, ...] = (256, 512, 512, 512)
    attn_heads: tuple[int, ...] = (4, 8, 8, 8)
    attn_window: tuple[int, ...] = (0, 0, 0, 0)  # 0: global attention, k: k x k neighbourhood
    blocks: tuple[int, ...] = (4, 4, 4, 4)  # transformer blocks after the cross-attention
    mlp_ratio: int = 2
    # Frame decoder D_F: channels after each upsampling, image/16 .. image.
    dec_channels: tuple[int, ...] = (512, 256, 128, 64, 32)
    # imfcodec's addition to the paper (off in the paper preset): the finest alignment level
    # also moves the reference's pixels, as (image/size)^2 x 3 values per grid cell, and the
    # frame decoder predicts a correction to that aligned picture instead of the whole frame.
    # At initialisation the alignment is close to the identity, so the model starts at the
    # copy floor (showing the key frame) rather than at an untrained autoencoder's output.
    pixel_values: bool = False
    # imfcodec's addition (off in the paper preset): each scale's motion features also shift
    # the positions in the attention's locality prior (a 2-vector per grid cell, zero at
    # first), so motion can be expressed as where each query looks, not only by matching
    # features. The paper's attention must learn motion from feature matching alone, which
    # a short CPU training run did not reach (docs/training.md).
    motion_offsets: bool = False
    # imfcodec's addition (needs pixel_values): the 32x32 level, whose attention is global,
    # moves the reference's pixels too (8x8 patches), and the frame decoder blends that
    # coarse aligned picture into the fine one (a per-pixel weight, zero at first, so weights
    # trained without it keep their function). The fine level's 7x7 window moves pixels by
    # at most 12 at 256x256; with the shipped weights the 32x32 level's attention, applied to
    # pixels, already rebuilt frames 32 apart better than the fine picture (docs/model-card.md).
    coarse_pixels: bool = False
    # Tokens are squashed into (-token_bound, token_bound) by bound * tanh(x / bound) (0: not
    # bounded, as in the paper). Unbounded, the token grew during training (mean |t| 67 after
    # 400 steps: the modulated convs demodulate, so size is free to the decoder) past what the
    # quantiser can represent (MAX_LEVEL steps), and clamped tokens decoded to wrong motion.
    token_bound: float = 0.0

    def __post_init__(self) -> None:
        n_halvings = int(math.log2(self.image_size // 4))
        if self.image_size < 64 or 2 ** (n_halvings + 2) != self.image_size:
            raise ValueError(f"image_size must be a power of two >= 64, got {self.image_size}")
        if len(self.token_enc_channels) != n_halvings:
            raise ValueError(f"token_enc_channels needs {n_halvings} entries for {self.image_size}")
        for key in ("motion_channels", "attn_dim", "attn_heads", "attn_window", "blocks"):
            if len(getattr(self, key)) != 4:
                raise ValueError(f"{key} needs 4 entries (one per scale)")
        if len(self.feat_channels) != 5 or len(self.dec_channels) != 5:
            raise ValueError("feat_channels and dec_channels need 5 entries")
        if self.coarse_pixels and not self.pixel_values:
            raise ValueError("coarse_pixels needs pixel_values")
        for d, h in zip(self.attn_dim, self.attn_heads):
            if d % h:
                raise ValueError(f"attn_dim {d} is not divisible by {h} heads")

    @property
    def scales(self) -> tuple[int, int, int, int]:
        """Spatial sizes of the four levels, fine to coarse."""
        s = self.image_size
        return (s // 4, s // 8, s // 16, s // 32)

    @property
    def feat_out_channels(self) -> tuple[int, ...]:
        """Channels of E_F's outputs at the four levels, fine to coarse."""
        return tuple(self.feat_channels[1:])

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "IMFConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)


PRESETS: dict[str, IMFConfig] = {
    # The paper's widths (about 1e8 parameters): for GPUs.
    "paper": IMFConfig(),
    # Sized for real-time decoding on a 2-core CPU: a 7x7 neighbourhood at 64x64, one-head
    # global attention at 32x32, transformer blocks only at 16x16 and 8x8 (softmax over N^2
    # scores per head is what costs on a CPU).
    "small": IMFConfig(
        name="small",
        token_enc_channels=(16, 32, 64, 128, 128, 128),
        token_mlp_width=128,
        token_mlp_layers=4,
        feat_stem=16,
        feat_channels=(24, 48, 96, 128, 128),
        motion_const=128,
        motion_channels=(32, 64, 128, 128),
        attn_dim=(32, 32, 64, 64),
        attn_heads=(1, 1, 2, 2),
        attn_window=(7, 0, 0, 0),
        blocks=(0, 0, 1, 1),
        mlp_ratio=2,
        dec_channels=(128, 96, 48, 24, 16),
        pixel_values=True,
        motion_offsets=True,
        token_bound=10.0,
    ),
    # For tests: 64x64 frames, a few thousand parameters.
    "tiny": IMFConfig(
        name="tiny",
        image_size=64,
        token_dim=32,
        token_enc_channels=(8, 8, 8, 8),
        token_mlp_width=32,
        token_mlp_layers=2,
        feat_stem=8,
        feat_channels=(8, 8, 8, 8, 8),
        motion_const=8,
        motion_channels=(8, 8, 8, 8),
        attn_dim=(8, 8, 8, 8),
        attn_heads=(2, 2, 2, 2),
        attn_window=(5, 0, 0, 0),
        blocks=(1, 1, 1, 1),
        mlp_ratio=2,
        dec_channels=(8, 8, 8, 8, 8),
    ),
}


def preset(name: str) -> IMFConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}") from None


