"""``vssl-bench data prepare``: re-encode a real dataset once at a small short side.

Real datasets ship at 320x240 (UCF101, HMDB51) up to 1080p (Kinetics, phone videos) while
the suites read 16x112x112 crops of a 128-short-side resize; decoding the originals is
the bottleneck of a GPU run (docs/real_datasets.md). ``prepare`` writes every video the
dataset's split files name (all three official splits of UCF101 / HMDB51, every class
video of a ``folder`` dataset) into ``--out`` at short side ``short_side``, under the
**same relative path and file name**, and copies the split / annotation files beside
them, so the prepared folder is a drop-in ``--data-root`` for the same ``--dataset``.

Encoding (PyAV writes, decord reads, as everywhere in vssl-bench):

- H.264 (libx264, yuv420p) in an MP4 container, whatever the file's extension says
  (``v_x.avi`` keeps its name so the split files stay valid; ffmpeg/decord pick the
  demuxer from the content, an MP4 ``ftyp`` box outranks the extension);
- ``crf`` 20 / preset ``veryfast``: visually lossless at this size (x264's default crf is
  23; 18-20 is its "visually transparent" range), and fast to write; macroblock-tree rate
  control off (``mbtree=0``), so that the same source gives the same bytes;
- one key frame every 16 frames (``g=16``, no B-frames): a random 16-frame clip decodes
  at most 15 extra frames (x264's default GOP of 250 frames would make decord decode up
  to 10 s of video for every clip);
- the frame count and average frame rate of the source are kept (constant frame rate);
  frames are resized with swscale's area filter (antialiased shrinking) to the short side,
  never upscaled, sides rounded to even numbers (yuv420p needs them); decord applies a
  rotation stored in the source's display matrix, so the output is upright and carries no
  rotation.

Resumable: each file is written to ``<name>.vssl-part`` then renamed, so a finished file
is complete; ``<out>/.vssl-prepare.json`` (the manifest) records each source's size and
mtime and the output's size, so the next run skips unchanged finished files and redoes a
changed source, a deleted output or a half-written one. A source that cannot be decoded
(wholly or from some frame on) is counted, listed and linked/copied unchanged into the
tree, so the prepared root lists exactly the same files as the original (same seeded
``folder`` splits, same ``data check`` verdicts, and ``run`` skips it as it would skip the
original). Named-but-absent files stay absent.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import multiprocessing as mp
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

from vssl_bench.config import Config, ConfigError, choice_error
from vssl_bench.data.splits import VIDEO_EXTS
from vssl_bench.data.video import Reader, VideoDecodeError
from vssl_bench.utils import atomic_write_json, error_line, file_lock

MANIFEST = ".vssl-prepare.json"
LOCK = ".vssl-prepare.lock"
PART = ".vssl-part"  # suffix of a file being written
MANIFEST_VERSION = 1
# Encoder settings (see the module docstring); part of the manifest: changing them redoes everything.
# x264_params mbtree=0: macroblock-tree rate control made the embedded generator's encodes
# differ from run to run (synthetic.X264_PARAMS), and a prepared copy differed between two
# encodes of one source in 2 of 5 test-suite runs with it on (4 of 4 green with it off).
CODEC = {
    "codec": "libx264",
    "container": "mp4",
    "pix_fmt": "yuv420p",
    "crf": 20,
    "preset": "veryfast",
    "gop": 16,
    "x264_params": "mbtree=0",
}
CHUNK = 32  # frames decoded per decord call (bounded memory for long / large videos)
COPY_MAX_BYTES = 256 * 2**20  # annotation files above this are not copied (SSv2/Kinetics files are < 50 MB)
ARCHIVES = (".rar", ".zip", ".tar", ".gz", ".tgz", ".7z", ".bz2", ".xz")  # never copied
SPLIT_DATASETS = ("ucf101", "hmdb51")  # datasets whose official splits 1-3 name different videos


@dataclass
class PrepareReport:
    dataset: str
    out: str
    total: int = 0  # distinct videos named by the splits (present or not)
    encoded: int = 0  # written by this run
    up_to_date: int = 0  # finished by an earlier run, source unchanged
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (relative path, error), kept as-is
    failed: list[tuple[str, str]] = field(default_factory=list)  # could not be written (not the source's fault)
    missing: list[str] = field(default_factory=list)  # named by the splits, not on disk
    copied: list[str] = field(default_factory=list)  # split / annotation files copied (or already there)
    not_copied: list[str] = field(default_factory=list)  # archives or oversized non-video files left out
    in_bytes: int = 0  # sources encoded by this run
    out_bytes: int = 0  # their outputs
    seconds: float = 0.0

    @property
    def prepared(self) -> int:
        return self.encoded + self.up_to_date

    @property
    def ok(self) -> bool:
        """False only when nothing could be prepared (the CLI then exits 1)."""
        return self.prepared > 0


# ------------------------------------------------------------------------- sizes
def target_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """Output (height, width): short side ``short_side`` (never upscaled), aspect kept,
    both even (yuv420p). ``target_size(240, 320, 128) == (128, 170)``; a source already
    at or below the short side keeps its size, less one pixel on an odd side."""
    if min(height, width) <= short_side:
        return max(2, height - height % 2), max(2, width - width % 2)
    s = short_side / min(height, width)
    return max(2, 2 * round(height * s / 2)), max(2, 2 * round(width * s / 2))


def _rate(fps: float) -> Fraction:
    """The source's average rate as a fraction (29.97 -> 30000/1001); 25 if unknown."""
    if not fps or fps != fps or fps <= 0 or fps > 1000:
        return Fraction(25)
    return Fraction(fps).limit_denominator(1001)


