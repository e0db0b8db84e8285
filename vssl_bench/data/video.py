"""Reading video files with decord: one reader per read, bounded threads, a decoded cache.

decord's ``VideoReader`` is opened per read (cheap for short clips) with ``num_threads=1``
so that DataLoader workers never share decoder state or oversubscribe the CPU. Small
datasets (the embedded one) are decoded once per process and kept in RAM
(:class:`DecodedCache`), so epochs after the first cost no decoding at all.

**A reader never crosses a fork** (a reader freed in a forked child waits forever for its
decoder thread; ``data.loader`` explains the three layers). Here: a reader lives only as
long as its read (its owner drops it; the errors raised here hold no reference cycle
that would keep one alive until a garbage collection, which could happen in a child), the
live readers are counted (:func:`live_readers`), and before any fork of this process
the garbage is collected (:func:`_collect_before_fork`), so a reader left in a cycle is
freed here, not in the child.

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
import gc
import os
import re
import signal
import sys
import tempfile
import threading
import weakref
from collections import OrderedDict
from pathlib import Path

import numpy as np

from vssl_bench.utils import first_line, stall_point


class VideoDecodeError(RuntimeError):
    """A video could not be opened or decoded (wholly or from some frame on)."""


_FAILED: dict[str, str] = {}  # path -> why it could not be opened or decoded (this process)
_QUIET = False
_LIVE: "weakref.WeakSet" = weakref.WeakSet()  # readers opened by this process and not yet freed
_READ_HOOK = None  # called with each path before it is opened (a DataLoader worker's status board)


def live_readers() -> int:
    """How many decord readers this process holds now (0 between reads)."""
    return len(_LIVE)


def set_read_hook(hook) -> None:
    """``hook(path)`` before each open (``data.loader``: what a worker is reading)."""
    global _READ_HOOK
    _READ_HOOK = hook


def _collect_before_fork() -> None:
    """Free, in this process, any decord object left in a reference cycle before a fork:
    freed in the child instead, it can wait forever for a decoder thread or lock the child
    does not have. (A fork is rare here: this costs milliseconds.)"""
    gc.collect()


os.register_at_fork(before=lambda: _collect_before_fork())  # looked up at each fork (a test switches it off)


def _decord():
    global _QUIET
    import decord  # a native library: imported when a video is first opened, not by every import

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
    """decord's reader of ``path`` (no frame check); the only reference goes to a :class:`Reader`."""
    _known_failure(path)
    decord = _decord()
    if _READ_HOOK is not None:
        _READ_HOOK(str(path))
    stall_point("read", str(path))  # test hook: a decoder that never returns
    err = None
    with _fd2_captured() as log:
        try:
            vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        except Exception as e:  # decord raises DECORDError / RuntimeError variants
            err = first_line(e)  # text only: the exception's frames must not outlive this call
    decord_lines = _DECORD_LOG.findall(log[0])
    rest = _DECORD_LOG.sub("", log[0]).strip()
    if rest:  # not decord's: written back where it was going
        os.write(2, (rest + "\n").encode())
    if err is None:
        _LIVE.add(vr)
        return vr
    # the reason is in decord's log line ("..., Invalid data found when processing input"),
    # the exception only says "Error reading <path>..."
    reason = decord_lines[-1].rsplit(f"{path}, ", 1)[-1].strip() if decord_lines else ""
    why = f"cannot open {path}: {reason or err}"
    _FAILED[str(path)] = why
    raise VideoDecodeError(why) from None


@contextlib.contextmanager
def _interrupt_deferred():
    """Ctrl-C during the block is handled after it. A reader is freed in decord's
    ``__del__``; a KeyboardInterrupt raised there is swallowed ("Exception ignored in
    __del__") and the run would carry on as if never interrupted. Main thread only (where
    Python runs signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list = []
    try:
        old = signal.signal(signal.SIGINT, lambda *a: caught.append(a))
    except ValueError:  # not the main interpreter's main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if caught and callable(old):
            old(*caught[0])  # Python's default handler raises KeyboardInterrupt here
        elif caught and old == signal.SIG_DFL:
            raise KeyboardInterrupt


class Reader:
    """One open video (at least one frame): ``len()``, :attr:`fps`, :meth:`frames`.

    It holds the only reference to decord's reader, so :meth:`close` (or the end of a
    ``with`` block) frees the decoder at once, in this process and with Ctrl-C deferred;
    open one per read, never share or keep one (module docstring)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._vr = _open(path)
        self._n = len(self._vr)
        if self._n <= 0:
            self.close()
            raise VideoDecodeError(f"{path}: no frames")

    def __len__(self) -> int:
        return self._n

    @property
    def fps(self) -> float:
        return float(self._vr.get_avg_fps())

    def frames(self, indices: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Decode frames ``indices`` (all if None) -> uint8 (T, H, W, 3)."""
        n = self._n
        idx = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise VideoDecodeError(f"{self.path}: frame index out of range [0, {n})")
        err = None
        try:
            uniq, inverse = np.unique(idx, return_inverse=True)
            frames = self._vr.get_batch(uniq.tolist()).asnumpy()  # (U, H, W, 3)
        except Exception as e:
            err = first_line(e)  # text only: the exception's frames hold decord's reader
        if err is not None:
            raise VideoDecodeError(f"cannot decode {self.path}: {err}")
        if frames.ndim != 4 or frames.shape[0] != len(uniq):
            raise VideoDecodeError(f"{self.path}: decoder returned {frames.shape}")
        return frames[inverse]  # (T, H, W, 3)

    def close(self) -> None:
        if self._vr is not None:
            held = [self._vr]
            self._vr = None
            with _interrupt_deferred():
                held.clear()  # decord's __del__ runs here

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_video(path: str | Path) -> Reader:
    """An open :class:`Reader` of ``path``; close it (``with``) when the read is done."""
    return Reader(path)


def video_info(path: str | Path) -> dict:
    """Frame count, fps and (height, width) of a video."""
    with Reader(path) as vr:
        h, w = vr.frames([0]).shape[1:3]
        return {"frames": len(vr), "fps": vr.fps, "height": int(h), "width": int(w)}


def read_frames(path: str | Path, indices: np.ndarray | list[int] | None = None) -> np.ndarray:
    """Open ``path`` and decode frames ``indices`` (all if None) -> uint8 (T, H, W, 3)."""
    with Reader(path) as vr:
        return vr.frames(indices)


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
