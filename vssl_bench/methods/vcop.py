"""``vcop``: video clip order prediction (VCOP, Xu et al. CVPR 2019 [1]).

``n_clips`` sub-clips (3 by default, 4 allowed) are cut from one video in temporal order,
separated by ``interval`` frames, shuffled by a random permutation, and the network
predicts which of the ``n_clips!`` permutations was applied (VCOP keeps all ``n!``
classes: unlike OPN [2] it does *not* merge a permutation with its reverse).

Architecture ([1] §3.2, Fig. 2): the shared 3D backbone embeds every sub-clip; for every
pair (i < j) of clips, in their shuffled order, the two features are joined and passed
through one fully connected layer + ReLU (``pair_dim`` units); the pair features are
concatenated, dropout, and a linear layer predicts the permutation class.

Deviation, by default: the two features are joined by their **difference** ``f_j - f_i``
(``fusion = "diff"``), where [1] *concatenates* them (``fusion = "concat"``, its reference
code ``models/vcopn.py``). Each embedded video's appearance is random and identical in all
its clips, so concatenated pairs let the head memorise the video (held-out accuracy at
chance); the difference cancels what the clips share (``sort`` has the same measurement).

Defaults and where they come from:

- ``n_clips = 3``: [1] Table 1 finds 3 clips best for R3D/C3D/R(2+1)D (4 clips = 24
  classes is harder and not better); 4 is allowed.
- ``clip_len = 8``, ``interval = 4``: [1] uses 16-frame clips 8 frames apart
  (3 x 16 + 2 x 8 = 64 frames); the embedded videos have 32 frames, so both are halved
  (3 x 8 + 2 x 4 = 32 frames). If a video is too short for the tuple, the interval shrinks,
  and if needed the clips overlap (evenly spread starts), so the order is never broken
  by looping.
- ``pair_dim = 256``: [1] uses 512 units for a 512-d backbone feature; scaled to our D=256.
- ``dropout = 0.5``: [1]'s code (``models/vcopn.py``) uses p=0.5 before the last layer.

The same crop box is applied to every clip so that crop position cannot reveal the
order. No horizontal flip: it turns a MoveLeft clip into a MoveRight clip, and no
non-contrastive method here flips (``base.light_augment``).

Compute: a step consumes ``n_clips x clip_len`` = 24 frames per video (3 x 8).

[1] D. Xu, J. Xiao, Z. Zhao, J. Shao, D. Xie, Y. Zhuang, "Self-Supervised
    Spatiotemporal Learning via Video Clip Order Prediction", CVPR 2019.
[2] H.-Y. Lee, J.-B. Huang, M. Singh, M.-H. Yang, "Unsupervised Representation Learning
    by Sorting Sequences", ICCV 2017.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vssl_bench.methods.base import Method, classification, light_augment, raw_clip
from vssl_bench.methods.sort import shortest_path_permutation
from vssl_bench.models.heads import check_fusion, fuse_pair, fusion_dim


@lru_cache(maxsize=None)
def all_permutations(n: int) -> tuple[tuple[int, ...], ...]:
    """All ``n!`` permutations of ``range(n)`` in lexicographic order (class k = entry k)."""
    return tuple(itertools.permutations(range(n)))


def permutation_to_index(perm, n: int) -> int:
    """Class index of a full permutation (no merging of reverses, as in VCOP)."""
    p = tuple(int(i) for i in perm)
    if sorted(p) != list(range(n)):
        raise ValueError(f"{p} is not a permutation of range({n})")
    return all_permutations(n).index(p)


def index_to_permutation(k: int, n: int) -> tuple[int, ...]:
    return all_permutations(n)[k]


def tuple_starts(n_frames: int, n_clips: int, clip_len: int, interval: int, rng: np.random.Generator) -> np.ndarray:
    """Start frames of ``n_clips`` ordered clips ``interval`` frames apart (VCOP sampling).

    Too short a video: the interval shrinks to what fits; if even ``interval = 0`` does
    not fit, the starts are spread evenly over the video (clips overlap, order is kept).
    """
    fit = (n_frames - n_clips * clip_len) // max(n_clips - 1, 1)
    if fit >= 0:
        gap = min(interval, fit)
        span = n_clips * clip_len + (n_clips - 1) * gap
        t0 = int(rng.integers(0, n_frames - span + 1))
        return t0 + np.arange(n_clips, dtype=np.int64) * (clip_len + gap)
    return np.round(np.linspace(0, max(n_frames - clip_len, 0), n_clips)).astype(np.int64)


class VCOP(Method):
    """Clip order prediction: which of n! permutations shuffled the sub-clips (Xu 2019)."""

    name = "vcop"
    family = "pretext"
    uses_time = True
    summary = "VCOP clip order prediction: permutation of 3 sub-clips, pairwise features (difference)"
    reference = "Xu et al., Self-Supervised Spatiotemporal Learning via Video Clip Order Prediction, CVPR 2019"
    baseline_name = "ordering the clips along the shortest path through their mean frames"

    # `vssl-bench tune`: lr x 3 and this parameter x 2 (default first), the same effort for every method
    tune = {"dropout": (0.5, 0.0)}  # [1]'s dropout before the order classifier, or none at this small budget

    @dataclass
    class Params:
        n_clips: int = 3  # [1] Table 1: 3 clips best
        clip_len: int = 8  # [1]: 16 frames; halved for 32-frame videos
        interval: int = 4  # [1]: 8 frames between clips; halved likewise
        pair_dim: int = 256  # [1]: 512 for a 512-d feature; our D is 256
        dropout: float = 0.5  # [1] code: dropout 0.5 before the classifier
        fusion: str = "diff"  # pair features from f_j - f_i (see the docstring); "concat" = [1]'s head

        def validate(self):
            if self.n_clips not in (3, 4):
                raise ValueError(f"n_clips must be 3 or 4 (VCOP's settings), got {self.n_clips}")
            if self.clip_len < 1:
                raise ValueError(f"clip_len must be >= 1, got {self.clip_len}")
            if self.interval < 0:
                raise ValueError(f"interval must be >= 0, got {self.interval}")
            if self.pair_dim < 1:
                raise ValueError(f"pair_dim must be >= 1, got {self.pair_dim}")
            if not 0.0 <= self.dropout < 1.0:
                raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
            check_fusion(self.fusion)

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        n = p.n_clips
        self.pairs = list(itertools.combinations(range(n), 2))
        self.pair_fc = nn.Linear(fusion_dim(backbone.out_dim, p.fusion), p.pair_dim)
        self.dropout = nn.Dropout(p.dropout)
        self.classifier = nn.Linear(p.pair_dim * len(self.pairs), len(all_permutations(n)))

    @classmethod
    def views(cls, src, rng, p, cfg):
        n, L = p.n_clips, p.clip_len
        starts = tuple_starts(src.n_frames, n, L, p.interval, rng)  # (n,)
        idx = (starts[:, None] + np.arange(L)[None, :]).reshape(-1)  # (n*L,)
        video = raw_clip(src, idx)  # (C, n*L, H, W)
        video = light_augment(video, cfg.size, rng)
        clips = video.reshape(3, n, L, cfg.size, cfg.size).transpose(0, 1)  # (n, C, L, H, W)
        perm = rng.permutation(n)
        return {"clips": clips[perm].contiguous(), "order": torch.tensor(permutation_to_index(perm, n))}

    def loss(self, batch):
        x = batch["clips"]  # (B, n, C, L, H, W)
        b, n = x.shape[:2]
        f = self.backbone(x.flatten(0, 1)).view(b, n, -1)  # (B, n, D)
        pair = [F.relu(self.pair_fc(fuse_pair(f[:, i], f[:, j], self.p.fusion))) for i, j in self.pairs]  # (B, P) each
        logits = self.classifier(self.dropout(torch.cat(pair, dim=1)))  # (B, n!)
        y = batch["order"]
        guess = shortest_path_permutation(x)  # the training-free baseline (lexicographic index = VCOP's class)
        return classification(logits, y, 1.0 / logits.shape[1], baseline=(guess == y).float().mean())
