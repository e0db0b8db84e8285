"""One job's folder (``<out>/runs/<job>/``) and every file in it.

Everything read or written there goes through :class:`RunDir`, and only the runner
creates one (:meth:`RunDir.of`); the training loop, the evaluations and the status
command receive it. Writes are atomic (write then rename): a kill leaves the old file or
the new one, never half of one.

==================  ====================================================================
``config.yaml``     the job's resolved Config
``checkpoint.pt``   model, optimiser, schedule, RNG and data position (resume)
``curve.csv``       loss, lr, clips/s and the method's extras per step
``progress.json``   the step of the last checkpoint, of how many, and seconds so far (``status``)
``metrics.json``    the job's record: status, provenance, every metric (the row's source)
``error.log``       the traceback of a failed or stalled job
``.lock``           held while a process runs the job (``pid host`` of the holder)
``weights_stepN.pt``  weights-only snapshots during training (the ``budgets`` evaluation)
``features_stepN.pt`` the standard evaluation's feature banks, a cache for a resumed job
``finetune_s*_lr*/``  the resumable fine-tuning of the ``finetune`` evaluation
==================  ====================================================================
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator

import yaml

from vssl_bench.utils import atomic_write_json, atomic_write_text, file_lock


class RunDir:
    """The folder of one job and the names of its files."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def of(cls, out: str | Path, cfg) -> "RunDir":
        """The folder of ``cfg``'s job in the results folder ``out``."""
        return cls(Path(out) / "runs" / cfg.job_name())

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    # --------------------------------------------------------------------------- paths
    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def curve(self) -> Path:
        return self.path / "curve.csv"

    @property
    def progress(self) -> Path:  # training's last checkpointed step, for `vssl-bench status`
        return self.path / "progress.json"

    @property
    def tensorboard(self) -> Path:  # event files (tblog.EventLog)
        return self.path / "tensorboard"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def error_log(self) -> Path:
        return self.path / "error.log"

    @property
    def lock_file(self) -> Path:
        return self.path / ".lock"

    def snapshot(self, step: int) -> Path:
        """Weights-only snapshot after optimiser step ``step``."""
        return self.path / f"weights_step{int(step)}.pt"

    def snapshots(self) -> list[Path]:
        """The weights-only snapshots this job saved while training (:meth:`snapshot`)."""
        return sorted(self.path.glob("weights_step*.pt"))

    def features(self, step: int) -> Path:
        """The standard evaluation's feature banks of the weights after ``step``."""
        return self.path / f"features_step{int(step)}.pt"

    def finetune(self, steps: int, lr: float) -> "RunDir":
        """The resumable fine-tuning of these weights with this recipe."""
        return RunDir(self.path / f"finetune_s{steps}_lr{lr:g}")

    def picture(self, name: str) -> Path:
        """A figure a method draws of itself (reconstructions, samples)."""
        return self.path / name

    # ------------------------------------------------------------------- reads, writes
    def make(self) -> "RunDir":
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def exists(self) -> bool:
        return self.path.is_dir()

    def read_metrics(self) -> dict | None:
        """The job's record, or None when there is none (or it cannot be read)."""
        try:
            return json.loads(self.metrics.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def read_progress(self) -> dict | None:
        """``{"step", "steps", "seconds"}`` of the last checkpoint, or None."""
        try:
            p = json.loads(self.progress.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return p if isinstance(p, dict) and {"step", "steps", "seconds"} <= set(p) else None

    def write_progress(self, step: int, steps: int, seconds: float) -> None:
        atomic_write_json(self.progress, {"step": int(step), "steps": int(steps), "seconds": round(float(seconds), 1)})

    def write_metrics(self, m: dict) -> None:
        atomic_write_json(self.metrics, m)

    def write_config(self, cfg) -> None:
        atomic_write_text(self.config, yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    def write_error(self, text: str) -> None:
        atomic_write_text(self.error_log, text)

    def clear_features(self) -> None:
        """Feature banks are only a cache for a resumed evaluation: gone once the job is done."""
        for f in self.path.glob("features_step*.pt"):
            f.unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self, blocking: bool = False, wait_s: float = 0.0, record_pid: bool = True) -> Iterator[bool]:
        """The job's lock (``utils.file_lock``): yields False when another process holds it."""
        with file_lock(self.lock_file, blocking=blocking, wait_s=wait_s, record_pid=record_pid) as got:
            yield got

    def lock_holder(self) -> str:
        """``pid P on HOST`` of the process that last took the lock, or ""."""
        try:
            pid, host = self.lock_file.read_text().split()[:2]
            return f"pid {pid} on {host}"
        except (OSError, ValueError):
            return ""
