"""Encoder-side token refinement: fit each frame's token to the frame through the decoder.

The token encoder predicts a token from the frame alone, in one pass (an amortised guess).
The encoder also has what the decoder will have, the decoded key frame, so it can search
for the token whose *rebuilt* frame is closest to the source: a few Adam steps on the token
(nothing else changes), under the training loss's reconstruction terms plus, when asked, the
token's rate: its estimated bits as a residual against the token before it, weighed by
``rate_weight`` (error per bit). Given the quantiser's grid, the first step and the last
ones decode the token as the decoder will see it, rounded to the grid (the gradient passes
straight through the rounding), and the token kept is one of those. Only the encoder runs
this; the decoder, the bitstream and the decoded result of a given file are the same as
without it. Costs one decoder forward and backward pass per step (docs/refine.md).
"""

from __future__ import annotations

from typing import Callable

import torch

from .losses import multiscale_l1, structural

LEARNING_RATE = 0.2  # in token units; tokens are O(1) (token_scale is 1)
ROUNDED_SHARE = 0.3  # with a grid, the share of the steps (at the end) on the rounded token


def reconstruction_error(rebuilt: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """Per frame: L1 + (1 - MS-SSIM) + multi-scale L1, the training loss's two terms."""
    return ((rebuilt - source).abs().flatten(1).mean(1) + structural(rebuilt, source, per_sample=True)
            + multiscale_l1(rebuilt, source, per_sample=True))


def residual_bits(tokens: torch.Tensor, previous: torch.Tensor | None,
                  unit: torch.Tensor) -> torch.Tensor:
    """(B,) bits-like cost of coding each of a batch of consecutive tokens as a residual
    against the one before it: log2(1 + |t_i - t_(i-1)| / unit) summed over dimensions, the
    training's rate term. ``previous`` is the token before the first; None right after a
    key frame, where the first token is coded whole (not counted here)."""
    first = tokens[:1] if previous is None else previous[None].to(tokens)  # None: costs 0
    before = torch.cat([first, tokens[:-1]])
    return torch.log2(1 + (tokens - before).abs() / unit).sum(1)


def refine_tokens(render: Callable[[torch.Tensor], torch.Tensor], frames: torch.Tensor,
                  tokens: torch.Tensor, steps: int, lr: float = LEARNING_RATE, unit: torch.Tensor | None = None,
                  previous: torch.Tensor | None = None, rate_weight: float = 0.0) -> torch.Tensor:
    """(B, 3, H, W) consecutive frames in [0, 1] and their (B, D) tokens -> (B, D) refined tokens.

    ``render``: the decoder, differentiable: (B, D) tokens -> (B, 3, H, W) frames.

    ``unit``: the quantiser's grid (D,); with it the decoder sees rounded tokens, and
    ``rate_weight`` > 0 adds that much error per estimated bit of the rounded token's
    residual (``previous``: the reconstructed token before the batch, or None).
    Each frame keeps the token with the best objective seen (the starting one included), so
    refinement never returns a token that scores worse than the one it was given.
    """
    if steps <= 0:
        return tokens
    source = frames.detach()
    token = tokens.detach().clone().float().requires_grad_(True)
    best = token.detach().clone()
    best_score = torch.full((len(token),), float("inf"), device=token.device)
    optimizer = torch.optim.Adam([token], lr=lr)
    # With a grid: step 0 and the last ROUNDED_SHARE of the steps decode the rounded token,
    # and only those are candidates (they score what the decoder will show); the steps
    # between move the unrounded token freely.
    free = range(1, steps - max(1, round(ROUNDED_SHARE * steps))) if unit is not None else range(0)
    with torch.enable_grad():
        for i in range(steps + 1):
            rounded = unit is not None and i not in free
            shown = token + (torch.round(token / unit) * unit - token).detach() if rounded else token
            score = reconstruction_error(render(shown).clamp(0, 1), source)
            if rate_weight and unit is not None:
                score = score + rate_weight * residual_bits(shown, previous, unit)
            if i not in free:
                with torch.no_grad():
                    better = score < best_score
                    best[better] = token.detach()[better]
                    best_score = torch.minimum(best_score, score.detach())
            if i == steps:
                break
            (grad,) = torch.autograd.grad(score.sum(), [token])
            token.grad = grad
            optimizer.step()
    return best
