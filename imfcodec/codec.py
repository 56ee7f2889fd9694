"""The codec's public entry points, in one place: encoding (encoder.py), decoding
(decoder.py) and the frame helpers they share (frames.py)."""

from .decoder import StreamDecoder, check_model, decode_video, iter_decoded
from .encoder import (EncodeOptions, EncodeResult, encode_frames, encode_to_stream,
                      encode_video, make_header)
from .frames import BATCH, to_images, to_tensor

__all__ = [
    "BATCH", "EncodeOptions", "EncodeResult", "StreamDecoder", "check_model", "decode_video",
    "encode_frames", "encode_to_stream", "encode_video", "iter_decoded", "make_header",
    "to_images", "to_tensor",
]
