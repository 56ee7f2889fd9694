"""The key frames of an encoded stream as a decoder holds them, for studies of references.

``held_keys`` reads a ``.imf`` stream's records, decodes its key frames exactly as a decoder
would, and says which key frame each frame's run belongs to (with centred key frames a run's
key frame is sent ahead of the frames before it). The reference studies
(benchmarks/studies/reference_oracle.py, reference_options.py) rebuild frames from other key
frames than their run's with it.
"""

from __future__ import annotations

import io

import numpy as np

from .. import bitstream as bs
from .. import intra


def held_keys(data: bytes) -> tuple[list[tuple[int, np.ndarray]], list[int]]:
    """The key frames in the order they are sent (frame index, decoded picture), and for each
    frame the position in that list of its run's key frame."""
    keys, owner, decoder = [], [], intra.KeyDecoder()
    for _, record in bs.read_records(io.BytesIO(data)):
        if isinstance(record, bs.KeyFrame):
            keys.append((record.frame_index, decoder.decode(record.data, record.codec)))
    # a run: its key frame and the frames up to the next run's first frame; with centred key
    # frames a run's first frame is the first frame after the previous run
    starts, covered = [], 0
    for _, record in bs.read_records(io.BytesIO(data)):
        if isinstance(record, bs.KeyFrame):
            starts.append(covered if record.frame_index >= covered else record.frame_index)
            covered = max(covered, record.frame_index + 1) if record.frame_index == covered else covered
        elif isinstance(record, bs.TokenChunk):
            covered = record.first_frame + record.frame_count
    total = covered
    for run, start in enumerate(starts):
        end = starts[run + 1] if run + 1 < len(starts) else total
        owner += [run] * (end - start)
    return keys, owner
