"""Small shared helpers: atomic writes, file locks, seeding, devices, provenance."""

from __future__ import annotations

import contextlib
import faulthandler
import fcntl
import fnmatch
import importlib.metadata as md
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from vssl_bench.config import ConfigError, choice_error


def _file_mode() -> int:
    """The mode ``open()`` gives a new file here (0o666 less the umask): mkstemp's 0o600
    would leave results, reports and checkpoints unreadable to the user's group."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write-then-rename: a reader never sees a partial file, a kill leaves the old one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (Path,)):
        return str(o)
    if isinstance(o, (tuple, set)):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def atomic_torch_save(obj: Any, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class LockTimeout(RuntimeError):
    """A blocking :func:`file_lock` was held by another process for longer than allowed."""


@contextlib.contextmanager
def file_lock(
    path: Path, blocking: bool = True, wait_s: float = 0.0, record_pid: bool = True, timeout_s: float = 600.0
) -> Iterator[bool]:
    """An advisory ``flock`` on ``path``; yields False if non-blocking and already held.

    The kernel drops the lock when the holder dies (even on ``kill -9``), so a stale lock
    file never blocks a later run. Non-blocking, ``wait_s`` keeps trying that long before
    giving up: a probe (``vssl-bench status``) holds a job's lock for microseconds, and a
    run starting that job at the same instant must not take it for a running job.
    Blocking, it waits at most ``timeout_s`` and then raises :class:`LockTimeout` naming
    the holder: a holder that stopped (a stalled process, a hung file system) never makes
    its waiters wait forever. ``record_pid=False`` (probes) leaves the holder's ``pid
    host`` line in the file alone.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + (timeout_s if blocking else wait_s)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    if blocking:
                        holder = (Path(path).read_text(errors="replace").split() or ["?"])[:2]
                        raise LockTimeout(
                            f"waited {timeout_s:g} s for {path}, held by pid {' on '.join(holder)}; "
                            "is that process stuck? stop it and run again"
                        ) from None
                    yield False
                    return
                time.sleep(0.05)
        if record_pid:
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()} {platform.node()}\n".encode())
            except OSError:
                pass
        yield True
    finally:
        os.close(fd)  # releases the lock


_HEARTBEAT = None  # set by a process whose progress another process watches (launch.run_parallel)


def set_heartbeat(fn) -> None:
    """``fn(what)`` receives :func:`heartbeat` calls (None: they are dropped)."""
    global _HEARTBEAT
    _HEARTBEAT = fn


def heartbeat(what: str) -> None:
    """Say that work is progressing (a training step, a batch of features): the watchdog of
    ``run --jobs N`` stops a job process that stays silent for ``job_stall_s``."""
    if _HEARTBEAT is not None:
        _HEARTBEAT(what)


STALLED = 3  # exit code of a process the Watchdog stopped


