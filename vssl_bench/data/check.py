"""``vssl-bench data check``: scan every video a dataset's split names, before a long run.

For each listed video: does the file exist, does it open, how many frames, fps,
resolution, duration, and does its *last* frame decode (a truncated file often opens and
reports a frame count from its header, then fails part-way; decoding the last frame
catches that). Problems found:

- ``missing``: named by the split files but not on disk;
- ``unreadable``: cannot be opened or decoded (wholly or from some frame on);
- ``short``: fewer frames than one clip spans (``(clip_len - 1) * frame_stride + 1``);
  usable (clips are looped, see ``samplers``) but worth knowing;
- ``empty class``: a class without readable train (fatal) or test (warning) videos.

The split is *unusable* (exit code 1) when it has no readable train or test video, or a
class has no readable train video. Per-file results are cached in
``<data_root>/.vssl-bench-check.json`` keyed by path + size + mtime, so a second check
only stats the files.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from vssl_bench.config import Config, choice_error
from vssl_bench.data.datasets import DATASETS
from vssl_bench.data.samplers import clip_span
from vssl_bench.data.video import Reader, VideoDecodeError
from vssl_bench.utils import first_line

CACHE_NAME = ".vssl-bench-check.json"
CACHE_VERSION = 1


@dataclass
class VideoRecord:
    path: str
    split: str  # "train" | "test"
    label: int
    status: str  # "ok" | "missing" | "unreadable"
    frames: int = 0
    fps: float = 0.0
    height: int = 0
    width: int = 0
    error: str = ""

    @property
    def duration(self) -> float:
        return self.frames / self.fps if self.fps > 0 else 0.0


@dataclass
class CheckReport:
    dataset: str
    classes: list[str]
    records: list[VideoRecord]
    min_frames: int
    problems: list[str] = field(default_factory=list)  # human-readable, most severe first
    fatal: list[str] = field(default_factory=list)  # why the split is unusable
    cached: int = 0  # records answered by the cache

    @property
    def usable(self) -> bool:
        return not self.fatal

    def count(self, split: str | None = None, status: str | None = None) -> int:
        return sum(
            1 for r in self.records if (split is None or r.split == split) and (status is None or r.status == status)
        )

    @property
    def short(self) -> list[VideoRecord]:
        return [r for r in self.records if r.status == "ok" and r.frames < self.min_frames]

    def summary(self) -> dict:
        ok = [r for r in self.records if r.status == "ok"]
        frames = np.array([r.frames for r in ok]) if ok else np.zeros(1)
        res = Counter(f"{r.width}x{r.height}" for r in ok)
        fps = Counter(round(r.fps, 2) for r in ok)
        return {
            "dataset": self.dataset,
            "classes": len(self.classes),
            **{
                f"{s}_{k}": self.count(s, None if k == "listed" else k)
                for s in ("train", "test")
                for k in ("listed", "ok", "missing", "unreadable")
            },
            "short": len(self.short),
            "min_frames_for_a_clip": self.min_frames,
            "frames_min": int(frames.min()),
            "frames_median": float(np.median(frames)),
            "frames_max": int(frames.max()),
            "hours": round(sum(r.duration for r in ok) / 3600, 3),
            "resolutions": dict(res.most_common(5)),
            "fps": dict(fps.most_common(5)),
            "usable": self.usable,
        }


def probe(path: str) -> dict:
    """Open a video, read its header and decode its last frame -> info dict (or error)."""
    try:
        with Reader(path) as vr:
            n = len(vr)
            h, w = vr.frames([0]).shape[1:3]
            if n > 1:
                last = vr.frames([n - 1])  # a truncated file fails here
                if last.shape[1:3] != (h, w):
                    raise VideoDecodeError(f"frame size changes ({h}x{w} -> {last.shape[1]}x{last.shape[2]})")
            return {"status": "ok", "frames": int(n), "fps": vr.fps, "height": int(h), "width": int(w)}
    except VideoDecodeError as e:
        return {"status": "unreadable", "error": str(e)}
    except Exception as e:  # decord raises its own error types while decoding
        return {"status": "unreadable", "error": f"cannot decode {path}: {first_line(e)}"}


def _load_cache(path: Path) -> dict:
    try:
        d = json.loads(path.read_text())
        return d.get("files", {}) if d.get("version") == CACHE_VERSION else {}
    except (OSError, ValueError):
        return {}


def _save_cache(path: Path, files: dict) -> bool:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "files": files}))
        os.replace(tmp, path)
        return True
    except OSError:  # read-only data root: the check still works, only slower next time
        return False


def check_dataset(cfg: Config, progress: Callable[[int, int], None] | None = None) -> CheckReport:
    """Scan every video of ``cfg``'s dataset/split. ``progress(done, total)`` after each."""

    if cfg.dataset not in DATASETS:
        raise choice_error("dataset", cfg.dataset, list(DATASETS))
    train, test = DATASETS[cfg.dataset].build(cfg)
    root = Path(train.root or cfg.data_root or ".")
    cache_path = root / CACHE_NAME
    cache = _load_cache(cache_path)
    records: list[VideoRecord] = []
    for name, vl in (("train", train), ("test", test)):
        for p in vl.missing:
            records.append(VideoRecord(p, name, -1, "missing", error="named in the split files, not on disk"))
    todo = [(name, e) for name, vl in (("train", train), ("test", test)) for e in vl.entries]
    n_cached = 0
    for i, (name, e) in enumerate(todo):
        try:
            st = os.stat(e.path)
        except OSError:
            records.append(VideoRecord(e.path, name, e.label, "missing", error="named in the split files, not on disk"))
        else:
            key = f"{os.path.abspath(e.path)}|{st.st_size}|{st.st_mtime_ns}"
            info = cache.get(key)
            if info is None:
                info = probe(e.path)
                cache[key] = info
            else:
                n_cached += 1
            records.append(VideoRecord(e.path, name, e.label, **info))
        if progress is not None:
            progress(i + 1, len(todo))
    if len(todo) > n_cached:  # one cache per data root, shared by its splits
        _save_cache(cache_path, cache)
    rep = CheckReport(
        cfg.dataset, list(train.classes), records, clip_span(cfg.clip_len, cfg.frame_stride), cached=n_cached
    )
    _diagnose(rep)
    return rep


