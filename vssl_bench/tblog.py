"""TensorBoard event files of a training run, beside its ``curve.csv``.

``tensorboard --logdir results/runs`` then shows every job of a results folder: the loss,
the method's own-task accuracy on its training batches, the learning rate, clips/s and the
share of each step spent waiting for data. The events are written by torch's
``SummaryWriter``, which needs the ``tensorboard`` package (the ``tensorboard`` extra): a
dependency of this one feature only, so it is imported here, when a run asks for it.
``Config.tensorboard``: ``auto`` writes events when the package is installed, ``on``
requires it, ``off`` never writes them. A resumed run purges the events after its
checkpoint's step, so a killed and resumed job has one event per step, as its curve does.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from vssl_bench.config import Config, ConfigError


def available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


class EventLog:
    """Scalars per optimiser step; a no-op when ``cfg.tensorboard`` is off (or ``auto``
    without the package)."""

    def __init__(self, log_dir: Path, cfg: Config, resume_step: int = 0):
        self.writer = None
        if cfg.tensorboard == "off" or (cfg.tensorboard == "auto" and not available()):
            return
        if not available():
            raise ConfigError("tensorboard=on needs the tensorboard package: pip install -e '.[tensorboard]'")
        from torch.utils.tensorboard import SummaryWriter  # optional dependency, imported only when used

        # purge what a killed run wrote past its checkpoint (from step 1 when it had none)
        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=resume_step + 1)

    def add(self, step: int, scalars: dict[str, float]) -> None:
        if self.writer is not None:
            for k, v in scalars.items():
                self.writer.add_scalar(k, float(v), step)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
