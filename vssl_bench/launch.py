"""Running the jobs of a matrix: several at a time on one machine, or one SLURM job each.

Both launchers only decide *where* :func:`vssl_bench.runner.run_job` runs; everything that
makes a job safe to run anywhere stays in the runner: the per-job ``flock`` (two
processes never run one job), the atomic ``metrics.json`` and the locked, atomic upsert of
``results.csv`` (one row per job), resume from the last checkpoint after a kill.

- :func:`run_matrix`: the jobs one after the other in this process, or :func:`run_parallel`
  (``vssl-bench run --jobs N``): N jobs at a time, each in a fresh *spawned* process
  (``job_process``; no fork after torch has started threads; a crashed or killed job takes
  only its own process down). Each process gets ``threads = max(1, cores // N)``
  unless the config sets ``threads``, and one GPU through ``CUDA_VISIBLE_DEVICES``, round
  robin over the visible ones (several jobs share a GPU when N > GPUs). Workers draw no
  progress bar; the parent prints one line per finished job.
- Draining (:func:`request_drain`; ``run`` and ``tune`` call it on ``SIGUSR1`` while they
  run jobs locally): both local ways finish the jobs running now and start no new one; the
  jobs not started come back as ``not-started`` outcomes, and the same command runs them
  later. Unlike a stop (``SIGTERM``), no job is cut short, so nothing is trained twice.
- :func:`submit_slurm` (``vssl-bench run --launcher slurm``): one SLURM job per matrix job
  through submitit's ``AutoExecutor`` [1], logs in ``<out>/slurm/``; finished (and failed,
  unless retried) jobs are not submitted; a job that reaches its time limit or is
  preempted requeues itself and resumes (:class:`SlurmJob`).
  ``VSSL_BENCH_SUBMITIT_CLUSTER=local`` forces submitit's local executor (a detached
  process per job on this machine): for the tests and for trying it without a cluster.

[1] submitit, https://github.com/facebookincubator/submitit (AutoExecutor, job arrays).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing as mp
import os
import shutil
import signal
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

import torch

from vssl_bench import job_process
from vssl_bench.config import Config, ConfigError, choice_error
from vssl_bench.runner import JobOutcome, busy, job_status, nothing_to_do, run_job
from vssl_bench.utils import cpu_cores

log = logging.getLogger("vssl_bench")

CLUSTER_ENV = "VSSL_BENCH_SUBMITIT_CLUSTER"  # test/debug only: "local" (submitit's local executor)

# Defaults of the `slurm:` mapping of a suite and of `run --partition/--time/...`.
SLURM_DEFAULTS = {
    "partition": None,  # None: the cluster's default partition
    "time": 720,  # minutes per job: a UCF101 job at ~100 clips/s takes ~8 h (docs/real_datasets.md)
    "gpus_per_job": None,  # None: 1, or 0 with --device cpu
    "cpus_per_job": 8,  # decoding feeds the GPU (docs/real_datasets.md: the GPU waits for data)
    "signal_delay_s": 90,  # SLURM warns a job (USR2) this long before its time limit: it requeues itself
}


# ------------------------------------------------------------------------ local
DRAIN_SIGNAL = "SIGUSR1"  # what `run` / `tune` take as a request to drain (cli)
NOT_STARTED = "not-started"  # the status of a job a drained run did not start
_drain_requested = False  # True: start no new job (the running ones finish)


def request_drain() -> None:
    """Finish the jobs running now, start no new one. A plain assignment: safe in a signal
    handler, however often the signal comes."""
    global _drain_requested
    _drain_requested = True


def draining() -> bool:
    return _drain_requested


def _left(cfg: Config, out: Path) -> JobOutcome:
    """The outcome of a job a drained run does not start: busy if another process runs it."""
    if job_status(cfg, out) == "running":
        return busy(cfg.job_name())
    return JobOutcome(cfg.job_name(), NOT_STARTED, reason="not started: the run was drained")


@contextlib.contextmanager
def _drain_signal_blocked():
    """Block the drain signal in this thread while a job process starts: the process inherits
    the block across fork and exec, keeps it, and ignores the signal too
    (``job_process.main``), as do the DataLoader workers it starts, so a signal sent to the
    whole process group (``timeout -s USR1``, ``kill -USR1 -PGID``) reaches only the parent,
    even while a job process is still starting. The parent gets a signal that came meanwhile
    once it unblocks."""
    sig = getattr(signal, DRAIN_SIGNAL, None)
    if sig is None or not hasattr(signal, "pthread_sigmask"):  # Windows
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {sig})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def run_matrix(
    jobs: list[Config], out: Path, progress=None, retry_failed: bool = False, on_done=None, n_jobs: int = 1
) -> list[JobOutcome]:
    """Every job of the matrix, in order, in this process; ``n_jobs > 1``: that many at a
    time, each in its own process (:func:`run_parallel`). ``on_done(outcome, seconds)``.
    Once :func:`draining`, a job with work left (training or an evaluation) is not started
    (a finished one is still skipped, its row repaired): its outcome is ``not-started`` (or
    ``locked`` if another process runs it), and ``on_done`` is not called for it."""
    if n_jobs > 1:
        return run_parallel(jobs, out, n_jobs, retry_failed, on_done, progress)
    outcomes = []
    for cfg in jobs:
        t0 = time.perf_counter()
        if draining() and not nothing_to_do(cfg, out, retry_failed):
            outcomes.append(_left(cfg, out))
            continue
        o = run_job(cfg, out, progress, retry_failed)
        if on_done is not None:
            on_done(o, time.perf_counter() - t0)
        outcomes.append(o)
    return outcomes


# ------------------------------------------------------------------------ parallel (local)
@dataclass(frozen=True)
class Slot:
    """Resources of one of the N concurrent worker slots."""

    threads: int  # torch intra-op threads of a job in this slot
    gpu: str | None  # CUDA_VISIBLE_DEVICES of a job in this slot; None: leave as is (CPU)


def visible_gpus(device: str) -> list[str]:
    """GPU ids a job may be pinned to: none for ``cpu`` or an explicit ``cuda:K``, else the
    entries of ``CUDA_VISIBLE_DEVICES`` if set (ids or UUIDs), else ``0 .. count-1``."""
    if device == "cpu" or device.startswith("cuda:"):
        return []
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip()]
    return [str(i) for i in range(torch.cuda.device_count())]


def plan_slots(n_jobs: int, cores: int, gpus: list[str]) -> list[Slot]:
    """N slots sharing ``cores`` evenly (at least one thread each), GPUs round robin."""
    if n_jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {n_jobs}")
    threads = max(1, cores // n_jobs)
    return [Slot(threads, gpus[i % len(gpus)] if gpus else None) for i in range(n_jobs)]


def run_parallel(
    jobs: list[Config], out: Path, n_jobs: int, retry_failed: bool = False, on_done=None, progress=None
) -> list:
    """Run ``jobs`` with at most ``n_jobs`` at a time; outcomes in matrix order.

    ``on_done(outcome, seconds)`` is called in the parent as each job finishes. A worker that
    dies without reporting (killed, out of memory), or that reports no progress for the
    job's ``job_stall_s`` (the watchdog stops it), gives a ``failed`` outcome that is *not*
    recorded: the job resumes from its last checkpoint on the next run. Once
    :func:`draining`, no new process starts: the jobs left with work to do are
    ``not-started`` (``on_done`` is not called for them), the running ones finish.
    """
    ctx = mp.get_context("spawn")
    gpus = visible_gpus(jobs[0].device) if jobs else []
    slots = plan_slots(n_jobs, cpu_cores(), gpus)
    free = list(range(len(slots)))
    todo = deque(enumerate(jobs))
    running: dict = {}  # receiving end of the job's pipe -> (process, index, cfg, slot, start time)
    beats: dict = {}  # receiving end -> (time of the last progress report, what it said)
    outcomes: list = [None] * len(jobs)
    task = progress.add_task("matrix", total=len(jobs), info="") if progress is not None else None

    def finish(i: int, o, t0: float) -> None:
        outcomes[i] = o
        if on_done is not None:
            on_done(o, time.perf_counter() - t0)
        if task is not None:
            progress.update(task, advance=1, info=f"{len(running)} running")

    try:
        while todo or running:
            while todo and (free or draining()):
                i, cfg = todo.popleft()
                t0 = time.perf_counter()
                if nothing_to_do(cfg, out, retry_failed):  # repairs its row, no process needed
                    finish(i, run_job(cfg, out, None, retry_failed), t0)
                    continue
                if draining():
                    outcomes[i] = _left(cfg, out)
                    continue
                slot = free.pop(0)
                wcfg = dataclasses.replace(cfg, threads=slots[slot].threads) if cfg.threads <= 0 else cfg
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(
                    target=job_process.main,
                    args=(wcfg, Path(out), retry_failed, slots[slot].gpu, send),
                    name=f"vssl-bench {cfg.job_name()}",
                )
                with _drain_signal_blocked():
                    proc.start()
                send.close()  # the child holds the only writer: EOF here when it dies
                running[recv] = (proc, i, cfg, slot, t0)
                beats[recv] = (time.monotonic(), "starting")
            poll = min([WATCH_EVERY_S] + [c.job_stall_s / 4 for _, _, c, _, _ in running.values()])
            for conn in wait(list(running), timeout=poll) if running else []:  # an outcome, a beat, or EOF
                try:
                    o = conn.recv()
                except EOFError:
                    o = None
                if isinstance(o, tuple) and o[:1] == ("beat",):
                    beats[conn] = (time.monotonic(), o[1])
                    continue
                proc, i, cfg, slot, t0 = running.pop(conn)
                beats.pop(conn, None)
                conn.close()
                _reap(proc)
                free.append(slot)
                if o is None:  # nothing recorded: the next run resumes it from its last checkpoint
                    how = (
                        f"killed by signal {-proc.exitcode}"
                        if (proc.exitcode or 0) < 0
                        else f"exited with code {proc.exitcode}, traceback above"
                    )
                    o = JobOutcome(cfg.job_name(), "failed", reason=f"worker process died ({how}); run again to resume")
                finish(i, o, t0)
            now = time.monotonic()
            for conn in [c for c, (_, _, cfg, _, _) in running.items() if now - beats[c][0] > cfg.job_stall_s]:
                proc, i, cfg, slot, t0 = running.pop(conn)
                since, what = beats.pop(conn)
                _reap(proc, grace_s=0)
                conn.close()
                free.append(slot)
                finish(
                    i,
                    JobOutcome(
                        cfg.job_name(),
                        "failed",
                        reason=f"job stalled: no progress for {now - since:.0f} "
                        f"s (job_stall_s={cfg.job_stall_s:g}; last: {what}); stopped, run the same "
                        "command again to resume",
                    ),
                    t0,
                )
    finally:
        for conn, (proc, *_rest) in running.items():  # interrupted: stop the workers still running
            _reap(proc, grace_s=0)
            conn.close()
    return outcomes


WATCH_EVERY_S = 30.0  # how often the parent looks for a stalled job process


def _reap(proc, grace_s: float = 60.0) -> None:
    """Wait for a job process to exit (``grace_s``), then terminate it, then kill it: the
    parent never waits forever on a child that hangs on its way out."""
    proc.join(timeout=grace_s)
    if proc.is_alive():
        proc.terminate()
        proc.join(timeout=10)
    if proc.is_alive():
        proc.kill()
        proc.join(timeout=10)


# ------------------------------------------------------------------------------ SLURM
SLURM_KEYS = tuple(SLURM_DEFAULTS)


def slurm_options(suite_slurm: dict | None, **cli) -> dict:
    """Suite ``slurm:`` mapping, overridden by command-line options that are not None."""
    opts = dict(SLURM_DEFAULTS)
    for k, v in (suite_slurm or {}).items():
        if k not in SLURM_DEFAULTS:
            raise choice_error("key in the suite's slurm: mapping", k, SLURM_KEYS)
        opts[k] = v
    opts.update({k: v for k, v in cli.items() if v is not None})
    for k in ("time", "gpus_per_job", "cpus_per_job", "signal_delay_s"):
        if opts[k] is not None:
            try:
                opts[k] = int(opts[k])
            except (TypeError, ValueError):
                raise ConfigError(f"slurm {k} must be an integer, got {opts[k]!r}") from None
            if opts[k] < (1 if k != "gpus_per_job" else 0):
                raise ConfigError(f"slurm {k} must be >= {1 if k != 'gpus_per_job' else 0}, got {opts[k]}")
    return opts


def slurm_cluster() -> str:
    """``slurm``, or the executor forced by ``VSSL_BENCH_SUBMITIT_CLUSTER``; a one-line
    :class:`ConfigError` when ``sbatch`` is absent (or submitit is not installed)."""
    try:
        import submitit  # noqa: F401 - optional (the `slurm` extra): is it installed?
    except ImportError:
        raise ConfigError("--launcher slurm needs submitit: pip install 'vssl-bench[slurm]'") from None
    forced = os.environ.get(CLUSTER_ENV)
    if forced:
        if forced not in ("local", "slurm"):
            raise choice_error(CLUSTER_ENV, forced, ["local", "slurm"])
        return forced
    if shutil.which("sbatch") is None:
        raise ConfigError(
            "--launcher slurm needs `sbatch` on PATH (not found here); run it on a SLURM login node "
            "or use --launcher local"
        )
    return "slurm"


@dataclass
class Submitted:
    cfg: Config
    job: object  # submitit.Job

    @property
    def job_id(self) -> str:
        return str(self.job.job_id)


def submit_slurm(
    jobs: list[Config], out: Path, opts: dict, cluster: str = "slurm", retry_failed: bool = False, on_skip=None
) -> list[Submitted]:
    """Submit every job of the matrix that is not finished (nor failed, nor running) as one
    SLURM job running ``runner.run_job(cfg, out)``; ``on_skip(outcome)`` for the others."""
    import submitit  # optional (the `slurm` extra); slurm_cluster() checked it is there

    todo = []
    for cfg in jobs:
        if nothing_to_do(cfg, out, retry_failed):
            o = run_job(cfg, out, None, retry_failed)  # re-upserts its row (repairs a kill between writes)
        elif job_status(cfg, out) == "running":
            o = busy(cfg.job_name())
        else:
            todo.append(cfg)
            continue
        if on_skip is not None:
            on_skip(o)
    if not todo:
        return []
    gpus = opts["gpus_per_job"]
    if gpus is None:
        gpus = 0 if todo[0].device == "cpu" else 1
    ex = submitit.AutoExecutor(folder=Path(out) / "slurm", cluster=cluster)
    params = {
        "name": "vssl-bench",
        "timeout_min": opts["time"],
        "nodes": 1,
        "tasks_per_node": 1,
        "cpus_per_task": opts["cpus_per_job"],
        "gpus_per_node": gpus,
        "slurm_signal_delay_s": opts["signal_delay_s"],
    }  # (the local executor warns 30 s before, fixed)
    if opts["partition"]:
        params["slurm_partition"] = opts["partition"]
    ex.update_parameters(**params)
    submitted = []
    with ex.batch():  # one job array, one sbatch call
        for cfg in todo:
            wcfg = dataclasses.replace(cfg, threads=opts["cpus_per_job"]) if cfg.threads <= 0 else cfg
            # retry_failed travels with the job: without it a retried job would skip itself as failed
            submitted.append(Submitted(cfg, ex.submit(SlurmJob(), wcfg, Path(out), retry_failed)))
    return submitted


class SlurmJob:
    """What one SLURM job runs: ``runner.run_job(cfg, out)``, requeued when it is cut short.

    SLURM signals a job ``signal_delay_s`` before its time limit, or when it is preempted;
    submitit then calls :meth:`checkpoint` and requeues what it returns: the same call,
    which resumes from the job's last checkpoint (so at most ``checkpoint_every`` steps are
    trained twice; an evaluation cut short starts again). submitit stops requeueing after
    3 time-outs (preemptions do not count); the job is then left partial, and the next
    ``vssl-bench run`` submits it again, resuming as well. Nothing is saved from inside
    the signal handler: it may interrupt an optimiser step half-way."""

    def __call__(self, cfg: Config, out: Path, retry_failed: bool = False):
        return run_job(cfg, out, None, retry_failed)  # no progress bar there

    def checkpoint(self, cfg: Config, out: Path, retry_failed: bool = False):
        from submitit.helpers import DelayedSubmission  # optional (the `slurm` extra)

        log.warning("%s: time limit or preemption; requeued, it resumes from its last checkpoint", cfg.job_name())
        return DelayedSubmission(self, cfg, out, retry_failed)