def _diagnose(rep: CheckReport) -> None:
    for split in ("train", "test"):
        if rep.count(split, "ok") == 0:
            rep.fatal.append(f"no readable {split} video")
    per_class = {
        s: Counter(r.label for r in rep.records if r.split == s and r.status == "ok") for s in ("train", "test")
    }
    no_train = [c for i, c in enumerate(rep.classes) if per_class["train"][i] == 0]
    no_test = [c for i, c in enumerate(rep.classes) if per_class["test"][i] == 0]
    if no_train and len(no_train) < len(rep.classes):
        rep.fatal.append(f"{len(no_train)} class(es) without a readable train video: {_names(no_train)}")
    for r in rep.records:
        if r.status == "missing":
            rep.problems.append(f"missing    {r.split:5s} {r.path}")
    for r in rep.records:
        if r.status == "unreadable":
            rep.problems.append(f"unreadable {r.split:5s} {r.path}: {r.error}")
    for r in rep.short:
        rep.problems.append(f"short      {r.split:5s} {r.path}: {r.frames} frames < {rep.min_frames} (clips will loop)")
    if no_test and len(no_test) < len(rep.classes):
        rep.problems.append(f"no test videos for {len(no_test)} class(es): {_names(no_test)}")


def _names(xs: list[str], k: int = 8) -> str:
    return ", ".join(xs[:k]) + (f" (+{len(xs) - k} more)" if len(xs) > k else "")
