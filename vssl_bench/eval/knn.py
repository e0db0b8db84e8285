"""Weighted k-nearest-neighbour classification on frozen features.

The protocol follows solo-learn ``solo/utils/knn.py`` and InstDisc (Wu et al., CVPR 2018,
"Unsupervised Feature Learning via Non-Parametric Instance Discrimination"):

1. L2-normalise train and test features,
2. cosine similarity of every test row to every train row,
3. take the ``k`` most similar train rows,
4. each neighbour votes for its label with weight ``exp(sim / T)``,
5. the class with the largest summed vote is the prediction (top-1).

Defaults ``k = 20, T = 0.07`` are solo-learn's; InstDisc, PySlowFast and lightly use
``k = 200``. :func:`knn_sweep` reports several ``k`` from a single similarity pass
(dino ``eval_knn.py`` does the same), which is what the benchmark reports.

The number of classes is taken from the labels of *both* splits (``max + 1``), never from
``unique(test_labels)``: a test split that misses a class must not shift class indices.

This module also holds the small input-conversion helpers shared by ``retrieval.py`` and
``linear.py`` (features and labels may be torch tensors or numpy arrays).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# Upper bound on the number of elements of one (test chunk x train) similarity block.
# 2**24 float32 elements = 64 MiB; the test rows per chunk are derived from it so that
# memory stays bounded whatever the size of the train bank. Tests lower it to exercise
# chunking.
_MAX_SIM_ELEMENTS = 2**24


def _to_features(x: Any, name: str) -> Tensor:
    """Return ``x`` as a 2-D floating tensor (float32 unless it is already float64)."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x).detach()
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, D), got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} must contain at least one row, got shape {tuple(t.shape)}")
    if t.dtype != torch.float64:
        t = t.to(torch.float32)
    return t


def _to_labels(y: Any, name: str, n_rows: int) -> Tensor:
    """Return ``y`` as a 1-D int64 tensor of length ``n_rows`` with non-negative values."""
    t = torch.as_tensor(np.asarray(y) if not isinstance(y, Tensor) else y).detach()
    if t.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,), got shape {tuple(t.shape)}")
    if t.is_floating_point():
        if not bool(torch.all(t == torch.round(t))):
            raise ValueError(f"{name} must hold integer class indices, got dtype {t.dtype}")
    elif t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"{name} must hold integer class indices, got dtype {t.dtype}")
    t = t.to(torch.int64)
    if t.shape[0] != n_rows:
        raise ValueError(f"{name} has {t.shape[0]} entries but the features have {n_rows} rows")
    if t.numel() and int(t.min()) < 0:
        raise ValueError(f"{name} must be non-negative class indices, got min {int(t.min())}")
    return t


def _check_same_dim(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same feature dimension, got {a.shape[1]} and {b.shape[1]}"
        )


