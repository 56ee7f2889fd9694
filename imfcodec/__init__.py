"""imfcodec: a neural talking-head video codec built on the Implicit Motion Function.

    import imfcodec
    codec = imfcodec.Codec.load()
    imfcodec.Codec.load().encode("in.mp4", quality=3).save("out.imf")

The names below are imported on first use, so `import imfcodec` (and the command line's
start) stays light.
"""

import os

__version__ = "0.1.0"

# SVT-AV1 logs its banner to stderr unless told otherwise (1 = errors only); every encoder
# that imfcodec opens through FFmpeg (key frames, bench anchors) sees this.
os.environ.setdefault("SVT_LOG", "1")
# torch's OpenMP workers sleep when they wait instead of spinning (unless the user chose): a
# worker spinning for a core another job holds stalled a 2-core decode from 45-70 fps to
# 10-27; passive, 2 threads kept 41-63 (device.py, default_threads). Read once, when torch
# first loads OpenMP: imported before torch, as the command line is.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_EXPORTS = {
    "Codec": "codec", "Stream": "codec", "Decoded": "codec", "Source": "source",
    "EncodeOptions": "options", "EncodeSettings": "options", "Tuning": "options", "EncodeStats": "encoder",
    "AudioSettings": "audio",
    "MotionModel": "motion.base", "IMFError": "errors", "InputError": "errors",
    "OutputError": "errors", "FormatError": "errors", "ModelError": "errors",
    "DeviceError": "errors", "use_threads": "device",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'imfcodec' has no attribute {name!r}")
