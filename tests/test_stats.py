"""The report's statistics on synthetic result tables with known answers (stats.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vssl_bench import stats

# method -> (family, uses_time), as registered in vssl_bench/methods (copied: importing the
# registry pulls in torch, and these tests must stay fast); the rows carry the methods' facts
METHODS = {
    "random": ("reference", False),
    "supervised": ("reference", True),
    "shuffle": ("pretext", True),
    "sort": ("pretext", True),
    "vcop": ("pretext", True),
    "oddoneout": ("pretext", True),
    "speed": ("pretext", True),
    "aot": ("pretext", True),
    "rotation": ("pretext", False),
    "nextframe": ("generative", True),
    "mae": ("generative", False),
    "nce": ("contrastive", False),
    "nce-temporal": ("contrastive", True),
    "nce-st": ("contrastive", True),
    "nce-static": ("contrastive", False),
    "xmodal": ("contrastive", True),
}
METRICS = ["linear_top1", "linear_video_top1", "knn_top1", "retrieval_r1", "retrieval_r5"]
CONTROLS = ("rotation", "nce-static")  # Method.time_blind_control, as the runner writes it into each row
AUGMENTATION = {"nce": "view", "nce-temporal": "temporal", "nce-st": "spatio-temporal", "xmodal": "cross-modal"}


def make_table(
    means: dict[str, float] | None = None,
    seeds=(0, 1, 2),
    noise: float = 0.01,
    datasets=("synthetic",),
    pretext=None,
    seed: int = 1,
) -> pd.DataFrame:
    """A results table as load_results returns it: one done row per (dataset, method, seed),
    every metric = the method's planted mean + N(0, noise)."""
    rng = np.random.default_rng(seed)
    rows = []
    for ds in datasets:
        for m, (fam, ut) in METHODS.items():
            mu = (means or {}).get(m, 0.5)
            for s in seeds:
                r = {
                    "job_id": f"{ds}-{m}-{s}",
                    "status": "done",
                    "method": m,
                    "family": fam,
                    "uses_time": ut,
                    "backbone": "tiny3d",
                    "dataset": ds,
                    "seed": float(s),
                    "steps": 0.0 if m == "random" else 150.0,
                    "pretrain_seconds": 10.0,
                    "failure_reason": "",
                    "time_blind_control": m in CONTROLS,
                    "augmentation": AUGMENTATION.get(m, ""),
                }
                for k in METRICS:
                    r[k] = mu + rng.normal(0, noise)
                px = pretext(mu) if pretext else np.nan
                r["pretext_accuracy"] = np.nan if fam == "reference" else px
                rows.append(r)
    return pd.DataFrame(rows)


def by_q(verdicts, q):
    return [v for v in verdicts if v.question == q]


def test_planted_time_effect_is_found_with_ci_excluding_zero() -> None:
    means = {m: 0.60 if ut else 0.50 for m, (_, ut) in METHODS.items()}
    q2 = by_q(stats.answer_all(make_table(means)), "Q2")
    assert len(q2) == 2  # within pretext, overall vs controls
    for v in q2:
        assert v.answer == "yes", v.text
        assert v.stats["lo"] > 0 and abs(v.stats["diff"] - 0.10) < 0.02
        assert v.text.startswith("Yes") and "95% joint CI" in v.text
    assert q2[0].stats["n_a"] == 6 and q2[0].stats["n_b"] == 1  # 6 time-related vs rotation
    assert q2[1].stats["b"] == ["nce-static", "rotation"]


def test_identical_groups_give_no_evidence() -> None:
    vs = stats.answer_all(make_table(noise=0.02))
    for v in by_q(vs, "Q2"):
        assert v.answer == "no evidence", v.text
        assert v.stats["lo"] < 0 < v.stats["hi"]
    assert by_q(vs, "Q1")[0].answer == "no evidence"
    assert by_q(vs, "Q4")[0].answer == "no evidence"


def test_kruskal_wallis_finds_planted_method_differences() -> None:
    pre = [m for m, (f, _) in METHODS.items() if f == "pretext"]
    v = by_q(stats.answer_all(make_table({m: 0.3 + 0.05 * i for i, m in enumerate(pre)})), "Q1")[0]
    assert v.answer == "yes", v.text
    assert v.stats["p_kruskal"] < 0.01 and v.stats["p_perm"] < 0.01
    assert v.stats["between_sd"] > 5 * v.stats["seed_sd"]
    assert "Kruskal-Wallis" in v.text


def test_spearman_on_monotone_relation_is_about_one() -> None:
    pre = [m for m, (f, _) in METHODS.items() if f != "reference"]
    means = {m: 0.2 + 0.04 * i for i, m in enumerate(pre)}
    v = by_q(stats.answer_all(make_table(means, pretext=lambda mu: 1 - mu / 2)), "Q5")[0]
    assert v.stats["rho"] < -0.95 and v.answer == "no"  # inverse monotone: higher pretext acc, worse
    v = by_q(stats.answer_all(make_table(means, pretext=lambda mu: mu**2)), "Q5")[0]
    assert v.stats["rho"] > 0.95 and v.stats["lo"] > 0.5 and v.answer == "yes"
    rho, lo, hi = stats.spearman_ci(np.arange(10.0), np.arange(10.0) ** 3)
    assert rho == pytest.approx(1.0) and lo == pytest.approx(1.0)


