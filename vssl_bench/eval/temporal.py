"""Temporal sensitivity: does the frozen representation encode the direction of time?

The embedded dataset has five **time-reversal pairs** (``vssl_bench.data.synthetic``:
``ClassSpec.reverse_of``; e.g. ``MoveLeftSlow`` is ``MoveRightSlow`` played backwards):
within a pair the two classes differ *only* in temporal order, so a representation that
ignores order cannot tell them apart. Two measurements, both on frozen features:

(a) **Pair probe** (:func:`reversal_pair_probe`): for each pair, a binary linear probe
    (the recipe of ``linear.py``) trained on the train videos of the two classes and
    tested on their test videos; reported as the mean over pairs, chance level 0.5. A
    time-blind representation scores 0.5 (its features of a clip and of the reversed clip
    are the same, so each class's features are the other's); one that encodes order 1.0.
(b) **Reversal consistency** (:func:`reversal_consistency`): features of each test clip
    of a pair class and of the *same clip played backwards*:
    - mean cosine similarity of the two, after subtracting the train-bank mean feature
      (pooled ReLU features all point into one orthant, so raw cosines are ~0.99 even
      between unrelated clips); 1.0 = time-blind, lower = order matters,
    - the share of reversed clips that kNN (k and T of the main protocol; for each pair,
      the bank holds the train clips of its two classes) assigns to the *partner* class,
      i.e. the class the reversed clip really belongs to: 1.0 = order encoded the way the
      labels define it, 0.5 = time-blind (chance; the reversed clip looks like the
      original, which the pair's two classes share).

Related tests of temporal sensitivity: the arrow-of-time classifier of Wei et al. (CVPR
2018) and the time-reversal probes of SEVERE (Thoker et al., ECCV 2022, fine-grained
"direction" classes of FineGym/SSv2). Datasets without reversal pairs are skipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vssl_bench.data.synthetic import CLASSES
from vssl_bench.eval.base import EvalContext, Evaluation, probe_record
from vssl_bench.eval.features import extract_centre_features
from vssl_bench.eval.knn import _check_banks, _to_features, knn_sweep
from vssl_bench.eval.linear import fit_linear_probe


def reversal_pairs(class_names: list[str]) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)`` (i < j) of classes that are each other's time reversal, from
    the embedded dataset's class specs; [] for a dataset without such classes."""
    index = {n: i for i, n in enumerate(class_names)}
    pairs = set()
    for spec in CLASSES:
        if spec.reverse_of and spec.name in index and spec.reverse_of in index:
            a, b = index[spec.name], index[spec.reverse_of]
            pairs.add((min(a, b), max(a, b)))
    return sorted(pairs)


