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

Architecture, after [1]'s T-CAM (late temporal fusion): [1] does not classify one short
chunk; its network sees several consecutive chunks of the video, each through the same
convolutional trunk, and fuses their features in temporal order before the binary
classifier ("a ConvNet suitable for extended temporal footprints"). Here the view is
``segments`` = 2 consecutive clips of ``cfg.clip_len`` frames at ``cfg.frame_stride``
(:func:`aot_segment_indices`; with the quick suite's 8 frames at stride 2 they cover frames
1-31, the whole video), each clip goes through the shared backbone, and the two pooled
features are concatenated (first segment first) for one linear layer. A backward example is
the whole sampled sequence reversed, so the segments swap *and* each plays backwards.
Each segment has exactly the shape of the clips every evaluation embeds.

Why (measured on the embedded data, quick suite, seed 0 unless said): with one 8-frame
clip the network never learned the task: held-out accuracy 0.45-0.50 at 150 steps and
0.52 at 600 steps, training accuracy at chance too, although a logistic regression on
the 7 frame-difference energies of the same clips reaches 0.60 (0.73 on the asymmetric
classes). One 16-frame clip at stride 2 over the same frames as the two segments: 0.52.
Two fused segments: 0.66 / 0.67 / 0.70 held-out for seeds 0 / 1 / 2 at 150 steps (0.79
on the asymmetric classes, 0.53 on the reversal pairs, i.e. at the ~0.69 ceiling), and
the features improve (linear 19.9 % vs 9.8 % with one clip, random 14.4 %). The fusion
lets the trunk learn a first-order property (how much and where things move, which
``speed`` shows it learns fast) and the linear layer compare it between the start and the
end of the footage (deceleration, energy loss), instead of the trunk having to learn that
comparison inside one clip from a signal present on only 6/16 of the videos.

Deviations from [1]: RGB into the shared 3D backbone instead of stacks of optical flow into
VGG-16 (flow is not part of this benchmark; every method sees RGB); 2 segments fused by
concatenation + one linear layer instead of [1]'s conv fusion over more chunks (the
embedded videos have 32 frames: two 8-frame clips at stride 2 already cover them).

Compute: a step feeds ``segments`` = 2 clips per video to the backbone (like ``vcop``'s
several clips), so a step costs about twice a one-clip method's; the budget in steps and
videos is the suite's.

[1] D. Wei, J. Lim, A. Zisserman, W. T. Freeman, "Learning and Using the Arrow of Time",
    CVPR 2018.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from vssl_bench.data import samplers
from vssl_bench.methods.base import Method, classification, light_augment, raw_clip

FORWARD, BACKWARD = 0, 1


def reverse_time(video: torch.Tensor) -> torch.Tensor:
    """The clip played backwards: (C, T, H, W) with frame t -> frame T-1-t."""
    return video.flip(1)


def aot_clip_indices(
    n_frames: int, clip_len: int, stride: int, rng: np.random.Generator, skip_first: int = 1
) -> np.ndarray:
    """A random clip avoiding the first ``skip_first`` frames (the H.264 I-frame cue)."""
    usable = n_frames - skip_first
    if samplers.clip_span(clip_len, stride) > usable:  # too short: fall back to the whole video
        return samplers.random_clip(n_frames, clip_len, stride, rng)
    return skip_first + samplers.random_clip(usable, clip_len, stride, rng)


def aot_segment_indices(
    n_frames: int, clip_len: int, stride: int, segments: int, rng: np.random.Generator, skip_first: int = 1
) -> np.ndarray:
    """``segments`` clips of ``clip_len`` frames at ``stride`` in temporal order, as one flat
    index array of ``segments * clip_len`` frames, never touching the first ``skip_first``.

    If they fit, they are consecutive (each starts one stride after the previous one ends:
    together one clip of ``segments * clip_len`` frames at a random start). If not, they
    are spread evenly over frames ``skip_first .. n_frames - 1`` and overlap. Either way the
    order is forward, so reversing the array reverses the order of the segments *and* the
    frames inside each: the footage played backwards. A video too short for even one clip
    falls back to :func:`aot_clip_indices` for the whole sequence.
    """
    usable = n_frames - skip_first
    if samplers.clip_span(segments * clip_len, stride) <= usable:
        return aot_clip_indices(n_frames, segments * clip_len, stride, rng, skip_first)
    seg_span = samplers.clip_span(clip_len, stride)
    if seg_span > usable:
        return aot_clip_indices(n_frames, segments * clip_len, stride, rng, skip_first)
    starts = skip_first + np.round(np.linspace(0, usable - seg_span, segments)).astype(np.int64)  # (K,)
    return np.concatenate([samplers.clip_at(int(s0), clip_len, stride, n_frames) for s0 in starts])  # (K*L,)


class ArrowOfTime(Method):
    """Forward vs reversed footage, T-CAM-style late fusion of segments (Wei et al. 2018)."""

    name = "aot"
    family = "pretext"
    uses_time = True
    summary = "arrow of time: forward vs reversed, 2 fused clips (decidable on 6/16 classes; ceiling ~0.69)"
    reference = "Wei et al., Learning and Using the Arrow of Time, CVPR 2018"

    # `vssl-bench tune`: lr x 3 and this parameter x 2 (default first), the same effort for every method
    tune = {"segments": (2, 1)}  # one clip or two fused in time order: how much of the video the decision sees

    @dataclass
    class Params:
        skip_first: int = 1  # frames never sampled at the start (H.264 I-frame cue); 0 = off
        segments: int = 2  # clips fused in time order ([1]'s T-CAM late fusion; 2 cover a 32-frame video)

        def validate(self):
            if self.skip_first < 0:
                raise ValueError(f"skip_first must be >= 0, got {self.skip_first}")
            if self.segments < 1:
                raise ValueError(f"segments must be >= 1, got {self.segments}")

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        self.classifier = nn.Linear(p.segments * backbone.out_dim, 2)

    @classmethod
    def views(cls, src, rng, p, cfg):
        idx = aot_segment_indices(src.n_frames, cfg.clip_len, cfg.frame_stride, p.segments, rng, p.skip_first)
        video = light_augment(raw_clip(src, idx), cfg.size, rng)
        y = int(rng.integers(0, 2))
        if y == BACKWARD:
            video = reverse_time(video)
        return {"video": video.contiguous(), "direction": torch.tensor(y)}

    def logits(self, video: torch.Tensor) -> torch.Tensor:
        """(B, C, K*L, H, W) -> (B, 2): each of the K segments through the backbone, the K
        pooled features concatenated in temporal order, one linear layer."""
        b, c, t, h, w = video.shape
        k = self.p.segments
        x = video.view(b, c, k, t // k, h, w).transpose(1, 2).reshape(b * k, c, t // k, h, w)  # (B*K, C, L, H, W)
        f = self.backbone(x).view(b, k * self.backbone.out_dim)  # (B, K*D)
        return self.classifier(f)  # (B, 2)

    def loss(self, batch):
        logits = self.logits(batch["video"])  # (B, 2)
        return classification(logits, batch["direction"], 0.5)
