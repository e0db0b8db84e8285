"""Runs a matrix of jobs: skip what is finished, resume what was killed, record failures.

One job = pretrain (resumable) -> held-out pretext accuracy -> frozen-feature evaluation
-> ``metrics.json`` (atomic) -> row upserted into ``results.csv`` (atomic, locked).

- A job whose ``metrics.json`` says ``done`` is never re-run (its row is re-upserted, which
  repairs a kill between the two writes).
- A job whose lock is held by another live process is skipped by this one (``flock``; the
  kernel releases it if that process dies, even on ``kill -9``).
- A failed job (non-finite loss, too many unreadable videos, any error) is recorded with
  its reason and the matrix carries on; ``--retry-failed`` runs it again.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from vssl_bench import distributed
from vssl_bench.config import Config, ConfigError, save_config
from vssl_bench.data.datasets import build_dataset, data_fingerprint, flips_allowed
from vssl_bench.data.loader import DataStall
from vssl_bench.methods import get_method
from vssl_bench.methods.base import params_from_dict
from vssl_bench.models import build_backbone
from vssl_bench.results import read_metrics, results_path, row_from_metrics, upsert_row
from vssl_bench.utils import (atomic_write_json, device_description, error_line, file_lock, git_commit,
                              heartbeat, kill_point, package_versions, resolve_device, seed_everything)

log = logging.getLogger("vssl_bench")


@dataclass
class JobOutcome:
    name: str
    status: str  # done | skipped-done | skipped-failed | locked | failed
    metrics: dict | None = None
    reason: str = ""


def build_method(cfg: Config, num_classes: int, device: torch.device):
    """Seeded construction: the same seed gives the same initial weights for every run."""
    cls = get_method(cfg.method)
    p = params_from_dict(cls, cfg.params)
    seed_everything(cfg.seed, cfg.deterministic)
    backbone = build_backbone(cfg.backbone)
    method = cls(backbone, p, cfg, num_classes).to(device)
    if cfg.channels_last:
        method = method.to(memory_format=torch.channels_last_3d)
    return method


def provenance(cfg: Config, device: torch.device) -> dict:
    return {"commit": git_commit(), "versions": package_versions(), "device": device_description(device),
            "config": cfg.to_dict(), "hostname": __import__("platform").node()}


def run_job(cfg: Config, out: Path, progress=None, retry_failed: bool = False) -> JobOutcome:
    """Run one job, or skip it. Under torchrun every rank calls this (docs/scaling.md):
    rank 0 alone takes the lock and decides skip / run, every rank follows its decision,
    trains its shard, and gets rank 0's outcome (rank 0 alone evaluates and writes)."""
    distributed.init_from_env(cfg.device)  # no-op outside torchrun
    distributed.shard_batch_size(cfg.batch_size)  # a launch mistake (ConfigError), not a failed job
    name = cfg.job_name()
    run_dir = Path(out) / "runs" / name
    run_dir.mkdir(parents=True, exist_ok=True)
    main = distributed.is_main()
    # wait_s: a `status` probe holds the lock for microseconds; it is not a running job
    with file_lock(run_dir / ".lock", blocking=False, wait_s=0.5) if main else contextlib.nullcontext(True) as got:
        early = _skip_outcome(got, run_dir, out, name, retry_failed, cfg, progress) if main else None
        early = distributed.broadcast_object(early)  # identity in one process
        if early is not None:
            return early
        return distributed.broadcast_object(_run_locked(cfg, run_dir, out, progress if main else None))


def _skip_outcome(got: bool, run_dir: Path, out: Path, name: str, retry_failed: bool, cfg: Config | None = None,
                  progress=None) -> JobOutcome | None:
    """Why this job does not run now (locked, done, failed earlier), or None: run it.
    A done job still gets the evaluations switched on since it finished (or whose
    parameters changed), on its saved checkpoint, without retraining (eval/extra.py)."""
    if not got:
        return JobOutcome(name, "locked", reason="another process is running this job")
    prev = read_metrics(run_dir)
    if prev is not None and prev.get("status") == "done":
        from vssl_bench.eval.extra import evaluate_finished_job, pending_evaluations

        todo = pending_evaluations(cfg, prev, retry_failed) if cfg is not None else []
        if todo:
            prev = evaluate_finished_job(cfg, run_dir, prev, todo, progress)
        upsert_row(results_path(out), row_from_metrics(prev))
        return JobOutcome(name, "done" if todo else "skipped-done", prev)
    if prev is not None and prev.get("status") == "failed" and not retry_failed:
        upsert_row(results_path(out), row_from_metrics(prev))
        return JobOutcome(name, "skipped-failed", prev, prev.get("failure_reason", ""))
    return None


def nothing_to_do(cfg: Config, out: Path, retry_failed: bool = False) -> bool:
    """True when :func:`run_job` would only skip this job (the rules of :func:`_skip_outcome`):
    done with every switched-on evaluation current, or failed and not ``retry_failed``. The
    parallel pool and the SLURM launcher answer such a job without a process or a submission."""
    prev = read_metrics(Path(out) / "runs" / cfg.job_name())
    if prev is None:
        return False
    if prev.get("status") == "failed":
        return not retry_failed
    if prev.get("status") == "done":
        from vssl_bench.eval.extra import pending_evaluations

        return not pending_evaluations(cfg, prev, retry_failed)
    return False


