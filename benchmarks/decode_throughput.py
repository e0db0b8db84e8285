"""Decoding throughput on real clips: our loader vs decoding whole videos; DataLoader workers.

Usage: ``.venv/bin/python benchmarks/decode_throughput.py [--videos DIR] [--rounds N]``

1. clips/s for one random 16-frame clip per video:
   - ours: ``VideoSource`` (cache off) + ``read`` of the clip's 16 frames (decord seeks to
     the nearest key frame and decodes from there);
   - PyAV: decode the whole video to RGB, then index the 16 frames;
   - ``torchvision.io.read_video`` (whole video), when this torchvision still has it
     (removed in torchvision 0.24+).
2. DataLoader clips/s with 0, 1, 2 workers over ``PretrainDataset`` (one random 16-frame
   clip per video, short side 128, random 112 crop: the ucf101.yaml training input).

Default videos: ../shared/videos (the four mmaction2 clips: 164, 300, 280, 57 frames).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vssl_bench.config import Config
from vssl_bench.data.datasets import PretrainDataset, VideoEntry, VideoList, VideoSource, worker_init
from vssl_bench.data.samplers import random_clip
from vssl_bench.data.transforms import random_resized_crop

CLIP = 16


def pyav_whole(path: str, idx: np.ndarray) -> np.ndarray:
    import av

    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "NONE"  # one thread, like our decord readers
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(s)])  # (N, H, W, 3)
    return frames[idx % len(frames)]


def torchvision_whole(path: str, idx: np.ndarray) -> np.ndarray:
    import torchvision.io as io

    v, _, _ = io.read_video(path, pts_unit="sec", output_format="THWC")
    return v.numpy()[idx % v.shape[0]]


def ours(path: str, rng: np.random.Generator) -> np.ndarray:
    src = VideoSource(path, cache_mb=0)
    return src.read(random_clip(src.n_frames, CLIP, 1, rng))


def time_it(fn, videos: list[str], rounds: int) -> float:
    """clips/s over ``rounds`` passes over ``videos`` (one clip per video per pass)."""
    rng = np.random.default_rng(0)
    n_frames = {v: VideoSource(v, 0).n_frames for v in videos}
    t0 = time.perf_counter()
    for _ in range(rounds):
        for v in videos:
            if fn is ours:
                out = ours(v, rng)
            else:
                idx = random_clip(n_frames[v], CLIP, 1, rng)
                out = fn(v, idx)
            assert out.shape[0] == CLIP
    return rounds * len(videos) / (time.perf_counter() - t0)


def view(src, rng):
    x = src.clip(random_clip(src.n_frames, CLIP, 1, rng))  # (C, T, H', W'), short side 128
    return {"video": random_resized_crop(x, 112, rng)}


def loader_rate(videos: list[str], workers: int, repeat: int) -> float:
    vl = VideoList([VideoEntry(v, 0) for v in videos] * repeat, ["x"])
    cfg = Config(cache_decoded_mb=0, resize=128, clip_len=CLIP, size=112)
    ds = PretrainDataset(vl, view, cfg, seed=0)
    dl = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=workers, worker_init_fn=worker_init,
                                     persistent_workers=False)
    t0 = time.perf_counter()
    n = 0
    for b in dl:
        n += b["video"].shape[0]
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "videos"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=6, help="copies of each video in the DataLoader test")
    a = ap.parse_args()
    videos = sorted(str(p) for p in Path(a.videos).glob("*") if p.suffix in (".mp4", ".avi"))
    if not videos:
        sys.exit(f"no videos in {a.videos}")
    torch.set_num_threads(1)
    print(f"{len(videos)} videos, {CLIP}-frame clips, {a.rounds} rounds, torch threads 1")
    res = {"ours (decord clip)": time_it(ours, videos, a.rounds),
           "PyAV whole video": time_it(pyav_whole, videos, a.rounds)}
    try:
        import torchvision.io as io

        if hasattr(io, "read_video"):
            res["torchvision.io.read_video"] = time_it(torchvision_whole, videos, a.rounds)
        else:
            print("torchvision.io.read_video: not in this torchvision (removed in 0.24+), skipped")
    except ImportError:
        print("torchvision not installed, skipped")
    base = res["ours (decord clip)"]
    for k, v in res.items():
        print(f"{k:28s} {v:7.1f} clips/s   (ours x{base / v:.1f})")
    for w in (0, 1, 2):
        print(f"DataLoader, {w} workers: {loader_rate(videos, w, a.repeat):7.1f} clips/s "
              f"(16x112x112 training views, resize 128)")


if __name__ == "__main__":
    main()