def test_family_and_augmentation_winners() -> None:
    means = {
        "nce": 0.5,
        "nce-temporal": 0.55,
        "nce-st": 0.70,
        "xmodal": 0.52,
        "nce-static": 0.5,
        "sort": 0.3,
        "rotation": 0.3,
        "mae": 0.2,
        "nextframe": 0.2,
    }
    vs = stats.answer_all(make_table(means))
    q3, q4 = by_q(vs, "Q3")[0], by_q(vs, "Q4")[0]
    assert q3.answer == "yes" and q3.stats["knn_top1"]["best"] == "contrastive", q3.text
    assert q4.answer == "yes" and q4.stats["ranking"][0] == "nce-st" and "Spatio-temporal" in q4.text


def test_deterministic_and_metric_choice() -> None:
    df = make_table({"sort": 0.6})
    a = [v.text for v in stats.answer_all(df, "linear_top1")]
    assert a == [v.text for v in stats.answer_all(df, "linear_top1")]
    assert all("linear_top1" in t or "Not enough data" in t for t in a if "Kruskal" in t)


def test_missing_inputs_say_what_to_run() -> None:
    refs = make_table()
    refs = refs[refs["family"] == "reference"]
    vs = stats.answer_all(refs)
    assert [v.question for v in vs] == list(stats.QUESTIONS)
    assert all(v.answer == "not enough data" and "vssl-bench run --suite" in v.text for v in vs)
    one_seed = stats.answer_all(make_table({"sort": 0.9}, seeds=(0,)))
    assert all(v.answer in ("not enough data", "no evidence") for v in one_seed if v.question != "Q5")
    assert "--seeds 0,1,2" in by_q(one_seed, "Q1")[0].text
    no_pretext = stats.answer_all(make_table(pretext=None))
    assert by_q(no_pretext, "Q5")[0].answer == "not enough data"
    assert stats.answer_all(make_table(), "no_such_metric")[0].answer == "not enough data"


def test_settings_split_by_dataset_and_budget() -> None:
    df = make_table(datasets=("synthetic", "synthetic-conflict"))
    df.loc[(df["dataset"] == "synthetic") & (df["method"] == "sort"), "steps"] = 300.0
    names = [s for s, _ in stats.settings(df)]
    assert sorted(names) == sorted(
        ["synthetic-conflict/tiny3d/150 steps", "synthetic/tiny3d/150 steps", "synthetic/tiny3d/300 steps"]
    )
    assert all("random" not in set(d["method"]) for _, d in stats.settings(df))
    assert all("random" in set(d["method"]) for _, d in stats.settings(df, with_references=True))


# --------------------------------------------------------------------------- learnability gate
def _gate_rows(method, accs, chance=0.1, baseline=None, family="pretext", samples=256):
    return [
        {
            "job_id": f"{method}-{s}",
            "status": "done",
            "method": method,
            "family": family,
            "uses_time": True,
            "backbone": "tiny3d",
            "dataset": "synthetic",
            "seed": float(s),
            "pretext_accuracy": a,
            "pretext_chance": chance,
            "pretext_baseline": np.nan if baseline is None else baseline,
            "pretext_samples": samples,
        }
        for s, a in enumerate(accs)
    ]


def test_learnability_known_answers() -> None:
    df = pd.DataFrame(
        _gate_rows("clear", [0.40, 0.42, 0.41])
        + _gate_rows("at_chance", [0.08, 0.13, 0.10])
        + _gate_rows("below_baseline", [0.45, 0.46, 0.47], baseline=0.59)
        + _gate_rows("one_seed", [0.16], samples=256)
        + _gate_rows("one_seed_low", [0.12], samples=256)
    )
    lb = stats.learnability(df).set_index("method")
    assert lb.loc["clear", "learned"] is True and lb.loc["clear", "task"] == "accuracy"
    assert lb.loc["at_chance", "learned"] is False and "not clearly above chance" in lb.loc["at_chance", "why"]
    assert (
        lb.loc["below_baseline", "learned"] is False
        and "training-free baseline (59.0 %)" in lb.loc["below_baseline", "why"]
    )
    assert lb.loc["below_baseline", "why"].endswith("(59.0 %)")  # a method this checkout does not know: no name
    # a registered method's note names what its baseline is (its `baseline_name`)
    sort = stats.learnability(pd.DataFrame(_gate_rows("sort", [0.45, 0.46, 0.47], baseline=0.59)))
    assert "(59.0 %: ordering the snippets along the shortest path through their mean frames)" in sort["why"].iloc[0]
    # one seed: Wilson interval over 256 held-out samples; 16 % clears 10 % chance, 12 % does not
    assert lb.loc["one_seed", "learned"] is True and lb.loc["one_seed_low", "learned"] is False
    # t-interval with 2 degrees of freedom: mean 0.1033, sd 0.025 -> lower end below 0.1
    assert lb.loc["at_chance", "bound"] == pytest.approx(0.10333 - 4.3027 * 0.025166 / np.sqrt(3), abs=1e-4)


