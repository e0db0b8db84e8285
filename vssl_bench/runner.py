"""Runs a matrix of jobs: skip what is finished, resume what was killed, record failures.

One job = pretrain (resumable) -> held-out own task -> standard evaluation (linear, kNN,
retrieval) -> the evaluations switched on -> ``metrics.json`` (atomic) -> row upserted
into ``results.csv`` (atomic, locked). The runner alone creates a job's folder
(``RunDir``); the loop and the evaluations are handed it.

- A job whose ``metrics.json`` says ``done`` is never re-run (its row is re-upserted, which
  repairs a kill between the two writes); an evaluation switched on since it finished (or
  whose parameters changed) runs alone on its saved checkpoint.
- A job whose lock is held by another live process is skipped by this one (``flock``; the
  kernel releases it if that process dies, even on ``kill -9``).
- A failed job (non-finite loss, too many unreadable videos, any error) is recorded with
  its reason and the matrix carries on; ``--retry-failed`` runs it again. A stalled data
  loader is not recorded: the same command resumes the job.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from vssl_bench import distributed
from vssl_bench.config import Config, ConfigError
from vssl_bench.data.datasets import build_dataset, data_fingerprint, flips_allowed
from vssl_bench.data.loader import DataStall
from vssl_bench.eval import EvalContext, build_evaluations, resolve_evaluations, run_evaluations, standard_metrics
from vssl_bench.eval.base import plain
from vssl_bench.methods import get_method
from vssl_bench.methods.base import Method, params_from_dict
from vssl_bench.methods.viz import save_visualization, visualization_batch
from vssl_bench.models import build_backbone
from vssl_bench.results import results_path, row_from_metrics, upsert_row
from vssl_bench.rundir import RunDir
from vssl_bench.train import NonFiniteLoss, TooManyDecodeFailures, heldout_pretext, load_weights, pretrain, total_steps
from vssl_bench.utils import (
    device_description,
    error_line,
    git_commit,
    heartbeat,
    kill_point,
    package_versions,
    resolve_device,
    seed_everything,
)

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
    return {
        "commit": git_commit(),
        "versions": package_versions(),
        "device": device_description(device),
        "config": cfg.to_dict(),
        "hostname": platform.node(),
    }


def run_job(cfg: Config, out: Path, progress=None, retry_failed: bool = False) -> JobOutcome:
    """Run one job, or skip it. Under torchrun every rank calls this (docs/scaling.md):
    rank 0 alone takes the lock and decides skip / run, every rank follows its decision,
    trains its shard, and gets rank 0's outcome (rank 0 alone evaluates and writes)."""
    distributed.init_from_env(cfg.device)  # no-op outside torchrun
    distributed.shard_batch_size(cfg.batch_size)  # a launch mistake (ConfigError), not a failed job
    resolve_evaluations(cfg.evaluations)  # a mistake in them is the user's (ConfigError), not a failed job
    run_dir = RunDir.of(out, cfg).make()
    main = distributed.is_main()
    # wait_s: a `status` probe holds the lock for microseconds; it is not a running job
    with run_dir.lock(wait_s=0.5) if main else contextlib.nullcontext(True) as got:
        early = _skip_outcome(got, run_dir, out, retry_failed, cfg, progress) if main else None
        early = distributed.broadcast_object(early)  # identity in one process
        if early is not None:
            return early
        return distributed.broadcast_object(_run_locked(cfg, run_dir, out, progress if main else None))


def busy(name: str) -> JobOutcome:
    """The outcome of a job another process is running (its lock is held): not run here."""
    return JobOutcome(name, "locked", reason="another process is running this job")


def _skip_outcome(
    got: bool, run_dir: RunDir, out: Path, retry_failed: bool, cfg: Config | None = None, progress=None
) -> JobOutcome | None:
    """Why this job does not run now (locked, done, failed earlier), or None: run it.
    A done job still gets the evaluations switched on since it finished (or whose
    parameters changed), on its saved checkpoint, without retraining."""
    name = run_dir.name
    if not got:
        return busy(name)
    prev = run_dir.read_metrics()
    if prev is not None and prev.get("status") == "done":
        todo = pending_evaluations(cfg, prev, retry_failed) if cfg is not None else []
        if todo:
            prev = evaluate_finished_job(cfg, run_dir, prev, todo, progress)
        upsert_row(results_path(out), row_from_metrics(prev))
        return JobOutcome(name, "done" if todo else "skipped-done", prev)
    if prev is not None and prev.get("status") == "failed" and not retry_failed:
        upsert_row(results_path(out), row_from_metrics(prev))
        return JobOutcome(name, "skipped-failed", prev, prev.get("failure_reason", ""))
    return None


