"""Reading video files with decord: one reader per call, bounded threads, a decoded cache.

decord's ``VideoReader`` is opened per read (cheap for short clips) with ``num_threads=1``
so that DataLoader workers never share decoder state or oversubscribe the CPU. Small
datasets (the embedded one) are decoded once per process and kept in RAM
(:class:`DecodedCache`), so epochs after the first cost no decoding at all.

A file that cannot be opened, or (with the cache) decoded, is remembered for the rest of
the process: later reads raise the same :class:`VideoDecodeError` at once instead of
trying again (a broken file was re-opened at every draw, each time costing a decode
attempt and two lines of decoder noise). FFmpeg's own log is silenced
(``decord.logging``), and decord's C++ "ERROR opening" line is caught while a file is
opened (:func:`_fd2_captured`): its reason ("Invalid data found when processing input",
"moov atom not found"...) goes into the error, so it is in the warning the datasets print
once per file and in ``vssl-bench data check``.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from vssl_bench.utils import first_line


class VideoDecodeError(RuntimeError):
    """A video could not be opened or decoded (wholly or from some frame on)."""


_FAILED: dict[str, str] = {}  # path -> why it could not be opened or decoded (this process)
_QUIET = False


def _decord():
    global _QUIET
    import decord  # imported lazily: workers import it after fork

    if not _QUIET:
        decord.logging.set_level(decord.logging.QUIET)  # FFmpeg's messages; ours say what failed
        _QUIET = True
    return decord


def _known_failure(path: str | Path) -> None:
    why = _FAILED.get(str(path))
    if why is not None:
        raise VideoDecodeError(why)


_FD2_LOCK = threading.Lock()


def _new_fd2_lock() -> None:  # a child forked while another thread held it must not inherit it held
    global _FD2_LOCK
    _FD2_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_new_fd2_lock)
_DECORD_LOG = re.compile(r"^\[[0-9:]+\] \S+\.cc:\d+: ERROR opening: .*$", re.M)  # decord's C++ log line


@contextlib.contextmanager
def _fd2_captured():
    """What native code writes to file descriptor 2 meanwhile, in ``box[0]`` afterwards.

    decord logs its open errors there (``ERROR opening: <path>, <reason>``) from C++, past
    ``sys.stderr`` and its log level. Anything else written meanwhile (another thread) is
    the caller's to write back."""
    box: list[str] = []
    with _FD2_LOCK:  # one capture at a time: each restores the fd 2 it found
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 (a detached daemon): nothing to catch
            box.append("")
            yield box
            return
        with tempfile.TemporaryFile() as tmp:
            if sys.stderr is not None:
                sys.stderr.flush()
            try:
                os.dup2(tmp.fileno(), 2)
                yield box
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                box.append(tmp.read().decode(errors="replace"))


def _open(path: str | Path):
    _known_failure(path)
    decord = _decord()
    err = None
    with _fd2_captured() as log:
        try:
            vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        except Exception as e:  # decord raises DECORDError / RuntimeError variants
            err = e
    decord_lines = _DECORD_LOG.findall(log[0])
    rest = _DECORD_LOG.sub("", log[0]).strip()
    if rest:  # not decord's: written back where it was going
        os.write(2, (rest + "\n").encode())
    if err is None:
        return vr
    # the reason is in decord's log line ("..., Invalid data found when processing input"),
    # the exception only says "Error reading <path>..."
    reason = decord_lines[-1].rsplit(f"{path}, ", 1)[-1].strip() if decord_lines else ""
    why = f"cannot open {path}: {reason or first_line(err)}"
    _FAILED[str(path)] = why
    raise VideoDecodeError(why) from None


def video_info(path: str | Path) -> dict:
    """Frame count, fps and (height, width) of a video."""
    vr = open_video(path)
    n = len(vr)
    h, w = vr[0].shape[:2]
    return {"frames": n, "fps": float(vr.get_avg_fps()), "height": int(h), "width": int(w)}


def open_video(path: str | Path):
    """An open decord reader with at least one frame (one per sample; never shared)."""
    vr = _open(path)
    if len(vr) <= 0:
        raise VideoDecodeError(f"{path}: no frames")
    return vr


def decode_frames(vr, path: str | Path, indices: np.ndarray | list[int] | None = None) -> np.ndarray:
    """Decode frames ``indices`` (all if None) of an open reader -> uint8 (T, H, W, 3)."""
    n = len(vr)
    idx = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise VideoDecodeError(f"{path}: frame index out of range [0, {n})")
    try:
        uniq, inverse = np.unique(idx, return_inverse=True)
        frames = vr.get_batch(uniq.tolist()).asnumpy()  # (U, H, W, 3)
    except Exception as e:
        raise VideoDecodeError(f"cannot decode {path}: {first_line(e)}") from None
    if frames.ndim != 4 or frames.shape[0] != len(uniq):
        raise VideoDecodeError(f"{path}: decoder returned {frames.shape}")
    return frames[inverse]  # (T, H, W, 3)


def read_frames(path: str | Path, indices: np.ndarray | list[int] | None = None) -> np.ndarray:
    """Open ``path`` and decode frames ``indices`` (all if None) -> uint8 (T, H, W, 3)."""
    return decode_frames(open_video(path), path, indices)


class DecodedCache:
    """LRU of fully decoded videos, bounded in bytes (per process)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._d: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, path: str) -> np.ndarray:
        with self._lock:
            arr = self._d.get(path)
            if arr is not None:
                self._d.move_to_end(path)
                return arr
        try:
            arr = read_frames(path)  # a known failure raises at once (``_open``)
        except VideoDecodeError as e:  # the whole video: it will not decode next time either
            _FAILED[str(path)] = str(e)
            raise
        if arr.nbytes <= self.max_bytes:
            with self._lock:
                self._d[path] = arr
                self._bytes += arr.nbytes
                while self._bytes > self.max_bytes and self._d:
                    _, old = self._d.popitem(last=False)
                    self._bytes -= old.nbytes
        return arr


_CACHES: dict[int, DecodedCache] = {}


def decoded_cache(max_mb: int) -> DecodedCache | None:
    """The process-wide cache for this budget (None when disabled)."""
    if max_mb <= 0:
        return None
    if max_mb not in _CACHES:
        _CACHES[max_mb] = DecodedCache(max_mb * 2**20)
    return _CACHES[max_mb]
