"""D_F: the frame decoder, aligned features at four scales to an RGB frame."""

from __future__ import annotations

import torch
from torch import nn

from .config import IMFConfig
from .layers import ResBlock


BLEND_GAIN = 100.0  # see FrameDecoder.blend


class FrameDecoder(nn.Module):
    """Starts from the coarsest aligned features, upsamples to full size, merging each scale."""

    def __init__(self, cfg: IMFConfig) -> None:
        super().__init__()
        feats = cfg.feat_out_channels  # fine to coarse
        dec = cfg.dec_channels  # image/16 .. image
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        cin = feats[3]
        for i, cout in enumerate(dec):
            self.up.append(ResBlock(cin, cout, "up"))
            # After upsampling i, the size is image/16, /8, /4, /2, /1: merge the first three.
            level = 2 - i
            if level >= 0:
                self.merge.append(nn.Conv2d(cout + feats[level], cout, 1))
            cin = cout
        self.pixels = cfg.pixel_values
        if self.pixels:
            # A correction to the aligned picture, in logits; zero at first, so the model
            # starts by showing the aligned reference.
            self.to_rgb = nn.Conv2d(cin + 3, 3, 3, padding=1)
            nn.init.zeros_(self.to_rgb.weight)
            nn.init.zeros_(self.to_rgb.bias)
        else:
            self.to_rgb = nn.Conv2d(cin, 3, 3, padding=1)
        self.blend = None
        if cfg.coarse_pixels:
            # Where to show the coarse level's aligned picture instead of the fine one: a
            # weight per pixel, zero at first (the fine picture alone, as without it). The
            # conv's output is multiplied by BLEND_GAIN: Adam moves a parameter by about the
            # learning rate a step, so at 1e-4 an unscaled weight would need thousands of
            # steps to reach 0.5 (0.003 after 100 steps of a fine-tune, measured).
            self.blend = nn.Conv2d(cin + 6, 1, 3, padding=1)
            nn.init.zeros_(self.blend.weight)
            nn.init.zeros_(self.blend.bias)

    def forward(self, aligned: list[torch.Tensor], pictures: list[torch.Tensor] = ()):
        """``pictures``: the aligned pictures, fine first (with pixel values)."""
        h = aligned[3]
        for i, up in enumerate(self.up):
            h = up(h)
            if i < len(self.merge):
                h = self.merge[i](torch.cat([h, aligned[2 - i]], dim=1))
        if not self.pixels:
            return torch.sigmoid(self.to_rgb(h))
        picture = pictures[0]
        if self.blend is not None:
            fine, coarse = pictures[0].to(h.dtype), pictures[1].to(h.dtype)
            weight = BLEND_GAIN * self.blend(torch.cat([h, fine, coarse], 1))
            picture = fine + weight * (coarse - fine)
        base = torch.logit(picture.float().clamp(0, 1), eps=1e-3)
        return torch.sigmoid(base + self.to_rgb(torch.cat([h, picture.to(h.dtype)], 1)).float())
