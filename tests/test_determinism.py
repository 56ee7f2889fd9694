"""A file decodes the same everywhere: symbols from integers only, frames repeatable."""

import hashlib
import pytest
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from imfcodec import bitstream as bs
from imfcodec import motion
from imfcodec.codec import Codec
from imfcodec.decoder import iter_decoded
from imfcodec.errors import IMFError

DATA = Path(__file__).parent / "data"
# sha256 of the int64 little-endian token levels of tests/data/reference.imf (format 1.0).
REFERENCE_LEVELS_SHA256 = "237051f46e291c9d53c3ac22eaef0e020da9043f2f7ea364ba40d8834e086a52"


def reference_levels(stream) -> np.ndarray:
    loaded = motion.load(DATA / "tiny-reference.safetensors")
    events = iter_decoded(stream, lambda h: loaded)
    return np.concatenate([p for kind, _, p in events if kind == "tokens"]).astype("<i8")


def test_reference_stream_from_an_earlier_version_decodes_to_the_same_symbols():
    with open(DATA / "reference.imf", "rb") as f:
        levels = reference_levels(f)
    assert levels.shape == (18, 32)
    assert hashlib.sha256(levels.tobytes()).hexdigest() == REFERENCE_LEVELS_SHA256


@pytest.mark.slow
def test_symbols_do_not_depend_on_threads():
    """Decode in two fresh processes with 1 and 2 torch threads; compare symbol digests."""
    code = ("import hashlib, sys, torch; torch.set_num_threads(int(sys.argv[1])); "
            "sys.path.insert(0, sys.argv[2]); from test_determinism import reference_levels; "
            "print(hashlib.sha256(reference_levels(open(sys.argv[3], 'rb')).tobytes()).hexdigest())")
    here = str(Path(__file__).parent)
    digests = {subprocess.run([sys.executable, "-c", code, str(n), here, str(DATA / "reference.imf")],
                              capture_output=True, text=True, check=True).stdout.strip()
               for n in (1, 2)}
    assert digests == {REFERENCE_LEVELS_SHA256}


def test_decoding_twice_and_in_other_batch_sizes_gives_the_same_frames(monkeypatch):
    loaded = motion.load(DATA / "tiny-reference.safetensors")
    data = (DATA / "reference.imf").read_bytes()

    def frames():
        return np.stack(list(Codec(loaded).decode(data)))

    first, second = frames(), frames()
    assert first.shape == (20, 64, 64, 3) and np.array_equal(first, second)
    from imfcodec import frames as fr

    monkeypatch.setattr(fr, "BATCH", 1)
    one_by_one = frames()
    # batch size changes float summation order only: frames agree to within one grey level
    assert np.abs(one_by_one.astype(int) - first.astype(int)).max() <= 1


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_damage_to_the_reference_file_is_a_format_error_or_harmless(data):
    """Property: truncations, flips and splices end in IMFError, never another exception."""
    original = (DATA / "reference.imf").read_bytes()
    kind = data.draw(st.sampled_from(["truncate", "flip", "splice"]))
    pos = -1
    if kind == "truncate":
        damaged = original[: data.draw(st.integers(0, len(original) - 1))]
    elif kind == "flip":
        pos = data.draw(st.integers(0, len(original) - 1))
        bit = data.draw(st.integers(0, 7))
        damaged = original[:pos] + bytes([original[pos] ^ (1 << bit)]) + original[pos + 1 :]
    else:
        pos = data.draw(st.integers(0, len(original)))
        junk = data.draw(st.binary(min_size=1, max_size=32))
        damaged = original[:pos] + junk + original[pos:]
    loaded = motion.load(DATA / "tiny-reference.safetensors")
    try:
        for _ in iter_decoded(io.BytesIO(damaged), lambda h: loaded):
            pass
    except IMFError:
        return
    # The minor version byte is the one place a reader accepts any value, by design (format.md).
    if not (kind == "flip" and pos == 5):
        raise AssertionError(f"{kind} damage decoded without an error")


def test_reference_file_header():
    with open(DATA / "reference.imf", "rb") as f:
        _, header = next(bs.read_records(f))
    assert header.model_name == "tiny-reference" and header.frame_count == 20
    assert header.keyframe_interval == 12


