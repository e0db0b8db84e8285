"""``shuffle``: binary temporal order verification (Shuffle and Learn, Misra et al. 2016 [1]).

From a high-motion window of the video, five temporally ordered snippets ``a < b < c < d < e``
are taken ([1] §3.1). A *positive* tuple is ``(b, c, d)``; a *negative* tuple replaces the
middle one by a snippet from outside ``[b, d]``: ``(b, a, d)`` or ``(b, e, d)``. Since
many actions look plausible backwards, [1] also counts the reversed positive ``(d, c, b)``
as correctly ordered; we do the same (each tuple is reversed with probability 1/2, which
keeps the label). The network says "correct order or not".

Architecture ([1] §3.2, Fig. 2): a triplet Siamese network; the shared backbone embeds
each element of the tuple, the three features are joined and a small classifier outputs
two logits.

Deviation, by default: the features are joined by the differences of consecutive
elements ``[f_2 - f_1, f_3 - f_2]`` (``fusion = "diff"``), where [1] concatenates the
three (``fusion = "concat"``). Each embedded video's appearance is random and identical in
its snippets; differences cancel it, as for ``sort`` and ``vcop`` (``"concat_diff"`` joins
both).

High-motion windows: [1] samples tuples only from windows with large motion, measured by
the mean optical-flow magnitude, so that ordering is not ambiguous on static content. We
use the same idea with a cheap proxy: ``n_candidates`` random windows are read and the
one with the largest frame-difference energy (mean absolute difference of consecutive
frames, grey level) is kept (:func:`motion_energy`, :func:`pick_high_motion`).

Deviations, stated honestly: [1] uses single RGB frames and a 2D CNN; our backbone is
3D, so each "frame" is a ``chunk_len``-frame snippet (default 4, as in ``sort``) and the
window holds the five snippets back to back (5 x 4 = 20 frames). The class balance:
[1] §4 studies the positive/negative ratio and prefers more negatives; we use balanced
classes (``positive_frac = 0.5``) so that the reported ``acc`` has chance 0.5. The same
crop box is applied to all snippets (crop position cannot reveal the answer); no flip.

Compute: a step feeds 3 snippets x 4 = 12 frames per video to the backbone (the motion
score reads ``n_candidates`` x 20 frames, cheap, no network).

[1] I. Misra, C. L. Zitnick, M. Hebert, "Shuffle and Learn: Unsupervised Learning using
    Temporal Order Verification", ECCV 2016.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vssl_bench.data import samplers
from vssl_bench.methods.base import Method, classification, light_augment, raw_clip
from vssl_bench.models.heads import check_fusion, mlp

POSITIVE, NEGATIVE = 1, 0


def motion_energy(video: torch.Tensor) -> float:
    """Mean absolute grey-level difference of consecutive frames of a (C, T, H, W) clip."""
    grey = video.mean(0)  # (T, H, W)
    if grey.shape[0] < 2:
        return 0.0
    return float((grey[1:] - grey[:-1]).abs().mean())


def pick_high_motion(energies) -> int:
    """Index of the candidate window with the largest motion energy (first one on ties)."""
    return int(np.argmax(np.asarray(energies, dtype=np.float64)))


_PAIR_ENERGY: dict = {}  # video key -> {frame a * 2**20 + frame b: mean |grey_b - grey_a|}, per process
_PAIR_ENERGY_MAX = 100_000  # videos (a few dozen pairs each); cleared when full


def _video_key(src):
    """What identifies a source's frames for :data:`_PAIR_ENERGY` (None: do not memoise)."""
    path = getattr(src, "path", None)
    return None if path is None else (path, getattr(src, "resize_to", 0), getattr(src, "raw", None) is not None)


