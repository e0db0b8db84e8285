"""``nce``: InfoNCE with view augmentation (SimCLR [1] applied to clips, as in CVRL [2]).

Two views of the **same time window**, each with its own spatial augmentation (random
resized crop, horizontal flip, colour jitter, grayscale; one draw per clip, identical on
every frame as in [2] §3.2), a projection MLP, and SimCLR's NT-Xent loss: each clip's
positive is its other view, its negatives the 2B - 2 clips of the other videos of the
batch, *both* views ([1] Alg. 1).

Defaults: temperature 0.1 (CVRL §4: 0.1); projection 2-layer MLP to 128-d (SimCLR);
crop scale (0.3, 1) (CVRL's video crop), flip p=0.5, colour jitter p=0.8 (strength
0.4/0.4/0.4/0.1), grayscale p=0.2 (SimCLR/CVRL). Flips are off where a flip changes the
class (the embedded data's left/right motions: ``Config.hflip``, the dataset's rule).

``queue > 0`` adds MoCo's [3] queue of keys from a momentum encoder as further negatives
(``contrastive_common.MomentumQueue``): a larger effective batch at CPU size. The
momentum 0.99 is MoCo's 0.999 made faster for budgets of hundreds, not hundreds of
thousands, of steps (MoCo §4.1 reports 0.99 also works).

Both views share their motion, so ``nce`` can learn temporal features even though its
positives are not defined by time: ``uses_time`` is False because the *task* does not
depend on temporal order (the time-blind control is ``nce-static``).

The family's own task is instance discrimination: ``acc`` is the share of clips whose
nearest candidate is their positive, ``chance`` one over the candidates, ``baseline`` the
same task solved on raw pixels (``contrastive_common.pixel_instance_top1``).

[1] T. Chen et al., "A Simple Framework for Contrastive Learning of Visual
    Representations", ICML 2020.
[2] R. Qian et al., "Spatiotemporal Contrastive Video Representation Learning", CVPR 2021.
[3] K. He et al., "Momentum Contrast for Unsupervised Visual Representation Learning",
    CVPR 2020.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vssl_bench.data import samplers
from vssl_bench.methods.base import Method, raw_clip
from vssl_bench.methods.contrastive_common import (
    MomentumQueue,
    contrast,
    instance_top1,
    pixel_instance_top1,
    strong_views,
)
from vssl_bench.models.heads import mlp

POSITIVES = ("view0", "view1")  # the positive pair; any other view whose name starts with "neg" is a hard negative


class NCE(Method):
    """InfoNCE between two spatially augmented views of one clip (SimCLR / CVRL)."""

    name = "nce"
    family = "contrastive"
    uses_time = False
    augmentation = "view"
    summary = "InfoNCE, view augmentation: same window, two spatial augmentations"
    reference = "Chen et al. SimCLR, ICML 2020; Qian et al. CVRL, CVPR 2021"
    baseline_name = "matching each clip to its nearest by pixels pooled to 4 x 4"

    # `vssl-bench tune`: lr x 3 and this parameter x 2 (default first), the same effort for every method
    tune = {"temperature": (0.1, 0.2)}  # the InfoNCE knob (SimCLR: best between 0.1 and 0.5 with its batch)

    @dataclass
    class Params:
        temperature: float = 0.1  # CVRL
        proj_dim: int = 128  # SimCLR
        proj_hidden: int = 512
        flip_p: float = 0.5  # SimCLR / CVRL; 0 where the dataset forbids flips (Config.hflip)
        crop_min_scale: float = 0.3  # CVRL video crop
        queue: int = 0  # MoCo queue of momentum-encoder keys as extra negatives (0 = off)
        momentum: float = 0.99  # MoCo's key-encoder momentum, for short budgets (see the docstring)

        def validate(self):
            if self.temperature <= 0:
                raise ValueError(f"temperature must be > 0, got {self.temperature}")
            if not 0 <= self.flip_p <= 1:
                raise ValueError(f"flip_p must be in [0, 1], got {self.flip_p}")
            if not 0 < self.crop_min_scale <= 1:
                raise ValueError(f"crop_min_scale must be in (0, 1], got {self.crop_min_scale}")
            if self.queue < 0:
                raise ValueError(f"queue must be >= 0, got {self.queue}")
            if not 0 <= self.momentum < 1:
                raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        self.projector = mlp(backbone.out_dim, p.proj_hidden, p.proj_dim)
        self.key_queue = MomentumQueue(backbone, self.projector, p.queue, p.proj_dim, p.momentum) if p.queue else None

    @classmethod
    def views(cls, src, rng, p, cfg):
        idx = samplers.random_clip(src.n_frames, cfg.clip_len, cfg.frame_stride, rng)
        clip = raw_clip(src, idx)  # (C, T, H, W), one window for both views
        return strong_views([clip, clip], cfg.size, rng, p, cfg)

    def loss(self, batch):
        negs = sorted(k for k in batch if k.startswith("neg") and "@" not in k)  # hard negatives, if any
        xs = [batch[k] for k in (*POSITIVES, *negs)]  # (B, C, T, H, W) each
        b = xs[0].shape[0]
        z = self.projector(self.backbone(torch.cat(xs, dim=0)))  # ((2 + len(negs)) * B, proj_dim): one BN batch
        z0, z1, zn = z[:b], z[b : 2 * b], (z[2 * b :] if negs else None)
        queued = self.key_queue.negatives() if self.key_queue is not None else None
        loss = contrast(z0, z1, self.p.temperature, zn, queued)
        # the own task among this batch's clips (the queue is a training device): the same
        # candidates as the pixel baseline's
        out = {
            "loss": loss,
            **instance_top1(z0, z1, zn),
            "baseline": pixel_instance_top1(xs[0], xs[1], torch.cat(xs[2:]) if negs else None),
        }
        if self.key_queue is not None and self.training:  # the keys of this step, negatives of the next ones
            self.key_queue.enqueue(self.key_queue.keys(self.backbone, self.projector, xs[0]))
        return out
