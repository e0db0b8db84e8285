"""Budget curves: the frozen-feature evaluation of one job at several pretraining step counts.

Rankings of SSL methods depend on the budget (in the prototype, sequence sorting led after
one minute and InfoNCE from three minutes on; SEVERE, Thoker et al. ECCV 2022, and the
"how well do self-supervised models transfer" line of work report the same for epochs).
Rather than pretraining once per budget, each job saves **weights-only snapshots** during
its single run (``runs/<job>/weights_step{N}.pt`` at ``N = round(f * total_steps)`` for
each ``f`` in ``cfg.budget_fracs``, default 1/4 and 1/2; written atomically by
:func:`maybe_save_snapshot`, called from ``train._train_stream``). Because the learning-rate
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
from pathlib import Path

import torch

from vssl_bench.config import Config


def snapshot_steps(total_steps: int, fracs: Iterable[float]) -> list[int]:
    """Optimiser steps at which snapshots are saved: ``round(f * total)`` strictly between 0
    and ``total`` (the final weights are the job's checkpoint), sorted, unique."""
    steps = {int(round(float(f) * total_steps)) for f in fracs}
    return sorted(s for s in steps if 0 < s < total_steps)


def snapshot_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / f"weights_step{int(step)}.pt"


def maybe_save_snapshot(method, cfg: Config, step: int, total_steps: int, run_dir: Path) -> None:
    """Called after every optimiser step by the training loop: saves the weights (atomic,
    weights only) when ``budgets`` is on and ``step`` is one of :func:`snapshot_steps`."""
    if "budgets" in cfg.evaluations and step in snapshot_steps(total_steps, cfg.budget_fracs):
        from vssl_bench.utils import atomic_torch_save

        atomic_torch_save({"model": method.state_dict(), "step": int(step)}, snapshot_path(run_dir, step))


def frac_label(f: float) -> str:
    """0.25 -> "at25" (percent of the budget, rounded): the suffix of the result columns."""
    return f"at{int(round(100 * float(f)))}"


def budget_eval(method, train, test, cfg: Config, device: torch.device, run_dir: Path, total_steps: int,
                final: dict | None = None) -> dict:
    """Evaluate every snapshot of a finished job (module docstring).

    Args:
        method: the job's model (left untouched: snapshots are loaded into a copy).
        train, test: the job's ``VideoList`` splits.
        cfg: the job's config (``budget_fracs``, linear / kNN hyper-parameters).
        total_steps: the job's full budget in optimiser steps.
        final: the job's main metrics (``linear_top1``, ``knn_top1``) for the last point.

    Returns:
        ``{"budget_linear_top1_at25": ..., "budget_knn_top1_at25": ..., ...,
        "curve": [{"frac", "step", "linear_top1", "knn_top1"}, ...], "missing": [steps]}``.
    """
    from vssl_bench.eval.features import centre_clip_probe, frozen_embed

    out: dict = {"curve": [], "missing": []}
    trains = type(method).trains and total_steps > 0
    model = None
    for f in sorted(cfg.budget_fracs):
        step = int(round(f * total_steps))
        label = frac_label(f)
        if not trains:  # untrained: the weights at every step are the final ones
            lin, knn = (final or {}).get("linear_top1"), (final or {}).get("knn_top1")
        else:
            path = snapshot_path(run_dir, step)
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
        out["curve"].append({"frac": 1.0, "step": int(total_steps), "linear_top1": final.get("linear_top1"),
                             "knn_top1": final.get("knn_top1")})
    return out
