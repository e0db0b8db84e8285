"""Label-free motion from the pixels themselves: dense block matching and block tracking.

Used by ``mme`` (Sun et al. CVPR 2023 [1]) to build motion-trajectory targets. [1] tracks
dense points with optical flow; no pretrained flow network may be used here (and never
the generator's ground-truth motion), so we use the classical method of video codecs:
**exhaustive block matching** [2] — for every block of frame ``t`` try every integer
displacement in a ``(2r+1)^2`` search window of frame ``t+1`` and keep the one with the
smallest sum of absolute differences (SAD) or squared differences (SSD).

Everything is vectorised in torch: one shifted copy of the next frame per candidate
displacement, a block-wise average by ``avg_pool2d`` / gather, an ``argmin`` over the
candidates. Ties (e.g. a uniform block that matches everywhere) go to the smallest
displacement: ``penalty * |d|_1`` is added to each candidate's cost, and among equal costs
the candidate nearest (0, 0) comes first in the candidate order.

[1] X. Sun, P. Chen, L. Chen, C. Li, T. H. Li, M. Tan, C. Gan, "Masked Motion Encoding for
    Self-Supervised Video Representation Learning", CVPR 2023.
[2] J. R. Jain, A. K. Jain, "Displacement Measurement and Its Application in Interframe
    Image Coding", IEEE Trans. Communications 1981 (full-search block matching).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor


def candidate_offsets(radius: int, device=None) -> Tensor:
    """All integer (dx, dy) with |dx|, |dy| <= radius, sorted by |dx|+|dy| (then dy, dx)
    so that ``argmin`` breaks ties towards small motion. (K, 2), K = (2r+1)^2."""
    r = torch.arange(-radius, radius + 1)
    dy, dx = torch.meshgrid(r, r, indexing="ij")
    off = torch.stack([dx.reshape(-1), dy.reshape(-1)], dim=1)  # (K, 2)
    key = off.abs().sum(1) * (2 * radius + 1) ** 2 + torch.arange(off.shape[0])
    return off[key.argsort()].to(device)


def _cost(a: Tensor, b: Tensor, metric: str) -> Tensor:
    d = a - b
    if metric == "sad":
        return d.abs()
    if metric == "ssd":
        return d.pow(2)
    raise ValueError(f"metric must be 'sad' or 'ssd', got {metric!r}")


def block_match(f0: Tensor, f1: Tensor, block: int, radius: int, metric: str = "sad", penalty: float = 0.0) -> Tensor:
    """Displacement of every grid block of ``f0`` into ``f1`` by exhaustive search.

    f0, f1: (B, C, H, W), H and W divisible by ``block``. Returns (B, H/block, W/block, 2)
    integer (dx, dy) such that ``f1[y+dy, x+dx] ~ f0[y, x]`` over the block. Pixels shifted
    in from outside ``f1`` are edge-replicated.
    """
    b, c, h, w = f0.shape
    if h % block or w % block:
        raise ValueError(f"frame {h}x{w} is not divisible by block {block}")
    off = candidate_offsets(radius, f0.device)  # (K, 2)
    pad = F.pad(f1, (radius, radius, radius, radius), mode="replicate")  # (B, C, H+2r, W+2r)
    costs = []
    for dx, dy in off.tolist():
        shifted = pad[:, :, radius + dy : radius + dy + h, radius + dx : radius + dx + w]  # f1[y+dy, x+dx]
        per_px = _cost(f0, shifted, metric).mean(dim=1, keepdim=True)  # (B, 1, H, W)
        costs.append(F.avg_pool2d(per_px, block)[:, 0])  # (B, H/b, W/b)
    cost = torch.stack(costs, dim=1) + penalty * off.abs().sum(1).to(f0.dtype).view(1, -1, 1, 1)  # (B, K, gh, gw)
    best = cost.argmin(dim=1)  # (B, gh, gw)
    return off[best]  # (B, gh, gw, 2)


def _blocks_at(frames: Tensor, y: Tensor, x: Tensor, block: int) -> Tensor:
    """Gather ``block x block`` patches. frames: (N, C, Hp, Wp) (already padded);
    y, x: (N, *S) top-left corners in padded coordinates, every patch inside the frame
    (``track_blocks`` pads enough; an index outside is an error, not a silent clamp).
    -> (N, *S, C, block, block).

    One flat index per pixel: corner ``y * Wp + x`` plus the block's fixed pixel offsets
    (a broadcast add; this ran per clip in the data loader, where its ~12 small index ops
    per call were most of ``mme``'s view time)."""
    n, c, hp, wp = frames.shape
    s = y.shape[1:]
    local = _block_offsets(block, wp, frames.device)  # (b*b,)
    flat = ((y * wp + x).reshape(n, -1, 1) + local).reshape(n, 1, -1)  # (N, 1, M*b*b)
    g = frames.reshape(n, c, hp * wp).gather(2, flat.expand(n, c, flat.shape[-1]))  # (N, C, M*b*b)
    g = g.reshape(n, c, -1, block, block).permute(0, 2, 1, 3, 4)  # (N, M, C, b, b)
    return g.reshape(n, *s, c, block, block)


@functools.lru_cache(maxsize=32)
def _block_offsets(block: int, width: int, device) -> Tensor:
    """Flat offsets of a block's pixels from its top-left corner in rows of ``width``."""
    ar = torch.arange(block, device=device)
    return (ar.view(-1, 1) * width + ar.view(1, -1)).reshape(-1)


def track_blocks(frames: Tensor, block: int, radius: int, metric: str = "sad", penalty: float = 0.0) -> Tensor:
    """Track every grid block of ``frames[:, 0]`` through the following frames.

    frames: (N, T, C, H, W). At each step the block is re-matched from its current position
    in frame ``k-1`` (template updated every frame, so slow shape change is followed) to
    frame ``k`` within ``radius``. Returns (N, T-1, gh, gw, 2): the cumulative integer
    displacement (dx, dy) of each block from frame 0 to frames 1..T-1 (its trajectory).
    Positions may leave the frame; pixels outside are edge-replicated.
    """
    n, t, c, h, w = frames.shape
    if h % block or w % block:
        raise ValueError(f"frame {h}x{w} is not divisible by block {block}")
    gh, gw = h // block, w // block
    pad_px = radius * max(t - 1, 1) + block  # enough to never leave the padded frame
    padded = F.pad(frames.reshape(n * t, c, h, w), (pad_px,) * 4, mode="replicate")
    padded = padded.reshape(n, t, c, h + 2 * pad_px, w + 2 * pad_px)
    gy, gx = torch.meshgrid(
        torch.arange(gh, device=frames.device) * block, torch.arange(gw, device=frames.device) * block, indexing="ij"
    )
    y0 = gy.reshape(1, -1).expand(n, -1) + pad_px  # (N, M) top-left, padded coordinates
    x0 = gx.reshape(1, -1).expand(n, -1) + pad_px
    y, x = y0.clone(), x0.clone()
    off = candidate_offsets(radius, frames.device)  # (K, 2)
    pen = penalty * off.abs().sum(1).to(frames.dtype)  # (K,)
    out = []
    dxs, dys = off[:, 0].view(1, 1, -1), off[:, 1].view(1, 1, -1)  # (1, 1, K)
    for k in range(1, t):
        tmpl = _blocks_at(padded[:, k - 1], y, x, block)  # (N, M, C, b, b)
        cand = _blocks_at(padded[:, k], y[..., None] + dys, x[..., None] + dxs, block)  # (N, M, K, C, b, b)
        cost = _cost(tmpl[:, :, None], cand, metric).mean(dim=(3, 4, 5))  # (N, M, K)
        d = off[(cost + pen).argmin(dim=-1)]  # (N, M, 2); ties -> first = smallest |d|
        x, y = x + d[..., 0], y + d[..., 1]
        out.append(torch.stack([x - x0, y - y0], dim=-1))  # (N, M, 2)
    return torch.stack(out, dim=1).reshape(n, t - 1, gh, gw, 2)
