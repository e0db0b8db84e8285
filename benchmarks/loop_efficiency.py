"""Training-loop efficiency: clips/s of the real loop (decode + augment + step) divided by
clips/s of a bare step on preloaded tensors, same model and batch (target >= 0.9).

    .venv/bin/python benchmarks/loop_efficiency.py --methods supervised,nce --steps 60

The real loop is `vssl_bench.train.pretrain` exactly as `vssl-bench run` calls it, with the
quick suite's config, after one pass that fills the decoded-video cache (as it is after the
first job of a `vssl-bench run` process; decoding the 768 videos once costs ~3 s, reported
separately); the bare step re-uses one collated batch already in memory.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import default_collate

from vssl_bench.config import load_suite
from vssl_bench.data.datasets import PretrainDataset, VideoSource, build_dataset
from vssl_bench.methods import resolve_params
from vssl_bench.runner import build_method
from vssl_bench.train import build_optimizer, pretrain, to_device


def bare_rate(method, batch, cfg, steps: int) -> float:
    opt = build_optimizer(method, cfg)
    method.train()
    for i in range(steps + 3):
        if i == 3:
            t0 = time.perf_counter()
        out = method.loss(batch)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(method.parameters(), cfg.grad_clip)
        opt.step()
    return steps * cfg.batch_size / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", default="supervised,nce")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--data-root", default=None)
    a = ap.parse_args()
    device = torch.device("cpu")
    for name in a.methods.split(","):
        base = load_suite("quick").base
        cfg = dataclasses.replace(base, method=name, steps=a.steps, params=resolve_params(name, {}),
                                  num_workers=a.workers, data_root=a.data_root, checkpoint_every=10**9)
        train, _ = build_dataset(cfg)
        t0 = time.perf_counter()
        for e in train.entries:
            VideoSource(e.path, cfg.cache_decoded_mb)
        decode_s = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as d:
            method = build_method(cfg, len(train.classes), device)
            st = pretrain(method, train, cfg, Path(d), device)
        real = st.clips_seen / st.seconds
        method = build_method(cfg, len(train.classes), device)
        ds = PretrainDataset(train, lambda src, rng: type(method).views(src, rng, method.p, cfg), cfg, 0)
        batch = to_device(default_collate([ds[i] for i in range(cfg.batch_size)]), device, cfg.channels_last)
        bare = bare_rate(method, batch, cfg, a.steps)
        print(f"{name:12s} real loop {real:7.1f} clips/s  bare step {bare:7.1f} clips/s  ratio {real / bare:.3f}  "
              f"data-wait share {st.data_seconds / st.seconds:.3f}  ({a.steps} steps x batch {cfg.batch_size}, "
              f"workers {a.workers}, threads {torch.get_num_threads()}; cache fill {decode_s:.1f} s)")


if __name__ == "__main__":
    main()
