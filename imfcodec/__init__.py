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

_EXPORTS = {
    "Codec": "codec", "Stream": "codec", "Decoded": "codec", "Source": "source",
    "EncodeOptions": "options", "EncodeSettings": "options", "Tuning": "options", "EncodeStats": "encoder",
    "AudioSettings": "audio",
    "MotionModel": "motion.base", "IMFError": "errors", "InputError": "errors",
    "OutputError": "errors", "FormatError": "errors", "ModelError": "errors",
    "DeviceError": "errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'imfcodec' has no attribute {name!r}")
