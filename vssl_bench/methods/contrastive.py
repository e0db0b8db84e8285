"""``contrastive``: the margin-based contrastive loss on pairs (Hadsell et al. [1]).

Loss, exactly as in the lecture (``vssl_bench.losses.contrastive_loss``):
``L = (1 - Y) * ||x_i - x_j||^2 + Y * max(0, m - ||x_i - x_j||^2)``, Y = 0 similar.

Pairs, built in the batch: each video gives two clips, sampled and augmented exactly as
``nce-st`` (CVRL windows: gap from the decreasing distribution, then crop 0.3-1, colour
jitter p=0.8, grayscale p=0.2) except that there is **no horizontal flip** by default
(Hadsell et al. and FaceNet use none, and a flip turns a left-moving clip into a
right-moving one); ``flip_p=0.5`` makes the views identical to ``nce-st``'s, so the two
losses can be compared on the same data. Why not mild augmentation only: measured with
two random windows and a mild crop (scale 0.6-1, no colour), the pairs were told apart
by appearance at initialisation (pair retrieval 0.91 at step 1) and the features got
*worse* than untrained ones (seed 0, 150 steps: linear 0.086, kNN 0.090, R@1 0.039).
Clip 0 of video i and clip 1
of video i form a **similar** pair (Y = 0); clip 0 of video i and clip 1 of video j != i
a **dissimilar** pair (Y = 1). All B similar and B(B-1) dissimilar pairs are used, and the
two kinds are weighted equally (the loss is the mean of the loss over similar pairs and
the loss over dissimilar pairs), as if pairs were drawn half similar, half dissimilar
as in [1] §4; otherwise dissimilar pairs would outweigh similar ones (B-1):1.

Embeddings are the projection-MLP outputs **L2-normalised** (as FaceNet [2] does for the
triplet loss). Why: without a norm constraint the margin has no scale (the network can
satisfy ``d^2 >= m`` by inflating all norms while weight decay pulls them back, and the
balance depends on the weight decay); on the unit sphere ``d^2 = 2 - 2 cos`` lies in
[0, 4], so the margin is an angle, and the three contrastive losses of the family (this,
``triplet``, InfoNCE) compare embeddings in the same geometry. Margin default m = 1 (the
lecture's and the loss function's default): a dissimilar pair stops being pushed once
``cos <= 1/2`` (60 degrees apart); 32 unit vectors in 128-d can all satisfy it at once,
so the constraint is feasible, and it bites as long as clips of different videos lie
within 60 degrees of each other.

Do the contrastive loss and the triplet loss require the same data at the same time?
**No.** The contrastive loss consumes *one pair at a time plus a label*: two inputs and
Y (similar / dissimilar); a similar pair and a dissimilar pair are separate terms and can
come from different batches. The triplet loss needs an anchor, a positive **and** a
negative *at the same time*, because it constrains the *difference* of two distances
``d(a, p)^2 - d(a, n)^2``, a relative statement that needs all three; it needs no label
beyond knowing which of the three is the odd one out. Here both are built from the same
two clips per video, but each contrastive term uses two clips, each triplet term three.

``uses_time`` True: the similar pairs are two different windows of one video, i.e. a
temporal augmentation (whether a contrastive method uses time depends on how its pairs are
built); invariance to the time shift can still be reached from appearance alone.

[1] R. Hadsell, S. Chopra, Y. LeCun, "Dimensionality Reduction by Learning an Invariant
    Mapping", CVPR 2006.
[2] F. Schroff, D. Kalenichenko, J. Philbin, "FaceNet: A Unified Embedding for Face
    Recognition and Clustering", CVPR 2015.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vssl_bench.data import samplers
from vssl_bench.losses import contrastive_loss
from vssl_bench.methods.base import Method, raw_clip
from vssl_bench.methods.contrastive_common import (
    cvrl_starts,
    instance_top1,
    pixel_instance_top1,
    project_views,
    strong_views,
)
from vssl_bench.models.heads import mlp


def two_clip_views(src, rng, p, cfg) -> dict[str, torch.Tensor]:
    """Two clips of one video: CVRL-sampled windows, each with its own spatial augmentation
    (``p.crop_min_scale``, ``p.flip_p``), as ``nce-st``."""
    n, t, s = src.n_frames, cfg.clip_len, cfg.frame_stride
    return strong_views(
        [raw_clip(src, samplers.clip_at(st, t, s, n)) for st in cvrl_starts(n, t, s, rng)], cfg.size, rng, p, cfg
    )


def check_view_params(p) -> None:
    if not 0 <= p.flip_p <= 1:
        raise ValueError(f"flip_p must be in [0, 1], got {p.flip_p}")
    if not 0 < p.crop_min_scale <= 1:
        raise ValueError(f"crop_min_scale must be in (0, 1], got {p.crop_min_scale}")


def pair_labels(b: int, device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every (i, j) pair of a batch of b videos: row index i, column index j and
    Y = 0 if i == j (same video: similar) else 1. Returns three (b*b,) tensors."""
    i, j = torch.meshgrid(torch.arange(b, device=device), torch.arange(b, device=device), indexing="ij")
    i, j = i.reshape(-1), j.reshape(-1)  # (b*b,)
    return i, j, (i != j).long()


class Contrastive(Method):
    """Margin contrastive loss on similar (same video) / dissimilar (other video) pairs."""

    name = "contrastive"
    family = "contrastive"
    uses_time = True
    summary = "margin contrastive loss (Hadsell 2006) on same-video / other-video clip pairs"
    reference = "Hadsell, Chopra & LeCun, CVPR 2006"
    baseline_name = "matching each clip to its nearest by pixels pooled to 4 x 4"

    # `vssl-bench tune`: lr x 3 and this parameter x 2 (default first), the same effort for every method
    tune = {"margin": (1.0, 0.5)}  # the margin sets how far apart negatives are pushed; 0.5 = a looser push

    @dataclass
    class Params:
        margin: float = 1.0  # lecture / contrastive_loss default; cos <= 0.5 on the unit sphere
        proj_dim: int = 128  # as the InfoNCE methods
        proj_hidden: int = 512
        normalize: bool = True  # L2-normalise embeddings (see docstring)
        flip_p: float = 0.0  # no flips (Hadsell / FaceNet); 0.5 = nce-st's views
        crop_min_scale: float = 0.3  # CVRL video crop, as nce-st

        def validate(self):
            check_view_params(self)
            if not self.margin > 0:
                raise ValueError(f"margin must be > 0, got {self.margin}")
            if self.normalize and self.margin >= 4:
                raise ValueError(f"margin must be < 4 with normalised embeddings (d^2 <= 4), got {self.margin}")

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        self.projector = mlp(backbone.out_dim, p.proj_hidden, p.proj_dim)

    @classmethod
    def views(cls, src, rng, p, cfg):
        return two_clip_views(src, rng, p, cfg)

    def loss(self, batch):
        b = batch["view0"].shape[0]
        z = project_views(self, batch).float()  # (2B, proj_dim)
        if self.p.normalize:
            z = F.normalize(z, dim=1)
        z0, z1 = z[:b], z[b:]
        i, j, y = pair_labels(b, z.device)  # (B*B,) each
        sim, dis = y == 0, y == 1
        loss = 0.5 * (
            contrastive_loss(z0[i[sim]], z1[j[sim]], y[sim], self.p.margin)
            + contrastive_loss(z0[i[dis]], z1[j[dis]], y[dis], self.p.margin)
        )
        return {"loss": loss, **instance_top1(z0, z1), "baseline": pixel_instance_top1(batch["view0"], batch["view1"])}