def _pair_energies(src, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute grey difference between frames ``a[i]`` and ``b[i]`` of ``src``,
    computed once per distinct frame and frame pair (0-765 integer grey x 3 on raw clips,
    exact; [0, 1] grey on float clips) and, for a video file, memoised per process: each
    pair's value depends only on the video, and the candidate windows of every epoch reuse
    the same few dozen pairs."""
    key = _video_key(src)
    codes = (a.astype(np.int64) << 20) + b  # one int per pair (frame indices < 2**20)
    if key is None:
        memo = {}
    else:
        if key not in _PAIR_ENERGY and len(_PAIR_ENERGY) >= _PAIR_ENERGY_MAX:
            _PAIR_ENERGY.clear()
        memo = _PAIR_ENERGY.setdefault(key, {})
    todo = [c for c in set(codes.tolist()) if c not in memo]
    if todo:
        ca = np.array(todo, dtype=np.int64)
        ta, tb = ca >> 20, ca & ((1 << 20) - 1)
        uniq, inv = np.unique(np.concatenate([ta, tb]), return_inverse=True)
        frames = raw_clip(src, uniq)  # (C, U, H, W)
        if frames.dtype == torch.uint8:  # exact integer grey x 3 (0-765) from the (U, H, W, C) frames
            f = frames.permute(1, 2, 3, 0).numpy()
            grey = f[..., 0].astype(np.int16) + f[..., 1] + f[..., 2]  # (U, H, W)
        else:
            grey = frames.mean(0).numpy()  # (U, H, W)
        diff = np.abs(grey[inv[len(todo) :]] - grey[inv[: len(todo)]]).mean(axis=(1, 2))  # (P,) per distinct pair
        memo.update(zip(todo, diff.tolist()))
    return np.array([memo[c] for c in codes.tolist()])


def high_motion_clip(src, windows: list[np.ndarray]) -> torch.Tensor:
    """The candidate window of largest :func:`motion_energy` (first on ties) as a
    ``raw_clip`` of ``src``: the same choice as ``pick_high_motion([motion_energy(c) for c
    in clips])`` (on 0-255 grey levels for raw clips), from :func:`_pair_energies`."""
    if len(windows) == 1 or len(windows[0]) < 2:
        return raw_clip(src, windows[0])
    idx = np.stack(windows)  # (K, L)
    energy = _pair_energies(src, idx[:, :-1].ravel(), idx[:, 1:].ravel()).reshape(len(windows), -1).mean(axis=1)
    return raw_clip(src, windows[pick_high_motion(energy)])  # (K,) energies = motion_energy of each window


def make_tuple(label: int, which_negative: int) -> list[int]:
    """Which of the five ordered snippets ``(a, b, c, d, e) = (0..4)`` form the tuple.

    ``label == POSITIVE``: ``(b, c, d)``; ``NEGATIVE``: ``(b, a, d)`` if ``which_negative``
    is 0, else ``(b, e, d)`` ([1] §3.1)."""
    if label == POSITIVE:
        return [1, 2, 3]
    return [1, 0, 3] if which_negative == 0 else [1, 4, 3]


class ShuffleLearn(Method):
    """Binary order verification of a snippet triplet (Shuffle and Learn, Misra 2016)."""

    name = "shuffle"
    family = "pretext"
    uses_time = True
    summary = "Shuffle&Learn: is this (b, c, d) snippet triplet in temporal order? high-motion windows"
    reference = "Misra et al., Shuffle and Learn: Unsupervised Learning using Temporal Order Verification, ECCV 2016"

    # `vssl-bench tune`: lr x 3 and this parameter x 2 (default first), the same effort for every method
    tune = {"n_candidates": (4, 1)}  # motion-aware window choice ([1]) against a random window

    @dataclass
    class Params:
        chunk_len: int = 4  # frames per snippet (3D backbone); as in `sort`
        n_candidates: int = 4  # windows scored for motion ([1] uses flow magnitude to choose)
        positive_frac: float = 0.5  # balanced, so acc has chance 0.5 (see docstring)
        hidden: int = 256  # classifier hidden units on the joined triplet features
        fusion: str = "diff"  # consecutive differences (see the docstring); "concat" = [1]'s head

        def validate(self):
            if self.chunk_len < 1:
                raise ValueError(f"chunk_len must be >= 1, got {self.chunk_len}")
            if self.n_candidates < 1:
                raise ValueError(f"n_candidates must be >= 1, got {self.n_candidates}")
            if not 0.0 < self.positive_frac < 1.0:
                raise ValueError(f"positive_frac must be in (0, 1), got {self.positive_frac}")
            if self.hidden < 1:
                raise ValueError(f"hidden must be >= 1, got {self.hidden}")
            check_fusion(self.fusion)

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        width = {"diff": 2, "concat": 3, "concat_diff": 5}[p.fusion] * backbone.out_dim
        self.head = mlp(width, p.hidden, 2)

    @classmethod
    def views(cls, src, rng, p, cfg):
        L = p.chunk_len
        windows = [samplers.random_clip(src.n_frames, 5 * L, cfg.frame_stride, rng) for _ in range(p.n_candidates)]
        video = high_motion_clip(src, windows)  # (C, 5L, H, W)
        video = light_augment(video, cfg.size, rng)
        chunks = video.reshape(3, 5, L, cfg.size, cfg.size).transpose(0, 1)  # (5, C, L, H, W)
        label = POSITIVE if rng.random() < p.positive_frac else NEGATIVE
        order = make_tuple(label, int(rng.integers(0, 2)))
        if rng.random() < 0.5:  # (d, c, b) counts as ordered too ([1] §3.1)
            order = order[::-1]
        return {"triplet": chunks[order].contiguous(), "ordered": torch.tensor(label)}

    def loss(self, batch):
        x = batch["triplet"]  # (B, 3, C, L, H, W)
        b = x.shape[0]
        f = self.backbone(x.flatten(0, 1)).view(b, 3, -1)  # (B, 3, D)
        diffs = [f[:, 1] - f[:, 0], f[:, 2] - f[:, 1]]  # (B, D) each
        joined = {
            "diff": diffs,
            "concat": [f[:, 0], f[:, 1], f[:, 2]],
            "concat_diff": [f[:, 0], f[:, 1], f[:, 2], *diffs],
        }[self.p.fusion]
        logits = self.head(torch.cat(joined, dim=1))  # (B, 2)
        pf = self.p.positive_frac
        return classification(logits, batch["ordered"], max(pf, 1 - pf))  # always guessing the commoner label
