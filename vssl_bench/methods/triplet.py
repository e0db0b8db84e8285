"""``triplet``: the triplet loss with in-batch mining (Wang & Gupta [1], FaceNet [2], [3]).

Loss, exactly as in the lecture (``vssl_bench.losses.triplet_loss``):
``L = max(0, ||x - x+||^2 - ||x - x-||^2 + m)``.

Triplets: each video gives two clips built exactly as in ``contrastive`` (CVRL-sampled
windows, crop 0.3-1, colour jitter, grayscale, no flip by default; see there why mild
augmentation alone is not enough). Every one of the 2B clips is an anchor; its positive is the other clip of
its video; its negative is mined among the 2B - 2 clips of the *other* videos:

- ``semi-hard`` (default, FaceNet [2] §3.2): the closest negative that is still farther
  than the positive (``d_an^2 > d_ap^2``); when there is none, the farthest negative (the
  fallback of TensorFlow Addons' ``TripletSemiHardLoss``). FaceNet chose it because the
  hardest negatives "can lead to bad local minima early on in training, specifically it can
  result in a collapsed model (i.e. f(x) = 0)".
- ``batch-hard`` (Hermans et al. [3]): the closest negative. [3] found it the best variant
  for person re-identification; with two clips per video ([3]'s P x K batch with K = 2)
  the hardest positive is the only positive. **It collapses here**, from a random
  initialisation: on the embedded data (seed 0, the shared recipe) the training loss sat at
  the margin (median 0.2000-0.2002 after step 60, never below it: every embedding on
  one point, where the gradient of ``d_ap^2 - d_an^2`` is zero) from step ~40 to the end
  at every budget from 150 to 4800 steps, its held-out instance matching stayed below
  raw-pixel matching (14-17 % vs 23 %) and its features at chance (linear 9-12 %);
  the held-out embeddings' mean squared distance (``pretext_spread``) was 0.000 at 150 and at
  4800 steps (an untrained network: 0.06, its clips already close together; 2 for unrelated
  directions); tests/methods/test_learns.py reproduces the collapse on its small problem
  (0.04). Semi-hard mining on the same data and recipe does
  not collapse (spread 1.94 at 600 and 1200 steps): held-out instance matching 24.8 % at
  600 steps, 48.6 % at 2400 (pixel matching 23.4 %). The report's gate and ``run`` name a
  collapse where they see one (``stats.COLLAPSED_SPREAD``).

Mining uses distances without gradient; the loss is then ``triplet_loss`` on the
(anchor, positive, negative) embeddings. Embeddings are L2-normalised and the margin is
0.2, both as FaceNet [2] (``||f(x)|| = 1``, alpha = 0.2); on the unit sphere
``d^2 = 2 - 2 cos``.

Do the contrastive loss and the triplet loss require the same data at the same time?
**No.** The contrastive loss (``contrastive``) needs *a pair and a label*: two inputs and
whether they are similar (Y = 0) or dissimilar (Y = 1); similar and dissimilar pairs are
independent terms. The triplet loss needs **three inputs at once**: an anchor, a positive
*and* a negative, because it constrains the difference ``d(a, p)^2 - d(a, n)^2`` (only
relative distances matter: no absolute threshold on any single distance), so every term
needs a similar and a dissimilar example of the same anchor together.

``uses_time`` True: positives are two different windows of one video (temporal
augmentation), as ``contrastive``; appearance alone can still solve it.

[1] X. Wang, A. Gupta, "Unsupervised Learning of Visual Representations using Videos",
    ICCV 2015.
[2] F. Schroff, D. Kalenichenko, J. Philbin, "FaceNet: A Unified Embedding for Face
    Recognition and Clustering", CVPR 2015.
[3] A. Hermans, L. Beyer, B. Leibe, "In Defense of the Triplet Loss for Person
    Re-Identification", arXiv:1703.07737, 2017.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vssl_bench.losses import triplet_loss
from vssl_bench.methods.base import Method
from vssl_bench.methods.contrastive import check_view_params, two_clip_views
from vssl_bench.methods.contrastive_common import instance_top1, pixel_instance_top1, project_views
from vssl_bench.models.heads import mlp

MINING = ("batch-hard", "semi-hard")


@torch.no_grad()
def mine_triplets(z: torch.Tensor, video: torch.Tensor, mining: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the positive and the mined negative of every row of ``z`` (N, D).

    ``video`` (N,) gives each row's video; every video must have exactly two rows.
    Returns (pos, neg), each (N,) long.
    """
    d2 = torch.cdist(z.float(), z.float()).pow(2)  # (N, N)
    same = video[:, None] == video[None, :]  # (N, N)
    eye = torch.eye(len(video), dtype=torch.bool, device=z.device)
    pos = (same & ~eye).float().argmax(1)  # (N,) the other clip of the video
    d_ap = d2.gather(1, pos[:, None])  # (N, 1)
    inf = torch.finfo(d2.dtype).max
    if mining == "batch-hard":
        neg = d2.masked_fill(same, inf).argmin(1)  # (N,)
    elif mining == "semi-hard":
        semi = ~same & (d2 > d_ap)  # (N, N)
        closest_semi = d2.masked_fill(~semi, inf).argmin(1)  # (N,)
        farthest = d2.masked_fill(same, -1.0).argmax(1)  # (N,) fallback
        neg = torch.where(semi.any(1), closest_semi, farthest)
    else:
        raise ValueError(f"mining must be one of {MINING}, got {mining!r}")
    return pos, neg