class Watchdog:
    """Stops this process when no :func:`heartbeat` arrives for ``stall_s`` seconds.

    ``run`` in one process (the default ``--jobs 1``) has no parent to watch it; a job stuck
    in native code (a decoder that never returns) would wait forever. The watchdog prints
    one line (what the job did last, and how to resume), the stacks of every thread, and
    ends the process with exit code :data:`STALLED`; the job resumes from its checkpoint
    on the next run. Nested heartbeat receivers keep receiving."""

    def __init__(self, stall_s: float):
        self.stall_s = float(stall_s)
        self.last, self.what = time.monotonic(), "starting"
        self._stop = threading.Event()
        self._prev = None

    def _beat(self, what: str) -> None:
        self.last, self.what = time.monotonic(), what
        if self._prev is not None:
            self._prev(what)

    def _watch(self) -> None:
        while not self._stop.wait(min(30.0, self.stall_s / 4)):
            silent = time.monotonic() - self.last
            if silent > self.stall_s:
                sys.stderr.write(
                    f"error: no progress for {silent:.0f} s (job_stall_s={self.stall_s:g}; last: "
                    f"{self.what}); stopped. Run the same command again to resume.\n"
                )
                faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
                sys.stderr.flush()
                os._exit(STALLED)

    def __enter__(self) -> "Watchdog":
        self._prev = _HEARTBEAT
        set_heartbeat(self._beat)
        self.last = time.monotonic()
        threading.Thread(target=self._watch, name="vssl-bench watchdog", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        set_heartbeat(self._prev)


def first_line(err: BaseException) -> str:
    """An error in one line: the first line of its message, else its type's name."""
    msg = str(err)
    return msg.splitlines()[0] if msg else type(err).__name__


def error_line(err: BaseException) -> str:
    """``Type: first line of the message`` (the message part empty when there is none),
    as failed jobs, evaluations and conversions record their error."""
    msg = str(err)
    return f"{type(err).__name__}: {msg.splitlines()[0] if msg else ''}"


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True


def resolve_device(name: str) -> torch.device:
    if name not in ("auto", "cpu", "cuda") and not name.startswith("cuda:"):
        raise choice_error("device", name, ["auto", "cpu", "cuda"])
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda requested but no CUDA device is available; use --device cpu or auto")
    return torch.device(name)


def cpu_cores() -> int:
    """Cores this process may use (the affinity mask, e.g. a SLURM or taskset allocation)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def device_description(device: torch.device) -> str:
    """The device a result was measured on. On a CPU: its model and the vector instruction
    set torch's kernels use (AVX2 vs AVX512 changes timings several-fold and the last bits of
    every float, so a metric can move by a point between hosts), cores and threads."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    isa = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "?")()
    return f"cpu ({cpu_model()}, {isa}, {cpu_cores()} cores, {torch.get_num_threads()} threads)"


def cpu_model() -> str:
    """'AMD EPYC' / 'Intel(R) Xeon(R) ...' from /proc/cpuinfo where there is one, else the platform's word."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(repo: Path | None = None) -> str:
    """Current commit, with ``-dirty`` if tracked files outside ``results/`` have changes
    (the committed results table changes while a run writes it; that is not the code);
    'unknown' outside git."""
    repo = repo or Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        if not sha:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("vssl-bench", "torch", "torchvision", "decord", "av", "numpy", "scikit-learn", "pandas"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "absent"
    return out


KILL_ENV = "VSSL_BENCH_KILL_AT"


def kill_point(stage: str, step: int | None = None) -> None:
    """Fault-injection hook for the tests: ``SIGKILL`` this process at a named point.

    ``VSSL_BENCH_KILL_AT`` = ``train:K`` (after optimiser step K and its checkpoint, if any),
    ``eval`` (trained, before the frozen-feature evaluation) or ``results`` (``metrics.json``
    written, ``results.csv`` row not yet). Unset (always, outside tests/test_fault_tolerance.py):
    nothing happens. ``kill -9`` cannot be caught, so this is exactly a crash at that line.
    """
    want = os.environ.get(KILL_ENV)
    if not want:
        return
    name, _, at = want.partition(":")
    if name == stage and (not at or step == int(at)):
        os.kill(os.getpid(), signal.SIGKILL)


STALL_ENV = "VSSL_BENCH_STALL_AT"


SLOW_ENV = "VSSL_BENCH_SLOW_STEP_S"


def slow_point() -> None:
    """Fault-injection hook for the tests: ``VSSL_BENCH_SLOW_STEP_S`` seconds of sleep after
    each optimiser step, so that a test job lasts as long on a fast machine as on a slow one
    (a job cut by its time limit). Unset (always, outside the tests): nothing happens."""
    delay = os.environ.get(SLOW_ENV)
    if delay:
        time.sleep(float(delay))


def stall_point(stage: str, what: str) -> None:
    """Fault-injection hook for the tests: hang here, as a stuck decoder or a deadlocked
    process would. ``VSSL_BENCH_STALL_AT`` = ``read:<glob of the path>`` (inside the
    video open) or ``train:<glob of "job_name@step">`` (after that optimiser step). Unset
    (always, outside the tests): nothing happens. The watchdogs must turn it into a failure."""
    want = os.environ.get(STALL_ENV)
    if not want:
        return
    name, _, pattern = want.partition(":")
    if name == stage and fnmatch.fnmatchcase(what, pattern):
        while True:
            time.sleep(3600)
