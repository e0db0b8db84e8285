"""The standard evaluation of every job: linear probe, kNN, retrieval, beside their chance levels.

All three read the same feature banks (``EvalContext.feature_banks``: ``eval_clips``
uniform clips of every video, centre-cropped) and the probe settings of the Config
(``linear_*``, ``knn_*``), which are part of the job's key. The protocols:

- ``linear``: one linear layer on frozen centre-clip features (SEVERE's recipe: Adam lr
  0.01); clip-level top-1 and video-level top-1 (softmax averaged over the clips);
- ``knn``: weighted cosine kNN (InstDisc / DINO: votes exp(sim / T)), top-1 at ``knn_k``
  and a sweep over ``knn_ks`` from one extraction;
- ``retrieval``: VCOP's protocol, test videos query the training videos, features averaged
  over the clips, R@1/5/10/20/50, every test video a query.

:func:`standard_metrics` runs them and adds the chance level of each (``eval.chance``,
from the labels alone) and the time spent.
"""

from __future__ import annotations

import time

import torch

from vssl_bench.config import Config
from vssl_bench.eval.base import EvalContext, Evaluation
from vssl_bench.eval.chance import chance_levels
from vssl_bench.eval.features import FeatureBank
from vssl_bench.eval.knn import knn_sweep
from vssl_bench.eval.linear import fit_linear_probe, video_level_accuracy
from vssl_bench.eval.retrieval import retrieval_recall

RETRIEVAL_KS = (1, 5, 10, 20, 50)


class Linear(Evaluation):
    name, prefix, standard = "linear", "linear_", True
    columns = ("linear_top1", "linear_video_top1")
    summary = "linear probe on frozen centre-clip features; clip- and video-level top-1"

    def run(self, ctx: EvalContext) -> dict:
        b = ctx.feature_banks()
        return linear_metrics(b["train"], b["test"], ctx.cfg, len(ctx.train.classes))


class KNN(Evaluation):
    name, prefix, standard = "knn", "knn_", True
    columns = ("knn_top1",)
    summary = "weighted cosine kNN (k = knn_k, sweep knn_ks), centre clips"

    def run(self, ctx: EvalContext) -> dict:
        b = ctx.feature_banks()
        return knn_metrics(b["train"], b["test"], ctx.cfg)


class Retrieval(Evaluation):
    name, prefix, standard = "retrieval", "retrieval_", True
    columns = tuple(f"retrieval_r{k}" for k in (1, 5, 10, 20))
    summary = "nearest-neighbour video retrieval, R@1/5/10/20/50 (VCOP protocol)"

    def run(self, ctx: EvalContext) -> dict:
        b = ctx.feature_banks()
        return retrieval_metrics(b["train"], b["test"])


def linear_metrics(train: FeatureBank, test: FeatureBank, cfg: Config, num_classes: int) -> dict:
    t0 = time.perf_counter()
    probe = fit_linear_probe(
        train.centre_features,
        train.labels,
        num_classes=num_classes,
        epochs=cfg.linear_epochs,
        lr=cfg.linear_lr,
        weight_decay=cfg.linear_weight_decay,
        seed=cfg.seed,
    )
    lin = probe.accuracy(test.centre_features, test.labels)
    n, k, d = test.clips.shape
    probs = probe.predict_proba(test.clips.reshape(n * k, d))  # (N*K, C)
    vid = video_level_accuracy(probs, torch.arange(n).repeat_interleave(k), test.labels.repeat_interleave(k))
    return {"linear_top1": lin, "linear_video_top1": vid, "probe_seconds": time.perf_counter() - t0}


def knn_metrics(train: FeatureBank, test: FeatureBank, cfg: Config) -> dict:
    ks = tuple(sorted(set(cfg.knn_ks) | {cfg.knn_k}))
    knn = knn_sweep(
        train.centre_features, train.labels, test.centre_features, test.labels, ks=ks, temperature=cfg.knn_temperature
    )
    return {"knn_top1": knn[cfg.knn_k], "knn_sweep": {str(kk): v for kk, v in knn.items()}}


def retrieval_metrics(train: FeatureBank, test: FeatureBank) -> dict:
    ret = retrieval_recall(train.video_features, train.labels, test.video_features, test.labels, ks=RETRIEVAL_KS)
    return {f"retrieval_r{kk}": v for kk, v in ret.items()}


def evaluate_banks(train: FeatureBank, test: FeatureBank, cfg: Config, num_classes: int) -> dict:
    """linear (clip / video level), kNN sweep, retrieval on two feature banks, and the
    chance level of each (``eval.chance``)."""
    out = linear_metrics(train, test, cfg, num_classes)
    t1 = time.perf_counter()
    out.update(knn_metrics(train, test, cfg))
    out.update(retrieval_metrics(train, test))
    out.update(chance_levels(train.labels, test.labels))  # the floor of those numbers (labels only)
    out["knn_retrieval_seconds"] = time.perf_counter() - t1
    return out


def standard_metrics(ctx: EvalContext) -> dict:
    """The standard evaluation of ``ctx``'s model (features cached in the run folder for a
    resumed job); also stored as ``ctx.final`` for the evaluations that report beside it."""
    t0 = time.perf_counter()
    ctx.method.eval()
    banks = ctx.feature_banks()
    t1 = time.perf_counter()
    metrics = evaluate_banks(banks["train"], banks["test"], ctx.cfg, num_classes=len(ctx.train.classes))
    metrics["feature_seconds"] = t1 - t0
    metrics["eval_seconds"] = time.perf_counter() - t0
    metrics["eval_failed_videos"] = banks["train"].failed + banks["test"].failed
    metrics["feature_dim"] = int(banks["train"].clips.shape[-1])
    ctx.final = metrics
    return metrics


def evaluate_checkpoint(
    method, train, test, cfg: Config, device: torch.device, cache_path=None, banks_out: dict | None = None
) -> dict:
    """:func:`standard_metrics` of ``method`` (an API for scripts; the runner builds its own
    context). ``banks_out``, if given, receives the ``{"train", "test"}`` feature banks."""
    ctx = EvalContext(method, train, test, cfg, device)
    if cache_path is not None and cache_path.exists():
        ctx.banks = torch.load(cache_path, weights_only=False)
    metrics = standard_metrics(ctx)
    if banks_out is not None:
        banks_out.update(ctx.banks)
    return metrics
