"""Decoding throughput on real clips: our loader vs decoding whole videos; DataLoader workers.

Usage: ``.venv/bin/python benchmarks/decode_throughput.py [--videos DIR] [--rounds N] [--repeat N]``

1. clips/s for one random 16-frame clip per video:
   - ours: ``VideoSource`` (cache off) + ``read`` of the clip's 16 frames (decord seeks to
     the nearest key frame and decodes from there);
   - ours on the same videos after ``vssl-bench data prepare --short-side 128`` (written
     to a temporary folder first; H.264, a key frame every 16 frames);
   - PyAV: decode the whole video to RGB, then index the 16 frames;
   - ``torchvision.io.read_video`` (whole video), when this torchvision still has it
     (removed in torchvision 0.24+).
2. DataLoader clips/s with 0, 1, 2 workers (``--workers``) over ``PretrainDataset`` (one
   random 16-frame clip per video, short side 128, random 112 crop: the ucf101.yaml
   training input), on the originals and on the prepared copies.

Videos: a folder of sample clips (``.mp4`` / ``.avi``) given with ``--videos`` (default:
../shared/videos beside the repository, when present; not part of the repository).
Everything runs on one thread per process (torch, decord, PyAV), as in DataLoader workers;
the DataLoader rows use as many processes as workers (+ the main one). The target is ours
>= 3x the whole-video decoders.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vssl_bench.config import Config
from vssl_bench.data.datasets import PretrainDataset, VideoEntry, VideoList, VideoSource
from vssl_bench.data.loader import worker_init
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


def prepare_copies(videos: list[str], tmp: Path) -> list[str]:
    """The videos as ``vssl-bench data prepare --short-side 128`` writes them."""
    from vssl_bench.data.prepare import prepare_one

    out = []
    for v in videos:
        dst = tmp / Path(v).name
        assert prepare_one(v, str(dst), 128)["status"] == "encoded", v
        out.append(str(dst))
    return out


def view(src, rng):
    x = src.clip(random_clip(src.n_frames, CLIP, 1, rng))  # (C, T, H', W'), short side 128
    return {"video": random_resized_crop(x, 112, rng)}


def loader_rate(videos: list[str], workers: int, repeat: int) -> float:
    vl = VideoList([VideoEntry(v, 0) for v in videos] * repeat, ["x"])
    cfg = Config(cache_decoded_mb=0, resize=128, clip_len=CLIP, size=112)
    ds = PretrainDataset(vl, view, cfg, seed=0)
    dl = torch.utils.data.DataLoader(
        ds, batch_size=4, num_workers=workers, worker_init_fn=worker_init, persistent_workers=False
    )
    t0 = time.perf_counter()
    n = 0
    for b in dl:
        n += b["video"].shape[0]
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--videos",
        default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "videos"),
        help="folder of sample clips, .mp4 / .avi (default: ../shared/videos when present)",
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=6, help="copies of each video in the DataLoader test")
    ap.add_argument("--workers", default="0,1,2", help="DataLoader worker counts to measure")
    a = ap.parse_args()
    videos = sorted(str(p) for p in Path(a.videos).glob("*") if p.suffix in (".mp4", ".avi"))
    if not videos:
        sys.exit(f"no videos in {a.videos}")
    torch.set_num_threads(1)
    print("command: " + " ".join(shlex.quote(x) for x in [sys.executable, *sys.argv]))
    print(
        f"machine: {platform.machine()} {os.cpu_count()} CPU cores, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; torch {torch.__version__}"
    )
    print(f"{len(videos)} videos, {CLIP}-frame clips, {a.rounds} rounds, torch threads 1")
    ap_workers = [int(w) for w in a.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        prepared = prepare_copies(videos, Path(tmp))
        print(f"prepared copies (short side 128) written in {time.perf_counter() - t0:.1f} s")
        res = {
            "ours (decord clip)": time_it(ours, videos, a.rounds),
            "ours, prepared copies": time_it(ours, prepared, a.rounds),
            "PyAV whole video": time_it(pyav_whole, videos, a.rounds),
        }
        try:
            import torchvision.io as io

            if hasattr(io, "read_video"):
                res["torchvision.io.read_video"] = time_it(torchvision_whole, videos, a.rounds)
            else:
                print("torchvision.io.read_video: not in this torchvision (removed in 0.24+), skipped")
        except ImportError:
            print("torchvision not installed, skipped")
        ref = res["PyAV whole video"]
        print("\nrandom 16-frame clip, one per video (uint8 frames, no transform):")
        for k, v in res.items():
            print(f"  {k:28s} {v:7.1f} clips/s   x{v / ref:.1f} PyAV whole-video decoding")
        print("\nDataLoader over PretrainDataset (16x112x112 training views, resize 128, batch 4):")
        for w in ap_workers:
            print(
                f"  {w} worker(s): originals {loader_rate(videos, w, a.repeat):7.1f} clips/s, "
                f"prepared copies {loader_rate(prepared, w, a.repeat):7.1f} clips/s"
            )


if __name__ == "__main__":
    main()
