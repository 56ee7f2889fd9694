"""The IMF model: configuration, modules, weights.

The configuration imports without torch (the command line reads the preset names when it
starts); the modules load on first use.
"""

from .config import PRESETS, IMFConfig, preset

__all__ = ["IMF", "IMFConfig", "PRESETS", "Reference", "count_parameters", "preset"]


def __getattr__(name: str):
    if name in ("IMF", "Reference", "count_parameters"):
        from . import imf

        return getattr(imf, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
