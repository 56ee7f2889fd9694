"""The exponential moving average of the model's weights that training validates and ships."""

from __future__ import annotations

import copy

import torch

from ..models import IMF


class WeightAverage:
    """An exponential moving average of the model's weights (as in StyleGAN's generator).

    Single steps swing the validation score by a few hundredths of MS-SSIM; the average
    follows the trend instead, so it is what is validated, kept as best and exported. The
    decay warms up as (1 + step) / (10 + step) so that a young average is not mostly its
    random start.
    """

    def __init__(self, model: IMF, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: IMF, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for avg, p in zip(self.model.parameters(), model.parameters()):
            avg.lerp_(p.detach(), 1.0 - d)
        for avg, b in zip(self.model.buffers(), model.buffers()):
            avg.copy_(b)
