"""A finished job's own task, measured again from its checkpoint by this checkout's code:
what a job trained before its method measured its task (or before the measure changed)
would have recorded. Nothing is written; each job prints one line.

    .venv/bin/python benchmarks/reread_own_task.py results/tune-2400/runs/gan__*

Each job is read on the videos it was evaluated on (its config's ``holdout``: the test
split, or a tuning job's validation carve), in eval mode, as ``heldout_pretext`` does at the
end of a job. A folder without ``checkpoint.pt`` (a committed one: checkpoints are
git-ignored) is reported and skipped.

``--batch-size B`` reads the task in held-out batches of B clips instead of the method's
own (its ``heldout_batch``, else the training batch size), B at most every held-out clip
(as many batches as cover the clips the job read, and at least one). For a task posed
within a batch (the contrastive methods' "which clip of the batch is my positive") B is the
gallery, so a larger B is a harder task for the network and for its training-free baseline
alike. ``--untrained`` reads the job's method with its seeded initial weights instead of
its checkpoint: what the network does before any training.

    .venv/bin/python benchmarks/reread_own_task.py results/runs/xmodal__* --batch-size 32 [--untrained]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch
import yaml

import vssl_bench.data.datasets  # noqa: F401  (registers the job keys' data part)
from vssl_bench.config import Config
from vssl_bench.data.datasets import build_dataset
from vssl_bench.rundir import RunDir
from vssl_bench.runner import build_method
from vssl_bench.train import heldout_pretext, load_weights


def config_of(run_dir: Path) -> Config:
    """The job's Config from its ``config.yaml`` (lists back to tuples where a field is one)."""
    raw = yaml.safe_load((run_dir / "config.yaml").read_text())
    fields = {f.name: f for f in dataclasses.fields(Config)}
    kw = {
        k: tuple(v) if isinstance(v, list) and isinstance(getattr(Config(), k, None), tuple) else v
        for k, v in raw.items()
        if k in fields
    }
    return Config(**kw)


def reread(run_dir: Path, device: torch.device, batch_size: int | None = None, untrained: bool = False) -> dict:
    cfg = config_of(run_dir)
    train, heldout = build_dataset(cfg)
    method = build_method(cfg, len(train.classes), device)
    if not untrained:
        load_weights(method, RunDir(run_dir), device)
    return heldout_pretext(method, heldout, cfg, device, gallery=batch_size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="job folders (results/.../runs/NAME)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=None, help="held-out batch (the gallery of a within-batch task)")
    ap.add_argument("--untrained", action="store_true", help="the seeded initial weights, not the checkpoint")
    args = ap.parse_args()
    if args.batch_size is not None and args.batch_size < 1:
        ap.error(f"--batch-size must be >= 1, got {args.batch_size}")
    torch.set_num_threads(1)
    for d in args.runs:
        if not args.untrained and not (d / "checkpoint.pt").exists():
            print(f"{d.name}: no checkpoint.pt, skipped")
            continue
        r = reread(d, torch.device(args.device), args.batch_size, args.untrained)
        cfg = config_of(d)
        point = ", ".join(f"{k}={v}" for k, v in sorted(cfg.params.items()))
        vals = "  ".join(f"{k.removeprefix('pretext_')} {v:.3f}" for k, v in r.items() if isinstance(v, float))
        how = ("untrained, " if args.untrained else "") + (f"batches of {args.batch_size}, " if args.batch_size else "")
        print(f"{d.name} (lr={cfg.lr:g}; {point}; {how}{cfg.holdout}, {r.get('pretext_samples')} clips): {vals}")


if __name__ == "__main__":
    main()
