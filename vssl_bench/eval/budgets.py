"""Snapshot curves: the frozen-feature evaluation of one job's weights part-way through its schedule.

Rankings of SSL methods depend on the budget (in the prototype, sequence sorting led after
one minute and InfoNCE from three minutes on; SEVERE, Thoker et al. ECCV 2022, and the
"how well do self-supervised models transfer" line of work report the same for epochs).
Rather than pretraining once per budget, each job saves **weights-only snapshots** during
its single run (``RunDir.snapshot``: ``runs/<job>/weights_step{N}.pt`` at ``N = round(f *
total_steps)`` for each ``f`` of the ``fracs`` parameter, default 1/4 and 1/2; written
atomically by the evaluation's training hook). Because the learning-rate
schedule is the full run's cosine, a snapshot at 1/4 is "1/4 of the way through this
run", not "a run with 1/4 of the budget" (whose lr would already have decayed); the
curve shows how far each method has got, at the same point of the same schedule.

After training, :func:`budget_eval` evaluates every snapshot cheaply: centre-clip features
only (one clip per video), the linear probe and weighted kNN of the main protocol (same
hyper-parameters). The final point is the job's own ``linear_top1`` / ``knn_top1``
(same features, same probe). Snapshots are written only while ``budgets`` is switched on:
a job trained without them has no curve (recorded with a note, never guessed). Methods
that do not train (``random``) have the same weights at every step: a flat curve.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from vssl_bench.config import Config
from vssl_bench.eval.base import EvalContext, Evaluation, TrainHook, probe_record
from vssl_bench.eval.features import centre_clip_probe, frozen_embed
from vssl_bench.rundir import RunDir
from vssl_bench.utils import atomic_torch_save


def snapshot_steps(total_steps: int, fracs: Iterable[float]) -> list[int]:
    """Optimiser steps at which snapshots are saved: ``round(f * total)`` strictly between 0
    and ``total`` (the final weights are the job's checkpoint), sorted, unique."""
    steps = {int(round(float(f) * total_steps)) for f in fracs}
    return sorted(s for s in steps if 0 < s < total_steps)


def frac_label(f: float) -> str:
    """0.25 -> "at25" (percent of the budget, rounded): the suffix of the result columns."""
    return f"at{int(round(100 * float(f)))}"


def budget_eval(
    method,
    train,
    test,
    cfg: Config,
    device: torch.device,
    run_dir: RunDir,
    total_steps: int,
    fracs: Iterable[float] = (0.25, 0.5),
    final: dict | None = None,
) -> dict:
    """Evaluate every snapshot of a finished job (module docstring).

    Args:
        method: the job's model (left untouched: snapshots are loaded into a copy).
        train, test: the job's ``VideoList`` splits.
        cfg: the job's config (linear / kNN hyper-parameters, BatchNorm policy).
        run_dir: the job's folder, where the snapshots are.
        total_steps: the job's full budget in optimiser steps.
        fracs: the shares of the budget that were snapshotted.
        final: the job's main metrics (``linear_top1``, ``knn_top1``) for the last point.

    Returns:
        ``{"budget_linear_top1_at25": ..., "budget_knn_top1_at25": ..., ...,
        "curve": [{"frac", "step", "linear_top1", "knn_top1"}, ...], "missing": [steps]}``.
    """
    out: dict = {"curve": [], "missing": []}
    trains = type(method).trains and total_steps > 0
    model = None
    for f in sorted(fracs):
        step = int(round(f * total_steps))
        label = frac_label(f)
        if not trains:  # untrained: the weights at every step are the final ones
            lin, knn = (final or {}).get("linear_top1"), (final or {}).get("knn_top1")
        else:
            path = run_dir.snapshot(step)
            if not path.exists():
                out["missing"].append(step)
                continue
            if model is None:
                model = copy.deepcopy(method)
            model.load_state_dict(torch.load(path, map_location=device, weights_only=False)["model"])
            res = centre_clip_probe(frozen_embed(model, train, cfg, device), train, test, cfg, device)
            lin, knn = res["linear_top1"], res["knn_top1"]
        out[f"budget_linear_top1_{label}"] = lin
        out[f"budget_knn_top1_{label}"] = knn
        out["curve"].append({"frac": float(f), "step": step, "linear_top1": lin, "knn_top1": knn})
    if final is not None:
        out["curve"].append(
            {
                "frac": 1.0,
                "step": int(total_steps),
                "linear_top1": final.get("linear_top1"),
                "knn_top1": final.get("knn_top1"),
            }
        )
    return out


class Budgets(Evaluation):
    """Weights snapshots part-way through the job's one schedule, evaluated after training.
    A snapshot at 1/4 of a cosine schedule is not a job with 1/4 of the budget (whose rate
    would have decayed): a suite's budget axis (``steps: [...]``) gives those."""

    name, prefix = "budgets", "budget_"
    columns = tuple(f"budget_{k}_top1_at{p}" for p in (25, 50) for k in ("linear", "knn"))
    summary = "linear / kNN of weight snapshots at 1/4 and 1/2 of the one schedule (not shorter budgets)"

    @dataclass
    class Params:
        fracs: tuple[float, ...] = (0.25, 0.5)  # weights snapshots at round(f * steps), evaluated after

        def validate(self):
            if any(not 0 < f < 1 for f in self.fracs):
                raise ValueError(f"fracs must be in (0, 1), got {list(self.fracs)}")

    def record(self, cfg) -> dict:
        return {"fracs": list(self.p.fracs), "features": "centre clip", **probe_record(cfg)}

    def train_hook(self, cfg: Config, run_dir: RunDir) -> TrainHook:
        def save(method, step: int, total_steps: int) -> None:
            if step in snapshot_steps(total_steps, self.p.fracs):
                atomic_torch_save({"model": method.state_dict(), "step": int(step)}, run_dir.snapshot(step))

        return save

    def run(self, ctx: EvalContext) -> dict:
        res = budget_eval(
            ctx.method, ctx.train, ctx.test, ctx.cfg, ctx.device, ctx.run_dir, ctx.total_steps, self.p.fracs, ctx.final
        )
        if res["missing"]:
            res["note"] = (
                f"no weights snapshot for steps {res['missing']} (the job was trained without "
                f"`budgets` on, or with other fracs): those points are left out"
            )
        return res
