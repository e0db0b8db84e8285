"""``nce-temporal``: InfoNCE with **temporal** augmentation (rho-MoCo/BYOL [1], TCLR [2]).

Positives are two **different time windows** of one video (starts drawn uniformly without
replacement from every start that fits, as [1] samples its rho clips uniformly from the
video); negatives are the clips of the other videos of the batch. Spatial augmentation is
kept to the minimum: an independent mild crop per view (scale 0.6-1, ``light_augment``,
the jitter every non-contrastive method gets), no flip, no colour jitter, so the views
differ mainly in *time*.

``same_video_negatives`` (off by default) adds TCLR's [2] local-local idea: a **distant
window of the same video** is an extra negative for every anchor of the batch. The
positive is then a *near* window (``1 <= gap <= pos_max_gap``) and the negative a window
at least ``neg_min_gap`` frames away. TCLR uses non-overlapping clips; a 32-frame video
holds only two non-overlapping 16-frame clips, so the default ``neg_min_gap`` is
``clip_len // 2`` (at most half overlap), capped to what the video allows.

``uses_time`` is True: what makes two clips a positive pair is their position in time
(PROTOCOLS.md table). Caveat: invariance to a time shift can still be reached from
appearance alone; the distant-window negatives are what forces time to matter.

Defaults: temperature 0.1 and the 2-layer 128-d projection as ``nce`` (CVRL / SimCLR);
``pos_max_gap`` = clip_len // 4 = 4 frames, ``neg_min_gap`` = clip_len // 2 (see above).

[1] C. Feichtenhofer, H. Fan, B. Xiong, R. Girshick, K. He, "A Large-Scale Study on
    Unsupervised Spatiotemporal Representation Learning", CVPR 2021.
[2] I. Dave, R. Gupta, M. N. Rizve, M. Shah, "TCLR: Temporal Contrastive Learning for
    Video Representation", CVIU 2022.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vssl_bench.data import samplers
from vssl_bench.methods.base import Method, light_augment, raw_clip
from vssl_bench.methods.contrastive_common import near_far_starts, symmetric_nce, top1_match, two_distinct_starts
from vssl_bench.models.heads import mlp


class NCETemporal(Method):
    """InfoNCE between two different time windows of one video (temporal augmentation)."""

    name = "nce-temporal"
    family = "contrastive"
    uses_time = True
    summary = "InfoNCE, temporal augmentation: two windows of one video, minimal spatial aug"
    reference = "Feichtenhofer et al. CVPR 2021; Dave et al. TCLR, CVIU 2022"

    @dataclass
    class Params:
        temperature: float = 0.1  # CVRL / MoCo-v2
        proj_dim: int = 128  # SimCLR
        proj_hidden: int = 512
        same_video_negatives: bool = False  # TCLR-style distant windows as extra negatives
        pos_max_gap: int = 0  # frames; 0 = clip_len // 4 (only with same_video_negatives)
        neg_min_gap: int = 0  # frames; 0 = clip_len // 2 (only with same_video_negatives)

        def validate(self):
            if self.temperature <= 0:
                raise ValueError(f"temperature must be > 0, got {self.temperature}")
            if self.pos_max_gap < 0 or self.neg_min_gap < 0:
                raise ValueError(f"pos_max_gap and neg_min_gap must be >= 0, got {self.pos_max_gap}, "
                                 f"{self.neg_min_gap}")
            if self.pos_max_gap and self.neg_min_gap and self.neg_min_gap <= self.pos_max_gap:
                raise ValueError(f"neg_min_gap ({self.neg_min_gap}) must exceed pos_max_gap ({self.pos_max_gap})")

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        self.projector = mlp(backbone.out_dim, p.proj_hidden, p.proj_dim)

    @classmethod
    def views(cls, src, rng, p, cfg):
        n, t, s = src.n_frames, cfg.clip_len, cfg.frame_stride
        if p.same_video_negatives:
            starts = near_far_starts(n, t, s, rng, p.pos_max_gap or max(t // 4, 1), p.neg_min_gap or max(t // 2, 2))
        else:
            starts = two_distinct_starts(n, t, s, rng)
        out = {f"view{k}": light_augment(raw_clip(src, samplers.clip_at(st, t, s, n)), cfg.size, rng)
               for k, st in enumerate(starts)}  # view2 = the distant same-video negative
        return out

    def loss(self, batch):
        vs = [batch[f"view{k}"] for k in range(3) if f"view{k}" in batch]  # (B, C, T, H, W) each
        b = vs[0].shape[0]
        z = self.projector(self.backbone(torch.cat(vs, dim=0)))  # (len(vs) * B, proj_dim)
        z0, z1 = z[:b], z[b:2 * b]
        extra = z[2 * b:] if len(vs) == 3 else None  # (B, proj_dim) distant windows
        return {"loss": symmetric_nce(z0, z1, self.p.temperature, extra), "acc": top1_match(z0, z1)}
