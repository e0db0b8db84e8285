"""Evaluation protocols on frozen features: kNN, linear probe, retrieval (PROTOCOLS.md)."""

from vssl_bench.eval.knn import knn_accuracy, knn_sweep
from vssl_bench.eval.linear import LinearProbe, fit_linear_probe, linear_probe, video_level_accuracy
from vssl_bench.eval.retrieval import retrieval_recall

__all__ = [
    "LinearProbe",
    "fit_linear_probe",
    "knn_accuracy",
    "knn_sweep",
    "linear_probe",
    "retrieval_recall",
    "video_level_accuracy",
]
from vssl_bench.eval.features import FeatureBank, evaluate_banks, evaluate_checkpoint, extract_features  # noqa: E402,F401
