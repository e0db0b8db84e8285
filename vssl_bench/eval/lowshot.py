"""Low-shot evaluation: linear probe and kNN trained on 1, 5, 10 labelled videos per class.

SEVERE (Thoker et al., "How Severe is Benchmark-Sensitivity in Video Self-Supervised
Learning?", ECCV 2022) showed that rankings of video SSL methods change with the number of
labelled examples; this is its "sample size" axis on frozen features (SEVERE fine-tunes;
we probe the cached features, which costs well under a second per draw).

Protocol (defaults of :func:`lowshot_eval`):

* ``shots`` labelled *videos* per class are drawn from the train bank (centre-clip
  features), class-balanced, without replacement, by :func:`lowshot_indices`, seeded by
  ``(seed, shots, draw)``: the same seed gives the same draws whatever the feature values,
  so every method of a suite sees the same labelled videos. A class with fewer than
  ``shots`` videos contributes all of them.
* ``draws`` independent draws (5, like the 5 few-shot splits used by SEVERE's UCF101/
  Gym-99 low-shot settings); the mean and the sample std over draws are reported.
* On each draw: the linear probe of :func:`vssl_bench.eval.linear.fit_linear_probe`
  (same recipe as the full-data probe, num_classes from the dataset) and weighted kNN with
  ``k = min(knn_k, shots)`` (1-NN at one shot: a neighbour list longer than one class's
  share only adds votes of other classes), T = 0.07. Test set: the whole test split.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vssl_bench.eval.base import EvalContext, Evaluation, probe_record
from vssl_bench.eval.knn import _check_banks, _to_labels, knn_accuracy
from vssl_bench.eval.linear import fit_linear_probe


def lowshot_indices(labels: Any, shots: int, seed: int = 0, draw: int = 0) -> torch.Tensor:
    """Indices of a class-balanced draw of ``shots`` rows per class (sorted, int64).

    Args:
        labels: (N,) integer class indices of the bank to draw from.
        shots: rows per class (>= 1); a class with fewer rows gives all of them.
        seed, draw: the draw is a pure function of ``(seed, shots, draw)`` and the labels.
    """
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise ValueError(f"shots must be an integer >= 1, got {shots!r}")
    y = _to_labels(labels, "labels", len(labels)).cpu().numpy()
    rng = np.random.default_rng((int(seed), int(shots), int(draw), 61))
    picked = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)  # (n_c,)
        picked.append(rng.choice(rows, size=min(shots, len(rows)), replace=False))
    return torch.as_tensor(np.sort(np.concatenate(picked)), dtype=torch.int64)  # (<= C*shots,)


def lowshot_eval(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    shots: Iterable[int] = (1, 5, 10),
    draws: int = 5,
    seed: int = 0,
    *,
    num_classes: int | None = None,
    knn_k: int = 20,
    temperature: float = 0.07,
    linear_epochs: int = 100,
    linear_lr: float = 1e-2,
    linear_weight_decay: float = 1e-4,
) -> dict:
    """Linear-probe and kNN top-1 with ``shots`` labelled train videos per class.

    Args:
        train_features: (N_train, D) the full labelled pool (centre-clip features).
        train_labels: (N_train,) integer class indices.
        test_features: (N_test, D); test_labels: (N_test,).
        shots: labelled videos per class; draws: seeded draws per shot count; seed: base seed.
        num_classes: C of the probe (default: max label of both splits + 1).
        knn_k, temperature, linear_*: as the full-data protocols (module docstring).

    Returns:
        ``{"lowshot_<n>_linear": mean, "lowshot_<n>_linear_std": std, "lowshot_<n>_knn": ...,
        "lowshot_<n>_knn_std": ..., "per_draw": {"<n>": {"linear": [...], "knn": [...],
        "n_labelled": int}}}``; std is the sample std over draws (0 with one draw).
    """
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise ValueError(f"draws must be an integer >= 1, got {draws!r}")
    x, y, xt, yt = _check_banks(train_features, train_labels, test_features, test_labels)
    if num_classes is None:
        num_classes = int(max(y.max(), yt.max())) + 1
    out: dict = {"per_draw": {}}
    for n in tuple(shots):
        lin, knn = [], []
        n_lab = 0
        for d in range(draws):
            idx = lowshot_indices(y, n, seed, d)  # (<= C*n,)
            n_lab = int(idx.numel())
            probe = fit_linear_probe(
                x[idx],
                y[idx],
                num_classes,
                epochs=linear_epochs,
                lr=linear_lr,
                weight_decay=linear_weight_decay,
                seed=seed + d,
            )
            lin.append(probe.accuracy(xt, yt))
            knn.append(knn_accuracy(x[idx], y[idx], xt, yt, k=min(knn_k, n), temperature=temperature))
        for name, v in (("linear", lin), ("knn", knn)):
            out[f"lowshot_{n}_{name}"] = float(np.mean(v))
            out[f"lowshot_{n}_{name}_std"] = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
        out["per_draw"][str(n)] = {"linear": lin, "knn": knn, "n_labelled": n_lab}
    return out


class LowShot(Evaluation):
    """SEVERE's sample-size axis: the probes with 1 / 5 / 10 labelled videos per class."""

    name, prefix = "lowshot", "lowshot_"
    columns = tuple(f"lowshot_{n}_{k}{s}" for n in (1, 5, 10) for k in ("linear", "knn") for s in ("", "_std"))
    summary = "linear probe and kNN with 1 / 5 / 10 labelled videos per class, 5 seeded draws (mean ± std)"

    @dataclass
    class Params:
        shots: tuple[int, ...] = (1, 5, 10)  # labelled train videos per class (SEVERE's low-shot axis)
        draws: int = 5  # seeded class-balanced draws per shot count (mean and std reported)

        def validate(self):
            if not self.shots or min(self.shots) < 1 or self.draws < 1:
                raise ValueError(f"shots and draws must be >= 1, got {list(self.shots)}, {self.draws}")

    def record(self, cfg) -> dict:
        return {"shots": list(self.p.shots), "draws": self.p.draws, "features": "centre clip", **probe_record(cfg)}

    def run(self, ctx: EvalContext) -> dict:
        cfg, b = ctx.cfg, ctx.feature_banks()
        tr, te = b["train"], b["test"]
        return lowshot_eval(
            tr.centre_features,
            tr.labels,
            te.centre_features,
            te.labels,
            self.p.shots,
            self.p.draws,
            cfg.seed,
            num_classes=len(ctx.train.classes),
            knn_k=cfg.knn_k,
            temperature=cfg.knn_temperature,
            linear_epochs=cfg.linear_epochs,
            linear_lr=cfg.linear_lr,
            linear_weight_decay=cfg.linear_weight_decay,
        )