# ------------------------------------------------------------------- one video
def encode_video(src: str, dst: str, short_side: int) -> dict:
    """Decode ``src`` with decord, write it resized as H.264/MP4 to ``dst`` (any name).

    Returns ``{"frames", "height", "width", "fps"}`` of the output. Raises
    :class:`VideoDecodeError` when the source cannot be decoded (wholly or part-way).
    """
    import av  # the encoder: imported where a video is written (PyAV is heavy)

    with Reader(src) as vr:
        return _encode(vr, dst, short_side, av)


def _encode(vr: Reader, dst: str, short_side: int, av) -> dict:
    src, n = vr.path, len(vr)
    rate = _rate(vr.fps)
    written = 0
    with av.open(dst, "w", format=CODEC["container"]) as c:
        s = c.add_stream(
            CODEC["codec"],
            rate=rate,
            options={
                "crf": str(CODEC["crf"]),
                "preset": CODEC["preset"],
                "g": str(CODEC["gop"]),
                "keyint_min": str(CODEC["gop"]),
                "bf": "0",
                "threads": "1",
                "x264-params": CODEC["x264_params"],
            },
        )
        s.pix_fmt = CODEC["pix_fmt"]
        th = tw = 0
        for a in range(0, n, CHUNK):
            frames = vr.frames(list(range(a, min(n, a + CHUNK))))  # (t, H, W, 3) uint8
            if not th:
                th, tw = target_size(frames.shape[1], frames.shape[2], short_side)
                s.width, s.height = tw, th
            for f in frames:
                vf = av.VideoFrame.from_ndarray(f, format="rgb24")
                vf = vf.reformat(width=tw, height=th, format=CODEC["pix_fmt"], interpolation="AREA")
                vf.pts, vf.time_base = written, 1 / rate
                for pkt in s.encode(vf):
                    c.mux(pkt)
                written += 1
        for pkt in s.encode():
            c.mux(pkt)
    if written != n:
        raise VideoDecodeError(f"{src}: {written} of {n} frames decoded")
    return {"frames": written, "height": th, "width": tw, "fps": float(rate)}


def _link_or_copy(src: str, tmp: Path) -> None:
    try:
        os.link(src, tmp)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(src, tmp)