class Triplet(Method):
    """Triplet loss, anchor/positive from one video, mined negative from another."""

    name = "triplet"
    family = "contrastive"
    uses_time = True
    summary = "triplet loss (FaceNet form), two clips per video, semi-hard negative mining"
    reference = "Wang & Gupta ICCV 2015; Schroff et al. FaceNet CVPR 2015; Hermans et al. 2017"
    baseline_name = "matching each clip to its nearest by pixels pooled to 4 x 4"

    # `vssl-bench tune`: lr x 3 and this parameter x 2 (default first), the same effort for every method
    tune = {"margin": (0.2, 0.5)}  # FaceNet's alpha 0.2; 0.5 asks for a wider gap on unit-norm embeddings

    @dataclass
    class Params:
        margin: float = 0.2  # FaceNet alpha, unit-norm embeddings
        mining: str = "semi-hard"  # FaceNet; "batch-hard" (Hermans et al.) collapses here, see above
        proj_dim: int = 128  # FaceNet embeds in 128-d
        proj_hidden: int = 512
        flip_p: float = 0.0  # no flips (FaceNet); 0.5 = nce-st's views
        crop_min_scale: float = 0.3  # CVRL video crop, as nce-st

        def validate(self):
            check_view_params(self)
            if not self.margin >= 0:
                raise ValueError(f"margin must be >= 0, got {self.margin}")
            if self.mining not in MINING:
                raise ValueError(f"mining must be one of {', '.join(MINING)}, got {self.mining!r}")

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        self.projector = mlp(backbone.out_dim, p.proj_hidden, p.proj_dim)

    @classmethod
    def views(cls, src, rng, p, cfg):
        return two_clip_views(src, rng, p, cfg)

    def loss(self, batch):
        b = batch["view0"].shape[0]
        z = F.normalize(project_views(self, batch).float(), dim=1)  # (2B, D)
        video = torch.arange(b, device=z.device).repeat(2)  # (2B,)
        pos, neg = mine_triplets(z.detach(), video, self.p.mining)
        loss = triplet_loss(z, z[pos], z[neg], self.p.margin)
        return {
            "loss": loss,
            **instance_top1(z[:b], z[b:]),
            "baseline": pixel_instance_top1(batch["view0"], batch["view1"]),
        }
