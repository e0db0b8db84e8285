"""``nce-st``: InfoNCE with **spatio-temporal** augmentation, CVRL [1].

Two clips of one video at different times **and** with different spatial augmentations.
The temporal interval ``t`` between the two starts is drawn from CVRL's monotonically
decreasing distribution ``P(t) ∝ -t + c`` over ``[0, max_start]`` with ``c = max_start + 1``
([1] §3.2, Fig. 3: decreasing beats uniform and increasing; ``c >= T`` keeps every
interval possible), the first clip uniformly in ``[0, max_start - t]``, the second delayed
by ``t`` (``contrastive_common.cvrl_starts``). Each clip then gets its own temporally
consistent SimCLR-style augmentation (crop scale 0.3-1, horizontal flip p=0.5, colour
jitter p=0.8, grayscale p=0.2), exactly as ``nce``.

Flips: CVRL uses them, so they are kept here as in ``nce``; on the embedded data a flip
turns a left-moving clip into a right-moving one, so flips push reverse-pair classes
together (set ``flip_p=0`` to remove them).

``uses_time`` is True: the positives are defined by (nearby) positions in time.

Defaults: temperature 0.1 ([1] §4), 2-layer 128-d projection (SimCLR [2]).

[1] R. Qian, T. Meng, B. Gong, M.-H. Yang, H. Wang, S. Belongie, Y. Cui, "Spatiotemporal
    Contrastive Video Representation Learning", CVPR 2021.
[2] T. Chen et al., "A Simple Framework for Contrastive Learning of Visual
    Representations", ICML 2020.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vssl_bench.data import samplers
from vssl_bench.methods.base import Method
from vssl_bench.methods.contrastive_common import cvrl_starts, strong_view, symmetric_nce, top1_match
from vssl_bench.models.heads import mlp


class NCESpatioTemporal(Method):
    """InfoNCE between two CVRL-sampled windows, each spatially augmented."""

    name = "nce-st"
    family = "contrastive"
    uses_time = True
    summary = "InfoNCE, spatio-temporal augmentation (CVRL): decreasing-gap windows + spatial aug"
    reference = "Qian et al. CVRL, CVPR 2021"

    @dataclass
    class Params:
        temperature: float = 0.1  # CVRL
        proj_dim: int = 128  # SimCLR
        proj_hidden: int = 512
        flip_p: float = 0.5  # CVRL / SimCLR
        crop_min_scale: float = 0.3  # CVRL video crop

        def validate(self):
            if self.temperature <= 0:
                raise ValueError(f"temperature must be > 0, got {self.temperature}")
            if not 0 <= self.flip_p <= 1:
                raise ValueError(f"flip_p must be in [0, 1], got {self.flip_p}")
            if not 0 < self.crop_min_scale <= 1:
                raise ValueError(f"crop_min_scale must be in (0, 1], got {self.crop_min_scale}")

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        self.projector = mlp(backbone.out_dim, p.proj_hidden, p.proj_dim)

    @classmethod
    def views(cls, src, rng, p, cfg):
        n, t, s = src.n_frames, cfg.clip_len, cfg.frame_stride
        starts = cvrl_starts(n, t, s, rng)
        return {f"view{k}": strong_view(src.clip(samplers.clip_at(st, t, s, n)), cfg.size, rng, p)
                for k, st in enumerate(starts)}

    def loss(self, batch):
        v0, v1 = batch["view0"], batch["view1"]  # (B, C, T, H, W) each
        b = v0.shape[0]
        z = self.projector(self.backbone(torch.cat([v0, v1], dim=0)))  # (2B, proj_dim)
        z0, z1 = z[:b], z[b:]
        return {"loss": symmetric_nce(z0, z1, self.p.temperature), "acc": top1_match(z0, z1)}
