"""``nce``: InfoNCE with view augmentation (SimCLR [1] applied to clips, as in CVRL [2]).

Two views of the **same time window**, each with its own spatial augmentation (random
resized crop, horizontal flip, colour jitter, grayscale; one draw per clip, identical on
every frame as in [2] §3.2), a projection MLP, and the symmetric InfoNCE loss with the
other clips of the batch as negatives.

Defaults: temperature 0.1 (CVRL §4: 0.1); projection 2-layer MLP to 128-d (SimCLR);
crop scale (0.3, 1) (CVRL's video crop), flip p=0.5, colour jitter p=0.8 (strength
0.4/0.4/0.4/0.1), grayscale p=0.2 (SimCLR/CVRL).

Both views share their motion, so ``nce`` can learn temporal features even though its
positives are not defined by time: ``uses_time`` is False because the *task* does not
depend on temporal order (the time-blind control is ``nce-static``).

[1] T. Chen et al., "A Simple Framework for Contrastive Learning of Visual
    Representations", ICML 2020.
[2] R. Qian et al., "Spatiotemporal Contrastive Video Representation Learning", CVPR 2021.
"""

from __future__ import annotations

from dataclasses import dataclass


from vssl_bench.data import samplers
from vssl_bench.methods.base import Method, raw_clip
from vssl_bench.methods.contrastive_common import project_views, strong_views, symmetric_nce, top1_match
from vssl_bench.models.heads import mlp


class NCE(Method):
    """InfoNCE between two spatially augmented views of one clip (SimCLR / CVRL)."""

    name = "nce"
    family = "contrastive"
    uses_time = False
    summary = "InfoNCE, view augmentation: same window, two spatial augmentations"
    reference = "Chen et al. SimCLR, ICML 2020; Qian et al. CVRL, CVPR 2021"

    @dataclass
    class Params:
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
        idx = samplers.random_clip(src.n_frames, cfg.clip_len, cfg.frame_stride, rng)
        clip = raw_clip(src, idx)  # (C, T, H, W), one window for both views
        return strong_views([clip, clip], cfg.size, rng, p)

    def loss(self, batch):
        b = batch["view0"].shape[0]
        z = project_views(self, batch)  # (2B, proj_dim)
        z0, z1 = z[:b], z[b:]
        return {"loss": symmetric_nce(z0, z1, self.p.temperature), "acc": top1_match(z0, z1)}

