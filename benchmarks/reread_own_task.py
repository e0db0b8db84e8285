"""A finished job's own task, measured again from its checkpoint by this checkout's code:
what a job trained before its method measured its task (or before the measure changed)
would have recorded. Nothing is written; each job prints one line.

    .venv/bin/python benchmarks/reread_own_task.py results/tune-2400/runs/gan__*

Each job is read on the videos it was evaluated on (its config's ``holdout``: the test
split, or a tuning job's validation carve), in eval mode, as ``heldout_pretext`` does at the
end of a job. A folder without ``checkpoint.pt`` (a committed one: checkpoints are
git-ignored) is reported and skipped.
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


def reread(run_dir: Path, device: torch.device) -> dict:
    cfg = config_of(run_dir)
    train, heldout = build_dataset(cfg)
    method = build_method(cfg, len(train.classes), device)
    load_weights(method, RunDir(run_dir), device)
    return heldout_pretext(method, heldout, cfg, device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="job folders (results/.../runs/NAME)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for d in args.runs:
        if not (d / "checkpoint.pt").exists():
            print(f"{d.name}: no checkpoint.pt, skipped")
            continue
        r = reread(d, torch.device(args.device))
        cfg = config_of(d)
        point = ", ".join(f"{k}={v}" for k, v in sorted(cfg.params.items()))
        vals = "  ".join(f"{k.removeprefix('pretext_')} {v:.3f}" for k, v in r.items() if isinstance(v, float))
        print(f"{d.name} (lr={cfg.lr:g}; {point}; {cfg.holdout}, {r.get('pretext_samples')} clips): {vals}")


if __name__ == "__main__":
    main()
