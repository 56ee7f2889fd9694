"""Made tests/data/reference.imf and tiny-reference.safetensors once (format 1.0).

Do not re-run to make a failing test pass: test_reference_stream exists to catch any change
in how an existing file decodes. Re-run only for a new major format version, and say so.
"""

from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from imfcodec import motion
from imfcodec.codec import Codec
from imfcodec.models import IMF, preset, weights
from imfcodec.options import EncodeOptions
from imfcodec.source import Source

here = Path(__file__).parent
torch.manual_seed(1234)
model = IMF(preset("tiny"))
with torch.no_grad():
    model.token_scale.copy_(torch.linspace(0.02, 0.08, 32))
weights.save(model, here / "tiny-reference.safetensors", "tiny-reference")
codec = Codec(motion.load(here / "tiny-reference.safetensors"))
yy, xx = np.mgrid[0:64, 0:64]
frames = []
for t in range(20):
    frame = np.stack([(xx * 4 + t * 6) % 256, (yy * 4) % 256, (xx + yy + t * 10) % 256], -1)
    frames.append(frame.astype(np.uint8))
# (made before key placement existed, so with each key frame at its run's start)
options = EncodeOptions(quality=6, keyframe_interval=12, key_placement="start")
codec.encode(Source.from_frames(frames, Fraction(25)), options=options).save(here / "reference.imf")
