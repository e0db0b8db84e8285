"""``rotation``: 3D rotation prediction (3DRotNet, Jing et al. 2018 [1]), the spatial control.

Every frame of a clip is rotated by the same angle ``k x 90`` degrees (k in 0..3) and the
network predicts k (4-way classification, chance 0.25). The task needs no temporal order
(the clip could be shuffled and the answer would not change), so ``uses_time = False``:
it is the control for "are time-related pretext tasks more helpful?"

Defaults: the four angles 0/90/180/270 are [1]'s (after RotNet, Gidaris et al. 2018 [2]);
a ``cfg.clip_len`` = 16-frame clip as every single-clip method here ([1] uses 16-frame
clips too). Crop first, then rotate, on square crops, so the frame shape cannot give the
angle away; no flip. The rotation is done by index manipulation (:func:`rotate`) and
tested against ``torch.rot90``.

On the embedded data the angle is visible from the scene layout and, for the gravity
classes (Bounce, Fill, SwingDamped), from the direction things fall.

Compute: a step feeds one 16-frame clip per video to the backbone.

[1] L. Jing, X. Yang, J. Liu, Y. Tian, "Self-Supervised Spatiotemporal Feature Learning
    via Video Rotation Prediction", arXiv:1811.11387, 2018.
[2] S. Gidaris, P. Singh, N. Komodakis, "Unsupervised Representation Learning by
    Predicting Image Rotations", ICLR 2018.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from vssl_bench.data import samplers
from vssl_bench.methods.base import Method, classification, light_augment, raw_clip

N_ROTATIONS = 4


def rotate(video: torch.Tensor, k: int) -> torch.Tensor:
    """Rotate every frame of (..., H, W) by ``k x 90`` degrees counter-clockwise
    (the convention of ``torch.rot90(x, k, dims=(-2, -1))``)."""
    k = int(k) % 4
    if k == 0:
        return video
    if k == 1:
        return video.transpose(-2, -1).flip(-2)
    if k == 2:
        return video.flip(-2).flip(-1)
    return video.transpose(-2, -1).flip(-1)


class Rotation(Method):
    """Which of 0/90/180/270 degrees rotated all frames? (3DRotNet, Jing et al. 2018)."""

    name = "rotation"
    family = "pretext"
    uses_time = False
    time_blind_control = True  # the spatial control of the pretext family
    summary = "3DRotNet: 0/90/180/270 rotation of all frames (spatial control, no temporal order)"
    reference = "Jing et al., Self-Supervised Spatiotemporal Feature Learning via Video Rotation Prediction, 2018"

    # `vssl-bench tune`: lr x 3 and this parameter x 2 (default first), the same effort for every method
    tune = {"weight_decay": (0.05, 0.005)}  # no parameter of its own: the regularisation of its classifier's recipe

    @dataclass
    class Params:
        """No hyper-parameters: four angles, one clip (see module docstring)."""

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        self.classifier = nn.Linear(backbone.out_dim, N_ROTATIONS)

    @classmethod
    def views(cls, src, rng, p, cfg):
        idx = samplers.random_clip(src.n_frames, cfg.clip_len, cfg.frame_stride, rng)
        video = light_augment(raw_clip(src, idx), cfg.size, rng)
        k = int(rng.integers(0, N_ROTATIONS))
        return {"video": rotate(video, k).contiguous(), "rotation": torch.tensor(k)}

    def loss(self, batch):
        logits = self.classifier(self.backbone(batch["video"]))  # (B, 4)
        return classification(logits, batch["rotation"], 1.0 / N_ROTATIONS)
