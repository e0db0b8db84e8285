"""``xmodal``: cross-modal agreement between RGB and a motion view (AVID [1], CoCLR [2]).

The second modality is computed from the clip itself (no audio, no pretrained flow
network): ``clip_len + 1`` consecutive frames are read and cropped once (scale 0.6-1, the
same box for both modalities, so they stay spatially aligned; no flip), then

- RGB view: frames ``0 .. T-1``, colour jitter p=0.8 and grayscale p=0.2 (SimCLR
  strengths), normalised;
- motion view: the **frame differences** ``(x[t+1] - x[t]) / std`` for ``t = 0 .. T-1``
  of the un-jittered crop, 3 channels (RGB differences), i.e. the difference of
  consecutive *normalised* frames. Frame differences are the cheap stand-in for the
  optical flow of CoCLR [2] (cf. "RGB difference" input of TSN, Wang et al. ECCV 2016).

Two encoders of the **same architecture** (``cfg.backbone``; the motion one built with
``build_backbone(cfg.backbone, in_channels=3)``), one projection MLP each, and the
symmetric InfoNCE across modalities (RGB clip i vs motion views of the batch, and back):
the cross-modal instance discrimination of AVID [1] with motion in place of audio.
``embed`` uses the RGB encoder only (the evaluated backbone).

``uses_time`` True: the motion view is made of temporal differences, so agreement needs
features of how the frames change.

Defaults: temperature 0.1 and the 128-d projection as the rest of the family.

Own task and its training-free baseline: the share of RGB clips whose most similar motion
view in the batch is their own (chance 1/B). Because the motion view is the differences of
the same crop, differencing the RGB clip's own frames and matching by pixels pooled to
4 x 4 (:func:`difference_top1`) solves that nearly always on the embedded data: 98.8 % on
held-out batches of 32, where no accuracy measured on 256 clips can clear it (100 % has a
95 % interval from 98.5 %). So the held-out task is posed over galleries of 256 clips
(``heldout_batch``; all the embedded data's held-out clips at once), where the pixel
solution falls to 97.7 % and a network that learned the task still matches them all
(measured on the seed-0 checkpoint of the full suite: 256 / 256, untrained 1 / 256).
``measure_version`` 1: jobs measured on batches of 32 run again.

[1] P. Morgado, N. Vasconcelos, I. Misra, "Audio-Visual Instance Discrimination with
    Cross-Modal Agreement" (AVID), CVPR 2021.
[2] T. Han, W. Xie, A. Zisserman, "Self-supervised Co-training for Video Representation
    Learning" (CoCLR), NeurIPS 2020.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vssl_bench.data import samplers, transforms
from vssl_bench.methods.base import Method
from vssl_bench.methods.contrastive_common import cross_modal_nce, embedding_spread, top1_match
from vssl_bench.models import build_backbone
from vssl_bench.models.heads import mlp


def frame_differences(clip: torch.Tensor) -> torch.Tensor:
    """(C, T+1, H, W) float [0, 1] -> (C, T, H, W) ``(x[t+1] - x[t]) / std``."""
    std = torch.tensor(transforms.STD, dtype=clip.dtype).view(-1, 1, 1, 1)
    return (clip[:, 1:] - clip[:, :-1]) / std


@torch.no_grad()
def difference_top1(rgb: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """The training-free solution of the cross-modal task: each RGB clip's own frame
    differences and the batch's motion views (the ones for the same frame pairs), pooled to
    4 x 4 per frame, matched by cosine similarity (:func:`top1_match`, the task's own
    measure). Colour jitter and grayscale change the RGB view's differences only in scale
    and channel mix."""

    def pool(v: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W) -> (B, C*T*16)
        return F.adaptive_avg_pool3d(v.float(), (v.shape[2], 4, 4)).flatten(1)

    diffs = rgb[:, :, 1:] - rgb[:, :, :-1]  # frame pairs (t, t+1), t < T - 1: motion views 0 .. T-2
    return top1_match(pool(diffs), pool(motion[:, :, : diffs.shape[2]]))


class XModal(Method):
    """Symmetric InfoNCE between an RGB encoder and a frame-difference encoder."""

    name = "xmodal"
    family = "contrastive"
    uses_time = True
    augmentation = "cross-modal"
    summary = "cross-modal agreement: RGB clip vs its frame differences, two encoders, InfoNCE"
    reference = "Morgado et al. AVID, CVPR 2021; Han et al. CoCLR, NeurIPS 2020"
    baseline_name = "matching each clip's own frame differences to the motion views by pixels pooled to 4 x 4"
    heldout_batch = 256  # the held-out gallery (see the module's docstring): training batches stay as they are
    measure_version = 1  # held-out galleries of 256 clips, not the training batch's 32

    # `vssl-bench tune`: lr x 3 and this parameter x 2 (default first), the same effort for every method
    tune = {"temperature": (0.1, 0.2)}  # as nce

    @dataclass
    class Params:
        temperature: float = 0.1  # CVRL / MoCo-v2 range, as the rest of the family
        proj_dim: int = 128  # SimCLR
        proj_hidden: int = 512
        crop_min_scale: float = 0.6  # mild shared crop (base.light_augment's range)
        jitter_p: float = 0.8  # SimCLR, RGB view only
        gray_p: float = 0.2  # SimCLR, RGB view only

        def validate(self):
            if self.temperature <= 0:
                raise ValueError(f"temperature must be > 0, got {self.temperature}")
            if not 0 < self.crop_min_scale <= 1:
                raise ValueError(f"crop_min_scale must be in (0, 1], got {self.crop_min_scale}")
            for k in ("jitter_p", "gray_p"):
                if not 0 <= getattr(self, k) <= 1:
                    raise ValueError(f"{k} must be in [0, 1], got {getattr(self, k)}")

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        self.motion_backbone = build_backbone(cfg.backbone, in_channels=3)
        self.projector = mlp(backbone.out_dim, p.proj_hidden, p.proj_dim)
        self.motion_projector = mlp(self.motion_backbone.out_dim, p.proj_hidden, p.proj_dim)

    @classmethod
    def views(cls, src, rng, p, cfg):
        idx = samplers.random_clip(src.n_frames, cfg.clip_len + 1, cfg.frame_stride, rng)
        x = transforms.random_resized_crop(src.clip(idx), cfg.size, rng, scale=(p.crop_min_scale, 1.0))
        motion = frame_differences(x)  # (C, T, H, W)
        rgb = x[:, :-1]  # (C, T, H, W)
        if rng.random() < p.jitter_p:
            rgb = transforms.color_jitter(rgb, rng)
        if rng.random() < p.gray_p:
            rgb = transforms.grayscale(rgb)
        return {"rgb": transforms.normalize(rgb), "motion": motion}

    def loss(self, batch):
        z_rgb = self.projector(self.backbone(batch["rgb"]))  # (B, proj_dim)
        z_mot = self.motion_projector(self.motion_backbone(batch["motion"]))  # (B, proj_dim)
        b = z_rgb.shape[0]
        return {
            "loss": cross_modal_nce(z_rgb, z_mot, self.p.temperature),
            "acc": top1_match(z_rgb, z_mot),
            "chance": torch.tensor(1.0 / b, device=z_rgb.device),
            "baseline": difference_top1(batch["rgb"], batch["motion"]),
            "spread": embedding_spread(z_rgb),  # the RGB branch's projections (its backbone is the one evaluated)
        }