def _check_pairs(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    pairs = [(int(a), int(b)) for a, b in pairs]
    if not pairs:
        raise ValueError("pairs is empty: this dataset has no time-reversal pairs")
    return pairs


def reversal_pair_probe(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    pairs: list[tuple[int, int]],
    *,
    epochs: int = 100,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> dict:
    """Within-pair top-1 of one binary linear probe per reversal pair.

    Args:
        train_features: (N_train, D), train_labels: (N_train,) over all classes.
        test_features: (N_test, D), test_labels: (N_test,).
        pairs: ``[(class_a, class_b), ...]`` each the other's time reversal.
        epochs, lr, weight_decay, seed: :func:`fit_linear_probe` (same recipe as linear.py).

    Returns:
        ``{"pair_top1": mean over pairs, "chance": 0.5, "per_pair": {"a-b": top1}}``.
    """
    pairs = _check_pairs(pairs)
    x, y, xt, yt = _check_banks(train_features, train_labels, test_features, test_labels)
    per_pair = {}
    for a, b in pairs:
        tr = (y == a) | (y == b)  # (N_train,)
        te = (yt == a) | (yt == b)  # (N_test,)
        if not tr.any() or not te.any():
            continue
        probe = fit_linear_probe(
            x[tr], (y[tr] == b).long(), 2, epochs=epochs, lr=lr, weight_decay=weight_decay, seed=seed
        )
        per_pair[f"{a}-{b}"] = probe.accuracy(xt[te], (yt[te] == b).long())
    if not per_pair:
        raise ValueError("no reversal pair has videos in both splits")
    return {"pair_top1": float(np.mean(list(per_pair.values()))), "chance": 0.5, "per_pair": per_pair}


def reversal_consistency(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    reversed_features: Any,
    pairs: list[tuple[int, int]],
    *,
    k: int = 20,
    temperature: float = 0.07,
) -> dict:
    """Clip vs its time-reversed copy, on the test clips of reversal-pair classes.

    Args:
        train_features: (N_train, D), train_labels: (N_train,): the kNN bank (all classes;
            each pair's kNN uses the train clips of its two classes only).
        test_features: (N_test, D) features of the test clips; test_labels: (N_test,).
        reversed_features: (N_test, D) features of the same clips played backwards (row i
            is row i of ``test_features`` reversed in time).
        pairs: reversal pairs (see :func:`reversal_pairs`).
        k, temperature: weighted-cosine kNN of ``knn.py`` (k clipped to the pair's bank).

    Returns:
        ``{"cosine": mean cos(f(x) - m, f(reverse(x)) - m) with m the train-bank mean,
        "to_partner": share of reversed clips that within-pair kNN assigns to the partner
        class (chance 0.5), "forward_knn": within-pair kNN top-1 of the unreversed clips
        (chance 0.5), "n": clips used}``. A time-blind representation gives cosine 1 and
        0.5 / 0.5; one that encodes order as the labels define it, 1.0 / 1.0.
    """
    pairs = _check_pairs(pairs)
    x, y, xt, yt = _check_banks(train_features, train_labels, test_features, test_labels)
    xr = _to_features(reversed_features, "reversed_features")
    if xr.shape != xt.shape:
        raise ValueError(
            f"reversed_features must have the shape of test_features {tuple(xt.shape)}, got {tuple(xr.shape)}"
        )
    mu = x.mean(dim=0)  # (D,): centre on the train bank (raw cosines of ReLU features are all near 1)
    cos_sum, to_partner, forward, n = 0.0, 0.0, 0.0, 0
    for a, b in pairs:
        tr = (y == a) | (y == b)  # (N_train,)
        te = (yt == a) | (yt == b)  # (N_test,)
        m = int(te.sum())
        if not tr.any() or m == 0:
            continue
        partner = torch.where(yt[te] == a, b, a)  # (m,): the class of the reversed clip
        cos_sum += float(F.cosine_similarity(xt[te] - mu, xr[te] - mu, dim=1).sum())  # over (m,)
        to_partner += m * knn_sweep(x[tr], y[tr], xr[te], partner, ks=(k,), temperature=temperature)[k]
        forward += m * knn_sweep(x[tr], y[tr], xt[te], yt[te], ks=(k,), temperature=temperature)[k]
        n += m
    if n == 0:
        raise ValueError("no test clip belongs to a reversal-pair class")
    return {"cosine": cos_sum / n, "to_partner": to_partner / n, "forward_knn": forward / n, "n": n}


def temporal_eval(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    reversed_features: Any,
    pairs: list[tuple[int, int]],
    *,
    k: int = 20,
    temperature: float = 0.07,
    epochs: int = 100,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> dict:
    """(a) + (b) of the module docstring, as result columns.

    Returns ``{"temporal_pair_top1", "temporal_pair_chance", "temporal_reverse_cosine",
    "temporal_reverse_to_partner", "temporal_forward_knn", "per_pair"}``.
    """
    probe = reversal_pair_probe(
        train_features,
        train_labels,
        test_features,
        test_labels,
        pairs,
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        seed=seed,
    )
    cons = reversal_consistency(
        train_features, train_labels, test_features, test_labels, reversed_features, pairs, k=k, temperature=temperature
    )
    return {
        "temporal_pair_top1": probe["pair_top1"],
        "temporal_pair_chance": probe["chance"],
        "temporal_reverse_cosine": cons["cosine"],
        "temporal_reverse_to_partner": cons["to_partner"],
        "temporal_forward_knn": cons["forward_knn"],
        "per_pair": probe["per_pair"],
        "n_clips": cons["n"],
    }


class Temporal(Evaluation):
    """Does the representation encode the direction of time? (module docstring)"""

    name, prefix = "temporal", "temporal_"
    columns = (
        "temporal_pair_top1",
        "temporal_pair_chance",
        "temporal_reverse_cosine",
        "temporal_reverse_to_partner",
        "temporal_forward_knn",
    )
    summary = "linear probe inside each time-reversal pair of classes; each test clip against its reversed copy"

    def record(self, cfg) -> dict:
        return {"features": "centre clip, forward and time-reversed", "chance": 0.5, **probe_record(cfg)}

    def run(self, ctx: EvalContext) -> dict:
        cfg, classes = ctx.cfg, list(ctx.train.classes)
        pairs = reversal_pairs(classes)
        if not pairs:
            return {"note": f"skipped: dataset {cfg.dataset!r} has no time-reversal class pairs"}
        train = ctx.feature_banks()["train"]
        fwd = extract_centre_features(ctx.embed(), ctx.test, cfg, ctx.device)
        rev = extract_centre_features(ctx.embed(), ctx.test, cfg, ctx.device, reverse=True)
        res = temporal_eval(
            train.centre_features,
            train.labels,
            fwd.centre_features,
            fwd.labels,
            rev.centre_features,
            pairs,
            k=cfg.knn_k,
            temperature=cfg.knn_temperature,
            epochs=cfg.linear_epochs,
            lr=cfg.linear_lr,
            weight_decay=cfg.linear_weight_decay,
            seed=cfg.seed,
        )
        res["pairs"] = [[classes[a], classes[b]] for a, b in pairs]
        return res