def test_learnability_two_seeds_each_tested_on_their_own() -> None:
    # two seeds at 66.4 % and 62.9 % of 256 against chance 50 % (aot's at 9600 steps): a
    # t-interval with 1 degree of freedom would start at 42.3 %; each seed clears 50 % on its own
    # held-out questions (Wilson from 60.4 % and 56.8 %): learned, the lower one shown
    both = stats.learnability(pd.DataFrame(_gate_rows("aot", [0.664, 0.629], chance=0.5))).iloc[0]
    assert both["learned"] is True and stats.MIN_SEEDS_T == 3
    assert both["bound"] == pytest.approx(stats._wilson_lower(0.629, 256), abs=1e-6) == pytest.approx(0.568, abs=1e-3)
    # one of the two does not clear it alone: not learned, and the note says whose interval it is
    one = stats.learnability(pd.DataFrame(_gate_rows("aot", [0.664, 0.52], chance=0.5))).iloc[0]
    assert one["learned"] is False
    assert "(the lowest seed's 95 % interval from" in one["why"] and "not clearly above chance (50.0 %)" in one["why"]
    # a reconstruction task with two seeds: each ratio under the one-seed rule's 0.90x
    rows = [
        {
            **r,
            "pretext_accuracy": np.nan,
            "pretext_loss_heldout": loss,
            "pretext_baseline_loss": 1.0,
            "family": "generative",
        }
        for r, loss in zip(_gate_rows("mae", [0.0, 0.0]), [0.85, 0.93])
    ]
    mae = stats.learnability(pd.DataFrame(rows)).iloc[0]
    assert mae["task"] == "loss" and mae["learned"] is False and mae["bound"] == pytest.approx(0.93)
    assert mae["why"].startswith("held-out loss 0.89 x the training-free predictor's (filling the masked")
    assert "; the highest seed's 0.93 x, not clearly below it" in mae["why"]
    assert mae["why"].endswith("(each seed must be under 0.90 x)")
    # three seeds that agree exactly: no spread for a t-interval, so each must pass on its own
    same = [{**rows[0], "seed": float(k), "pretext_loss_heldout": 0.99} for k in range(3)]
    assert stats.learnability(pd.DataFrame(same)).iloc[0]["learned"] is False
    # two seeds without a sample count (an old record): the strict t-interval, as before
    old = stats.learnability(pd.DataFrame(_gate_rows("aot", [0.664, 0.629], chance=0.5, samples=np.nan))).iloc[0]
    assert old["learned"] is False and "(95 % interval from" in old["why"]
    rows[1]["pretext_loss_heldout"] = 0.88
    assert stats.learnability(pd.DataFrame(rows)).iloc[0]["learned"] is True


def test_learnability_names_a_collapse() -> None:
    """A method below its floor whose held-out embeddings sit on one point (pretext_spread
    ~0, as batch-hard triplet's did) is said to have collapsed; a spread one (or one that
    learned, or a table without the column) is not."""
    collapsed = _gate_rows("collapsed", [0.15, 0.16, 0.17], baseline=0.23, family="contrastive")
    spread = _gate_rows("spread", [0.15, 0.16, 0.17], baseline=0.23, family="contrastive")
    learned = _gate_rows("learned", [0.50, 0.52, 0.51], baseline=0.23, family="contrastive")
    one_seed = _gate_rows("one_seed_collapsed", [0.15, 0.16, 0.17], baseline=0.23, family="contrastive")
    for r in collapsed + learned:  # a learned method is never called collapsed, whatever its spread
        r["pretext_spread"] = 0.0004
    for r in spread:
        r["pretext_spread"] = 1.9
    for r, v in zip(one_seed, [1.9, 0.0, 1.9]):
        r["pretext_spread"] = v
    lb = stats.learnability(pd.DataFrame(collapsed + spread + learned + one_seed)).set_index("method")
    assert lb.loc["collapsed", "learned"] is False
    assert "collapsed onto one point at 3 of 3 seed(s)" in lb.loc["collapsed", "why"]
    assert "0.000" in lb.loc["collapsed", "why"]
    assert "collapsed onto one point at 1 of 3 seed(s)" in lb.loc["one_seed_collapsed", "why"]
    assert lb.loc["spread", "learned"] is False and "collapsed" not in lb.loc["spread", "why"]
    assert lb.loc["learned", "learned"] is True and lb.loc["learned", "why"] == ""
    no_column = stats.learnability(pd.DataFrame(_gate_rows("old", [0.15, 0.16, 0.17], baseline=0.23)))
    assert "collapsed" not in no_column["why"].iloc[0]


def test_collapse_warning() -> None:
    warn = stats.collapse_warning({"method": "triplet", "seed": 0, "pretext_spread": 0.0002})
    assert warn.startswith("triplet seed 0: its embeddings collapsed onto one point") and "0.000" in warn
    for m in ({"pretext_spread": 1.9}, {"pretext_spread": float("nan")}, {"pretext_spread": None}, {}):
        assert stats.collapse_warning({"method": "nce", "seed": 0, **m}) is None


def test_learnability_of_reconstruction_and_ungated_methods() -> None:
    rows = []
    for m, (loss, base) in {"recon_ok": ([0.5, 0.52, 0.49], 1.0), "recon_no": ([0.99, 1.01, 1.0], 1.0)}.items():
        for s, v in enumerate(loss):
            rows.append(
                {
                    "job_id": f"{m}-{s}",
                    "status": "done",
                    "method": m,
                    "family": "generative",
                    "uses_time": False,
                    "backbone": "tiny3d",
                    "dataset": "synthetic",
                    "seed": float(s),
                    "pretext_loss_heldout": v,
                    "pretext_baseline_loss": base,
                }
            )
    rows.append(
        {
            "job_id": "r",
            "status": "done",
            "method": "random",
            "family": "reference",
            "uses_time": False,
            "backbone": "tiny3d",
            "dataset": "synthetic",
            "seed": 0.0,
        }
    )
    lb = stats.learnability(pd.DataFrame(rows)).set_index("method")
    assert lb.loc["recon_ok", "learned"] is True and lb.loc["recon_ok", "task"] == "loss"
    assert lb.loc["recon_no", "learned"] is False
    assert "predictor's, not clearly below" in lb.loc["recon_no", "why"]  # unknown method: no name
    for r in rows:
        r["method"] = {"recon_no": "nextframe"}.get(r["method"], r["method"])
    why = stats.learnability(pd.DataFrame(rows)).set_index("method").loc["nextframe", "why"]
    assert "1.00 x the training-free predictor's (copying the last seen frame), not clearly below it" in why
    assert lb.loc["random", "learned"] is None  # the untrained reference is not gated


