"""Small helpers shared by the contrastive family (functions, not a base class).

- window samplers: two distinct windows (``nce-temporal``), CVRL's decreasing-gap
  sampler (``nce-st``), a near / distant window triple (``nce-temporal`` with TCLR-style
  same-video negatives);
- :func:`strong_views`: the SimCLR / CVRL spatial augmentation of each clip (raw clips: colour at batch level);
- :func:`symmetric_nce`: symmetric InfoNCE, optionally with extra negatives;
- :func:`top1_match`: the family's shared "acc", the share of rows of ``z0`` whose
  nearest row of ``z1`` (cosine) is their own positive.

References:
    [1] R. Qian et al., "Spatiotemporal Contrastive Video Representation Learning"
        (CVRL), CVPR 2021, §3.2 (temporal interval from a monotonically decreasing
        distribution, first clip uniform, second delayed by the interval).
    [2] I. Dave et al., "TCLR: Temporal Contrastive Learning for Video Representation",
        CVIU 2022 (non-overlapping clips of the same video as negatives).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vssl_bench.data import samplers, transforms
from vssl_bench.losses import info_nce


# ------------------------------------------------------------------------ window samplers
def max_start(n_frames: int, clip_len: int, stride: int) -> int:
    """Largest start of a clip that fits in the video (0 when the video is too short)."""
    return max(n_frames - samplers.clip_span(clip_len, stride), 0)


def two_distinct_starts(n_frames: int, clip_len: int, stride: int, rng: np.random.Generator) -> tuple[int, int]:
    """Two different starts drawn uniformly without replacement from every start that fits
    (rho-MoCo / BYOL samples its clips uniformly from the video, Feichtenhofer et al. 2021).
    A video with a single fitting window returns it twice (documented degenerate case)."""
    m = max_start(n_frames, clip_len, stride)
    if m == 0:
        return 0, 0
    s0, s1 = rng.choice(m + 1, size=2, replace=False)
    return int(s0), int(s1)


def cvrl_gap_probs(max_gap: int) -> np.ndarray:
    """CVRL's interval distribution [1] on {0, ..., max_gap}: ``P(t) ∝ -t + c`` with
    ``c = max_gap + 1`` (CVRL requires ``c >= T`` so every interval keeps mass): linear,
    strictly decreasing. Returns (max_gap + 1,) probabilities."""
    if max_gap < 0:
        raise ValueError(f"max_gap must be >= 0, got {max_gap}")
    w = (max_gap + 1 - np.arange(max_gap + 1)).astype(np.float64)  # (max_gap + 1,)
    return w / w.sum()


def cvrl_starts(n_frames: int, clip_len: int, stride: int, rng: np.random.Generator) -> tuple[int, int]:
    """CVRL [1] §3.2: draw the interval t ~ P(t) (:func:`cvrl_gap_probs`), the first start
    uniformly in [0, max_start - t], the second start delayed by t."""
    m = max_start(n_frames, clip_len, stride)
    t = int(rng.choice(m + 1, p=cvrl_gap_probs(m)))
    s0 = int(rng.integers(0, m - t + 1))
    return s0, s0 + t


def near_far_starts(n_frames: int, clip_len: int, stride: int, rng: np.random.Generator,
                    pos_max_gap: int, neg_min_gap: int) -> tuple[int, int, int]:
    """(anchor, positive, distant negative) starts in one video, for TCLR-style [2]
    same-video negatives: ``1 <= |pos - anchor| <= pos_max_gap`` and
    ``|neg - anchor| >= neg_min_gap``. The anchor is drawn uniformly among the starts that
    admit a distant window; ``neg_min_gap`` is capped at ``max_start`` for short videos."""
    m = max_start(n_frames, clip_len, stride)
    if m == 0:
        return 0, 0, 0
    g = min(neg_min_gap, m)
    starts = np.arange(m + 1)
    anchors = starts[(starts - g >= 0) | (starts + g <= m)]
    a = int(rng.choice(anchors))
    pos = starts[(np.abs(starts - a) >= 1) & (np.abs(starts - a) <= max(pos_max_gap, 1))]
    neg = starts[np.abs(starts - a) >= g]
    return a, int(rng.choice(pos)), int(rng.choice(neg))


# ---------------------------------------------------------------------------- views
def strong_views(clips: list[Tensor], size: int, rng: np.random.Generator, p) -> dict[str, Tensor]:
    """``{"view0": ..., "view1": ...}``: one SimCLR / CVRL view of each clip (C, T, H, W),
    drawn in order: crop (scale ``p.crop_min_scale``-1), flip (``p.flip_p``), colour jitter,
    grayscale; one draw per clip, identical on every frame (CVRL's temporally consistent
    augmentation). A float [0, 1] clip comes out normalised; a raw clip (``base.raw_clip``)
    comes out cropped and flipped, its colour draws in ``"view{k}@color"`` for the batch
    (``transforms.finish_batch``: the same colours, applied to the whole batch at once)."""
    out = {}
    for k, clip in enumerate(clips):
        x, color = transforms.augment_draws(clip, size, rng, crop_scale=(p.crop_min_scale, 1.0), flip_p=p.flip_p)
        if x.dtype == torch.uint8:
            out[f"view{k}"], out[f"view{k}{transforms.COLOR_SUFFIX}"] = x, torch.from_numpy(color)  # (COLOR_PARAMS,) f64
        else:
            out[f"view{k}"] = transforms.normalize(transforms.apply_color(x, color))
    return out


def project_views(method, batch: dict) -> Tensor:
    """``view0`` and ``view1`` (B, C, T, H, W) through backbone + ``method.projector`` in one
    pass (one BatchNorm batch for both views) -> (2B, proj_dim), view0's rows first."""
    v0, v1 = batch["view0"], batch["view1"]
    return method.projector(method.backbone(torch.cat([v0, v1], dim=0)))


# ---------------------------------------------------------------------------- losses
def symmetric_nce(z0: Tensor, z1: Tensor, temperature: float, extra_negatives: Tensor | None = None) -> Tensor:
    """``(L(z0 -> z1) + L(z1 -> z0)) / 2`` where L is InfoNCE with in-batch negatives.

    ``extra_negatives`` (M, D), if given, are appended to the candidates of *both*
    directions (TCLR's same-video distant windows [2]); without them this is exactly
    ``(info_nce(z0, z1) + info_nce(z1, z0)) / 2``.
    """
    if extra_negatives is None:
        return 0.5 * (info_nce(z0, z1, temperature) + info_nce(z1, z0, temperature))
    z0, z1, zn = F.normalize(z0, dim=1), F.normalize(z1, dim=1), F.normalize(extra_negatives, dim=1)
    target = torch.arange(z0.shape[0], device=z0.device)  # (B,)
    loss = 0.0
    for a, b in ((z0, z1), (z1, z0)):
        logits = a @ torch.cat([b, zn], dim=0).T / temperature  # (B, B + M)
        loss = loss + F.cross_entropy(logits, target)
    return 0.5 * loss


@torch.no_grad()
def top1_match(z0: Tensor, z1: Tensor) -> Tensor:
    """Share of rows i whose most cosine-similar row of ``z1`` is row i (the positive)."""
    sim = F.normalize(z0.float(), dim=1) @ F.normalize(z1.float(), dim=1).T  # (B, B)
    return sim.argmax(1).eq(torch.arange(sim.shape[0], device=sim.device)).float().mean()
