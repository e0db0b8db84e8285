"""What every evaluation is, and the context they share.

An evaluation is a small class (:class:`Evaluation`) registered in
``vssl_bench.eval.EVALUATIONS``, like a method in ``METHODS``: a ``name``, a ``Params``
dataclass (what a suite's ``evaluations:`` block sets), the result columns it declares
(``columns``: names starting with its ``prefix``), ``record(cfg)`` (everything that defines
its result, kept beside the result to tell whether it is still current), ``run(ctx) ->
dict`` and, if it needs something saved while the model trains, ``train_hook``. The
training loop calls the hooks it is given without knowing any evaluation; nothing
branches on an evaluation's name.

``linear``, ``knn`` and ``retrieval`` are *standard*: every job runs them, and their
metrics are the job's headline columns. The others are switched on per suite; each one's
record in ``metrics.json`` is ``evaluations[name] = {"params", "metrics", "seconds"}``
(+ ``"note"`` when it was skipped, + ``"error"`` when it raised: the job stays ``done`` and
``--retry-failed`` runs the evaluation again).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch

from vssl_bench.config import Config
from vssl_bench.data.datasets import VideoList
from vssl_bench.eval.features import FeatureBank, extract_features, frozen_embed
from vssl_bench.rundir import RunDir
from vssl_bench.utils import atomic_torch_save, error_line

log = logging.getLogger("vssl_bench")

TrainHook = Callable[[torch.nn.Module, int, int], None]  # (method, step done, total steps)


def probe_record(cfg: Config) -> dict:
    """The frozen-probe settings every probing evaluation's result depends on."""
    return {
        "linear_epochs": cfg.linear_epochs,
        "linear_lr": cfg.linear_lr,
        "linear_weight_decay": cfg.linear_weight_decay,
        "knn_k": cfg.knn_k,
        "knn_temperature": cfg.knn_temperature,
        "seed": cfg.seed,
    }


@dataclass
class EvalContext:
    """What the evaluations of one job share, each piece computed once, when first asked:
    the frozen representation (:meth:`embed`, with the job's BatchNorm policy) and the
    standard feature banks (:meth:`feature_banks`, uniform clips of every video; cached in
    the run folder for a resumed evaluation when ``step`` is given)."""

    method: torch.nn.Module
    train: VideoList
    test: VideoList
    cfg: Config
    device: torch.device
    run_dir: RunDir | None = None
    total_steps: int = 0  # the job's budget in optimiser steps
    step: int | None = None  # the weights' step (names the feature cache); None: no cache
    progress: Any = None
    final: dict = field(default_factory=dict)  # the standard metrics, once computed
    banks: dict | None = None  # {"train", "test"} FeatureBank
    _embed: Any = None

    def embed(self) -> Callable[[torch.Tensor], torch.Tensor]:
        if self._embed is None:
            self._embed = frozen_embed(self.method, self.train, self.cfg, self.device)
        return self._embed

    def feature_banks(self) -> dict[str, FeatureBank]:
        if self.banks is None:
            cache = self.run_dir.features(self.step) if self.run_dir is not None and self.step is not None else None
            if cache is not None and cache.exists():
                try:
                    self.banks = torch.load(cache, weights_only=False)
                except Exception:  # a corrupt cache is recomputed, never trusted
                    self.banks = None
            if self.banks is None:
                embed = self.embed()
                self.banks = {
                    "train": extract_features(embed, self.train, self.cfg, self.device),
                    "test": extract_features(embed, self.test, self.cfg, self.device),
                }
                if cache is not None:
                    atomic_torch_save(self.banks, cache)
        return self.banks


class Evaluation:
    """One evaluation protocol (module docstring)."""

    name: ClassVar[str]
    prefix: ClassVar[str]  # its result columns start with this
    columns: ClassVar[tuple[str, ...]] = ()  # the results.csv columns it writes at its default parameters
    summary: ClassVar[str] = ""
    standard: ClassVar[bool] = False  # run by every job (linear, knn, retrieval)

    @dataclass
    class Params:
        """Parameters (none by default)."""

    def __init__(self, p: "Evaluation.Params"):
        self.p = p

    def record(self, cfg: Config) -> dict:
        """Everything that defines this evaluation's result on a job with ``cfg`` (JSON-plain)."""
        return {}

    def run(self, ctx: EvalContext) -> dict:
        raise NotImplementedError

    def train_hook(self, cfg: Config, run_dir: RunDir) -> TrainHook | None:
        """Called by the training loop after every optimiser step, on the main process."""
        return None


def plain(d: dict) -> dict:
    """JSON round trip: tuples become lists, as they are read back from metrics.json."""
    return json.loads(json.dumps(d))


def run_evaluations(ctx: EvalContext, evaluations: list[Evaluation]) -> dict:
    """Run ``evaluations`` on the context's model (left unchanged: frozen parts run in eval
    mode, ``budgets`` and ``finetune`` work on copies); ``{name: {"params", "metrics",
    "seconds"[, "note" | "error"]}}``."""
    out = {}
    for ev in evaluations:
        ctx.method.eval()  # frozen evaluations never update BatchNorm statistics
        t0 = time.perf_counter()
        entry: dict = {"params": plain(ev.record(ctx.cfg))}
        try:
            res = ev.run(ctx)
            if "note" in res:
                entry["note"] = res.pop("note")
            entry["metrics"] = res
        except KeyboardInterrupt:
            raise
        except Exception as e:  # the job's standard metrics stay valid; recorded, retried on --retry-failed
            entry["error"] = error_line(e)
            entry["metrics"] = {}
            log.warning("evaluation %s of %s seed %s failed: %s", ev.name, ctx.cfg.method, ctx.cfg.seed, entry["error"])
        entry["seconds"] = time.perf_counter() - t0
        out[ev.name] = entry
    ctx.method.eval()
    return out
