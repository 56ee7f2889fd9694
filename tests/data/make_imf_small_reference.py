"""Made tests/data/imf-small-reference.imf once, with the code of commit be601e2 (before the
flow model and before imf-small stopped being the default), and printed the SHA-256 of its
decoded frames that tests/test_flow.py checks: files of the shipped imf-small model must keep
decoding to the same pixels whatever model becomes the default.

imf-small-reference-thumbs.npy holds the 16x16 block means (float32, rounded to 0.01) of those
decoded frames, made on 2026-12-03 with the code of be601e2 decoding the same file (on an AMD
EPYC CPU: the pixel hash differed from the one printed when the file was made, on another CPU,
because float arithmetic differs in its last bits; the key frame's pixels are exact).

Do not re-run to make a failing test pass.
"""

import hashlib
from fractions import Fraction
from pathlib import Path

import numpy as np

from imfcodec.codec import Codec
from imfcodec.source import Source

here = Path(__file__).parent
yy, xx = np.mgrid[0:256, 0:256]
frames = []
for t in range(8):
    frame = np.stack([(xx + t * 3) % 256, (yy * 2 + t) % 256, ((xx + yy) // 2 + t * 5) % 256], -1)
    frames.append(frame.astype(np.uint8))
codec = Codec.load("imf-small")
stream = codec.encode(Source.from_frames(frames, Fraction(25)), quality=0, key_placement="start")
stream.save(here / "imf-small-reference.imf")
decoded = list(codec.decode(here / "imf-small-reference.imf"))
print(hashlib.sha256(b"".join(f.tobytes() for f in decoded)).hexdigest())
thumbs = np.stack([f.astype(np.float64).reshape(16, 16, 16, 16, 3).mean(axis=(1, 3)) for f in decoded])
np.save(here / "imf-small-reference-thumbs.npy", np.round(thumbs, 2).astype(np.float32))
