"""Encoder-side token refinement: fit each frame's token to the frame through the decoder.

The token encoder predicts a token from the frame alone, in one pass (an amortised guess).
The encoder also has what the decoder will have, the decoded key frame, so it can search
for the token whose *rebuilt* frame is closest to the source: a few Adam steps on the token
(nothing else changes), under the training loss's reconstruction terms. Only the encoder
runs this; the decoder, the bitstream and the decoded result of a given file are the same
as without it. Costs one decoder forward and backward pass per step (docs/refine.md).
"""

from __future__ import annotations

import torch

from .models.imf import IMF, Reference
from .train.losses import multiscale_l1, structural

LEARNING_RATE = 0.2  # in token units; tokens are O(1) (token_scale is 1)


def reconstruction_error(rebuilt: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """Per frame: L1 + (1 - MS-SSIM) + multi-scale L1, the training loss's two terms."""
    return ((rebuilt - source).abs().flatten(1).mean(1) + structural(rebuilt, source, per_sample=True)
            + multiscale_l1(rebuilt, source, per_sample=True))


def refine_tokens(model: IMF, ref: Reference, frames: torch.Tensor, tokens: torch.Tensor,
                  steps: int, lr: float = LEARNING_RATE) -> torch.Tensor:
    """(B, 3, H, W) frames in [0, 1] and their (B, D) tokens -> (B, D) refined tokens.

    Each frame keeps the best token seen (the starting one included), so refinement never
    returns a token with a higher error, before quantisation, than the token encoder's.
    """
    if steps <= 0:
        return tokens
    source = frames.detach()
    token = tokens.detach().clone().float().requires_grad_(True)
    best = token.detach().clone()
    best_error = torch.full((len(token),), float("inf"), device=token.device)
    optimizer = torch.optim.Adam([token], lr=lr)
    with torch.enable_grad():
        for i in range(steps + 1):
            error = reconstruction_error(model.decode(token, ref).clamp(0, 1), source)
            with torch.no_grad():
                better = error < best_error
                best[better] = token.detach()[better]
                best_error = torch.minimum(best_error, error.detach())
            if i == steps:
                break
            (grad,) = torch.autograd.grad(error.sum(), [token])
            token.grad = grad
            optimizer.step()
    return best
