"""Which torch device to run on: the one place that turns "auto" / "cpu" / "cuda" into a device."""

from __future__ import annotations

from .errors import DeviceError

DEVICES = ("auto", "cpu", "cuda")


def resolve(name: str = "auto") -> str:
    """"auto" -> "cuda" when a CUDA device is available, else "cpu"; "cuda" without one is a
    DeviceError (exit code 2), not a failure deep inside torch."""
    import torch

    if name not in DEVICES and not name.startswith("cuda:"):
        raise DeviceError(f"--device {name}: choose one of {', '.join(DEVICES)}")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"--device {name}: no CUDA device is available on this machine")
    return name
