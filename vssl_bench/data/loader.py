"""Every DataLoader of the package is built here: fork-safe workers and a stall watchdog.

**Fork safety.** A decord reader (and the FFmpeg decoder thread and locks behind it) must
never cross a ``fork``: a reader inherited by a forked DataLoader worker and freed there
(garbage-collected in the child, e.g. during ``torch.manual_seed``) joins a decoder thread
that does not exist in the child and waits forever, and so does the parent, on the worker
queue (dmlc/decord issues 220 and 294). One reader alive in the parent when workers start
is enough: an earlier ``num_workers=0`` pass, a ``data check``, a second iterator. Three
layers, each sufficient for the case it covers:

1. Workers are started by a **forkserver** (:func:`worker_context`): a clean process,
   started once per process, that has imported torch and this package but never opened a
   video; each worker is forked from it and receives the dataset pickled. Nothing of the
   reading process crosses. Training workers are persistent, so a job pays the start-up
   once (``benchmarks/worker_startup.py`` measures it).
2. A reader lives for one read only: ``VideoSource`` closes its reader when the view is
   built, and no decode error keeps one alive in a reference cycle (``data.video``).
3. Before any ``fork`` of this process (someone else's DataLoader with the default
   context, ``os.fork``), garbage is collected (``data.video._collect_before_fork``), so a
   reader left in a reference cycle is freed in the parent, never in a child.

**Watchdog.** Every loader with workers has a ``timeout`` (``Config.loader_timeout_s``):
a worker that produces nothing for that long ends the iteration with :class:`DataStall`,
whose message names the file each worker was reading (a shared board the workers write
before each open), e.g. ``data loader stalled for 300 s (worker 1 was reading
/data/v_x.avi)``. In one process (no workers) the optional prefetch thread has the same
timeout (``train.Prefetcher``).
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
from functools import partial
from typing import Iterator

import torch
from torch.utils.data import DataLoader

from vssl_bench.data import video

# What the forkserver imports once, so that each worker forked from it starts warm.
PRELOAD = ["torch", "numpy", "vssl_bench.data.datasets", "vssl_bench.methods"]
SLOT_BYTES = 512  # one board slot: the path a worker is reading (truncated)


class DataStall(RuntimeError):
    """No batch came from the DataLoader workers within the loader's timeout. Transient:
    the job is not recorded as failed, and the same command resumes it."""


_CONTEXT = None


def worker_context():
    """The multiprocessing context of every DataLoader worker: ``forkserver`` (Linux,
    macOS), ``spawn`` where there is none. Never ``fork`` (see the module docstring)."""
    global _CONTEXT
    if _CONTEXT is None:
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        _CONTEXT = mp.get_context(method)
        if method == "forkserver":
            _CONTEXT.set_forkserver_preload(PRELOAD)
    return _CONTEXT


class StatusBoard:
    """A shared-memory table, one slot per worker: the path each worker is reading now."""

    def __init__(self, n_workers: int):
        self.n = n_workers
        self.buf = worker_context().Array(ctypes.c_char, max(1, n_workers) * SLOT_BYTES, lock=False)

    def write(self, slot: int, text: str) -> None:
        data = text.encode(errors="replace")[: SLOT_BYTES - 1]
        self.buf[slot * SLOT_BYTES : (slot + 1) * SLOT_BYTES] = data.ljust(SLOT_BYTES, b"\0")

    def read(self, slot: int) -> str:
        return bytes(self.buf[slot * SLOT_BYTES : (slot + 1) * SLOT_BYTES]).split(b"\0", 1)[0].decode(errors="replace")

    def describe(self) -> str:
        busy = [(i, self.read(i)) for i in range(self.n)]
        busy = [f"worker {i} was reading {p}" for i, p in busy if p]
        return "; ".join(busy) if busy else "no worker was reading a video"


def worker_init(worker_id: int, board: StatusBoard | None = None) -> None:
    """Bound threads inside DataLoader workers (decord and torch would oversubscribe) and
    point the reads of this worker at its board slot."""
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if board is not None:
        video.set_read_hook(lambda path: board.write(worker_id, path))


class WatchedLoader(DataLoader):
    """A DataLoader whose iteration turns a worker timeout into :class:`DataStall`."""

    board: StatusBoard | None = None

    def __iter__(self) -> Iterator:
        it = super().__iter__()
        if self.num_workers == 0:
            return it
        return self._watched(it)

    def _watched(self, it) -> Iterator:
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except RuntimeError as e:
                if "DataLoader timed out" not in str(e):
                    raise
                raise DataStall(
                    f"data loader stalled for {self.timeout:g} s ({self.board.describe()}); "
                    "run the same command again to resume"
                ) from None
            yield batch


def data_loader(
    dataset, *, batch_size: int, num_workers: int, timeout_s: float, persistent: bool = False, **kw
) -> WatchedLoader:
    """A DataLoader for ``dataset``: with workers, started by :func:`worker_context`, with
    a ``timeout_s`` watchdog (0: none) and a status board; ``kw`` as DataLoader's."""
    if num_workers <= 0:
        return WatchedLoader(dataset, batch_size=batch_size, num_workers=0, worker_init_fn=worker_init, **kw)
    board = StatusBoard(num_workers)
    loader = WatchedLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        multiprocessing_context=worker_context(),
        persistent_workers=persistent,
        timeout=max(0.0, float(timeout_s)),
        worker_init_fn=partial(worker_init, board=board),
        **kw,
    )
    loader.board = board
    return loader
