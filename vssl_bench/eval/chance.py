"""Chance levels of the frozen-feature protocols, from the labels alone.

A number means little without its floor: with 16 balanced classes and 768 gallery videos,
a random ranking already puts a video of the query's class among the first 20 for ~73 % of
the queries, so an R@20 of 80 % is close to chance while a top-1 of 20 % is three times it.

- ``chance_top1``: the best prediction that ignores the video, always the test set's most
  frequent class (1 / classes when they are balanced). It applies to every top-1 column
  on that test set (linear, video-level linear, kNN, low-shot, fine-tuning).
- ``chance_r{k}``: expected recall at k of a uniformly random ranking of the gallery (the
  train videos) for each query (test video), averaged over the queries: a query of class c
  misses when none of the first k of the N gallery videos is one of c's n_c, which has
  probability C(N - n_c, k) / C(N, k) = prod_{i<k} (N - n_c - i) / (N - i).
"""

from __future__ import annotations

from typing import Any

import numpy as np

KS = (1, 5, 10, 20)


def chance_levels(train_labels: Any, test_labels: Any, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """``{"chance_top1": ..., "chance_r1": ..., ...}`` (fractions) for a gallery of
    ``train_labels`` and queries / test clips of ``test_labels`` (1-D integer labels)."""
    y = np.asarray(train_labels, dtype=np.int64).reshape(-1)
    yt = np.asarray(test_labels, dtype=np.int64).reshape(-1)
    if y.size == 0 or yt.size == 0 or y.min() < 0 or yt.min() < 0:
        raise ValueError("chance_levels needs non-empty, non-negative integer labels")
    n_cls = int(max(y.max(), yt.max())) + 1
    out = {"chance_top1": float(np.bincount(yt, minlength=n_cls).max() / yt.size)}
    n = y.size
    per_class = np.bincount(y, minlength=n_cls).astype(np.float64)  # (C,) gallery videos per class
    for k in ks:
        i = np.arange(min(k, n), dtype=np.float64)  # (k,)
        miss = np.prod(np.clip((n - per_class[:, None] - i) / (n - i), 0.0, None), axis=1)  # (C,)
        out[f"chance_r{k}"] = float(np.mean(1.0 - miss[yt]))
    return out