def test_methods_that_did_not_learn_are_left_out_of_the_verdicts() -> None:
    means = {m: 0.5 for m in METHODS}
    means["sort"] = 0.9  # would win Q1 on its own
    df = make_table(means)
    df["pretext_chance"] = np.where(df["family"] == "reference", np.nan, 0.1)
    df["pretext_accuracy"] = np.where(df["family"] == "reference", np.nan, 0.5)
    df.loc[df["method"] == "sort", "pretext_accuracy"] = 0.1  # sort did not learn its task
    kept, notes = stats.gate(df)
    assert "sort" not in set(kept["method"]) and any("DID NOT LEARN: sort" in n for n in notes)
    q1 = by_q(stats.answer_all(df), "Q1")[0]
    assert "sort" not in q1.text
    # none learned (make run at 150 steps): the verdicts say so, not "no finished SSL job"
    df["pretext_accuracy"] = np.where(df["family"] == "reference", np.nan, 0.1)
    vs = stats.answer_all(df)
    assert [v.question for v in vs] == list(stats.QUESTIONS)
    for v in vs:
        assert v.answer == "not enough data" and "no SSL method that finished learned its own task" in v.text
        assert "sort" in v.text and "no finished SSL job" not in v.text
    # a mixed table: one setting learned, the other did not; the other's verdicts say why
    df = make_table(datasets=("synthetic", "synthetic-conflict"))
    df["pretext_chance"] = np.where(df["family"] == "reference", np.nan, 0.1)
    learned = np.where(df["dataset"] == "synthetic", 0.5, 0.1)
    df["pretext_accuracy"] = np.where(df["family"] == "reference", np.nan, learned)
    vs = stats.answer_all(df)
    for q in stats.QUESTIONS:
        there = [v for v in by_q(vs, q) if v.setting.startswith("synthetic-conflict")]
        assert len(there) == 1 and "no SSL method that finished learned" in there[0].text, q
        assert any(
            v.setting.startswith("synthetic/") and "learned its own task here" not in v.text for v in by_q(vs, q)
        )


def test_t_interval_of_two_single_methods_is_welchs() -> None:
    """One method per group, k = 1: the interval is Welch's two-sample t-interval."""
    from scipy.stats import ttest_ind

    from vssl_bench.stats import diff_ci

    a, b = np.array([0.30, 0.34, 0.29]), np.array([0.25, 0.22, 0.27])
    est, lo, hi = diff_ci({"a": a}, {"b": b}, k=1)
    want = ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert est == pytest.approx(a.mean() - b.mean())
    assert (lo, hi) == pytest.approx((want.low, want.high), rel=1e-9)


def test_t_interval_covers_at_its_level_with_three_seeds() -> None:
    """Simulated groups of 2 and 3 methods x 3 seeds with unequal seed noise: the interval
    (k = 1) covers the true difference about 95 % of the time (a percentile bootstrap of
    the seeds covers far less); Bonferroni's k = 4 widens it."""
    from vssl_bench.stats import diff_ci

    rng = np.random.default_rng(0)
    truth_a, truth_b, sd_a, sd_b = [0.2, 0.3], [0.1, 0.2, 0.25], [0.02, 0.05], [0.01, 0.03, 0.04]
    true_diff = np.mean(truth_a) - np.mean(truth_b)
    hits, width1, width4 = 0, [], []
    for _ in range(2000):
        a = {f"a{i}": rng.normal(m, s, 3) for i, (m, s) in enumerate(zip(truth_a, sd_a))}
        b = {f"b{i}": rng.normal(m, s, 3) for i, (m, s) in enumerate(zip(truth_b, sd_b))}
        _, lo, hi = diff_ci(a, b, k=1)
        hits += lo <= true_diff <= hi
        width1.append(hi - lo)
        _, lo4, hi4 = diff_ci(a, b, k=4)
        width4.append(hi4 - lo4)
    assert 0.93 <= hits / 2000 <= 0.985
    assert np.median(width4) > 1.2 * np.median(width1)


def test_one_seed_gives_no_interval() -> None:
    from vssl_bench.stats import diff_ci

    est, lo, hi = diff_ci({"a": np.array([0.3])}, {"b": np.array([0.2, 0.25])})
    assert est == pytest.approx(0.075) and np.isnan(lo) and np.isnan(hi)


def test_identical_seeds_are_no_evidence_not_certainty() -> None:
    """Three identical seeds on both sides (a collapsed model at exactly chance, say) give no
    spread to test against: no interval, so the verdict is "no evidence", however large the gap."""
    from vssl_bench.stats import _decide, diff_ci

    est, lo, hi = diff_ci({"a": np.full(3, 0.30)}, {"b": np.full(3, 0.0625)})
    assert est == pytest.approx(0.2375) and np.isnan(lo) and np.isnan(hi)
    assert _decide(est, lo, hi, 3) == "no evidence"
    assert "every seed identical" in stats._ci_text(lo, hi, 3)


