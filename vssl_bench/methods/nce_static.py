"""``nce-static``: the **time-blind control** of the contrastive family.

InfoNCE exactly like ``nce`` (same projection, temperature, augmentations, in-batch
negatives, SimCLR [1] / CVRL [2]) except for the clip: **one frame, drawn uniformly from
the video, repeated ``clip_len`` times** (we repeat rather than shuffle: a shuffled clip
still carries motion statistics such as frame-to-frame differences and blur, a repeated
frame carries none). Both views come from that same frame, so the task can only be solved
from appearance; nothing temporal can be learned. Without this control the question "are
time-related tasks more helpful?" has no clean answer, because ``nce``'s two views of one
window share their motion.

Evaluation is unchanged: kNN / linear / retrieval still feed *real* clips to ``embed``,
i.e. the backbone sees moving clips it never saw during pretraining.

``uses_time`` False by construction.

[1] T. Chen et al., "A Simple Framework for Contrastive Learning of Visual
    Representations", ICML 2020.
[2] R. Qian et al., "Spatiotemporal Contrastive Video Representation Learning", CVPR 2021.
"""

from __future__ import annotations

import numpy as np

from vssl_bench.methods.base import raw_clip
from vssl_bench.methods.contrastive_common import strong_views
from vssl_bench.methods.nce import NCE


class NCEStatic(NCE):
    """InfoNCE between two augmentations of one frame repeated clip_len times."""

    name = "nce-static"
    family = "contrastive"
    uses_time = False
    time_blind_control = True
    augmentation = ""  # a control, not a kind of augmentation
    summary = "time-blind control: InfoNCE like nce on one frame repeated clip_len times"
    reference = "Chen et al. SimCLR, ICML 2020; Qian et al. CVRL, CVPR 2021 (control)"

    @classmethod
    def views(cls, src, rng, p, cfg):
        f = int(rng.integers(0, src.n_frames))
        clip = raw_clip(src, np.full(cfg.clip_len, f, dtype=np.int64))  # (C, T, H, W), T copies of frame f
        return strong_views([clip, clip], cfg.size, rng, p, cfg)
