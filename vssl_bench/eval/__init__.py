"""Evaluation protocols on frozen features: kNN, linear probe, retrieval (PROTOCOLS.md),
and the evaluations beyond them (issue 6; switched on by ``Config.evaluations``, run by
``extra.run_evaluations``): low-shot, temporal sensitivity, budget curves, fine-tuning and
domain shift."""

from vssl_bench.eval.knn import knn_accuracy, knn_sweep
from vssl_bench.eval.linear import LinearProbe, fit_linear_probe, linear_probe, video_level_accuracy
from vssl_bench.eval.retrieval import retrieval_recall
from vssl_bench.eval.chance import chance_levels
from vssl_bench.eval.lowshot import lowshot_eval, lowshot_indices
from vssl_bench.eval.temporal import reversal_consistency, reversal_pair_probe, reversal_pairs, temporal_eval
from vssl_bench.eval.budgets import budget_eval, snapshot_steps
from vssl_bench.eval.finetune import finetune_eval
from vssl_bench.eval.shift import shift_eval, shift_target

__all__ = [
    "LinearProbe",
    "budget_eval",
    "chance_levels",
    "finetune_eval",
    "fit_linear_probe",
    "knn_accuracy",
    "knn_sweep",
    "linear_probe",
    "lowshot_eval",
    "lowshot_indices",
    "retrieval_recall",
    "reversal_consistency",
    "reversal_pair_probe",
    "reversal_pairs",
    "shift_eval",
    "shift_target",
    "snapshot_steps",
    "temporal_eval",
    "video_level_accuracy",
]
from vssl_bench.eval.features import FeatureBank, evaluate_banks, evaluate_checkpoint, extract_features  # noqa: E402,F401
from vssl_bench.eval.extra import run_evaluations  # noqa: E402,F401