def test_a_method_with_identical_seeds_borrows_the_others_spread() -> None:
    """One side's seeds identical, the other's spread: the identical side's spread is unknown,
    so it takes the pooled within-method variance, not zero (which would halve the interval)."""
    from vssl_bench.stats import diff_ci

    b = np.array([0.06, 0.10, 0.14])
    _, lo, hi = diff_ci({"a": np.full(3, 0.30)}, {"b": b}, k=1)
    _, lo2, hi2 = diff_ci({"a": np.array([0.26, 0.30, 0.34])}, {"b": b}, k=1)  # a with b's spread
    assert (lo, hi) == pytest.approx((lo2, hi2))


def _two_budgets(shuffle_large: bool) -> pd.DataFrame:
    """150 and 600 steps; at 600 every trained method gains 10 points (same ranking) or,
    with ``shuffle_large``, the ranking is reversed."""
    small = make_table({m: 0.2 + 0.02 * i for i, m in enumerate(METHODS)}, seed=1)
    big = make_table({m: (0.5 - 0.02 * i if shuffle_large else 0.3 + 0.02 * i) for i, m in enumerate(METHODS)}, seed=2)
    big = big[big["method"] != "random"].assign(steps=600.0, job_id=lambda d: d["job_id"] + "-600")
    return pd.concat([small, big], ignore_index=True)


def test_budget_axis_rho_interval_is_a_bootstrap_over_the_paired_method_means() -> None:
    """The interval printed beside the budget rho: spearman_ci on each trained method's seed
    means at the two budgets, paired by method (a noisy ranking, so the interval is wide)."""
    df = _two_budgets(False)
    rng = np.random.default_rng(0)
    big = df["steps"] == 600.0
    df.loc[big, "knn_top1"] = df.loc[big, "knn_top1"] + rng.normal(0, 0.15, int(big.sum()))
    e = stats.budget_axis(df)[0]
    means = df[df["method"] != "random"].groupby(["steps", "method"])["knn_top1"].mean()
    a, b = means[150.0], means[600.0]
    rho, lo, hi = stats.spearman_ci(a.to_numpy(), b[a.index].to_numpy())
    assert e["rho"]["knn_top1"] == pytest.approx(rho) and e["rho_ci"]["knn_top1"] == (
        pytest.approx(lo),
        pytest.approx(hi),
    )
    assert hi - lo > 0.2  # wide enough that a swapped or unpaired bootstrap would not match by luck


def test_budget_axis_reports_rank_stability_plateau_and_verdict_changes() -> None:
    settled = stats.budget_axis(_two_budgets(False))
    assert len(settled) == 1
    e = settled[0]
    assert e["budgets"] == [150, 600] and e["pair"] == (150, 600)
    assert e["rho"]["linear_top1"] > 0.95 and e["rho"]["knn_top1"] > 0.95 and e["settled"]
    sup = e["supervised"]["knn_top1"]
    assert set(sup["by_budget"]) == {150, 600} and not sup["near_plateau"]  # +10 points: still climbing
    moving = stats.budget_axis(_two_budgets(True))[0]
    assert moving["rho"]["knn_top1"] < 0 and not moving["settled"]
    md = stats.budget_markdown([moving])
    assert "still moving" in md and "changes with the budget" in md
    lo, hi = moving["rho_ci"]["knn_top1"]  # a bootstrap interval over methods, printed beside rho
    assert lo <= moving["rho"]["knn_top1"] <= hi and f"[{lo:.2f}, {hi:.2f}]" in md
    assert "read on the point estimate" in md
    assert "| family | method | linear 150 | linear 600 | kNN 150 | kNN 600 |" in md
    row = next(line for line in md.splitlines() if line.startswith("| reference | `random`"))
    assert row.count("|") == 7 and "–" not in row  # its one (untrained) value at every budget
    assert stats.budget_axis(make_table()) == []  # one budget: nothing to say


def test_settings_keep_budgets_apart_and_random_joins_each() -> None:
    sets = dict(stats.settings(_two_budgets(False), with_references=True))
    assert set(sets) == {"synthetic/tiny3d/150 steps", "synthetic/tiny3d/600 steps"}
    for d in sets.values():
        assert (d["method"] == "random").sum() == 3 and (d["method"] == "supervised").sum() == 3
        assert d[d["method"] != "random"]["steps"].nunique() == 1


def test_compute_figure_survives_results_without_compute_columns(tmp_path) -> None:
    """Results written before clips_seen / pretrain_seconds existed still get their figure."""
    pytest.importorskip("matplotlib")
    from vssl_bench.plots import compute_curves

    df = _two_budgets(False).drop(columns=["clips_seen", "pretrain_seconds"], errors="ignore")
    paths = compute_curves(df, tmp_path)
    assert [p.name for p in paths] == ["compute_synthetic_tiny3d.png"] and paths[0].stat().st_size > 0


def test_budget_axis_says_cannot_tell_where_a_budget_has_no_verdict() -> None:
    """One seed at the larger budget: its verdicts are "not enough data", so whether the
    answer changed is unknown, not "the same"."""
    df = _two_budgets(False)
    one_seed = df[(df["steps"] != 600.0) | (df["seed"] == 0.0)]
    md = stats.budget_markdown(stats.budget_axis(one_seed))
    assert "cannot tell" in md and "same at every budget" not in md