def _check_banks(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    names: tuple[str, str] = ("train", "test"),
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Validate two labelled feature banks (the arguments of every evaluation function):
    ``(train (N, D) float, train labels (N,) int64, test (M, D) float, test labels (M,))``.
    ``names`` word the errors (``retrieval_recall``: gallery / query)."""
    a, b = names
    train = _to_features(train_features, f"{a}_features")
    test = _to_features(test_features, f"{b}_features")
    _check_same_dim(train, test, f"{a}_features", f"{b}_features")
    y_train = _to_labels(train_labels, f"{a}_labels", train.shape[0])
    y_test = _to_labels(test_labels, f"{b}_labels", test.shape[0])
    return train, y_train, test, y_test


def _chunk_rows(n_cols: int) -> int:
    """Rows per chunk so that a (rows, n_cols) block has at most _MAX_SIM_ELEMENTS."""
    return max(1, _MAX_SIM_ELEMENTS // max(1, n_cols))


def _check_ks(ks: Iterable[int], name: str = "ks") -> tuple[int, ...]:
    ks = tuple(ks)
    if len(ks) == 0:
        raise ValueError(f"{name} must contain at least one value")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"every k in {name} must be an integer >= 1, got {k!r}")
    return tuple(int(k) for k in ks)


def knn_sweep(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    ks: Iterable[int] = (1, 5, 20, 200),
    temperature: float = 0.07,
) -> dict[int, float]:
    """Top-1 accuracy of weighted-cosine kNN for several ``k`` in one similarity pass.

    Args:
        train_features: (N_train, D) float tensor or array: the neighbour bank.
        train_labels: (N_train,) integer class indices.
        test_features: (N_test, D) float tensor or array.
        test_labels: (N_test,) integer class indices.
        ks: neighbour counts to report. A ``k`` larger than ``N_train`` is clipped to
            ``N_train``; the returned dict keeps the requested value as its key.
            Default {1, 5, 20, 200}: the kNN sweep of docs/protocols.md.
        temperature: T in the vote weight ``exp(sim / T)``; 0.07 as in solo-learn/InstDisc.

    Returns:
        ``{k: top-1 accuracy in [0, 1]}`` for every requested ``k``.

    The (N_test, N_train) similarity matrix is computed once, in chunks of test rows
    (memory bounded by ``_MAX_SIM_ELEMENTS``), and a single ``topk`` of ``max(ks)``
    serves every ``k`` (its columns are sorted, so the first ``k`` are the top-k).
    Note: when several train rows tie exactly in similarity at the k-th place, which
    of them is "in" the top-k is decided by ``torch.topk``.
    Ties in the summed votes go to the lowest class index (``argmax``).
    """
    ks = _check_ks(ks)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    train, y_train, test, y_test = _check_banks(train_features, train_labels, test_features, test_labels)

    dtype = torch.promote_types(train.dtype, test.dtype)
    device = train.device
    train = F.normalize(train.to(dtype), dim=1)  # (N_train, D)
    test = F.normalize(test.to(device=device, dtype=dtype), dim=1)  # (N_test, D)
    y_train = y_train.to(device)
    y_test = y_test.to(device)
    num_classes = int(max(y_train.max(), y_test.max())) + 1  # from the data, both splits

    n_train = train.shape[0]
    k_clipped = {k: min(k, n_train) for k in ks}
    k_max = max(k_clipped.values())
    correct = {k: 0 for k in ks}
    rows = _chunk_rows(max(n_train, num_classes))
    for start in range(0, test.shape[0], rows):
        sim = test[start : start + rows] @ train.T  # (b, N_train)
        top_sim, top_idx = sim.topk(k_max, dim=1, largest=True, sorted=True)  # (b, k_max)
        weights = (top_sim / temperature).exp()  # (b, k_max)
        neighbour_labels = y_train[top_idx]  # (b, k_max)
        target = y_test[start : start + rows]  # (b,)
        for k in ks:
            kk = k_clipped[k]
            # sum of one-hot votes weighted by exp(sim / T), as a scatter-add
            votes = torch.zeros(target.shape[0], num_classes, dtype=dtype, device=device)
            votes.scatter_add_(1, neighbour_labels[:, :kk], weights[:, :kk])  # (b, C)
            pred = votes.argmax(dim=1)  # (b,)
            correct[k] += int((pred == target).sum())
    n_test = test.shape[0]
    return {k: correct[k] / n_test for k in ks}


def knn_accuracy(
    train_features: Any, train_labels: Any, test_features: Any, test_labels: Any, k: int = 20, temperature: float = 0.07
) -> float:
    """Top-1 accuracy of weighted-cosine kNN (solo-learn ``solo/utils/knn.py``, InstDisc).

    Args:
        train_features: (N_train, D) float tensor or array.
        train_labels: (N_train,) integer class indices.
        test_features: (N_test, D) float tensor or array.
        test_labels: (N_test,) integer class indices.
        k: number of neighbours (clipped to N_train); 20 as in solo-learn.
        temperature: T in the vote weight ``exp(sim / T)``; 0.07 as in solo-learn.

    Returns:
        Fraction of test rows whose weighted vote matches their label.

    The number of classes is ``max(train_labels ∪ test_labels) + 1``. See :func:`knn_sweep`
    for several ``k`` at once.
    """
    ks = _check_ks((k,), name="k")
    return knn_sweep(train_features, train_labels, test_features, test_labels, ks, temperature)[ks[0]]
