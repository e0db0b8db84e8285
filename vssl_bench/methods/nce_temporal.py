"""``nce-temporal``: InfoNCE with **temporal** augmentation (rho-MoCo/BYOL [1], TCLR [2]).

Positives are two **different time windows** of one video (starts drawn uniformly without
replacement from every start that fits, as [1] samples its rho clips uniformly from the
video); negatives are the clips of the other videos of the batch (both views, NT-Xent as
``nce``). Each window gets its own SimCLR-style spatial augmentation (crop scale 0.3-1,
colour jitter p=0.8, grayscale p=0.2, flips where the dataset allows them) as [1] and [2]
do: without colour augmentation the two windows of a video share their colours, and the
task is solved by colour alone (a measured 99 % on the embedded data, whose appearance is
random per video). What separates it from ``nce-st`` is the window sampling: uniform
here, CVRL's decreasing gap there.

``same_video_negatives`` (off by default) adds TCLR's [2] local-local idea: a **distant
window of the same video** is an extra negative for every anchor of the batch. The
positive is then a *near* window (``1 <= gap <= pos_max_gap``) and the negative a window
at least ``neg_min_gap`` frames away. TCLR uses non-overlapping clips; a 32-frame video
holds only two non-overlapping 16-frame clips, so the default ``neg_min_gap`` is
``clip_len // 2`` (at most half overlap), capped to what the video allows.

``uses_time`` is True: what makes two clips a positive pair is their position in time.
Caveat: invariance to a time shift can still be reached from appearance alone; the
distant-window negatives (or ``nce-motion``'s corrupted copies) are what force time to
matter.

Defaults: temperature 0.1 and the 2-layer 128-d projection as ``nce`` (CVRL / SimCLR);
``pos_max_gap`` = clip_len // 4 = 4 frames, ``neg_min_gap`` = clip_len // 2 (see above).

[1] C. Feichtenhofer, H. Fan, B. Xiong, R. Girshick, K. He, "A Large-Scale Study on
    Unsupervised Spatiotemporal Representation Learning", CVPR 2021.
[2] I. Dave, R. Gupta, M. N. Rizve, M. Shah, "TCLR: Temporal Contrastive Learning for
    Video Representation", CVIU 2022.
"""

from __future__ import annotations

from dataclasses import dataclass

from vssl_bench.data import samplers
from vssl_bench.methods.base import raw_clip
from vssl_bench.methods.contrastive_common import near_far_starts, strong_views, two_distinct_starts
from vssl_bench.methods.nce import NCE


class NCETemporal(NCE):
    """InfoNCE between two different time windows of one video (temporal augmentation)."""

    name = "nce-temporal"
    family = "contrastive"
    uses_time = True
    augmentation = "temporal"
    summary = "InfoNCE, temporal augmentation: two windows of one video, each spatially augmented"
    reference = "Feichtenhofer et al. CVPR 2021; Dave et al. TCLR, CVIU 2022"

    @dataclass
    class Params(NCE.Params):
        same_video_negatives: bool = False  # TCLR-style distant windows as extra negatives
        pos_max_gap: int = 0  # frames; 0 = clip_len // 4 (only with same_video_negatives)
        neg_min_gap: int = 0  # frames; 0 = clip_len // 2 (only with same_video_negatives)

        def validate(self):
            NCE.Params.validate(self)
            if self.pos_max_gap < 0 or self.neg_min_gap < 0:
                raise ValueError(
                    f"pos_max_gap and neg_min_gap must be >= 0, got {self.pos_max_gap}, {self.neg_min_gap}"
                )
            if self.pos_max_gap and self.neg_min_gap and self.neg_min_gap <= self.pos_max_gap:
                raise ValueError(f"neg_min_gap ({self.neg_min_gap}) must exceed pos_max_gap ({self.pos_max_gap})")

    @classmethod
    def views(cls, src, rng, p, cfg):
        n, t, s = src.n_frames, cfg.clip_len, cfg.frame_stride
        if p.same_video_negatives:
            starts = near_far_starts(n, t, s, rng, p.pos_max_gap or max(t // 4, 1), p.neg_min_gap or max(t // 2, 2))
        else:
            starts = two_distinct_starts(n, t, s, rng)
        out = strong_views([raw_clip(src, samplers.clip_at(st, t, s, n)) for st in starts], cfg.size, rng, p, cfg)
        if p.same_video_negatives:  # view2: the distant window, a hard negative of its own video
            out = {("neg_far" + k[5:] if k.startswith("view2") else k): v for k, v in out.items()}
        return out
