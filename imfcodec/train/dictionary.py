"""Building a flow model's motion dictionary from training clips (`imfcodec dictionary`).

No gradient descent: DIS flows of frame pairs from every clip, their mirror images, and a
principal component analysis (motion/dictionary.py). Deterministic for a given seed and
set of clips; about 2 s a clip of 250 frames at 160 pairs on one CPU core.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import InputError
from ..motion import dictionary as md
from ..motion.flow import FlowConfig, serialize

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".webm", ".avi", ".y4m"}


@dataclass(frozen=True)
class DictionaryOptions:
    config: FlowConfig
    pairs_per_clip: int = 160
    seed: int = 0
    name: str = "imf-flow"


def clips_in(folder: Path) -> list[Path]:
    """The videos of a folder (sorted, so a build is repeatable); InputError when none."""
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of training clips")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not paths:
        raise InputError(f"{folder} holds no video clips ({', '.join(sorted(VIDEO_SUFFIXES))})")
    return paths


def build(paths: list[Path], options: DictionaryOptions,
          progress: Callable[[int], None] | None = None) -> bytes:
    """The bytes of a flow model's weights file built from the clips at ``paths``."""
    config = options.config
    coarse = md.gather(md.read_clips(paths, config.image_size), config.grid,
                       options.pairs_per_clip, config.preset, options.seed, progress)
    if len(coarse) < config.directions:
        raise InputError(f"{len(coarse)} flows cannot give {config.directions} directions; "
                         "use more clips or --pairs-per-clip")
    dictionary = md.principal(coarse, config.directions)
    explained = float(dictionary.variance.sum() / md.total_variance(coarse))
    training = {"clips": len(paths), "flows": len(coarse), "pairs_per_clip": options.pairs_per_clip,
                "seed": options.seed, "explained_variance": round(explained, 4)}
    return serialize(dictionary, config, options.name, {"imfcodec.training": training})
