"""Evaluation protocols on frozen features and the EVALUATIONS registry.

Each evaluation is one small class (``eval.base.Evaluation``) beside the functions that
compute it; this registry lists them, as ``methods.METHODS`` lists the methods. Adding one
= its class in a module of this folder + one line here; the runner, the results table and
the suites find it through the registry.
"""

from __future__ import annotations

import dataclasses

from vssl_bench.config import ConfigError, build_params, choice_error
from vssl_bench.eval.base import EvalContext, Evaluation, run_evaluations
from vssl_bench.eval.budgets import Budgets, budget_eval, snapshot_steps
from vssl_bench.eval.chance import chance_levels
from vssl_bench.eval.features import FeatureBank, extract_features, frozen_embed
from vssl_bench.eval.finetune import Finetune, finetune_eval
from vssl_bench.eval.knn import knn_accuracy, knn_sweep
from vssl_bench.eval.linear import LinearProbe, fit_linear_probe, linear_probe, video_level_accuracy
from vssl_bench.eval.lowshot import LowShot, lowshot_eval, lowshot_indices
from vssl_bench.eval.retrieval import retrieval_recall
from vssl_bench.eval.shift import Shift, shift_eval, shift_target
from vssl_bench.eval.standard import KNN, Linear, Retrieval, evaluate_banks, evaluate_checkpoint, standard_metrics
from vssl_bench.eval.temporal import Temporal, reversal_consistency, reversal_pair_probe, reversal_pairs, temporal_eval

EVALUATIONS: dict[str, type[Evaluation]] = {
    # --- standard: every job ------------------------------------------------------------
    "linear": Linear,
    "knn": KNN,
    "retrieval": Retrieval,
    # --- switched on per suite (SEVERE, Thoker et al. ECCV 2022: rankings change with the
    # number of labels, the domain and the budget) ----------------------------------------
    "lowshot": LowShot,
    "temporal": Temporal,
    "budgets": Budgets,
    "finetune": Finetune,
    "shift": Shift,
}
OPTIONAL = tuple(n for n, e in EVALUATIONS.items() if not e.standard)  # what a suite's `evaluations:` switches


def get_evaluation(name: str) -> type[Evaluation]:
    if name not in OPTIONAL:
        raise choice_error("evaluation", name, OPTIONAL)
    return EVALUATIONS[name]


def resolve_evaluations(switches: dict) -> dict[str, dict]:
    """``Config.evaluations`` (name -> given parameters) -> name -> complete parameters,
    checked against each evaluation's Params (defaults filled in), in registry order."""
    out = {}
    for name in switches:
        get_evaluation(name)  # a one-line error naming the valid ones
    for name in OPTIONAL:
        if name in switches:
            cls = EVALUATIONS[name]
            out[name] = dataclasses.asdict(build_params(f"evaluation {name!r}", cls.Params, switches[name]))
    return out


def build_evaluations(switches: dict) -> list[Evaluation]:
    """The switched-on evaluations of ``Config.evaluations``, built with their parameters."""
    return [
        EVALUATIONS[n](build_params(f"evaluation {n!r}", EVALUATIONS[n].Params, p))
        for n, p in resolve_evaluations(switches).items()
    ]


__all__ = [
    "EVALUATIONS",
    "OPTIONAL",
    "ConfigError",
    "EvalContext",
    "Evaluation",
    "FeatureBank",
    "LinearProbe",
    "budget_eval",
    "build_evaluations",
    "chance_levels",
    "evaluate_banks",
    "evaluate_checkpoint",
    "extract_features",
    "finetune_eval",
    "fit_linear_probe",
    "frozen_embed",
    "get_evaluation",
    "knn_accuracy",
    "knn_sweep",
    "linear_probe",
    "lowshot_eval",
    "lowshot_indices",
    "resolve_evaluations",
    "retrieval_recall",
    "reversal_consistency",
    "reversal_pair_probe",
    "reversal_pairs",
    "run_evaluations",
    "shift_eval",
    "shift_target",
    "snapshot_steps",
    "standard_metrics",
    "temporal_eval",
    "video_level_accuracy",
]