def test_budget_table_marks_a_method_that_did_not_learn_at_that_budget_only() -> None:
    df = _two_budgets(False)
    df["pretext_chance"] = np.where(df["family"] == "reference", np.nan, 0.1)
    df["pretext_accuracy"] = np.where(df["family"] == "reference", np.nan, 0.5)
    df.loc[(df["method"] == "sort") & (df["steps"] == 150.0), "pretext_accuracy"] = 0.1  # learns only at 600
    md = stats.budget_markdown(stats.budget_axis(df))
    row = next(line for line in md.splitlines() if "| `sort` |" in line).split(" | ")
    assert row[2].startswith("*") and not row[3].startswith("*")  # linear 150 in italics, linear 600 not


def _with_supervised_at(df: pd.DataFrame, steps: float, gain: float) -> pd.DataFrame:
    """supervised alone trained longer (``steps``), ``gain`` above its value at 600 steps."""
    sup = df[(df["method"] == "supervised") & (df["steps"] == 600.0)].copy()
    for k in ("linear_top1", "knn_top1"):
        sup[k] = sup[k] + gain
    return pd.concat([df, sup.assign(steps=steps, job_id=sup["job_id"] + f"-{int(steps)}")], ignore_index=True)


def test_budget_axis_reads_the_supervised_plateau_from_above_and_says_converged() -> None:
    """supervised alone at 2400 steps is no rung of the ranking (the pair stays 150 / 600) but
    shows its plateau from above: within 3 points of 600's -> converged at 600; 10 points
    higher -> not converged."""
    e = stats.budget_axis(_with_supervised_at(_two_budgets(False), 2400.0, 0.01))[0]
    assert e["pair"] == (150, 600) and e["axis"] == [150, 600] and e["budgets"] == [150, 600, 2400]
    assert e["supervised"]["knn_top1"]["seen_above"] and e["supervised"]["knn_top1"]["near_plateau"]
    assert e["settled"] and e["converged"]
    md = stats.budget_markdown([e])
    assert "**converged at 600 steps**" in md and "kNN 2400" in md
    far = stats.budget_axis(_with_supervised_at(_two_budgets(False), 2400.0, 0.10))[0]
    assert not far["supervised"]["knn_top1"]["near_plateau"] and far["settled"] and not far["converged"]
    assert "**not converged at 600 steps**" in stats.budget_markdown([far])


def test_budget_axis_is_incomplete_while_few_methods_reached_the_larger_budget() -> None:
    df = _two_budgets(False)
    late = df[(df["steps"] == 600.0) & ~df["method"].isin(["supervised", "sort", "vcop", "nce"])]
    e = stats.budget_axis(df.drop(late.index))[0]
    assert e["coverage"][0] == 4 and not e["settled"]  # 4 of the 150-step methods: a rho of 4 proves nothing
    assert "**incomplete**" in stats.budget_markdown([e])


def test_budget_axis_is_not_decided_while_a_method_is_missing_at_the_larger_budget() -> None:
    """Every criterion holds but one trained method has no row at the larger budget yet (the
    rung is still filling, or its job failed): the ranking may be settled among the others,
    but the budget is not called converged, and the families compare only methods present
    at both budgets of the pair (the missing one is named, not averaged in at one only)."""
    df = _with_supervised_at(_two_budgets(False), 2400.0, 0.01)
    full = stats.budget_axis(df)[0]
    assert full["converged"] and full["missing"] == []
    assert all(f["left_out"] == [] for f in full["families"].values())
    gap = stats.budget_axis(df[~((df["method"] == "nce") & (df["steps"] == 600.0))])[0]
    assert gap["settled"] and gap["missing"] == ["nce"] and not gap["converged"]
    assert all(f["left_out"] == ["nce"] for f in gap["families"].values())
    md = stats.budget_markdown([gap])
    assert "**not decided at 600 steps**: 1 trained method with a value at one of 150 / 600 steps only (`nce`" in md
    assert "**settled so far**" in md and "converged at 600" not in md
    assert "left out at 150 and 600, not at both: `nce`" in md
    # missing at the smaller budget only: the same
    early = stats.budget_axis(df[~((df["method"] == "nce") & (df["steps"] == 150.0))])[0]
    assert early["missing"] == ["nce"] and not early["converged"]
    # a metric a method never has (NaN at both budgets) blocks nothing
    blank = df.copy()
    blank.loc[blank["method"] == "nce", "knn_top1"] = np.nan
    assert stats.budget_axis(blank)[0]["missing"] == [] and stats.budget_axis(blank)[0]["converged"]
    # the others already say no (supervised still climbing): not converged, whatever the missing do
    climbing = _two_budgets(False)
    no = stats.budget_axis(climbing[~((climbing["method"] == "nce") & (climbing["steps"] == 600.0))])[0]
    md = stats.budget_markdown([no])
    assert "**not converged at 600 steps** (supervised not near its plateau); also 1 trained method" in md
    assert "not decided" not in md
    # supervised itself missing: its plateau is not measured there, not "not near"
    sup = stats.budget_axis(df[~((df["method"] == "supervised") & (df["steps"] == 600.0))])[0]
    md = stats.budget_markdown([sup])
    assert sup["missing"] == ["supervised"] and "**not decided at 600 steps**" in md
    assert "supervised is not measured there" in md


def test_budget_axis_with_one_rung_compares_no_ranking() -> None:
    """Every method at 150 steps, only 4 at 600 and 2400: neither larger budget is a rung, so
    the pair (600, 2400) of 4 methods says nothing, however well their ranks agree."""
    df = _two_budgets(False)
    few = df[(df["steps"] == 600.0) & df["method"].isin(["supervised", "sort", "vcop", "nce"])]
    df = pd.concat([df[df["steps"] != 600.0], few, few.assign(steps=2400.0, job_id=few["job_id"] + "-2400")])
    e = stats.budget_axis(df)[0]
    assert e["rungs"] == 1 and not e["settled"] and not e["converged"]
    md = stats.budget_markdown([e])
    assert "no ranking to compare yet" in md and "**not converged" in md and "**settled**" not in md


