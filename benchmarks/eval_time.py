"""Seconds of the standard evaluation of one checkpoint (features of every train and test
video + linear probe + kNN + retrieval), as `vssl-bench run` does it after pretraining, on
the quick suite's config (5 clips per video, 768 train + 256 test videos), with and without
the extractor's two speed-ups, alternating runs (this machine drifts +-10 %):

    .venv/bin/python benchmarks/eval_time.py --repeats 3

- ``fast``: the default (BN folded into the convolutions, uint8 clips normalised per batch,
  tiny3d's trunk in oneDNN's blocked layout: ``features.BlockedTrunkEmbed``);
- ``plain``: ``method.embed`` as it is, float clips normalised per video (the path before).

The decoded-video cache is filled first (as after the first job of a run). Prints the
median seconds (features, protocols) per variant; ``--threads`` as in a quick-suite job.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from vssl_bench.data.datasets import build_dataset
from vssl_bench.eval.features import extract_features, frozen_embed
from vssl_bench.eval.standard import evaluate_banks
from vssl_bench.methods import resolve_params
from vssl_bench.runner import build_method
from vssl_bench.suite import load_suite


def one(method, train, test, cfg, fast: bool) -> tuple[float, float]:
    run_cfg = cfg if fast else dataclasses.replace(cfg, raw_views=False)
    t0 = time.perf_counter()
    embed = frozen_embed(method) if fast else method.embed
    banks = {s: extract_features(embed, v, run_cfg, torch.device("cpu")) for s, v in (("train", train), ("test", test))}
    t1 = time.perf_counter()
    evaluate_banks(banks["train"], banks["test"], run_cfg, num_classes=len(train.classes))
    return t1 - t0, time.perf_counter() - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", default="supervised")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    base = load_suite("quick").base
    cfg = dataclasses.replace(base, method=a.method, params=resolve_params(a.method, {}))
    train, test = build_dataset(cfg)
    method = build_method(cfg, len(train.classes), torch.device("cpu"))
    method.eval()
    one(method, train, test, cfg, True)  # decode cache, allocator warm-up
    res: dict[str, list[tuple[float, float]]] = {"fast": [], "plain": []}
    for _ in range(a.repeats):
        for name in res:
            res[name].append(one(method, train, test, cfg, name == "fast"))
    print(
        f"{a.method}, {len(train)} + {len(test)} videos x {cfg.eval_clips} clips, {a.threads} threads, "
        f"median of {a.repeats}:"
    )
    for name, runs in res.items():
        f, p = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        print(
            f"  {name:5s} features {f:5.2f} s  protocols {p:4.2f} s  total {f + p:5.2f} s"
            f"  (range {min(sum(r) for r in runs):.2f}-{max(sum(r) for r in runs):.2f})"
        )


if __name__ == "__main__":
    main()
