"""Validation during training: val clips through the real codec (imfcodec.Codec), as users
will run it."""

from __future__ import annotations

import numpy as np
import torch

from ..codec import Codec
from ..metrics import clip_quality
from ..models import IMF
from ..motion.imf import IMFMotion
from ..options import EncodeOptions
from ..source import Source
from .data import find_clips


def load_val(root: str, size: int, frames: int) -> list[Source]:
    """The first ``frames`` frames of each val clip (clips of under 2 frames are left out)."""
    clips = []
    for path in find_clips(root):
        clip = Source.open(path, size)
        picked = clip.read(frames)
        if len(picked) >= 2:
            clips.append(Source.from_frames(picked, clip.fps, path.name, clip.source_size))
    return clips


@torch.no_grad()
def evaluate(model: IMF, clips: list[Source], qualities: tuple[int, ...]) -> dict:
    """Each val clip through the real codec (encode to bytes, decode) at each quality level:
    kbps from the bytes, PSNR / MS-SSIM of the decoded frames, bits per predicted frame, and
    the MS-SSIM of showing the decoded key frame throughout (the floor to beat)."""
    was_training = model.training
    model.eval()
    codec = Codec(IMFMotion(model, "eval", bytes(16)))
    out = {}
    for q in qualities:
        rows = []
        for clip in clips:
            # key frame first (one pass), so that the key-frame-only floor is decoded[0] and
            # validations stay comparable with runs logged before key placement
            stream = codec.encode(clip, options=EncodeOptions(quality=q, key_placement="start"))
            decoded = list(codec.decode(stream))
            frames = clip.read()
            quality = clip_quality(frames, decoded)
            floor = clip_quality(frames, [decoded[0]] * len(decoded))
            inter = stream.stats.frames - stream.stats.key_frames
            rows.append((stream.stats.kbps, quality["psnr"], quality["msssim"], floor["msssim"],
                         stream.stats.bytes_tokens * 8 / max(1, inter)))
        mean = np.mean(rows, axis=0)
        out.update({f"val_q{q}_kbps": float(mean[0]), f"val_q{q}_psnr": float(mean[1]),
                    f"val_q{q}_msssim": float(mean[2]), f"val_q{q}_key_only_msssim": float(mean[3]),
                    f"val_q{q}_bits_per_frame": float(mean[4])})
    model.train(was_training)
    return out