def test_a_rho_just_below_the_threshold_is_not_printed_as_reaching_it() -> None:
    assert stats.rho_text(0.7994) == "0.799" and stats.rho_text(0.8) == "0.80" and stats.rho_text(0.74) == "0.74"


def test_a_missing_supervised_value_is_no_plateau() -> None:
    """supervised trained longer but its kNN is blank there: no evidence from above, so the
    plateau is judged from below (still climbing 10 points), not passed by a NaN."""
    df = _with_supervised_at(_two_budgets(False), 2400.0, 0.01)
    df.loc[df["steps"] == 2400.0, "knn_top1"] = np.nan
    sup = stats.budget_axis(df)[0]["supervised"]["knn_top1"]
    assert 2400 not in sup["by_budget"] and not sup["seen_above"] and not sup["near_plateau"]


def test_learnability_survives_a_blank_samples_column() -> None:
    df = make_table(seeds=(0,))
    df["pretext_chance"] = np.where(df["family"] == "reference", np.nan, 0.25)
    df["pretext_accuracy"] = np.where(df["family"] == "reference", np.nan, 0.60)
    df["pretext_samples"] = np.nan
    assert stats.learnability(df).set_index("method").loc["rotation", "learned"] is True


def test_learnability_with_identical_seeds_falls_back_to_the_held_out_samples() -> None:
    """Three seeds at exactly 27 % on a 25 %-chance task: no seed spread to measure, so the
    held-out samples decide (Wilson over the 64 held-out questions, counted once: identical
    seeds answered the same ones), not a zero-width interval that says learned."""
    df = make_table(seeds=(0, 1, 2))
    df["pretext_chance"] = np.where(df["family"] == "reference", np.nan, 0.25)
    df["pretext_accuracy"] = np.where(df["family"] == "reference", np.nan, 0.27)
    df["pretext_samples"] = 64
    lb = stats.learnability(df).set_index("method")
    assert lb.loc["rotation", "learned"] is False and lb.loc["rotation", "bound"] < 0.25
    df["pretext_accuracy"] = np.where(df["family"] == "reference", np.nan, 0.60)
    assert stats.learnability(df).set_index("method").loc["rotation", "learned"] is True


def test_budget_axis_says_when_a_family_passes_another() -> None:
    """The contrastive methods gain 35 points at 600 steps, the others 10: contrastive goes
    from last to first and the report says so, beside "converged" too where that holds.
    Equal gains: no family passes another."""
    base = {"pretext": 0.30, "generative": 0.25, "contrastive": 0.15, "reference": 0.20}

    def axis(contrastive_gain: float) -> dict:
        means = {m: base[f] + 0.005 * i for i, (m, (f, _)) in enumerate(METHODS.items())}
        small = make_table(means, seed=1)
        gain = {m: 0.10 + (contrastive_gain if METHODS[m][0] == "contrastive" else 0.0) for m in METHODS}
        big = make_table({m: v + gain[m] for m, v in means.items()}, seed=2)
        big = big[big["method"] != "random"].assign(steps=600.0, job_id=lambda d: d["job_id"] + "-600")
        return stats.budget_axis(pd.concat([small, big], ignore_index=True))[0]

    even = axis(0.0)
    assert all(f["changed"] is False for f in even["families"].values())
    assert even["families"]["knn_top1"]["order"][600] == ["pretext", "generative", "contrastive"]
    assert "no family passes another" in stats.budget_markdown([even])
    e = axis(0.25)
    knn = e["families"]["knn_top1"]
    assert knn["order"][150][-1] == "contrastive" and knn["order"][600][0] == "contrastive"
    assert knn["changed"] and {(a, b) for a, b, *_ in knn["passes"]} == {
        ("contrastive", "pretext"),
        ("contrastive", "generative"),
    }
    md = stats.budget_markdown([e])
    assert "changes between 150 and 600 steps" in md and "contrastive passes pretext (gap" in md
    assert not e["converged"]  # supervised gained 10 points: not near its plateau
    assert "the families' order still changes" not in md
    settled = {**e, "converged": True}  # as where the criterion holds: the caveat stands beside it
    assert "**converged at 600 steps**" in (md2 := stats.budget_markdown([settled]))
    assert "the families' order still changes" in md2


def _family_entry(values: dict[str, tuple[str, float, float]], not_learned=()) -> dict:
    """A budget_axis entry with knn_top1 only: method -> (family, value at 100, at 200)."""
    return {
        "family": {m: f for m, (f, _, _) in values.items()},
        "learned": {key: False for key in not_learned},
        "by_method": {"knn_top1": {m: {100: a, 200: b} for m, (_, a, b) in values.items()}},
    }


