"""Shared by the fine-tuning and shift tests: a two-class ``folder`` dataset whose classes
differ by brightness only (dark / bright lossless videos), so the known answer is 100 %,
and a job config small enough for a unit test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from conftest import write_lossless_video  # tests/conftest.py

from vssl_bench.config import Config


def make_brightness_folder(root: Path, per_class: int = 12) -> Path:
    rng = np.random.default_rng(0)
    for cls, level in (("dark", 40), ("bright", 210)):
        for i in range(per_class):
            frames = np.clip(level + rng.normal(0, 12, (16, 32, 32, 3)), 0, 255).astype(np.uint8)  # (T, H, W, 3)
            (root / cls).mkdir(parents=True, exist_ok=True)
            write_lossless_video(root / cls / f"{cls}_{i:02d}.mkv", frames)
    return root


def tiny_cfg(**kw) -> Config:
    """8-frame clips at stride 2, one eval clip, batch 8, 1 thread (tiny ops: extra threads
    only wait on each other on a shared 2-core machine)."""
    torch.set_num_threads(1)
    base = dict(
        clip_len=8,
        frame_stride=2,
        batch_size=8,
        eval_clips=1,
        linear_epochs=20,
        threads=1,
        channels_last=False,
        device="cpu",
        checkpoint_every=1000,
    )
    return Config(**{**base, **kw})
