"""VGG-19 perceptual loss from a user-supplied safetensors file (no download, no pickle).

The file holds the convolution weights of VGG-19's feature extractor under torchvision's
names (``features.0.weight``, ``features.0.bias``, ... ``features.34.bias``). Convert a
torchvision checkpoint once, on a machine you trust, with
``safetensors.torch.save_file({k: v for k, v in sd.items() if k.startswith("features.")}, PATH)``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from ..errors import ModelError
from ..models.weights import refuse_pickle

# VGG-19 "E": channel counts, "M" for max-pooling.
_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
           512, 512, 512, 512)
_TAPS = (1, 6, 11, 20, 29)  # indices in `features` of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def _features() -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for item in _LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(cin, item, 3, padding=1), nn.ReLU()]
            cin = item
    return nn.Sequential(*layers)


class VGGPerceptual(nn.Module):
    """L1 between VGG-19 features (5 layers) of two images at 4 image scales."""

    def __init__(self, weights_path: str | Path) -> None:
        super().__init__()
        self.features = _features()
        path = Path(weights_path)
        refuse_pickle(path.read_bytes(), str(path))
        try:
            state = load_file(str(path))
        except Exception as exc:  # safetensors raises several types for a bad file
            raise ModelError(f"{path}: not a safetensors file ({exc})") from None
        state = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
        try:
            self.features.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ModelError(f"{path}: not VGG-19 feature weights ({str(exc).splitlines()[0]})") from None
        self.features.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        h = (x - self.mean) / self.std
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in _TAPS:
                out.append(h)
                if i == _TAPS[-1]:
                    break
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for scale in range(4):
            if scale:
                x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
            if min(x.shape[-2:]) < 16:  # relu5_1 sits behind four 2x poolings
                break
            for fx, fy in zip(self._taps(x), self._taps(y.detach())):
                total = total + (fx - fy).abs().mean()
        return total / 4
