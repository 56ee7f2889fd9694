"""The IMF model: configuration, modules, weights."""

from .config import PRESETS, IMFConfig, preset
from .imf import IMF, Reference, count_parameters

__all__ = ["IMF", "IMFConfig", "PRESETS", "Reference", "count_parameters", "preset"]
