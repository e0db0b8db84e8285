"""``nce-st``: InfoNCE with **spatio-temporal** augmentation, CVRL [1].

Two clips of one video at different times **and** with different spatial augmentations.
The temporal interval ``t`` between the two starts is drawn from CVRL's monotonically
decreasing distribution ``P(t) ∝ -t + c`` over ``[0, max_start]`` with ``c = max_start + 1``
([1] §3.2, Fig. 3: decreasing beats uniform and increasing; ``c >= T`` keeps every
interval possible), the first clip uniformly in ``[0, max_start - t]``, the second delayed
by ``t`` (``contrastive_common.cvrl_starts``). Each clip then gets its own temporally
consistent SimCLR-style augmentation (crop scale 0.3-1, horizontal flip p=0.5, colour
jitter p=0.8, grayscale p=0.2), exactly as ``nce``, and the same loss (NT-Xent, both views'
negatives, optional MoCo queue).

Flips: CVRL uses them, so they are kept here as in ``nce``, except where a flip changes
the class (the embedded data: a flipped left-moving clip is a right-moving one;
``Config.hflip``).

``uses_time`` is True: the positives are defined by (nearby) positions in time.

Defaults: temperature 0.1 ([1] §4), 2-layer 128-d projection (SimCLR [2]).

[1] R. Qian, T. Meng, B. Gong, M.-H. Yang, H. Wang, S. Belongie, Y. Cui, "Spatiotemporal
    Contrastive Video Representation Learning", CVPR 2021.
[2] T. Chen et al., "A Simple Framework for Contrastive Learning of Visual
    Representations", ICML 2020.
"""

from __future__ import annotations

from vssl_bench.data import samplers
from vssl_bench.methods.base import raw_clip
from vssl_bench.methods.contrastive_common import cvrl_starts, strong_views
from vssl_bench.methods.nce import NCE


class NCESpatioTemporal(NCE):
    """InfoNCE between two CVRL-sampled windows, each spatially augmented."""

    name = "nce-st"
    family = "contrastive"
    uses_time = True
    augmentation = "spatio-temporal"
    summary = "InfoNCE, spatio-temporal augmentation (CVRL): decreasing-gap windows + spatial aug"
    reference = "Qian et al. CVRL, CVPR 2021"

    @classmethod
    def views(cls, src, rng, p, cfg):
        n, t, s = src.n_frames, cfg.clip_len, cfg.frame_stride
        starts = cvrl_starts(n, t, s, rng)
        return strong_views([raw_clip(src, samplers.clip_at(st, t, s, n)) for st in starts], cfg.size, rng, p, cfg)
