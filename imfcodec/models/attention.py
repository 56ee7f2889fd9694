"""Attention over an image grid with a learned locality prior.

Logits are ``q.k / sqrt(d) - alpha_h * |p_i - p_j|^2`` where p are the grid positions in
[-1, 1] and alpha_h a learned per-head sharpness. alpha starts at size**2, so a query's
neighbour one pixel away scores 4 nats below the query's own position: at initialisation
the attention copies the reference (the "copy floor") instead of blurring it, and training
widens or narrows it per head.

Global attention folds the prior into the dot product, appending 4 channels to q and k
(``2a p_i, -a|p_i|^2, 1`` against ``p_j, 1, -a|p_j|^2``) so PyTorch's fused
scaled_dot_product_attention runs and the N x N map is never materialised. Local attention
(window k) scores each query against its k x k neighbourhood only.

Displaced positions (``displaced=True``, the config's ``motion_offsets``): the positions in
the prior are p + delta, where delta (B, N, 2) is predicted per grid cell from the motion
features of the query's frame and of the key's frame. The prior then favours the key whose
displaced position matches the query's: motion as a smooth shift of where each query looks,
which gradients reach directly. Local attention folds this prior into the dot product too.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def grid_positions(size: int, device: torch.device | None = None) -> torch.Tensor:
    """Pixel-centre coordinates of a size x size grid in [-1, 1], row-major: (N, 2)."""
    axis = (torch.arange(size, dtype=torch.float32, device=device) + 0.5) / size * 2 - 1
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([yy.flatten(), xx.flatten()], dim=-1)


class GridAttention(nn.Module):
    """Multi-head attention from queries on a grid to keys/values on the same grid."""

    def __init__(
        self, q_in: int, kv_in: int, v_in: int, attn_dim: int, heads: int, window: int, size: int,
        raw_v: int = 0, displaced: bool = False,
    ) -> None:
        super().__init__()
        self.heads, self.window, self.size = heads, window, size
        # The prior is folded into q.k (4 extra channels) for global attention, and for local
        # attention when positions can be displaced; otherwise local attention adds it per offset.
        self.folded = window == 0 or displaced
        self.head_dim = attn_dim // heads
        self.v_dim = v_in
        # Raw value channels (the reference's pixels) ride along every head unprojected; the
        # heads' results for them are averaged and returned beside the projected output.
        self.raw_v = raw_v
        if v_in % heads:
            raise ValueError(f"value channels {v_in} not divisible by {heads} heads")
        self.q = nn.Linear(q_in, attn_dim)
        self.k = nn.Linear(kv_in, attn_dim)
        self.v = nn.Linear(v_in, v_in)
        self.out = nn.Linear(v_in, v_in)
        self.log_alpha = nn.Parameter(torch.full((heads,), 2 * math.log(size)))
        self.register_buffer("pos", grid_positions(size), persistent=False)

    def _split(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.heads, dim).transpose(1, 2)  # (B, h, N, dim)

    def _positions(self, b: int, pos: torch.Tensor | None) -> torch.Tensor:
        """(B, h, N, 2): the given (B, N, 2) positions, or the grid's."""
        if pos is None:
            return self.pos[None, None].expand(b, self.heads, -1, -1)
        return pos.float()[:, None].expand(-1, self.heads, -1, -1)

    def keys_values(self, k_src: torch.Tensor, v_src: torch.Tensor,
                    raw: torch.Tensor | None = None,
                    pos: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """Projects (B, N, C) key and value sources; cache the result for a fixed reference.
        ``raw`` (B, N, raw_v) values are attended to as they are, without a projection;
        ``pos`` (B, N, 2) are the keys' displaced positions (default: the grid's).

        Attention always runs in float32, also under autocast: the positional terms are
        large numbers that cancel, which bf16 cannot represent.
        """
        with torch.autocast(k_src.device.type, enabled=False):
            return self._keys_values(k_src.float(), v_src.float(),
                                     None if raw is None else raw.float(), pos)

    def _keys_values(self, k_src: torch.Tensor, v_src: torch.Tensor,
                     raw: torch.Tensor | None, pos: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        k = self._split(self.k(k_src), self.head_dim)
        v = self._split(self.v(v_src), self.v_dim // self.heads)
        if self.raw_v:
            if raw is None or raw.shape[-1] != self.raw_v:
                raise ValueError(f"this attention needs {self.raw_v} raw value channels")
            v = torch.cat([v, raw[:, None].expand(-1, self.heads, -1, -1)], dim=-1)
        if self.folded:
            alpha = self.log_alpha.exp()[None, :, None, None]  # (1, h, 1, 1)
            p = self._positions(k.shape[0], pos)  # (B, h, N, 2)
            one = torch.ones_like(p[..., :1])
            k = torch.cat([k, p, one, -alpha * p.pow(2).sum(-1, keepdim=True)], dim=-1)
        if self.window and k.shape[0] == 1:
            # One reference for many queries (decoding): gather each position's neighbourhood
            # once per key frame instead of once per batch of frames.
            return k, v, self._neighbourhoods(k), self._neighbourhoods(v)
        return k, v

    def forward(self, q_src: torch.Tensor, kv: tuple[torch.Tensor, ...],
                pos: torch.Tensor | None = None):
        """q_src (B, N, Cq) attends to cached keys/values; returns (B, N, v_in), or with raw
        values the pair ((B, N, v_in), (B, N, raw_v)). ``pos`` (B, N, 2): the queries'
        displaced positions (default: the grid's)."""
        with torch.autocast(q_src.device.type, enabled=False):
            return self._attend(q_src.float(), pos, *(t.float() for t in kv))

    def _attend(self, q_src: torch.Tensor, pos: torch.Tensor | None, k: torch.Tensor,
                v: torch.Tensor, k_nb: torch.Tensor | None = None,
                v_nb: torch.Tensor | None = None):
        b = q_src.shape[0]
        q = self._split(self.q(q_src), self.head_dim) / math.sqrt(self.head_dim)
        if self.folded:
            alpha = self.log_alpha.exp()[None, :, None, None]
            p = self._positions(b, pos)
            one = torch.ones_like(p[..., :1])
            q = torch.cat([q, 2 * alpha * p, -alpha * p.pow(2).sum(-1, keepdim=True), one], -1)
        if self.window == 0:
            if k.shape[0] != b:
                k, v = k.expand(b, -1, -1, -1), v.expand(b, -1, -1, -1)
            out = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # (B, h, N, dv)
        else:
            out = self._local(q, k, v, k_nb, v_nb)
        if self.raw_v:
            out, raw = out[..., : -self.raw_v], out[..., -self.raw_v :]
        out = out.transpose(1, 2).reshape(b, -1, self.v_dim)  # (B, N, h * dv)
        if self.raw_v:
            return self.out(out), raw.mean(1)  # (B, N, raw_v): the heads agree on pixels
        return self.out(out)

    def _window_bias(self, device: torch.device) -> torch.Tensor:
        """(h, w*w, S, S): the locality prior per offset (unless it is folded into q.k), and
        -1e9 where the offset falls outside the grid (padding positions never win)."""
        w, s, r = self.window, self.size, self.window // 2
        alpha = self.log_alpha.exp()[:, None, None, None]  # (h, 1, 1, 1)
        offsets = torch.arange(w, device=device, dtype=torch.float32) - r
        dist2 = (offsets[:, None] ** 2 + offsets[None, :] ** 2).reshape(1, w * w, 1, 1)
        inside = F.pad(torch.ones(1, 1, s, s, device=device), (r, r, r, r))
        inside = F.unfold(inside, w).reshape(1, w * w, s, s)  # 1 where the neighbour exists
        outside = (inside - 1) * 1e9
        if self.folded:
            return outside.expand(self.heads, -1, -1, -1)
        return -alpha * (2.0 / s) ** 2 * dist2 + outside

    def _neighbourhoods(self, x: torch.Tensor) -> torch.Tensor:
        """(1, h, N, c) -> (h, N, w*w, c): every position's w x w neighbourhood (zeros outside)."""
        h, n, c = x.shape[1:]
        w, s, r = self.window, self.size, self.window // 2
        grid = x[0].transpose(1, 2).reshape(h * c, 1, s, s)
        cols = F.unfold(F.pad(grid, (r, r, r, r)), w)  # (h*c, w*w, N)
        return cols.reshape(h, c, w * w, n).permute(0, 3, 2, 1).contiguous()

    def _local(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               k_nb: torch.Tensor | None = None, v_nb: torch.Tensor | None = None) -> torch.Tensor:
        """Each query attends to the w x w neighbourhood around its own position.

        q is (B, h, N, d); k and v have batch B, or 1 for a reference shared by all B queries
        (decoding). A shared reference comes with its neighbourhoods gathered (k_nb, v_nb) and
        every position runs one small matmul for the whole batch; otherwise the loop over the
        w*w offsets uses shifted views, so memory stays at a few feature maps whatever the
        window.
        """
        b, h, n, d = q.shape
        w, s, r = self.window, self.size, self.window // 2
        bias = self._window_bias(q.device)  # (h, w*w, S, S)
        if k_nb is not None and k.shape[0] == 1 and b > 1:
            # Contiguous operands: bmm would otherwise copy every one of the N small matrices.
            logits = q.permute(1, 2, 0, 3).contiguous() @ k_nb.transpose(2, 3)
            logits = logits + bias.flatten(2).transpose(1, 2)[:, :, None, :]  # (h, N, B, w*w)
            out = torch.softmax(logits, dim=-1) @ v_nb  # (h, N, B, c)
            return out.permute(2, 0, 1, 3)  # (B, h, N, c)
        if k.shape[0] != b:
            k, v = k.expand(b, -1, -1, -1), v.expand(b, -1, -1, -1)

        def padded_grid(x: torch.Tensor) -> torch.Tensor:  # (B, h, N, c) -> (B, h, c, S+2r, S+2r)
            grid = x.transpose(2, 3).reshape(x.shape[0], h, x.shape[-1], s, s)
            return F.pad(grid, (r, r, r, r))

        qg = q.transpose(2, 3).reshape(b, h, d, s, s)
        kp, vp = padded_grid(k), padded_grid(v)
        logits = []
        for i, (dy, dx) in enumerate((dy, dx) for dy in range(w) for dx in range(w)):
            logits.append((qg * kp[..., dy : dy + s, dx : dx + s]).sum(2) + bias[:, i])
        weights = torch.softmax(torch.stack(logits, 2), dim=2)  # (B, h, w*w, S, S)
        out = 0
        for i, (dy, dx) in enumerate((dy, dx) for dy in range(w) for dx in range(w)):
            out = out + weights[:, :, i : i + 1] * vp[..., dy : dy + s, dx : dx + s]
        return out.reshape(b, h, -1, n).transpose(2, 3)  # (B, h, N, dv)


class TransformerBlock(nn.Module):
    """Pre-norm block: grid self-attention and a GELU feed-forward, both residual."""

    def __init__(self, dim: int, attn_dim: int, heads: int, window: int, size: int, mlp_ratio: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = GridAttention(dim, dim, dim, attn_dim, heads, window, size)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Linear(dim * mlp_ratio, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N, C)
        h = self.norm1(x)
        x = x + self.attn(h, self.attn.keys_values(h, h))
        return x + self.mlp(self.norm2(x))
