"""Small helpers shared by the contrastive family (functions and one module, not a base class).

- window samplers: two distinct windows (``nce-temporal``), CVRL's decreasing-gap
  sampler (``nce-st``), a near / distant window triple (``nce-temporal`` with TCLR-style
  same-video negatives);
- :func:`strong_views`: the SimCLR / CVRL spatial augmentation of each clip (raw clips:
  colour at batch level), with no horizontal flip on datasets where left and right
  define classes (:func:`flips_allowed`);
- :func:`contrast`: SimCLR's NT-Xent over both views (2B - 2 negatives per anchor) plus
  any extra negatives, over the global batch under data parallelism;
- :class:`MomentumQueue`: MoCo's momentum encoder and queue of keys, extra negatives;
- :func:`instance_top1`: the family's own-task accuracy (is each clip's nearest other
  clip its positive?) with its chance level, and :func:`pixel_instance_top1`, the same
  task solved on raw pixels (the training-free baseline);
- :func:`embedding_spread`: how far apart the embeddings are (0: collapsed onto one
  point), reported beside the accuracy so a method that did not learn says whether it
  collapsed.

References:
    [1] R. Qian et al., "Spatiotemporal Contrastive Video Representation Learning"
        (CVRL), CVPR 2021, §3.2 (temporal interval from a monotonically decreasing
        distribution, first clip uniform, second delayed by the interval).
    [2] I. Dave et al., "TCLR: Temporal Contrastive Learning for Video Representation",
        CVIU 2022 (non-overlapping clips of the same video as negatives).
    [3] T. Chen et al., "A Simple Framework for Contrastive Learning of Visual
        Representations" (SimCLR), ICML 2020.
    [4] K. He et al., "Momentum Contrast for Unsupervised Visual Representation Learning"
        (MoCo), CVPR 2020, §3.2: a queue of keys from a momentum-updated encoder.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from vssl_bench import distributed
from vssl_bench.data import samplers, transforms
from vssl_bench.data.datasets import flips_allowed
from vssl_bench.losses import info_nce, nt_xent


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


def near_far_starts(
    n_frames: int, clip_len: int, stride: int, rng: np.random.Generator, pos_max_gap: int, neg_min_gap: int
) -> tuple[int, int, int]:
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
def strong_views(clips: list[Tensor], size: int, rng: np.random.Generator, p, cfg) -> dict[str, Tensor]:
    """``{"view0": ..., "view1": ...}``: one SimCLR / CVRL view of each clip (C, T, H, W),
    drawn in order: crop (scale ``p.crop_min_scale``-1), flip (``p.flip_p``, 0 where the
    dataset forbids flips: :func:`flips_allowed`), colour jitter, grayscale; one draw per
    clip, identical on every frame (CVRL's temporally consistent augmentation). A float
    [0, 1] clip comes out normalised; a raw clip (``base.raw_clip``) comes out cropped and
    flipped, its colour draws in ``"view{k}@color"`` for the batch
    (``transforms.finish_batch``: the same colours, applied to the whole batch at once)."""
    flip_p = p.flip_p if flips_allowed(cfg) else 0.0
    out = {}
    for k, clip in enumerate(clips):
        x, color = transforms.augment_draws(clip, size, rng, crop_scale=(p.crop_min_scale, 1.0), flip_p=flip_p)
        if x.dtype == torch.uint8:
            out[f"view{k}"], out[f"view{k}{transforms.COLOR_SUFFIX}"] = (
                x,
                torch.from_numpy(color),
            )  # (COLOR_PARAMS,) f64
        else:
            out[f"view{k}"] = transforms.normalize(transforms.apply_color(x, color))
    return out


def project_views(method, batch: dict) -> Tensor:
    """``view0`` and ``view1`` (B, C, T, H, W) through backbone + ``method.projector`` in one
    pass (one BatchNorm batch for both views) -> (2B, proj_dim), view0's rows first."""
    v0, v1 = batch["view0"], batch["view1"]
    return method.projector(method.backbone(torch.cat([v0, v1], dim=0)))


# ---------------------------------------------------------------------------- losses
def _global(*zs: Tensor | None) -> list[Tensor | None]:
    """Each (b, D) tensor gathered over the ranks, with gradients (every rank then computes
    the loss of the global batch, as one process would; ``distributed.gather_with_grad``
    returns each rank the gradient of its rows summed over ranks, and DDP's mean of the
    parameter gradients makes that the 1-process gradient). Under ``no_grad`` (held-out
    evaluation, which rank 0 runs alone) or in one process: unchanged."""
    if not (torch.is_grad_enabled() and distributed.is_initialized() and distributed.world_size() > 1):
        return list(zs)
    return [None if z is None else distributed.gather_with_grad(z) for z in zs]


def contrast(
    z0: Tensor, z1: Tensor, temperature: float, negatives: Tensor | None = None, queued: Tensor | None = None
) -> Tensor:
    """NT-Xent [3] of the global batch: each clip's positive is its other view, its
    negatives the 2B - 2 other clips of both views, this batch's ``negatives`` (M, D;
    gathered over the ranks like the views) and ``queued`` keys (Q, D; the same on every
    rank: :class:`MomentumQueue`)."""
    z0, z1, negatives = _global(z0, z1, negatives)
    extra = [t for t in (negatives, queued) if t is not None]
    return nt_xent(z0, z1, temperature, torch.cat(extra) if extra else None)


def cross_modal_nce(z0: Tensor, z1: Tensor, temperature: float) -> Tensor:
    """``(L(z0 -> z1) + L(z1 -> z0)) / 2`` with L the cross-modal InfoNCE (each row's
    candidates: the other modality's rows), over the global batch."""
    z0, z1 = _global(z0, z1)
    return 0.5 * (info_nce(z0, z1, temperature) + info_nce(z1, z0, temperature))


class MomentumQueue(nn.Module):
    """MoCo's queue [4] as extra negatives for the InfoNCE family: a momentum copy of the
    encoder (backbone + projector, exponential moving average of the trained weights, BN
    statistics copied) embeds each batch's first views as *keys*; after the step they are
    enqueued (first in, first out), and the last ``size`` keys are negatives of every
    anchor of the next steps: a larger effective batch at CPU size. Keys from a slowly
    moving encoder stay consistent with each other, which [4] §3.2 shows a queue needs.
    The queue and the momentum encoder are buffers and frozen weights of the method, so
    checkpoints carry them and a resumed job continues exactly."""

    def __init__(self, backbone: nn.Module, projector: nn.Module, size: int, dim: int, momentum: float):
        super().__init__()
        self.momentum = momentum
        self.key_backbone, self.key_projector = copy.deepcopy(backbone), copy.deepcopy(projector)
        for prm in [*self.key_backbone.parameters(), *self.key_projector.parameters()]:
            prm.requires_grad_(False)
        self.register_buffer("queue", torch.zeros(size, dim))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))  # keys enqueued so far

    @torch.no_grad()
    def keys(self, backbone: nn.Module, projector: nn.Module, x: Tensor) -> Tensor:
        """Update the momentum encoder from ``backbone`` / ``projector``, embed ``x`` -> (b, dim)."""
        for online, key in ((backbone, self.key_backbone), (projector, self.key_projector)):
            for po, pk in zip(online.parameters(), key.parameters()):
                pk.mul_(self.momentum).add_(po.detach(), alpha=1 - self.momentum)
            for bo, bk in zip(online.buffers(), key.buffers()):
                bk.copy_(bo)
        return F.normalize(self.key_projector(self.key_backbone(x)).float(), dim=1)

    def negatives(self) -> Tensor | None:
        """The queued keys (M, dim), M = min(size, enqueued so far); None while empty."""
        m = int(min(self.filled.item(), self.queue.shape[0]))
        return self.queue[:m].clone() if m else None

    @torch.no_grad()
    def enqueue(self, k: Tensor) -> None:
        k = distributed.gather_with_grad(k)  # every rank's keys (identity in one process)
        size, n = self.queue.shape[0], k.shape[0]
        start = int(self.filled.item()) % size
        idx = (start + torch.arange(n, device=k.device)) % size
        self.queue[idx[-size:]] = k[-size:].to(self.queue.dtype)
        self.filled += n


