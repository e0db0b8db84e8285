"""Training throughput: clips/s, share of the step spent waiting for data, and model FLOP
utilisation (MFU), for tiny3d and r3d_18 at the real-data protocol's 16x112x112.

    .venv/bin/python benchmarks/throughput.py --device cuda                       # H100: bf16 peak 989 TFLOPS
    .venv/bin/python benchmarks/throughput.py --device cuda --workers 8 --compile
    .venv/bin/python benchmarks/throughput.py --device cpu --steps 3 --batch 2 --warmup 1   # does it run

The loop is the training loop's own pieces (``vssl_bench.train``: the sharded loader with
its workers or the background prefetcher, ``to_device``, bf16 autocast, channels-last-3d,
AdamW, gradient clipping); the data are embedded synthetic videos generated at 112x112 (``--videos-per-class``
per class, once, into the cache), resized to 128 (short side) and cropped to 112 as for
UCF101 (docs/real_datasets.md); decoded videos are cached in RAM as in a run
(``--no-cache``: decode every read, closer to a large real dataset). Timings skip
``--warmup`` steps (cudnn autotuning, torch.compile) and synchronise the GPU each step.

- clips/s: videos per second of wall time over the timed steps;
- data wait: share of that time spent waiting for the next batch (the rest is the step);
- MFU: FLOPs of one training step (forward + backward, counted once by
  ``torch.utils.flop_counter.FlopCounterMode``: convolutions and matmuls, 2 FLOPs per
  multiply-add) x steps/s / peak. The peak is ``--peak-tflops``; on an H100 / H200 it
  defaults to 989 TFLOPS (dense bf16, SXM; NVIDIA H100 datasheet; the PCIe card: 756).
  A CPU has no such standard figure (cores x clock x FLOPs/cycle of its vector units):
  pass ``--peak-tflops`` to get an MFU there, otherwise it is reported as n/a.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from vssl_bench.config import Config, ConfigError
from vssl_bench.data.datasets import build_dataset
from vssl_bench.methods import resolve_params
from vssl_bench.runner import build_method
from vssl_bench.train import Prefetcher, autocast, build_optimizer, make_loader, optimizer_step, to_device
from vssl_bench.utils import device_description, resolve_device

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense, NVIDIA datasheets (SXM)


def default_peak(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    if "H100" in name and "PCIe" in name:
        return 756.0
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def step(method, opt, batch, device, cfg: Config) -> None:
    with autocast(device, cfg):
        out = method.loss(batch)
    optimizer_step(method, opt, out["loss"], cfg.grad_clip)


def step_flops(method, opt, batch, device, cfg: Config) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        step(method, opt, batch, device, cfg)
    return fc.get_total_flops()


def _batches(train, method, cfg: Config, device: torch.device, n: int):
    """``n`` batches as the training loop builds them: one stream across epochs (persistent
    workers, or the background prefetch thread without workers)."""
    loader = make_loader(train, type(method), method.p, cfg, cfg.seed, 0, 0, device, n_batches=n)
    return Prefetcher(loader) if cfg.num_workers == 0 else loader


def measure(backbone: str, a, device: torch.device) -> dict:
    cfg = Config(
        method=a.method,
        params=resolve_params(a.method, {}),
        backbone=backbone,
        batch_size=a.batch,
        steps=a.warmup + a.steps,
        clip_len=a.clip_len,
        frame_stride=2,
        size=a.size,
        resize=a.resize,
        num_workers=a.workers,
        data_root=a.data_root,
        device=str(device),
        amp=not a.no_amp,
        compile=a.compile,
        synthetic_train_per_class=a.videos_per_class,
        synthetic_test_per_class=1,
        cache_decoded_mb=0 if a.no_cache else Config.cache_decoded_mb,
    )
    if device.type == "cpu" and a.threads:
        torch.set_num_threads(a.threads)
    train, _ = build_dataset(cfg)
    if len(train) < cfg.batch_size:
        raise ConfigError(
            f"--batch {a.batch} is larger than the {len(train)} training videos; raise --videos-per-class"
        )
    method = build_method(cfg, len(train.classes), device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if cfg.compile:
        method.backbone.compile()
    opt = build_optimizer(method, cfg)
    method.train()
    stream = _batches(train, method, cfg, device, a.warmup + a.steps)
    batches = iter(stream)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    flops = None
    wait = total = 0.0
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        batch = to_device(next(batches), device, cfg.channels_last)  # (B, 3, T, H, W) views
        t1 = time.perf_counter()
        if i == 0:
            flops = step_flops(method, opt, batch, device, cfg)  # counted (and run) once, untimed
        else:
            step(method, opt, batch, device, cfg)
        sync()
        if i >= a.warmup:
            wait += t1 - t0
            total += time.perf_counter() - t0
    if isinstance(stream, Prefetcher):
        stream.close()
    steps_per_s = a.steps / total
    peak = a.peak_tflops if a.peak_tflops else default_peak(device)
    return {
        "backbone": backbone,
        "method": a.method,
        "device": device_description(device),
        "input": f"{a.batch}x3x{a.clip_len}x{a.size}x{a.size}",
        "workers": a.workers,
        "amp_bf16": device.type == "cuda" and cfg.amp,
        "compile": cfg.compile,
        "clips_per_s": round(a.batch * steps_per_s, 2),
        "step_ms": round(1000 / steps_per_s, 1),
        "data_wait_share": round(wait / total, 3),
        "gflops_per_step": round(flops / 1e9, 2),
        "achieved_tflops": round(flops * steps_per_s / 1e12, 4),
        "peak_tflops": peak,
        "mfu": round(flops * steps_per_s / (peak * 1e12), 4) if peak else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--backbones", default="tiny3d,r3d_18", help="comma-separated (default: tiny3d,r3d_18)")
    ap.add_argument("--method", default="supervised", help="whose loss is trained (default: supervised)")
    ap.add_argument("--batch", type=int, default=32, help="clips per step (default 32)")
    ap.add_argument("--steps", type=int, default=30, help="timed steps (default 30)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed first steps (default 5)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers (0: background prefetch thread)")
    ap.add_argument("--clip-len", type=int, default=16)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--resize", type=int, default=128, help="short side before the crop")
    ap.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="peak of the device for MFU (default: 989 on H100/H200 bf16; none on CPU)",
    )
    ap.add_argument("--no-amp", action="store_true", help="fp32 on CUDA (bf16 autocast otherwise)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the backbone")
    ap.add_argument("--threads", type=int, default=0, help="CPU intra-op threads (0: torch default)")
    ap.add_argument(
        "--videos-per-class",
        type=int,
        default=8,
        help="embedded videos per class (16 classes), generated once at --size (default 8)",
    )
    ap.add_argument("--no-cache", action="store_true", help="decode every read (no decoded-video cache)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--json", action="store_true", help="one JSON object per backbone instead of a table")
    a = ap.parse_args()
    try:
        device = resolve_device(a.device)
        rows = [measure(b.strip(), a, device) for b in a.backbones.split(",") if b.strip()]
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    if a.json:
        for r in rows:
            print(json.dumps(r))
        return
    print(
        f"device: {rows[0]['device']}  input {rows[0]['input']}  workers {a.workers}  "
        f"bf16 {rows[0]['amp_bf16']}  compile {a.compile}"
    )
    print(
        f"{'backbone':<10} {'clips/s':>9} {'step ms':>9} {'data wait':>10} {'GFLOP/step':>11} {'TFLOP/s':>9} {'MFU':>7}"
    )
    for r in rows:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        print(
            f"{r['backbone']:<10} {r['clips_per_s']:>9.1f} {r['step_ms']:>9.1f} {100 * r['data_wait_share']:>9.1f}% "
            f"{r['gflops_per_step']:>11.1f} {r['achieved_tflops']:>9.3f} {mfu:>7}"
        )
    if rows[0]["peak_tflops"] is None:
        print("MFU n/a: no standard peak for this device; pass --peak-tflops")


if __name__ == "__main__":
    main()
