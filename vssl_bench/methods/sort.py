"""``sort``: sequence sorting, OPN-style [1].

A window of the video is cut into ``n_chunks`` consecutive snippets; they are shuffled by
a random permutation and the network predicts which permutation, with each permutation
and its reverse merged into one class ([1] §3.1: "forward and backward permutations are
regarded as the same class", since e.g. a swing looks plausible both ways), i.e.
``n!/2`` classes (12 for 4 chunks, OPN's setting).

Architecture ([1] §3.2, "order prediction network"): the shared backbone embeds each
snippet ("fc6"), pairwise features are built for every pair (i < j) of snippets in their
shuffled order through a small MLP ("fc7"), the pair features are concatenated and
classified ("fc8").

Deviation, by default: the pair's two embeddings are joined by their **difference**
``f_j - f_i`` (``fusion = "diff"``), where [1] (and VCOP's reference code
``models/vcopn.py``, "the same as OPN": ``fc7 = Linear(2 * feature_size, 512)``)
*concatenates* them. On the embedded data each video's appearance is random and identical
in all its snippets, so a head on joined pairs memorises the video and stays at chance on
held-out videos, while a difference cancels the appearance and keeps the change between
two snippets (results/README.md has both, measured). ``fusion = "concat"`` is [1]'s head,
``"concat_diff"`` joins both.

Deviation from [1], stated honestly: OPN sorts single RGB frames with a 2D CNN; our
backbone is 3D, so each "frame" is a ``chunk_len``-frame snippet (default 4) and the
window is ``n_chunks x chunk_len`` = 16 frames. OPN picks high-motion windows (mean
optical-flow magnitude, [1] §3.1); we score ``n_candidates`` random windows by
frame-difference energy and keep the largest (the helper shared with ``shuffle``,
:func:`vssl_bench.methods.shuffle.motion_energy`). OPN also jitters each frame's crop and
splits colour channels; we apply the same spatial crop to all snippets instead, so that
crop position cannot give the order away (our snippets are 3D, a per-snippet crop offset
would be a trivial cue), and skip channel splitting (no chromatic-aberration cue in
synthetic data). A step consumes 16 frames per video.

[1] H.-Y. Lee, J.-B. Huang, M. Singh, M.-H. Yang, "Unsupervised Representation Learning
    by Sorting Sequences", ICCV 2017.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn as nn
import torch.nn.functional as F

from vssl_bench.data import samplers
from vssl_bench.methods.base import Method, classification, light_augment
from vssl_bench.methods.shuffle import high_motion_clip
from vssl_bench.models.heads import check_fusion, fuse_pair, fusion_dim, mlp


@lru_cache(maxsize=None)
def order_classes(n: int) -> tuple[tuple[int, ...], ...]:
    """Permutations of ``n`` items with p and reversed(p) merged; the class's
    representative is the lexicographically smaller of the two. Length ``n!/2``."""
    reps = []
    for p in itertools.permutations(range(n)):
        rep = min(p, tuple(reversed(p)))
        if rep not in reps:
            reps.append(rep)
    return tuple(reps)


def permutation_to_class(perm, n: int) -> int:
    p = tuple(int(i) for i in perm)
    return order_classes(n).index(min(p, tuple(reversed(p))))


def class_to_permutation(k: int, n: int) -> tuple[int, ...]:
    return order_classes(n)[k]


@lru_cache(maxsize=None)
def _perm_table(n: int) -> torch.Tensor:
    """All n! permutations (lexicographic), (n!, n)."""
    return torch.tensor(list(itertools.permutations(range(n))))


@lru_cache(maxsize=None)
def order_classes_index(n: int) -> torch.Tensor:
    """Class (:func:`order_classes`) of each of the n! permutations of :func:`_perm_table`."""
    return torch.tensor([permutation_to_class(p, n) for p in itertools.permutations(range(n))])


@torch.no_grad()
def shortest_path_permutation(x: torch.Tensor) -> torch.Tensor:
    """A training-free order solver: (B, n, C, L, H, W) shuffled snippets -> (B,) index into
    the n! permutations (lexicographic) of the one whose temporal order makes the shortest
    path through the snippets' mean frames (mean absolute pixel distance between
    consecutive ones). Snippet k of a sample is the original snippet ``perm[k]``, so the
    original order visits shuffled positions ``perm^-1``. Ties (the path and its reverse)
    go to the first permutation."""
    m = x.float().mean(dim=3)  # (B, n, C, H, W) mean frame of each snippet
    d = (m[:, :, None] - m[:, None, :]).abs().mean(dim=(3, 4, 5))  # (B, n, n)
    perms = _perm_table(x.shape[1]).to(x.device)  # (P, n)
    order = perms.argsort(dim=1)  # (P, n): perm^-1, the shuffled positions in temporal order
    steps = d[:, order[:, :-1], order[:, 1:]]  # (B, P, n - 1)
    return steps.sum(-1).argmin(1)  # (B,)


class Sort(Method):
    """Sequence sorting with order-equivalent permutations merged (OPN, Lee et al. 2017)."""

    name = "sort"
    family = "pretext"
    uses_time = True
    summary = "OPN sequence sorting: which permutation shuffled the snippets (p ~ reverse(p))"
    reference = "Lee et al., Unsupervised Representation Learning by Sorting Sequences, ICCV 2017"
    baseline_name = "ordering the snippets along the shortest path through their mean frames"

    # `vssl-bench tune`: lr x 3 and this parameter x 2 (default first), the same effort for every method
    tune = {"n_candidates": (4, 1)}  # OPN's motion-aware window choice against a random window

    @dataclass
    class Params:
        n_chunks: int = 4  # OPN sorts 4 frames -> 12 classes
        chunk_len: int = 4  # frames per snippet (3D backbone needs temporal extent); 4x4 = 16-frame window
        pair_dim: int = 256  # OPN's pairwise fc7 has 512 units for a 4096-d fc6; scaled to our D
        n_candidates: int = 4  # windows scored for motion (OPN's motion-aware window choice); 1 = random
        fusion: str = "diff"  # pair features from f_j - f_i (see the docstring); "concat" = [1]'s head

        def validate(self):
            if not 2 <= self.n_chunks <= 5:
                raise ValueError(f"n_chunks must be in 2..5, got {self.n_chunks}")
            if self.chunk_len < 1:
                raise ValueError(f"chunk_len must be >= 1, got {self.chunk_len}")
            if self.n_candidates < 1:
                raise ValueError(f"n_candidates must be >= 1, got {self.n_candidates}")
            check_fusion(self.fusion)

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        n = p.n_chunks
        self.pairs = list(itertools.combinations(range(n), 2))
        self.pair_head = mlp(fusion_dim(backbone.out_dim, p.fusion), p.pair_dim, p.pair_dim)
        self.classifier = nn.Linear(p.pair_dim * len(self.pairs), len(order_classes(n)))

    @classmethod
    def views(cls, src, rng, p, cfg):
        n, L = p.n_chunks, p.chunk_len
        windows = [samplers.random_clip(src.n_frames, n * L, cfg.frame_stride, rng) for _ in range(p.n_candidates)]
        video = high_motion_clip(src, windows)  # (C, n*L, H, W)
        video = light_augment(video, cfg.size, rng)
        chunks = video.reshape(3, n, L, cfg.size, cfg.size).transpose(0, 1)  # (n, C, L, H, W)
        perm = rng.permutation(n)
        return {
            "chunks": chunks.index_select(0, torch.from_numpy(perm)),
            "order": torch.tensor(permutation_to_class(perm, n)),
        }

    def loss(self, batch):
        x = batch["chunks"]  # (B, n, C, L, H, W)
        b, n = x.shape[:2]
        f = self.backbone(x.flatten(0, 1)).view(b, n, -1)  # (B, n, D)
        pair = [self.pair_head(fuse_pair(f[:, i], f[:, j], self.p.fusion)) for i, j in self.pairs]  # each (B, P)
        logits = self.classifier(F.relu(torch.cat(pair, dim=1)))  # (B, n!/2)
        y = batch["order"]
        # the training-free baseline's class; the lookup table is cached on the CPU, x may be on a GPU
        guess = order_classes_index(n).to(x.device)[shortest_path_permutation(x)]
        return classification(logits, y, 1.0 / logits.shape[1], baseline=(guess == y).float().mean())


assert len(order_classes(4)) == math.factorial(4) // 2