# ---------------------------------------------------------------------------- own task
@torch.no_grad()
def instance_top1(z0: Tensor, z1: Tensor, negatives: Tensor | None = None) -> dict[str, Tensor]:
    """The contrastive task's accuracy: the share of the 2B clips whose most cosine-similar
    candidate (the 2B - 1 other clips and ``negatives``) is their other view; ``chance`` is
    one over the number of candidates. ``{"acc", "chance"}``."""
    n = z0.shape[0]
    z = F.normalize(torch.cat([z0, z1]).float(), dim=1)  # (2B, D)
    cand = z if negatives is None else torch.cat([z, F.normalize(negatives.float(), dim=1)])
    sim = (z @ cand.T).fill_diagonal_(float("-inf"))  # (2B, 2B + M)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return {
        "acc": sim.argmax(1).eq(target).float().mean(),
        "chance": torch.tensor(1.0 / (cand.shape[0] - 1), device=z.device),
        "spread": embedding_spread(z),
    }


@torch.no_grad()
def embedding_spread(z: Tensor) -> Tensor:
    """Mean squared distance between the L2-normalised rows of ``z`` (N, D), over the
    N(N-1) pairs of different rows: 0 when every row is the same point (a collapsed
    embedding, where a triplet or margin loss has no gradient left; all-zero rows too), 2
    for orthogonal directions on average, at most 4. Computed in float32 outside autocast
    (a bf16 matmul would round it in steps of ~0.01 near a collapse), from
    ``sum_{i,j} ||u_i - u_j||^2 = 2 N sum_i ||u_i||^2 - 2 ||sum_i u_i||^2``."""
    n = z.shape[0]
    if n < 2:
        return torch.tensor(float("nan"), device=z.device)
    with torch.autocast(z.device.type, enabled=False):
        u = F.normalize(z.float(), dim=1)
        total = 2 * n * u.pow(2).sum() - 2 * u.sum(0).pow(2).sum()
        return (total / (n * (n - 1))).clamp(min=0.0)


@torch.no_grad()
def pixel_instance_top1(v0: Tensor, v1: Tensor, negatives: Tensor | None = None) -> Tensor:
    """:func:`instance_top1` of the clips' own pixels (each clip average-pooled to 4 x 4 per
    frame, flattened): how well instance discrimination is solved with no training at all,
    e.g. by colour alone when the views keep it."""

    def flat(v: Tensor) -> Tensor:  # (B, C, T, H, W) -> (B, C*T*16)
        return F.adaptive_avg_pool3d(v.float(), (v.shape[2], 4, 4)).flatten(1)

    return instance_top1(flat(v0), flat(v1), None if negatives is None else flat(negatives))["acc"]


@torch.no_grad()
def top1_match(z0: Tensor, z1: Tensor) -> Tensor:
    """Share of rows i whose most cosine-similar row of ``z1`` is row i (the positive), in
    float32 outside autocast: a bf16 matmul could turn near-ties over a large gallery."""
    with torch.autocast(z0.device.type, enabled=False):
        sim = F.normalize(z0.float(), dim=1) @ F.normalize(z1.float(), dim=1).T  # (B, B)
    return sim.argmax(1).eq(torch.arange(sim.shape[0], device=sim.device)).float().mean()