def test_family_order_rules() -> None:
    """The gate, the swing threshold, NaN, a family that joins, and too little to compare."""
    fo = stats.family_order
    # the gate: a method that did not learn its task is left out of its family's mean
    e = _family_entry({"p1": ("pretext", 0.30, 0.30), "p2": ("pretext", 0.90, 0.90), "c1": ("contrastive", 0.2, 0.2)})
    gated = fo({**e, "learned": {("p2", 200): False}}, [100, 200])["knn_top1"]
    assert gated["means"][100]["pretext"] == pytest.approx(0.6) and gated["means"][200]["pretext"] == pytest.approx(0.3)
    # the threshold is on the swing of the gap: -1.4 -> +1.4 (2.8 points) is no pass, -1.6 -> +1.6 is
    for half, passes in ((0.014, False), (0.016, True)):
        f = fo(_family_entry({"p": ("pretext", 0.5, 0.5 - half), "c": ("contrastive", 0.5 - half, 0.5)}), [100, 200])
        assert f["knn_top1"]["changed"] is passes and bool(f["knn_top1"]["passes"]) is passes
    # the references are ignored; a method with no value at some budget is left out at every
    # budget (named), not averaged in where it has one; a family learned at the larger budget
    # only joins, one learned at the smaller only leaves
    e = _family_entry(
        {
            "p": ("pretext", 0.5, 0.5),
            "p2": ("pretext", 0.1, float("nan")),
            "g": ("generative", 0.4, 0.4),
            "c": ("contrastive", 0.2, 0.7),
            "s": ("reference", 0.9, 0.9),
        },
        not_learned=[("c", 100), ("g", 200)],
    )
    f = fo(e, [100, 200])["knn_top1"]
    assert f["left_out"] == ["p2"] and f["means"][100] == {"pretext": 0.5, "generative": 0.4}
    assert f["means"][200] == {"pretext": 0.5, "contrastive": 0.7} and f["joins"] == ["contrastive"]
    assert f["leaves"] == ["generative"] and f["passes"] == [] and f["changed"] is True
    md = stats.budget_markdown(
        [
            {
                **e,
                "dataset": "d",
                "backbone": "b",
                "budgets": [100, 200],
                "pair": (100, 200),
                "axis": [100, 200],
                "rho": {},
                "supervised": {},
                "verdicts": {},
                "coverage": (3, 3),
                "settled": False,
                "converged": False,
                "families": {"knn_top1": f},
            }
        ]
    )
    assert "contrastive joins (no method of it learned its task at 100 steps)" in md
    assert "generative leaves (no method of it learned its task at 200 steps)" in md
    assert "left out at 100 and 200, not at both: `p2`" in md
    # one family at each budget, the same: nothing to compare
    one = fo(_family_entry({"p": ("pretext", 0.5, 0.6)}), [100, 200])["knn_top1"]
    assert one["changed"] is None and one["order"] == {100: ["pretext"], 200: ["pretext"]}


def test_seed_rank_agreement_measures_how_far_seed_noise_moves_the_ranking() -> None:
    """Methods 2 points apart: with 0.1-point noise two seeds rank them alike (rho ~1); with
    10-point noise two single seeds disagree (one seed against the mean of all three would
    agree more). One seed: nothing to measure."""
    spread = {m: 0.2 + 0.02 * i for i, m in enumerate(METHODS)}
    calm = stats.seed_rank_agreement(make_table(spread, noise=0.001))
    assert len(calm) == 1 and calm[0]["steps"] == 150 and calm[0]["seeds"] == [0, 1, 2]
    assert calm[0]["methods"] == (len(METHODS) - 1,) * 2  # random left out
    assert len(calm[0]["rho"]["linear_top1"]) == 3 and min(calm[0]["rho"]["linear_top1"]) > 0.99
    rhos = [
        np.mean(stats.seed_rank_agreement(make_table(spread, noise=0.10, seed=k))[0]["rho"]["knn_top1"])
        for k in range(8)
    ]
    assert np.mean(rhos) < 0.75  # two independent seeds; seed vs the mean of three would be ~0.8
    text = stats.seed_rank_text(stats.seed_rank_agreement(make_table(spread, noise=0.10))[0])
    assert "kNN" in text and "3 pairs" in text and "15 methods" in text
    assert stats.seed_rank_agreement(make_table(spread, seeds=(0,))) == []


def test_seed_rank_agreement_leaves_random_out_and_pairs_only_common_methods() -> None:
    """random (0 steps: its own budget, never a trained one's) planted far above every method
    and in reverse order across seeds would pull rho down if it counted; a method missing at
    seed 2 leaves the pairs with seed 2 one short; a metric constant at a seed gives no rho
    for that seed's pairs."""
    spread = {m: 0.2 + 0.02 * i for i, m in enumerate(METHODS)}
    df = make_table(spread, noise=0.001)
    r = df["method"] == "random"
    df.loc[r, "linear_top1"] = np.where(df.loc[r, "seed"] == 0, 5.0, -5.0)
    df = df.drop(df.index[(df["method"] == "sort") & (df["seed"] == 2)])
    df.loc[df["seed"] == 1, "knn_top1"] = 0.3
    a = stats.seed_rank_agreement(df)[0]
    assert min(a["rho"]["linear_top1"]) > 0.99 and a["methods"] == (len(METHODS) - 2, len(METHODS) - 1)
    assert len(a["rho"]["knn_top1"]) == 1  # only the (0, 2) pair: seed 1 is constant
    assert "linear_top1" in a["rho"] and stats.seed_rank_agreement(df.drop(columns="knn_top1"))[0]["rho"].keys() == {
        "linear_top1"
    }


def test_budget_axis_says_whether_seed_noise_was_measured() -> None:
    three = stats.budget_markdown(stats.budget_axis(_two_budgets(False)))
    assert "between two independent seeds at the same budget" in three
    assert "150 steps: linear" in three and "600 steps: linear" in three
    one = _two_budgets(False)
    one = one[one["seed"] == 0.0]
    md = stats.budget_markdown(stats.budget_axis(one))
    assert "no budget here has two seeds" in md and "independent seeds at the same budget" not in md