def pending_evaluations(cfg: Config, metrics: dict | None, retry_failed: bool = False) -> list[str]:
    """Switched-on evaluations that ``metrics`` lacks, ran with other parameters, or
    (with ``retry_failed``) ended in an error."""
    done = (metrics or {}).get("evaluations") or {}
    out = []
    for ev in build_evaluations(cfg.evaluations):
        e = done.get(ev.name)
        if e is None or e.get("params") != plain(ev.record(cfg)) or (retry_failed and "error" in e):
            out.append(ev.name)
    return out


def nothing_to_do(cfg: Config, out: Path, retry_failed: bool = False) -> bool:
    """True when :func:`run_job` would only skip this job (the rules of :func:`_skip_outcome`):
    done with every switched-on evaluation current, or failed and not ``retry_failed``. The
    parallel pool and the SLURM launcher answer such a job without a process or a submission."""
    prev = RunDir.of(out, cfg).read_metrics()
    if prev is None:
        return False
    if prev.get("status") == "failed":
        return not retry_failed
    if prev.get("status") == "done":
        return not pending_evaluations(cfg, prev, retry_failed)
    return False


def _run_locked(cfg: Config, run_dir: RunDir, out: Path, progress) -> JobOutcome:
    name = run_dir.name
    device = resolve_device(cfg.device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    if distributed.is_main():
        run_dir.write_config(cfg)
    cls = get_method(cfg.method)
    base = {
        "job_id": name,
        "method": cfg.method,
        "family": cls.family,
        "uses_time": cls.uses_time,
        "hflip": "on" if flips_allowed(cfg) else "off",
        "time_blind_control": cls.time_blind_control,
        "augmentation": cls.augmentation,
        "backbone": cfg.backbone,
        "dataset": cfg.dataset,
        "seed": cfg.seed,
        "batch_size": cfg.batch_size,
        "config_key": cfg.job_key(),
        "provenance": provenance(cfg, device),
    }
    evaluations = build_evaluations(cfg.evaluations)
    state = None
    try:
        heartbeat("reading the dataset")
        with distributed.main_first():  # rank 0 generates / checks the data, then the others read it
            train, test = build_dataset(cfg)
        base["provenance"]["data"] = data_fingerprint(train, test)
        method = build_method(cfg, len(train.classes), device)
        heartbeat("model built")
        hooks = tuple(h for h in (e.train_hook(cfg, run_dir) for e in evaluations) if h is not None)
        state = pretrain(method, train, cfg, run_dir, device, progress, hooks=hooks)
        if not distributed.is_main():
            return None  # rank 0 evaluates alone; run_job hands its outcome to this rank
        pre = heldout_pretext(method, test, cfg, device)
        _save_picture(method, test, cfg, run_dir)
        kill_point("eval")  # test hook: dies after training, before the frozen-feature evaluation
        ctx = EvalContext(
            method, train, test, cfg, device, run_dir, total_steps(cfg, len(train)), step=state.step, progress=progress
        )
        ev = standard_metrics(ctx)
        evs = run_evaluations(ctx, evaluations)
    except KeyboardInterrupt:
        raise
    except DataStall as e:  # transient: not recorded, the same command resumes the job from its checkpoint
        if distributed.is_main():
            run_dir.write_error(traceback.format_exc())
        if distributed.world_size() > 1:
            raise  # only this rank stalled (the others wait in a collective): torchrun stops them all
        return JobOutcome(name, "failed", reason=str(e))
    except Exception as e:  # recorded, and the matrix carries on
        reason = error_line(e)
        m = {
            **base,
            "status": "failed",
            "failure_reason": reason,
            "finished_at": _now(),
            "steps": state.step if state else None,
        }
        if distributed.is_main():
            run_dir.write_error(traceback.format_exc())
            run_dir.write_metrics(m)
            upsert_row(results_path(out), row_from_metrics(m))
        if distributed.world_size() > 1 and not isinstance(e, (NonFiniteLoss, TooManyDecodeFailures, ConfigError)):
            raise  # only this rank knows (the others wait in a collective): torchrun stops them all
        return JobOutcome(name, "failed", m, reason)
    secs = state.seconds
    m = {
        **base,
        "status": "done",
        "steps": state.step,
        "clips_seen": state.clips_seen,
        "pretrain_seconds": secs,
        "clips_per_second": state.clips_seen / secs if secs else None,
        "data_wait_share": state.data_seconds / secs if secs else None,
        "decode_skipped": state.skipped,
        "resumed": state.resumed,
        **pre,
        **ev,
        "evaluations": evs,
        "finished_at": _now(),
    }
    run_dir.write_metrics(m)
    kill_point("results")  # test hook: dies between metrics.json and the results.csv row
    upsert_row(results_path(out), row_from_metrics(m))
    run_dir.clear_features()
    return JobOutcome(name, "done", m)


CHECKPOINT_GONE = "skipped: the job's checkpoint.pt is gone"


def checkpoint_skipped(metrics: dict | None) -> list[str]:
    """The evaluations of a done job recorded as skipped because its checkpoint was gone
    when they were switched on (:func:`evaluate_finished_job`): they never run on their own."""
    evs = (metrics or {}).get("evaluations") or {}
    return [n for n, e in evs.items() if str(e.get("note", "")).startswith(CHECKPOINT_GONE)]


def evaluate_finished_job(cfg: Config, run_dir: RunDir, prev: dict, names: list[str], progress=None) -> dict:
    """Run the evaluations ``names`` on a ``done`` job's saved checkpoint (no retraining),
    merge them into its metrics and rewrite ``metrics.json`` (atomic). Returns the new metrics."""
    device = resolve_device(cfg.device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    evaluations = [e for e in build_evaluations(cfg.evaluations) if e.name in names]
    try:
        train, test = build_dataset(cfg)
        method = build_method(cfg, len(train.classes), device)
    except Exception as e:  # data moved or unreadable: keep the finished job as it is, say so
        log.warning("could not evaluate %s on the finished job %s: %s", ", ".join(names), run_dir.name, e)
        return prev
    if type(method).trains and (prev.get("steps") or 0) > 0:
        if not run_dir.checkpoint.exists():
            evs = {
                e.name: {
                    "params": plain(e.record(cfg)),
                    "metrics": {},
                    "seconds": 0.0,
                    "note": f"{CHECKPOINT_GONE} (delete the job's folder {run_dir.path} and run again to retrain it)",
                }
                for e in evaluations
            }
            return _merge(run_dir, prev, evs)
        load_weights(method, run_dir, device)
    ctx = EvalContext(
        method,
        train,
        test,
        cfg,
        device,
        run_dir,
        total_steps(cfg, len(train)),
        progress=progress,
        final={k: prev.get(k) for k in ("linear_top1", "knn_top1")},
    )
    return _merge(run_dir, prev, run_evaluations(ctx, evaluations))


def _merge(run_dir: RunDir, prev: dict, evs: dict) -> dict:
    m = {**prev, "evaluations": {**(prev.get("evaluations") or {}), **evs}}
    run_dir.write_metrics(m)
    return m


def _save_picture(method, test, cfg: Config, run_dir: RunDir) -> None:
    """Generative methods draw what they produce (reconstructions / samples) next to the run."""
    if type(method).visualize is Method.visualize:
        return
    try:
        save_visualization(
            method, visualization_batch(method, test, cfg, n=4, seed=cfg.seed), run_dir.picture("reconstructions.png")
        )
    except Exception as e:  # a picture is never worth a failed job
        log.warning("could not draw %s's reconstructions: %s", cfg.method, e)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def job_status(cfg: Config, out: Path) -> str:
    """done | failed | running | partial (checkpoint, no result) | pending."""
    run_dir = RunDir.of(out, cfg)
    m = run_dir.read_metrics()
    if m is not None:
        return m.get("status", "pending")
    if run_dir.lock_file.exists():
        with run_dir.lock(record_pid=False) as got:
            if not got:
                return "running"
    return "partial" if run_dir.checkpoint.exists() else "pending"
