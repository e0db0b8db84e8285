"""Training-loop efficiency: clips/s of the real loop (decode + augment + step) divided by
clips/s of a bare step on preloaded tensors, same model and batch (target >= 0.9).

    .venv/bin/python benchmarks/loop_efficiency.py --methods supervised,sort,mae,nce --steps 100 --repeats 3

The real loop is `vssl_bench.train.pretrain` exactly as `vssl-bench run` calls it, with the
quick suite's config, after one pass that fills the decoded-video cache (as it is after the
first job of a `vssl-bench run` process; decoding the 768 videos once costs ~3 s, reported
separately); the bare step re-uses one finished batch already in memory. Both skip their
first 3 steps (warm-up). Throughput on this machine drifts by +-10 % from one minute to
the next, so real and bare runs alternate ``--repeats`` times and the median ratio is
reported with its range.

``--breakdown`` adds, per method, where one step of the real loop goes (medians over the
steps of an instrumented copy of the loop, ms): ``load`` (views of the batch + collate,
from the same loader ``pretrain`` uses), ``finish`` (``train.to_device``: uint8 -> float,
colour, normalise) and ``step`` (loss, backward, clipping, optimiser), beside the bare step.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import default_collate

from vssl_bench.config import apply_overrides, parse_set_options
from vssl_bench.data.datasets import PretrainDataset, VideoSource, build_dataset
from vssl_bench.methods import resolve_params
from vssl_bench.runner import build_method
from vssl_bench.suite import load_suite
from vssl_bench.train import build_optimizer, make_loader, optimizer_step, pretrain, to_device

WARMUP = 3


def train_step(method, opt, batch, cfg) -> torch.Tensor:
    """The optimiser step of the training loop (loss, backward, clipping, update); the loss."""
    out = method.loss(batch)
    optimizer_step(method, opt, out["loss"], cfg.grad_clip)
    return out["loss"]


def bare_rate(method, batch, cfg, steps: int) -> float:
    opt = build_optimizer(method, cfg)
    method.train()
    for i in range(steps + WARMUP):
        if i == WARMUP:
            t0 = time.perf_counter()
        train_step(method, opt, batch, cfg)
    return steps * cfg.batch_size / (time.perf_counter() - t0)


def real_rate(cfg, train, device) -> tuple[float, float]:
    """clips/s of `pretrain` after its first WARMUP steps, and the share of time waiting for data."""
    with tempfile.TemporaryDirectory() as d:
        method = build_method(cfg, len(train.classes), device)
        st = pretrain(method, train, cfg, Path(d), device)
    step_s = [cfg.batch_size / row[4] for row in st.curve[WARMUP:]]  # row: step, epoch, loss, lr, clips/s, extras
    return cfg.batch_size * len(step_s) / sum(step_s), st.data_seconds / st.seconds


def breakdown(cfg, train, device, steps: int) -> dict[str, float]:
    """Median ms per step of load / finish / step in an instrumented copy of the real loop."""
    method = build_method(cfg, len(train.classes), device)
    opt = build_optimizer(method, cfg)
    method.train()
    loader = iter(make_loader(train, type(method), method.p, cfg, cfg.seed, 0, 0, device, n_batches=steps + WARMUP))
    times: dict[str, list[float]] = {"load": [], "finish": [], "step": []}
    for i in range(steps + WARMUP):
        t0 = time.perf_counter()
        batch = next(loader)
        t1 = time.perf_counter()
        batch = to_device(batch, device, cfg.channels_last)
        t2 = time.perf_counter()
        float(train_step(method, opt, batch, cfg).detach())
        t3 = time.perf_counter()
        if i >= WARMUP:
            for k, v in (("load", t1 - t0), ("finish", t2 - t1), ("step", t3 - t2)):
                times[k].append(1e3 * v)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", default="supervised,sort,mae,nce")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], help="config override key=value (e.g. prefetch=thread)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--breakdown", action="store_true", help="also time load / finish / step inside the loop")
    a = ap.parse_args()
    device = torch.device("cpu")
    for name in a.methods.split(","):
        base = load_suite("quick").base
        cfg = dataclasses.replace(
            base,
            method=name,
            steps=a.steps + WARMUP,
            params=resolve_params(name, {}),
            num_workers=a.workers,
            data_root=a.data_root,
            checkpoint_every=10**9,
        )
        cfg = apply_overrides(cfg, parse_set_options(a.set))
        train, _ = build_dataset(cfg)
        t0 = time.perf_counter()
        for e in train.entries:
            VideoSource(e.path, cfg.cache_decoded_mb)
        decode_s = time.perf_counter() - t0
        method = build_method(cfg, len(train.classes), device)
        ds = PretrainDataset(train, lambda src, rng: type(method).views(src, rng, method.p, cfg), cfg, 0)
        batch = to_device(default_collate([ds[i] for i in range(cfg.batch_size)]), device, cfg.channels_last)
        ratios, reals, bares, waits = [], [], [], []
        for _ in range(a.repeats):
            real, wait = real_rate(cfg, train, device)
            bare = bare_rate(build_method(cfg, len(train.classes), device), batch, cfg, a.steps)
            ratios.append(real / bare)
            reals.append(real)
            bares.append(bare)
            waits.append(wait)
        print(
            f"{name:12s} real loop {statistics.median(reals):7.1f} clips/s  bare step {statistics.median(bares):7.1f} "
            f"clips/s  ratio {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f})  "
            f"data-wait share {statistics.median(waits):.3f}  ({a.repeats} x {a.steps} steps x batch "
            f"{cfg.batch_size}, workers {a.workers}, prefetch {cfg.prefetch}, raw_views {cfg.raw_views}, "
            f"threads {torch.get_num_threads()}; cache fill {decode_s:.1f} s)",
            flush=True,
        )
        if a.breakdown:
            b = breakdown(cfg, train, device, a.steps)
            print(
                f"{'':12s} per step (median ms): load {b['load']:.2f}  finish {b['finish']:.2f}  step "
                f"{b['step']:.2f}  | bare step {1e3 * cfg.batch_size / statistics.median(bares):.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
