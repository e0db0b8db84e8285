"""``nce-static``: the **time-blind control** of the contrastive family.

InfoNCE exactly like ``nce`` (same projection, temperature, augmentations, in-batch
negatives, SimCLR [1] / CVRL [2]) except for the clip: **one frame, drawn uniformly from
the video, repeated ``clip_len`` times** (we repeat rather than shuffle: a shuffled clip
still carries motion statistics such as frame-to-frame differences and blur, a repeated
frame carries none). Both views come from that same frame, so the task can only be solved
from appearance; nothing temporal can be learned. Without this control the question "are
time-related tasks more helpful?" has no clean answer, because ``nce``'s two views of one
window share their motion (CALIBRATION.md).

Evaluation is unchanged: kNN / linear / retrieval still feed *real* clips to ``embed``,
i.e. the backbone sees moving clips it never saw during pretraining.

``uses_time`` False by construction.

[1] T. Chen et al., "A Simple Framework for Contrastive Learning of Visual
    Representations", ICML 2020.
[2] R. Qian et al., "Spatiotemporal Contrastive Video Representation Learning", CVPR 2021.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vssl_bench.methods.base import Method
from vssl_bench.methods.contrastive_common import strong_view, symmetric_nce, top1_match
from vssl_bench.models.heads import mlp


class NCEStatic(Method):
    """InfoNCE between two augmentations of one frame repeated clip_len times."""

    name = "nce-static"
    family = "contrastive"
    uses_time = False
    summary = "time-blind control: InfoNCE like nce on one frame repeated clip_len times"
    reference = "Chen et al. SimCLR, ICML 2020; Qian et al. CVRL, CVPR 2021 (control)"

    @dataclass
    class Params:  # identical to nce's
        temperature: float = 0.1  # CVRL
        proj_dim: int = 128  # SimCLR
        proj_hidden: int = 512
        flip_p: float = 0.5  # SimCLR / CVRL
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
        f = int(rng.integers(0, src.n_frames))
        clip = src.clip(np.full(cfg.clip_len, f, dtype=np.int64))  # (C, T, H, W), T copies of frame f
        return {"view0": strong_view(clip, cfg.size, rng, p), "view1": strong_view(clip, cfg.size, rng, p)}

    def loss(self, batch):
        v0, v1 = batch["view0"], batch["view1"]  # (B, C, T, H, W) each
        b = v0.shape[0]
        z = self.projector(self.backbone(torch.cat([v0, v1], dim=0)))  # (2B, proj_dim)
        z0, z1 = z[:b], z[b:]
        return {"loss": symmetric_nce(z0, z1, self.p.temperature), "acc": top1_match(z0, z1)}