def prepare_one(src: str, dst: str, short_side: int) -> dict:
    """Prepare one video (runs in a worker process). Never raises for a bad source:
    returns ``{"status": "encoded" | "unreadable" | "failed", ...}``."""
    dst_p = Path(dst)
    tmp = dst_p.with_name(dst_p.name + PART)
    dst_p.parent.mkdir(parents=True, exist_ok=True)
    tmp.unlink(missing_ok=True)  # a stale temp file of a killed run
    try:
        info = encode_video(src, str(tmp), short_side)
        os.replace(tmp, dst_p)  # atomic: a finished name is always a complete file
        return {"status": "encoded", **info, "out_size": dst_p.stat().st_size}
    except VideoDecodeError as e:
        tmp.unlink(missing_ok=True)
        try:  # keep the file list identical to the source's (see the module docstring)
            _link_or_copy(src, tmp)
            os.replace(tmp, dst_p)
        except OSError as e2:
            return {"status": "failed", "error": f"unreadable, and could not be copied: {e2}"}
        return {"status": "unreadable", "error": str(e), "out_size": dst_p.stat().st_size}
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
            raise  # the output disk, not this video: stop
        return {"status": "failed", "error": f"{type(e).__name__}: {e}"}
    except Exception as e:  # an encoder error on one odd video must not stop the dataset
        tmp.unlink(missing_ok=True)
        return {"status": "failed", "error": error_line(e)}


def _prepare_task(args: tuple[str, str, int]) -> dict:
    return prepare_one(*args)


# --------------------------------------------------------------- the dataset
def listed_videos(cfg: Config) -> tuple[dict[str, str], list[str]]:
    """Every video the dataset's splits name: ``({relative path: source path}, missing)``.

    UCF101 / HMDB51: the union of the official splits 1-3 (a video unused in one HMDB
    split is used in another); other datasets: their train + test lists.
    """
    # here, not at the top: the encoding pool's spawned workers import this module, and
    # need neither torch nor the dataset registry
    from vssl_bench.data.datasets import DATASETS, require_root

    root = require_root(cfg)
    splits = (1, 2, 3) if cfg.dataset in SPLIT_DATASETS else (cfg.split,)
    videos: dict[str, str] = {}
    missing: list[str] = []
    for s in splits:
        try:
            lists = DATASETS[cfg.dataset].build(dataclasses.replace(cfg, split=s))
        except ConfigError:
            if s == splits[0]:
                raise
            continue  # e.g. only split 1's files present: prepare what it names
        for vl in lists:
            for is_missing, paths in ((True, vl.missing), (False, [e.path for e in vl.entries])):
                for p in paths:
                    rel = os.path.relpath(os.path.abspath(p), os.path.abspath(root))
                    if rel.startswith(".."):
                        raise ConfigError(f"{p} is outside the data root {root}; cannot mirror it")
                    if is_missing:
                        missing.append(rel)
                    else:
                        videos[rel] = p
    return videos, sorted(set(missing) - set(videos))


def _mirror_tree(root: Path, out: Path, report: PrepareReport) -> None:
    """Create every folder of ``root`` under ``out`` (class folders included, even empty
    ones, so class lists are identical) and copy the non-video files (split lists,
    annotations) that changed."""
    out_abs = os.path.abspath(out)
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if not x.startswith(".") and os.path.abspath(os.path.join(d, x)) != out_abs)
        rel_d = os.path.relpath(d, root)
        (out / rel_d).mkdir(parents=True, exist_ok=True)
        for f in sorted(files):
            if f.startswith(".") or Path(f).suffix.lower() in VIDEO_EXTS or f.endswith(PART):
                continue
            src = Path(d) / f
            rel = os.path.normpath(os.path.join(rel_d, f))
            st = src.stat()
            if f.lower().endswith(ARCHIVES) or st.st_size > COPY_MAX_BYTES:
                report.not_copied.append(rel)
                continue
            dst = out / rel
            try:
                dt = dst.stat()
                if dt.st_size == st.st_size and dt.st_mtime_ns == st.st_mtime_ns:
                    report.copied.append(rel)
                    continue
            except FileNotFoundError:
                pass
            tmp = dst.with_name(dst.name + PART)
            shutil.copy2(src, tmp)
            os.replace(tmp, dst)
            report.copied.append(rel)


def _load_manifest(path: Path, settings: dict) -> dict:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if d.get("version") != MANIFEST_VERSION or d.get("settings") != settings:
        return {}  # other encoder settings or short side: everything is redone
    return d.get("files", {})


def _save_manifest(path: Path, settings: dict, files: dict) -> None:
    atomic_write_json(path, {"version": MANIFEST_VERSION, "settings": settings, "files": files})


