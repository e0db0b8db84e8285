"""``oddoneout``: odd-one-out learning (O3N, Fernando et al. CVPR 2017 [1]).

A *question* holds ``n_elements`` elements (N = 6 by default, [1]'s setting), each a short
clip of ``element_len`` frames from the same video. ``N - 1`` of them keep their frames in
temporal order; one, the *odd* element at a random position, has its frames shuffled by a
random non-identity permutation. The network answers "which element is odd?" (N-way
classification, chance 1/N).

Architecture ([1] §3, "multi-stream network"): every element goes through the shared
backbone, then a per-element fully connected layer + ReLU; the N element features are
fused and a linear layer predicts the odd position. ``fusion = "sod"`` is [1]'s **sum of
differences** (the fusion [1] finds best), ``o = sum_{i<j} (g_j - g_i)``.

Deviation, by default: ``fusion = "centred"`` keeps every element's difference to the
mean element, ``[g_1 - m, ..., g_N - m]`` with ``m = mean_k g_k``. Both cancel what all
elements share (the video's appearance, random per video here). SOD adds the N features
with weights ``2k - N + 1``, which sum to zero: if only the odd element differs, by
``d``, SOD gives ``(2k - N + 1) d``, and the classifier must read the odd position from
the scale of ``d`` alone; the centred features keep the position (measured against SOD in
results/README.md).

Defaults: ``n_elements = 6`` ([1] uses N = 6 in its main experiments); ``element_len = 4``
so that a question holds 6 x 4 = 24 frames (the embedded videos have 32; [1] samples a
handful of frames per element and encodes them as a dynamic image, which we replace by
the 3D backbone on the raw frames). Elements start at independent random positions in the
video; the same crop box is used for all of them so only temporal structure tells the odd
one apart; no flip.

Compute: a step feeds ``n_elements x element_len`` = 24 frames per video to the backbone.

[1] B. Fernando, H. Bilen, E. Gavves, S. Gould, "Self-Supervised Video Representation
    Learning With Odd-One-Out Networks", CVPR 2017.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vssl_bench.data import samplers
from vssl_bench.methods.base import Method, classification, light_augment, raw_clip

FUSIONS = ("centred", "sod")


def random_derangement_order(length: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random permutation of ``range(length)`` that is not the identity."""
    if length < 2:
        raise ValueError(f"an element needs >= 2 frames to be shuffled, got {length}")
    while True:
        perm = rng.permutation(length)
        if not np.array_equal(perm, np.arange(length)):
            return perm


def make_question(elements: torch.Tensor, odd: int, frame_perm) -> torch.Tensor:
    """Shuffle the frames of element ``odd`` of ``elements`` (N, C, T, H, W) by
    ``frame_perm``; the other elements are returned unchanged. The label is ``odd``."""
    out = elements.clone()
    out[odd] = elements[odd][:, torch.as_tensor(np.asarray(frame_perm), dtype=torch.long)]
    return out


def sum_of_differences(g: torch.Tensor) -> torch.Tensor:
    """SOD fusion of [1]: ``sum_{i<j} (g_j - g_i)`` over the element axis. (B, N, H) -> (B, H)."""
    n = g.shape[1]
    pairs = list(itertools.combinations(range(n), 2))
    return torch.stack([g[:, j] - g[:, i] for i, j in pairs], dim=0).sum(0)  # (B, H)


@torch.no_grad()
def jerkiest_element(x: torch.Tensor) -> torch.Tensor:
    """A training-free odd-one-out: (B, N, C, L, H, W) questions -> (B,) the element whose
    consecutive frames differ most (mean absolute difference): shuffling breaks smooth
    motion into jumps."""
    d = (x[:, :, :, 1:] - x[:, :, :, :-1]).float().abs().mean(dim=(2, 3, 4, 5))  # (B, N)
    return d.argmax(1)


class OddOneOut(Method):
    """Which of N clips has its frames out of order? (O3N, Fernando et al. 2017)."""

    name = "oddoneout"
    family = "pretext"
    uses_time = True
    summary = "O3N odd-one-out: which of 6 clips is temporally shuffled (differences to the mean element)"
    reference = "Fernando et al., Self-Supervised Video Representation Learning With Odd-One-Out Networks, CVPR 2017"
    baseline_name = "picking the element whose frames change most from one to the next"

    # `vssl-bench tune`: lr x 3 and this parameter x 2 (default first), the same effort for every method
    tune = {
        "element_len": (4, 2)
    }  # frames per element: longer elements show more motion, fewer frames are cheaper to fake

    @dataclass
    class Params:
        n_elements: int = 6  # [1]: N = 6
        element_len: int = 4  # frames per element: 6 x 4 = 24 frames per question
        hidden: int = 256  # per-element fc before the fusion
        fusion: str = "centred"  # differences to the mean element (see the docstring); "sod" = [1]'s

        def validate(self):
            if self.n_elements < 2:
                raise ValueError(f"n_elements must be >= 2, got {self.n_elements}")
            if self.element_len < 2:
                raise ValueError(f"element_len must be >= 2 (one frame cannot be shuffled), got {self.element_len}")
            if self.hidden < 1:
                raise ValueError(f"hidden must be >= 1, got {self.hidden}")
            if self.fusion not in FUSIONS:
                raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, got {self.fusion!r}")

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        self.fc = nn.Linear(backbone.out_dim, p.hidden)
        width = p.hidden * (p.n_elements if p.fusion == "centred" else 1)
        self.classifier = nn.Linear(width, p.n_elements)

    @classmethod
    def views(cls, src, rng, p, cfg):
        n, L = p.n_elements, p.element_len
        idx = np.concatenate([samplers.random_clip(src.n_frames, L, cfg.frame_stride, rng) for _ in range(n)])  # (n*L,)
        video = raw_clip(src, idx)  # (C, n*L, H, W)
        video = light_augment(video, cfg.size, rng)
        elements = video.reshape(3, n, L, cfg.size, cfg.size).transpose(0, 1)  # (n, C, L, H, W)
        odd = int(rng.integers(0, n))
        question = make_question(elements, odd, random_derangement_order(L, rng))
        return {"question": question.contiguous(), "odd": torch.tensor(odd)}

    def loss(self, batch):
        x = batch["question"]  # (B, N, C, L, H, W)
        b, n = x.shape[:2]
        g = F.relu(self.fc(self.backbone(x.flatten(0, 1)))).view(b, n, -1)  # (B, N, H)
        if self.p.fusion == "sod":
            fused = sum_of_differences(g)  # (B, H)
        else:
            fused = (g - g.mean(dim=1, keepdim=True)).flatten(1)  # (B, N*H)
        logits = self.classifier(fused)  # (B, N)
        y = batch["odd"]
        guess = jerkiest_element(x)  # the training-free baseline
        return classification(logits, y, 1.0 / n, baseline=(guess == y).float().mean())