def _run_locked(cfg: Config, run_dir: Path, out: Path, progress) -> JobOutcome:
    from vssl_bench.eval.extra import run_evaluations
    from vssl_bench.eval.features import evaluate_checkpoint
    from vssl_bench.train import NonFiniteLoss, TooManyDecodeFailures, heldout_pretext, pretrain

    name = cfg.job_name()
    device = resolve_device(cfg.device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    if distributed.is_main():
        save_config(cfg, run_dir / "config.yaml")
    cls = get_method(cfg.method)
    base = {"job_id": name, "method": cfg.method, "family": cls.family, "uses_time": cls.uses_time,
            "hflip": "on" if flips_allowed(cfg) else "off", "time_blind_control": cls.time_blind_control,
            "augmentation": cls.augmentation,
            "backbone": cfg.backbone, "dataset": cfg.dataset, "seed": cfg.seed, "batch_size": cfg.batch_size,
            "config_key": cfg.job_key(), "provenance": provenance(cfg, device)}
    state = None
    try:
        heartbeat("reading the dataset")
        with distributed.main_first():  # rank 0 generates / checks the data, then the others read it
            train, test = build_dataset(cfg)
        base["provenance"]["data"] = data_fingerprint(train, test)
        method = build_method(cfg, len(train.classes), device)
        heartbeat("model built")
        state = pretrain(method, train, cfg, run_dir, device, progress)
        if not distributed.is_main():
            return None  # rank 0 evaluates alone; run_job hands its outcome to this rank
        pre = heldout_pretext(method, test, cfg, device)
        _save_picture(method, test, cfg, run_dir)
        kill_point("eval")  # test hook: dies after training, before the frozen-feature evaluation
        banks: dict = {}  # the main evaluation's features, reused by lowshot / temporal
        ev = evaluate_checkpoint(method, train, test, cfg, device, cache_path=run_dir / f"features_step{state.step}.pt",
                                 banks_out=banks)
        evs = run_evaluations(method, train, test, cfg, device, run_dir, banks=banks, final=ev, progress=progress)
    except KeyboardInterrupt:
        raise
    except DataStall as e:  # transient: not recorded, the same command resumes the job from its checkpoint
        if distributed.is_main():
            (run_dir / "error.log").write_text(traceback.format_exc())
        return JobOutcome(name, "failed", reason=str(e))
    except Exception as e:  # recorded, and the matrix carries on
        reason = error_line(e)
        m = {**base, "status": "failed", "failure_reason": reason, "finished_at": _now(),
             "steps": state.step if state else None}
        if distributed.is_main():
            (run_dir / "error.log").write_text(traceback.format_exc())
            atomic_write_json(run_dir / "metrics.json", m)
            upsert_row(results_path(out), row_from_metrics(m))
        if distributed.world_size() > 1 and not isinstance(e, (NonFiniteLoss, TooManyDecodeFailures, ConfigError)):
            raise  # only this rank knows (the others wait in a collective): torchrun stops them all
        return JobOutcome(name, "failed", m, reason)
    secs = state.seconds
    m = {**base, "status": "done", "steps": state.step, "clips_seen": state.clips_seen,
         "pretrain_seconds": secs, "clips_per_second": state.clips_seen / secs if secs else None,
         "data_wait_share": state.data_seconds / secs if secs else None, "decode_skipped": state.skipped,
         "resumed": state.resumed, **pre, **ev, "evaluations": evs, "finished_at": _now()}
    atomic_write_json(run_dir / "metrics.json", m)
    kill_point("results")  # test hook: dies between metrics.json and the results.csv row
    upsert_row(results_path(out), row_from_metrics(m))
    for f in run_dir.glob("features_step*.pt"):  # features are only a cache for a resumed evaluation
        f.unlink(missing_ok=True)
    return JobOutcome(name, "done", m)


def _save_picture(method, test, cfg: Config, run_dir: Path) -> None:
    """Generative methods draw what they produce (reconstructions / samples) next to the run."""
    from vssl_bench.methods.base import Method

    if type(method).visualize is Method.visualize:
        return
    from vssl_bench.methods.viz import save_visualization, visualization_batch

    try:
        save_visualization(method, visualization_batch(method, test, cfg, n=4, seed=cfg.seed), run_dir)
    except Exception as e:  # a picture is never worth a failed job
        log.warning("could not draw %s's reconstructions: %s", cfg.method, e)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def job_status(cfg: Config, out: Path) -> str:
    """done | failed | running | partial (checkpoint, no result) | pending."""
    run_dir = Path(out) / "runs" / cfg.job_name()
    m = read_metrics(run_dir)
    if m is not None:
        return m.get("status", "pending")
    if (run_dir / ".lock").exists():
        with file_lock(run_dir / ".lock", blocking=False, record_pid=False) as got:
            if not got:
                return "running"
    return "partial" if (run_dir / "checkpoint.pt").exists() else "pending"


def run_matrix(jobs: list[Config], out: Path, progress=None, retry_failed: bool = False,
               on_done=None, n_jobs: int = 1) -> list[JobOutcome]:
    """Every job of the matrix, in order; ``n_jobs > 1``: that many at a time, each in its
    own process (:func:`vssl_bench.launch.run_parallel`). ``on_done(outcome, seconds)``."""
    if n_jobs > 1:
        from vssl_bench.launch import run_parallel

        return run_parallel(jobs, out, n_jobs, retry_failed, on_done, progress)
    outcomes = []
    for cfg in jobs:
        t0 = time.perf_counter()
        o = run_job(cfg, out, progress, retry_failed)
        if on_done is not None:
            on_done(o, time.perf_counter() - t0)
        outcomes.append(o)
    return outcomes

