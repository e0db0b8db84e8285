"""``aot``: arrow of time, is this clip played forwards or backwards? (Wei et al. CVPR 2018 [1]).

A clip is reversed in time with probability 1/2 and the network predicts the direction
(binary, chance 0.5).

Ceiling on the embedded data: 10 of the 16 classes are time-reversal pairs (a reversed
MoveLeft clip *is* a MoveRight clip, by construction of the generator), so for them the
direction cannot be told and the best accuracy is 0.5; only the 6 time-asymmetric classes
(Bounce, SlideToRest, EnterAndStop, Shatter, Fill, SwingDamped) are decidable. With
balanced classes the pretext accuracy is therefore at most about
``0.5 + 0.5 x 6/16 = 0.69``: a value between 0.5 and 0.69 on held-out videos means the
task is being learned.

Trivial cues ([1] warns that artificial signals such as black frame borders and camera
motion statistics let a network cheat, and removes them): the generator makes camera drift, distractors, noise and spins
statistically time-symmetric (see ``vssl_bench/data/synthetic.py``). The one cue left
is H.264's first frame, coded as an I-frame with slightly different quality; clips are
therefore sampled from frames ``1 .. n_frames - 1`` only (:func:`aot_clip_indices`), so the
I-frame is never in a clip. The same crop box for the whole clip; no flip.

Deviation: [1] feeds stacks of optical flow to a VGG-16 "T-CAM" and fuses several
segments; we feed the raw 16-frame RGB clip to the shared 3D backbone (flow is not part of
this benchmark; every method sees RGB).

Compute: a step feeds one ``cfg.clip_len`` = 16-frame clip per video to the backbone.

[1] D. Wei, J. Lim, A. Zisserman, W. T. Freeman, "Learning and Using the Arrow of Time",
    CVPR 2018.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vssl_bench.data import samplers, transforms
from vssl_bench.methods.base import Method

FORWARD, BACKWARD = 0, 1


def reverse_time(video: torch.Tensor) -> torch.Tensor:
    """The clip played backwards: (C, T, H, W) with frame t -> frame T-1-t."""
    return video.flip(1)


def aot_clip_indices(n_frames: int, clip_len: int, stride: int, rng: np.random.Generator,
                     skip_first: int = 1) -> np.ndarray:
    """A random clip avoiding the first ``skip_first`` frames (the H.264 I-frame cue)."""
    usable = n_frames - skip_first
    if samplers.clip_span(clip_len, stride) > usable:  # too short: fall back to the whole video
        return samplers.random_clip(n_frames, clip_len, stride, rng)
    return skip_first + samplers.random_clip(usable, clip_len, stride, rng)


class ArrowOfTime(Method):
    """Forward vs reversed clip (Wei et al. 2018)."""

    name = "aot"
    family = "pretext"
    uses_time = True
    summary = "arrow of time: forward vs reversed 16-frame clip (decidable on 6/16 classes; ceiling ~0.69)"
    reference = "Wei et al., Learning and Using the Arrow of Time, CVPR 2018"

    @dataclass
    class Params:
        skip_first: int = 1  # frames never sampled at the start (H.264 I-frame cue); 0 = off

        def validate(self):
            if self.skip_first < 0:
                raise ValueError(f"skip_first must be >= 0, got {self.skip_first}")

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        self.classifier = nn.Linear(backbone.out_dim, 2)

    @classmethod
    def views(cls, src, rng, p, cfg):
        idx = aot_clip_indices(src.n_frames, cfg.clip_len, cfg.frame_stride, rng, p.skip_first)
        video = transforms.normalize(transforms.random_resized_crop(src.clip(idx), cfg.size, rng, scale=(0.6, 1.0)))
        y = int(rng.integers(0, 2))
        if y == BACKWARD:
            video = reverse_time(video)
        return {"video": video.contiguous(), "direction": torch.tensor(y)}

    def loss(self, batch):
        logits = self.classifier(self.backbone(batch["video"]))  # (B, 2)
        y = batch["direction"]
        return {"loss": F.cross_entropy(logits, y), "acc": (logits.argmax(1) == y).float().mean()}
