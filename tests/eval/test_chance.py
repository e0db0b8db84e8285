"""Chance levels from the labels alone (eval/chance.py): exact against enumeration on small
galleries, the majority rule for top-1, and the report's ``chance`` row and figure line."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from vssl_bench.eval.chance import chance_levels


def _enumerated_recall(gallery: list[int], queries: list[int], k: int) -> float:
    """Share of (query, k-subset of the gallery) pairs where the subset holds the query's
    class: the recall at k of a uniformly random ranking, by brute force."""
    subsets = list(itertools.combinations(gallery, min(k, len(gallery))))
    return float(np.mean([np.mean([q in s for s in subsets]) for q in queries]))


@pytest.mark.parametrize(
    "gallery,queries",
    [
        ([0, 0, 1, 1, 2, 2], [0, 1, 2]),
        ([0, 0, 0, 1, 2, 2, 3], [0, 1, 1, 3, 2]),  # unbalanced gallery and queries
        ([0, 1], [0, 1, 1]),  # k beyond the gallery: every class is found
    ],
)
def test_recall_chance_matches_enumeration(gallery, queries) -> None:
    got = chance_levels(gallery, queries, ks=(1, 2, 3, 5))
    for k in (1, 2, 3, 5):
        assert got[f"chance_r{k}"] == pytest.approx(_enumerated_recall(gallery, queries, k), abs=1e-12), k


def test_balanced_classes_give_one_over_c_and_near_binomial_recall() -> None:
    y, yt = np.repeat(np.arange(16), 48), np.repeat(np.arange(16), 16)  # the embedded data's split
    got = chance_levels(y, yt)
    assert got["chance_top1"] == got["chance_r1"] == 1 / 16
    for k in (5, 10, 20):  # without replacement: slightly above 1 - (15/16)^k
        assert 1 - (15 / 16) ** k < got[f"chance_r{k}"] < 1 - (15 / 16) ** k + 0.01
    assert got["chance_r20"] == pytest.approx(0.7295, abs=1e-4)


def test_top1_chance_is_the_majority_share_of_the_test_set() -> None:
    assert chance_levels([0, 1, 2], [2, 2, 2, 1])["chance_top1"] == 0.75


def test_bad_labels_raise() -> None:
    with pytest.raises(ValueError):
        chance_levels([], [0])
    with pytest.raises(ValueError):
        chance_levels([0, -1], [0])


def _rows(with_chance: bool) -> pd.DataFrame:
    rows = []
    for method, fam in (("random", "reference"), ("sort", "pretext")):
        for seed in (0, 1, 2):
            r = {
                "job_id": f"{method}{seed}",
                "status": "done",
                "method": method,
                "family": fam,
                "uses_time": method == "sort",
                "backbone": "tiny3d",
                "dataset": "synthetic",
                "seed": seed,
                "steps": 10,
                "pretrain_seconds": 1.0,
                "linear_top1": 0.2 + 0.01 * seed,
                "linear_video_top1": 0.2,
                "knn_top1": 0.1,
                "retrieval_r1": 0.1,
                "retrieval_r5": 0.4,
                "retrieval_r10": 0.6,
                "retrieval_r20": 0.8,
                "pretext_accuracy": 0.5 if method == "sort" else np.nan,
            }
            if with_chance:
                r.update(chance_top1=0.0625, chance_r1=0.0625, chance_r5=0.2764, chance_r10=0.4776, chance_r20=0.7295)
            rows.append(r)
    return pd.DataFrame(rows)


def test_report_shows_a_chance_row_first_only_when_results_carry_it(tmp_path) -> None:
    from vssl_bench.report import display_frame, leaderboard_markdown, summarize

    metrics = ["linear_top1", "knn_top1", "retrieval_r20", "pretext_accuracy"]
    s = summarize(_rows(True))
    d = display_frame(s, metrics)
    assert list(d["method"]) == ["chance", "random", "sort"]
    assert list(d.iloc[0][metrics]) == ["6.2", "6.2", "73.0", "–"]  # no chance for a pretext accuracy
    assert len(s.table) == 2  # the chance row is for display: verdicts and the csv's rows never see it
    assert "`chance`: what the labels alone give" in leaderboard_markdown(s, metrics)
    old = summarize(_rows(False))  # rows written before the chance columns: no row, no legend
    assert list(display_frame(old, metrics)["method"]) == ["random", "sort"]
    assert "`chance`" not in leaderboard_markdown(old, metrics)


def test_bar_figure_draws_the_chance_line(tmp_path, monkeypatch) -> None:
    import matplotlib.axes

    from vssl_bench import plots

    lines = []
    real = matplotlib.axes.Axes.axvline
    monkeypatch.setattr(matplotlib.axes.Axes, "axvline", lambda ax, x=0, **kw: (lines.append(x), real(ax, x, **kw))[1])
    (path,) = plots.bars(_rows(True), "synthetic/tiny3d/10 steps", tmp_path, ["knn_top1", "retrieval_r20"])
    assert path.is_file() and lines == [pytest.approx(6.25), pytest.approx(72.95)]


def test_leaderboard_csv_carries_the_chance_levels_as_columns(tmp_path) -> None:
    """leaderboard.csv had no chance levels (the markdown's ``chance`` row only): each row
    now has ``<metric>_chance`` after ``<metric>_std``; rows without chance columns, none."""
    from vssl_bench.report import METRICS, summarize, write_leaderboard

    write_leaderboard(summarize(_rows(True)), tmp_path, METRICS)
    t = pd.read_csv(tmp_path / "leaderboard.csv")
    assert list(t["method"]) == ["random", "sort"]
    cols = list(t.columns)
    assert cols[cols.index("knn_top1_std") + 1] == "knn_top1_chance"
    assert list(t["knn_top1_chance"]) == [0.0625, 0.0625] and list(t["retrieval_r20_chance"]) == [0.7295] * 2
    assert "pretext_accuracy_chance" not in cols
    write_leaderboard(summarize(_rows(False)), tmp_path, METRICS)
    assert not any(c.endswith("_chance") for c in pd.read_csv(tmp_path / "leaderboard.csv").columns)