def prepare_dataset(
    cfg: Config,
    out: str | Path,
    short_side: int = 128,
    workers: int = 1,
    progress: Callable[[int, int, str], None] | None = None,
) -> PrepareReport:
    """Prepare every video of ``cfg.dataset`` at ``cfg.data_root`` into ``out``.

    ``progress(done, total, last_relative_path)`` is called after each video. The default
    short side 128 is the suites' ``resize`` (benchmarks/ucf101.yaml, hmdb51.yaml).
    """
    # here, not at the top: the encoding pool's spawned workers import this module, and
    # need neither torch nor the dataset registry
    from vssl_bench.data.datasets import DATASETS, require_root

    real = [n for n, s in DATASETS.items() if not s.embedded]
    if cfg.dataset not in real:
        raise choice_error("dataset to prepare", cfg.dataset, real)
    if short_side < 16 or short_side % 2:
        raise ConfigError(f"--short-side must be an even number >= 16 (yuv420p), got {short_side}")
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    t0 = time.perf_counter()
    root = require_root(cfg)
    out = Path(out).expanduser()
    r_abs, o_abs = Path(os.path.abspath(root)), Path(os.path.abspath(out))
    if o_abs == r_abs or o_abs in r_abs.parents or r_abs in o_abs.parents:
        raise ConfigError(f"--out {str(out)!r} must not be the data root, a folder above it or inside it")
    videos, missing = listed_videos(cfg)
    out.mkdir(parents=True, exist_ok=True)
    with file_lock(out / LOCK, blocking=False) as got:
        if not got:
            raise ConfigError(f"another `vssl-bench data prepare` is writing to {out}")
        report = PrepareReport(cfg.dataset, str(out), total=len(videos) + len(missing), missing=missing)
        _mirror_tree(root, out, report)
        settings = {**CODEC, "short_side": short_side}
        mpath = out / MANIFEST
        files = _load_manifest(mpath, settings)
        todo, stats = [], {}
        for rel, src in sorted(videos.items()):
            try:
                st = os.stat(src)
            except OSError:
                report.missing.append(rel)
                continue
            stats[rel] = st
            m = files.get(rel)
            if m and m["src_size"] == st.st_size and m["src_mtime_ns"] == st.st_mtime_ns:
                try:
                    done = (out / rel).stat().st_size == m["out_size"]
                except OSError:
                    done = False
                if done:
                    if m["status"] == "encoded":
                        report.up_to_date += 1
                    else:
                        report.unreadable.append((rel, m.get("error", "") + " (earlier run)"))
                    continue
            todo.append(rel)
        report.missing.sort()
        n_done = report.total - len(todo)
        if progress is not None:
            progress(n_done, report.total, "")
        last_save = time.monotonic()

        def record(rel: str, res: dict) -> None:
            nonlocal n_done, last_save
            st = stats[rel]
            if res["status"] == "encoded":
                report.encoded += 1
                report.in_bytes += st.st_size
                report.out_bytes += res["out_size"]
            elif res["status"] == "unreadable":
                report.unreadable.append((rel, res["error"]))
            else:
                report.failed.append((rel, res["error"]))
            if res["status"] != "failed":
                files[rel] = {"src_size": st.st_size, "src_mtime_ns": st.st_mtime_ns, **res}
            else:
                files.pop(rel, None)
            n_done += 1
            if progress is not None:
                progress(n_done, report.total, rel)
            if time.monotonic() - last_save > 5.0:  # a kill loses at most ~5 s of work
                _save_manifest(mpath, settings, files)
                last_save = time.monotonic()

        tasks = [(videos[rel], str(out / rel), short_side) for rel in todo]
        try:
            if workers == 1 or len(tasks) <= 1:
                for rel, task in zip(todo, tasks):
                    record(rel, _prepare_task(task))
            else:
                # spawn: no inherited decoder state or rich/threads from this process
                pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
                try:
                    for rel, res in zip(todo, pool.map(_prepare_task, tasks, chunksize=1)):
                        record(rel, res)
                finally:  # on Ctrl-C: drop the queued videos, do not wait for them
                    pool.shutdown(wait=True, cancel_futures=True)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
                raise ConfigError(
                    f"cannot write to {out}: {e.strerror}; run the same command again to resume"
                ) from None
            raise
        finally:
            _save_manifest(mpath, settings, files)
        report.unreadable.sort()
        report.seconds = time.perf_counter() - t0
        return report
