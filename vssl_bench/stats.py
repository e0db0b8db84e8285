"""The five questions of the report, answered from ``results.csv`` alone, with numbers (the
learnability gate's notes also name each method's baseline from this checkout's registry).

Each answer is a :class:`Verdict`: a one-sentence ``text`` whose numbers are computed here,
never typed by hand, plus the numbers themselves (``stats``) for tables and tests.

Unit of analysis. A *setting* is one (dataset, backbone, steps) cell of finished jobs;
questions are answered per setting, never pooled across datasets or budgets. Reference
rows (``random``, ``supervised``) are excluded: they are bounds, not SSL methods. A
method's score is the mean over its seeds; a group's score is the unweighted mean of its
methods' scores (every method counts once, whatever its number of seeds).

Uncertainty, fit for three seeds. A group's score has a seed-noise variance of
sum_i s_i^2 / n_i / m^2 over its m methods (s_i: the sample std of method i's n_i seeds);
a difference of two groups adds the two. Its interval is a t-interval with the
Welch-Satterthwaite degrees of freedom (Welch 1947), Bonferroni-corrected for the
:data:`N_CONTRASTS` contrasts each setting is asked about (Q2 twice, Q3, Q4): each is a
1 - 0.05/4 interval, so the four together hold at 95 %. With 3 seeds a percentile
bootstrap of seeds would be too narrow: it has only 10 distinct resamples per method, its
variance is (n-1)/n of the sample's, and a normal-width interval from 3 values is less than
half a t-interval with 2 degrees of freedom. The interval measures the seed-to-seed noise of
these methods, not how the verdict would generalise to other methods. With one seed per
method it cannot see seed noise: the verdict says "not enough data". Q1 uses the
Kruskal-Wallis H test over the per-seed values (Kruskal & Wallis 1952,
``scipy.stats.kruskal``) and a permutation test of the between-method variance (labels
shuffled across seeds, fixed :data:`SEED`). Q5 uses Spearman's rank correlation over
methods with a bootstrap CI over methods (points, not seeds, are resampled: ~20 of them).

Decision rule: "Yes" when the interval excludes 0 in the asked direction (or p < 0.05),
"No" when it excludes 0 in the other direction, otherwise "No evidence".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import kruskal, rankdata, spearmanr, t

from vssl_bench.methods import METHODS
from vssl_bench.taxonomy import FAMILIES as DISPLAY_FAMILIES
from vssl_bench.taxonomy import REFERENCES, SSL_FAMILIES

SEED = 0  # fixed RNG seed of every bootstrap / permutation: deterministic report
N_BOOT = 2000  # bootstrap resamples of Q5's Spearman CI (2000: Efron & Tibshirani's advice for CIs)
N_PERM = 2000  # permutations of the Q1 test
ALPHA = 0.05
N_CONTRASTS = 4  # interval-based decisions per setting (Q2 x 2, Q3, Q4): Bonferroni's divisor
DEFAULT_METRIC = "knn_top1"  # kNN separated methods better than the linear probe in trial runs on this data
FAMILIES = SSL_FAMILIES  # the families the verdicts compare


def method_facts(d: pd.DataFrame, column: str) -> dict[str, object]:
    """Method -> a fact its rows carry (``time_blind_control``, ``augmentation``: the
    method's class attributes, written by the runner; results written before those
    columns carry none)."""
    if column not in d:
        return {}
    return {m: g[column].iloc[0] for m, g in d.groupby("method")}


def time_blind_controls(d: pd.DataFrame) -> tuple[str, ...]:
    """Methods that cannot use temporal order by construction (``Method.time_blind_control``)."""
    return tuple(m for m, v in method_facts(d, "time_blind_control").items() if str(v).lower() in ("true", "1"))


def augmentation_kinds(d: pd.DataFrame) -> dict[str, str]:
    """Method -> the kind of positive pair it contrasts (``Method.augmentation``), Q4's variants."""
    return {m: str(v) for m, v in method_facts(d, "augmentation").items() if isinstance(v, str) and v}


COMPARE_METRICS = ["linear_top1", "linear_video_top1", "knn_top1", "retrieval_r1", "retrieval_r5"]
SUITE_FOR = {"Q1": "pretext", "Q2": "pretext", "Q3": "quick", "Q4": "contrastive", "Q5": "pretext"}


@dataclass
class Verdict:
    question: str  # "Q1" .. "Q5"
    setting: str  # "synthetic/tiny3d/150 steps"
    answer: str  # "yes" | "no" | "no evidence" | "not enough data" | "info"
    text: str  # the one-sentence verdict
    stats: dict = field(default_factory=dict)


QUESTIONS = {
    "Q1": "Do different pretext tasks make any difference?",
    "Q2": "Are time-related tasks more helpful?",
    "Q3": "Pretext vs generative vs contrastive: which family wins, on which evaluation?",
    "Q4": "Which contrastive augmentation helps most?",
    "Q5": "Does a higher pretext-task accuracy predict a better downstream result?",
}


# Which chance level (eval/chance.py, a results column) is the floor of which metric.
CHANCE_OF = {
    "linear_top1": "chance_top1",
    "linear_video_top1": "chance_top1",
    "knn_top1": "chance_top1",
    "retrieval_r1": "chance_r1",
    "retrieval_r5": "chance_r5",
    "retrieval_r10": "chance_r10",
    "retrieval_r20": "chance_r20",
    "lowshot_1_linear": "chance_top1",
    "lowshot_10_linear": "chance_top1",
    "finetune_top1": "chance_top1",
    "temporal_pair_top1": "temporal_pair_chance",
}
FIXED_CHANCE = {"temporal_reverse_to_partner": 0.5}  # a two-class decision (eval/temporal.py)


def chance_of(rows: pd.DataFrame) -> dict[str, float]:
    """The chance level of each metric for these rows (one dataset): the median of their
    ``chance_*`` columns (rows written before those columns existed have none)."""
    out = {}
    for m, c in CHANCE_OF.items():
        if c in rows:
            v = pd.to_numeric(rows[c], errors="coerce").dropna()
            if len(v) and m in rows and pd.to_numeric(rows[m], errors="coerce").notna().any():
                out[m] = float(v.median())
    for m, v in FIXED_CHANCE.items():
        if m in rows and pd.to_numeric(rows[m], errors="coerce").notna().any():
            out[m] = v
    return out if any(k in out for k in ("knn_top1", "retrieval_r1")) else {}


# --------------------------------------------------------------------------- learnability gate
SINGLE_SEED_LOSS_RATIO = 0.9  # one seed, a reconstruction task: its loss must be 10 % under the baseline's
# Seeds from which the own-task gate reads a t-interval over seeds. With two, the interval has
# one degree of freedom (t = 12.7): a second seed that agrees with the first would undo the
# first one's verdict (aot at 9600 steps: 66.4 % and 62.9 % of 256 against chance 50 %, each
# clear on its own, t-interval from 42.3 %). Below it, every seed must pass its own test.
MIN_SEEDS_T = 3
# pretext_spread (mean squared distance of held-out unit projections) below this: collapsed onto
# one point. Measured on the embedded data: batch-hard triplet 0.000, an untrained network
# 0.06 (its clips already lie close together), methods that learn 1.5-2.0. It names a complete
# collapse only: a partial one (0.01-0.06) is not named.
COLLAPSED_SPREAD = 0.01


def _t_quantile(df_: int) -> float:
    return float(t.ppf(1 - ALPHA / 2, df_))


def _wilson_lower(p: float, n: int) -> float:
    """Lower end of the 95% Wilson interval of a proportion ``p`` of ``n`` trials."""
    z = 1.959964
    if n <= 0:
        return math.nan
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half


def learnability(df: pd.DataFrame) -> pd.DataFrame:
    """Did each method learn its own task on held-out videos? One row per (dataset,
    backbone, method) of finished, trained methods, from the ``pretext_*`` columns:

    - a classification task (``pretext_accuracy`` with ``pretext_chance``): learned when the
      95% interval of the accuracy lies above its chance level *and* above the training-free
      baseline where one exists (``pretext_baseline``): from :data:`MIN_SEEDS_T` seeds a
      t-interval over the seeds; with fewer, every seed's own Wilson interval over its
      held-out samples (``pretext_samples``), the lowest shown;
    - a reconstruction task (``pretext_baseline_loss``): learned when the held-out loss is
      below the training-free predictor's: the t-interval of loss / baseline loss over the
      seeds lies under 1 (with fewer than :data:`MIN_SEEDS_T` seeds: every seed's ratio under
      :data:`SINGLE_SEED_LOSS_RATIO`, the highest shown);
    - otherwise (the references, results written before these columns, e.g. ``gan``'s before
      it measured its discriminator's task) ``None``:
      not gated.

    Columns: dataset, backbone, method, task ("accuracy" | "loss" | ""), value (mean accuracy
    or loss ratio), bound (the interval's end that decides), floor (what it must beat),
    learned (True / False / None), why (a short reason when not learned)."""
    rows = []
    done = df[df["status"] == "done"] if "status" in df else df
    done = done.assign(steps=budget_of(done))
    for (ds, bb, st, meth), g in done.groupby(["dataset", "backbone", "steps", "method"], sort=False):
        row = {
            "dataset": ds,
            "backbone": bb,
            "steps": st,
            "method": meth,
            "task": "",
            "value": math.nan,
            "bound": math.nan,
            "floor": math.nan,
            "learned": None,
            "why": "",
        }
        col = lambda c: pd.to_numeric(g[c], errors="coerce").to_numpy(dtype=float) if c in g else np.array([])  # noqa: E731
        acc, chance, base = col("pretext_accuracy"), col("pretext_chance"), col("pretext_baseline")
        loss, base_loss = col("pretext_loss_heldout"), col("pretext_baseline_loss")
        ok = np.isfinite(acc) & np.isfinite(chance) if len(acc) and len(chance) else np.array([], dtype=bool)
        if g["family"].iloc[0] == "reference" and meth != "supervised":
            pass
        elif ok.any():
            a, c = acc[ok], float(np.nanmean(chance[ok]))
            b = float(np.nanmean(base[ok])) if len(base) and np.isfinite(base[ok]).any() else math.nan
            ns = col("pretext_samples")
            n = int(np.nanmean(ns)) if np.isfinite(ns).any() else 0
            varied = a.max() > a.min()  # (not std > 0: rounding leaves it positive for equal values)
            # a t-interval from MIN_SEEDS_T seeds, or with no sample count (an old record: no
            # per-seed interval to read, so two seeds keep the strict t-interval)
            t_read = varied and (len(a) >= MIN_SEEDS_T or n <= 0)
            if t_read:
                lo = float(a.mean() - _t_quantile(len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a)))
            else:  # one or two seeds, or seeds that agree exactly (no spread to measure): each seed's
                # own held-out samples, and every seed must clear the floor (identical seeds answered
                # the same questions on the same videos: one test)
                lo = min(_wilson_lower(float(x), n) for x in a) if n > 0 else float(a.min())
            floor = max(c, b) if np.isfinite(b) else c
            row.update(task="accuracy", value=float(a.mean()), bound=lo, floor=floor, learned=bool(lo > floor))
            where = "95 % interval" if t_read or not varied else "the lowest seed's 95 % interval"
            held = f"held-out accuracy {pts(a.mean())} % ({where} from {pts(lo)} %)"
            if lo <= c:
                row["why"] = f"{held} not clearly above chance ({pts(c)} %)"
            elif np.isfinite(b) and lo <= b:
                name = _baseline_name(meth)
                what = f"{pts(b)} %: {name}" if name else f"{pts(b)} %"
                row["why"] = f"{held} not clearly above a training-free baseline ({what})"
            spread = col("pretext_spread")
            low = spread[np.isfinite(spread) & (spread < COLLAPSED_SPREAD)]
            if row["why"] and len(low):  # any seed: one collapsed seed among spread ones is a collapse too
                row["why"] += "; " + _collapsed(low.min(), f" at {len(low)} of {len(g)} seed(s)")
        elif len(loss) and len(base_loss) and (np.isfinite(loss) & np.isfinite(base_loss)).any():
            ok = np.isfinite(loss) & np.isfinite(base_loss) & (base_loss > 0)
            r = loss[ok] / base_loss[ok]
            if not len(r):  # nothing to beat (a zero baseline loss): not gated
                rows.append(row)
                continue
            t_read = len(r) >= MIN_SEEDS_T and r.max() > r.min()
            if t_read:
                hi = float(r.mean() + _t_quantile(len(r) - 1) * r.std(ddof=1) / math.sqrt(len(r)))
                floor = 1.0
            else:  # one or two seeds, or seeds that agree exactly: every seed under the one-seed ratio
                hi, floor = float(r.max()), SINGLE_SEED_LOSS_RATIO
            row.update(task="loss", value=float(r.mean()), bound=hi, floor=floor, learned=bool(hi < floor))
            if hi >= floor:
                name = _baseline_name(meth)
                worst = "" if t_read or r.max() == r.min() else f"; the highest seed's {hi:.2f} x"
                row["why"] = (
                    f"held-out loss {r.mean():.2f} x the training-free predictor's{f' ({name})' if name else ''}"
                    f"{worst}, not clearly below it"
                    + ("" if t_read else f" ({'one seed' if len(r) == 1 else 'each seed'} must be under {floor:.2f} x)")
                )
        rows.append(row)
    return pd.DataFrame(
        rows, columns=["dataset", "backbone", "steps", "method", "task", "value", "bound", "floor", "learned", "why"]
    ).astype({"learned": object})  # True / False / None


def _baseline_name(method: str) -> str:
    """What a method's own-task baseline is, in a few words (its ``baseline_name``); "" for a
    method this checkout does not know or that does not name one."""
    return getattr(METHODS.get(method), "baseline_name", "")


def _collapsed(spread: float, where: str = "") -> str:
    """The words for a collapse, shared by the gate's note and ``run``'s warning."""
    return (
        f"its embeddings collapsed onto one point{where} (mean squared distance between held-out unit "
        f"projections {spread:.3f}; 2 for unrelated directions)"
    )


def collapse_warning(metrics: dict) -> str | None:
    """One line for a finished job whose held-out embeddings collapsed onto one point
    (``pretext_spread`` under :data:`COLLAPSED_SPREAD`), else None: printed by ``run`` as
    the job lands, so a recipe that collapses is seen at once, not at the report."""
    spread = metrics.get("pretext_spread")
    if spread is None or not spread < COLLAPSED_SPREAD:  # None, NaN or spread out
        return None
    return (
        f"{metrics.get('method')} seed {metrics.get('seed')}: {_collapsed(spread)}: it did not learn its task; "
        "see its loss in curve.csv"
    )


def budget_of(df: pd.DataFrame) -> pd.Series:
    """Each row's budget in optimiser steps (-1 where the table has none): with the dataset
    and backbone, what makes rows comparable (a budget axis has several). The job's budget
    (``budget_steps``; older tables: the steps it trained); a row that trained 0 steps
    (``random``) is at 0: it belongs to every budget."""
    if "steps" not in df and "budget_steps" not in df:
        return pd.Series(-1, index=df.index, dtype=int)
    trained = pd.to_numeric(df["steps"], errors="coerce") if "steps" in df else pd.Series(np.nan, index=df.index)
    budget = pd.to_numeric(df["budget_steps"], errors="coerce") if "budget_steps" in df else trained
    budget = budget.fillna(trained).where(trained != 0, 0)
    return budget.fillna(-1).astype(int)


def own_task_text(task: str, value: float, floor: float) -> str:
    """The gate's reading of one method (or grid point) in a table cell: held-out accuracy
    beside what it had to beat, or its loss as a share of the training-free predictor's."""
    if task == "accuracy":
        return f"{100 * value:.1f} (>{100 * floor:.1f})"
    if task == "loss":
        return f"{value:.2f}x baseline"
    return "–"


LEARNED = {True: "yes", False: "no", None: "–"}  # a table's `learned` column


def gate(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``df`` without the rows of methods that did not learn their own task
    (:func:`learnability`), and one note per method left out."""
    lb = learnability(df)
    bad = lb[lb["learned"] == False]  # noqa: E712 - None means "not gated"
    if bad.empty:
        return df, []
    drop = set(zip(bad["dataset"], bad["backbone"], bad["steps"], bad["method"]))
    keep = [k not in drop for k in zip(df["dataset"], df["backbone"], budget_of(df), df["method"])]
    notes = [
        f"DID NOT LEARN: {r.method} on {r.dataset}/{r.backbone} at {r.steps} steps: {r.why}; left out of the verdicts"
        for r in bad.itertuples()
    ]
    return df[keep], notes


# --------------------------------------------------------------------------- helpers


def pts(x: float) -> str:
    """A fraction as points (percent) with one decimal, sign kept."""
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.1f}"


def spts(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:+.1f}"


def seed_values(df: pd.DataFrame, metric: str) -> dict[str, np.ndarray]:
    """method -> per-seed values of ``metric`` (finished jobs, finite values only)."""
    out: dict[str, np.ndarray] = {}
    if metric not in df:
        return out
    for m, g in df.groupby("method", sort=True):
        v = pd.to_numeric(g[metric], errors="coerce").to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if len(v):
            out[m] = v
    return out


def group_mean(g: dict[str, np.ndarray]) -> float:
    return float(np.mean([v.mean() for v in g.values()])) if g else math.nan


def _group_terms(g: dict[str, np.ndarray], pooled: float | None = None) -> list[tuple[float, int]]:
    """(variance contribution s_i^2 / n_i / m^2, degrees of freedom n_i - 1) per method. A
    method whose seeds are identical has an unknown spread, not a zero one: ``pooled`` (the
    other methods' within-method variance) stands in for its s_i^2."""
    m = len(g)
    out = []
    for v in g.values():
        if len(v) > 1:
            s2 = float(v.var(ddof=1))
            out.append(((pooled if s2 <= 0 and pooled is not None else s2) / len(v) / m**2, len(v) - 1))
    return out


def pooled_seed_variance(*groups: dict[str, np.ndarray]) -> float | None:
    """Within-method variance pooled over the methods with 2+ seeds and some spread, or None."""
    vs = [v for g in groups for v in g.values() if len(v) > 1 and float(v.var(ddof=1)) > 0]
    dof = sum(len(v) - 1 for v in vs)
    return sum((len(v) - 1) * float(v.var(ddof=1)) for v in vs) / dof if dof else None


def t_interval(est: float, terms: list[tuple[float, int]], k: int = N_CONTRASTS) -> tuple[float, float]:
    """``est`` +- t * se, se^2 = the sum of the variance terms, Welch-Satterthwaite degrees
    of freedom, at level 1 - ALPHA / k (Bonferroni over ``k`` decisions). No term (one seed
    per method): (nan, nan). A zero variance (every method's seeds identical, e.g. a collapsed
    model at exactly chance, and no other method to pool a spread from) is no evidence of
    certainty: the seeds' spread is unknown, not zero, so (nan, nan) too, which a verdict
    reads as "no evidence"."""
    if not terms:
        return math.nan, math.nan
    var = sum(v for v, _ in terms)
    if var <= 0:
        return math.nan, math.nan
    dof = var**2 / sum(v**2 / d for v, d in terms if v > 0)
    half = float(t.ppf(1 - ALPHA / (2 * k), dof)) * math.sqrt(var)
    return est - half, est + half


def diff_ci(a: dict[str, np.ndarray], b: dict[str, np.ndarray], k: int = N_CONTRASTS) -> tuple[float, float, float]:
    """Difference of group means a - b and its Bonferroni-corrected t-interval (module docstring)."""
    est = group_mean(a) - group_mean(b)
    if not all(len(v) > 1 for g in (a, b) for v in g.values()):
        return est, math.nan, math.nan
    pooled = pooled_seed_variance(a, b)
    lo, hi = t_interval(est, _group_terms(a, pooled) + _group_terms(b, pooled), k)
    return est, lo, hi


def ci(samples: np.ndarray) -> tuple[float, float]:
    """Percentile 95% interval of bootstrap samples (Q5's Spearman CI over methods)."""
    lo, hi = np.percentile(samples, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return float(lo), float(hi)


def min_seeds(*groups: dict[str, np.ndarray]) -> int:
    return min((len(v) for g in groups for v in g.values()), default=0)


def shape(*groups: dict[str, np.ndarray]) -> str:
    """'6 vs 1 methods x 3 seeds' (seed count as a range when unequal)."""
    counts = [len(v) for g in groups for v in g.values()]
    seeds = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
    return (
        " vs ".join(str(len(g)) for g in groups)
        + f" method{'s' if len(groups[-1]) != 1 else ''} x {seeds} seed"
        + ("s" if max(counts) != 1 else "")
    )


def settings(df: pd.DataFrame, with_references: bool = False) -> list[tuple[str, pd.DataFrame]]:
    """Finished, non-reference rows split by (dataset, backbone, steps). With
    ``with_references`` the reference rows of the same dataset/backbone join every split
    (their budgets differ by design: ``random`` trains 0 steps)."""
    if "status" not in df or "method" not in df:
        return []
    done = df[df["status"] == "done"]
    done = done.assign(_steps=budget_of(done))
    is_ref = done["method"].isin(REFERENCES)
    d, refs = done[~is_ref], done[is_ref]
    out = []
    if d.empty:
        return out
    for (ds, bb, st), g in d.groupby(["dataset", "backbone", "_steps"], sort=True):
        if with_references:  # the references of the same budget; random trains 0 steps: it joins every budget
            same = (refs["dataset"] == ds) & (refs["backbone"] == bb) & ((refs["_steps"] == st) | (refs["_steps"] <= 0))
            g = pd.concat([refs[same], g])
        g = g.drop(columns="_steps")
        out.append((f"{ds}/{bb}/{st} steps", g))
    return out


def _label(answer: str, direction_ok: bool | None = None) -> str:
    return {"yes": "Yes", "no": "No", "no evidence": "No evidence", "not enough data": "Not enough data"}[answer]


def _decide(est: float, lo: float, hi: float, n_seeds: int) -> str:
    if n_seeds < 2:
        return "not enough data"
    if lo > 0:
        return "yes"
    if hi < 0:
        return "no"
    return "no evidence"


def _ci_text(lo: float, hi: float, n_seeds: int) -> str:
    if n_seeds >= 2 and not (np.isfinite(lo) and np.isfinite(hi)):
        return "no interval (every seed identical: no spread to test against)"
    return f"95% joint CI [{pts(lo)}, {pts(hi)}]"


def _seed_hint(n_seeds: int, suite: str) -> str:
    return (
        f" (1 seed per method: the CI cannot see seed noise; run `vssl-bench run --suite {suite} --seeds 0,1,2`)"
        if n_seeds < 2
        else ""
    )


def _missing(q: str, setting: str, what: str) -> Verdict:
    suite = SUITE_FOR[q]
    return Verdict(q, setting, "not enough data", f"Not enough data: {what}; run `vssl-bench run --suite {suite}`.")


# --------------------------------------------------------------------------- Q1


def permutation_test(values: dict[str, np.ndarray], n_perm: int = N_PERM, seed: int = SEED) -> float:
    """p-value of the between-method variance of means under random relabelling of seeds."""
    labels = np.concatenate([[i] * len(v) for i, v in enumerate(values.values())])
    x = np.concatenate(list(values.values()))
    k = len(values)

    def stat(lab: np.ndarray) -> float:
        means = np.array([x[lab == i].mean() for i in range(k)])
        return float(means.var())

    obs = stat(labels)
    rng = np.random.default_rng(seed)
    hits = sum(stat(rng.permutation(labels)) >= obs - 1e-15 for _ in range(n_perm))
    return (hits + 1) / (n_perm + 1)


def q1_pretext_differ(d: pd.DataFrame, setting: str, metric: str) -> Verdict:
    vals = seed_values(d[d["family"] == "pretext"], metric)
    if len(vals) < 2:
        return _missing("Q1", setting, f"{len(vals)} pretext method(s) with {metric}, need 2")
    means = {m: v.mean() for m, v in vals.items()}
    best, worst = max(means, key=means.get), min(means, key=means.get)
    between = float(np.std(list(means.values()), ddof=1))
    within = [v.std(ddof=1) for v in vals.values() if len(v) > 1]
    seed_sd = float(np.sqrt(np.mean(np.square(within)))) if within else math.nan
    n = min_seeds(vals)
    st = {
        "metric": metric,
        "n_methods": len(vals),
        "min_seeds": n,
        "between_sd": between,
        "seed_sd": seed_sd,
        "best": best,
        "worst": worst,
        "range": means[best] - means[worst],
    }
    head = (
        f"pretext methods span {pts(means[best] - means[worst])} points {metric} ({best} {pts(means[best])} "
        f"to {worst} {pts(means[worst])}), between-method sd {pts(between)} vs seed sd {pts(seed_sd)}"
    )
    if n < 2:
        return Verdict(
            "Q1",
            setting,
            "not enough data",
            f"Not enough data: {head}, {shape(vals)}; run `vssl-bench run --suite pretext --seeds 0,1,2`.",
            st,
        )
    x = np.concatenate(list(vals.values()))
    if np.ptp(x) == 0:
        h, p_kw = 0.0, 1.0
    else:
        h, p_kw = kruskal(*vals.values())
    p_perm = permutation_test(vals)
    st.update(H=float(h), p_kruskal=float(p_kw), p_perm=float(p_perm))
    ans = "yes" if max(p_kw, p_perm) < ALPHA else "no evidence"
    text = (
        f"{_label(ans)}: {head}; Kruskal-Wallis H = {h:.1f}, p = {p_kw:.3g}, permutation p = {p_perm:.3g}, "
        f"{shape(vals)}."
    )
    return Verdict("Q1", setting, ans, text, st)


# --------------------------------------------------------------------------- Q2


def _contrast(
    q: str, setting: str, metric: str, a: dict, b: dict, what: str, names: tuple[str, str], suite: str
) -> Verdict:
    if not a or not b:
        missing = names[0] if not a else names[1]
        return _missing(q, setting, f"no {missing} method with {metric} for {what}")
    est, lo, hi = diff_ci(a, b)
    n = min_seeds(a, b)
    ans = _decide(est, lo, hi, n)
    st = {
        "metric": metric,
        "diff": est,
        "lo": lo,
        "hi": hi,
        "n_a": len(a),
        "n_b": len(b),
        "min_seeds": n,
        "mean_a": group_mean(a),
        "mean_b": group_mean(b),
        "a": sorted(a),
        "b": sorted(b),
    }
    text = (
        f"{_label(ans)} ({what}): {spts(est)} points {metric} for {names[0]} ({pts(group_mean(a))}) over "
        f"{names[1]} ({', '.join(sorted(b))}: {pts(group_mean(b))}), {_ci_text(lo, hi, n)}, "
        f"{shape(a, b)}{_seed_hint(n, suite)}."
    )
    return Verdict(q, setting, ans, text, st)


def q2_time(d: pd.DataFrame, setting: str, metric: str) -> list[Verdict]:
    vals = seed_values(d, metric)
    fam = d.groupby("method")["family"].first().to_dict()
    ut = d.groupby("method")["uses_time"].first().astype(bool).to_dict()
    out = []
    pre_t = {m: v for m, v in vals.items() if fam[m] == "pretext" and ut[m]}
    pre_b = {m: v for m, v in vals.items() if fam[m] == "pretext" and not ut[m]}
    out.append(
        _contrast(
            "Q2",
            setting,
            metric,
            pre_t,
            pre_b,
            "within pretext",
            ("time-related pretext", "time-blind pretext"),
            "pretext",
        )
    )
    all_t = {m: v for m, v in vals.items() if ut[m]}
    ctrl = {m: v for m, v in vals.items() if m in time_blind_controls(d)}
    out.append(
        _contrast(
            "Q2",
            setting,
            metric,
            all_t,
            ctrl,
            "overall, vs the time-blind controls",
            ("time-related methods", "controls"),
            "full",
        )
    )
    return out


# --------------------------------------------------------------------------- Q3


def q3_families(d: pd.DataFrame, setting: str, metric: str) -> Verdict:
    metrics = [metric] + [m for m in COMPARE_METRICS if m != metric]
    parts, st, answers = [], {}, []
    fam = d.groupby("method")["family"].first().to_dict()
    for m in metrics:
        vals = seed_values(d, m)
        groups = {f: {k: v for k, v in vals.items() if fam[k] == f} for f in FAMILIES}
        groups = {f: g for f, g in groups.items() if g}
        if len(groups) < 2:
            continue
        ranked = sorted(groups, key=lambda f: group_mean(groups[f]), reverse=True)
        best, second = ranked[0], ranked[1]
        est, lo, hi = diff_ci(groups[best], groups[second])
        n = min_seeds(*groups.values())
        clear = n >= 2 and lo > 0
        answers.append(clear)
        st[m] = {
            "best": best,
            "second": second,
            "diff": est,
            "lo": lo,
            "hi": hi,
            "min_seeds": n,
            "means": {f: group_mean(g) for f, g in groups.items()},
        }
        parts.append(
            f"{m}: {best} {pts(group_mean(groups[best]))}{'' if clear else ' (tie)'}, "
            f"{spts(est)} over {second} [{pts(lo)}, {pts(hi)}]"
        )
    if not parts:
        return _missing("Q3", setting, "fewer than 2 families have finished methods")
    n = min((v["min_seeds"] for v in st.values()), default=0)
    if n < 2:
        ans = "not enough data"
    else:
        ans = "yes" if st.get(metric, {}).get("lo", -1) > 0 else "no evidence"
    counts = d.groupby("family")["method"].nunique().to_dict()
    lead = (
        {
            "yes": f"{st[metric]['best'].capitalize()} wins on {metric}",
            "no evidence": f"No family wins clearly on {metric}",
            "not enough data": "Not enough data (1 seed per method)",
        }[ans]
        if metric in st
        else f"No evidence on {metric}"
    )
    fam_shape = ", ".join(f"{counts.get(f, 0)} {f}" for f in FAMILIES)
    text = (
        f"{lead}; best family and its margin over the runner-up, 95% joint CI: "
        + "; ".join(parts)
        + f" ({fam_shape} methods x {n}+ seeds)."
    )
    return Verdict("Q3", setting, ans if metric in st else "no evidence", text, st)


# --------------------------------------------------------------------------- Q4


def q4_augmentation(d: pd.DataFrame, setting: str, metric: str) -> Verdict:
    AUGMENTATION = augmentation_kinds(d)
    vals = {m: v for m, v in seed_values(d, metric).items() if m in AUGMENTATION}
    if len(vals) < 2:
        have = ", ".join(AUGMENTATION[m] for m in vals) or "none"
        return _missing(
            "Q4", setting, f"{len(vals)} of {len(AUGMENTATION)} augmentation variants ({have}) have {metric}"
        )
    ranked = sorted(vals, key=lambda m: vals[m].mean(), reverse=True)
    best, second = ranked[0], ranked[1]
    est, lo, hi = diff_ci({best: vals[best]}, {second: vals[second]})
    n = min_seeds(vals)
    ans = _decide(est, lo, hi, n)
    ans = {"no": "no evidence"}.get(ans, ans)  # best - second >= 0 by construction
    order = ", ".join(f"{AUGMENTATION[m]} ({m}) {pts(vals[m].mean())}" for m in ranked)
    lead = {
        "yes": f"{AUGMENTATION[best].capitalize()} augmentation helps most",
        "no evidence": f"No clear winner ({AUGMENTATION[best]} leads)",
        "not enough data": f"Not enough data ({AUGMENTATION[best]} leads)",
    }[ans]
    text = (
        f"{lead}: {order} {metric}; {spts(est)} over {AUGMENTATION[second]}, {_ci_text(lo, hi, n)}, "
        f"{len(vals)} variants x {n}+ seeds{_seed_hint(n, 'contrastive')}."
    )
    return Verdict(
        "Q4",
        setting,
        ans,
        text,
        {
            "metric": metric,
            "ranking": ranked,
            "diff": est,
            "lo": lo,
            "hi": hi,
            "means": {m: float(v.mean()) for m, v in vals.items()},
        },
    )


# --------------------------------------------------------------------------- Q5


def spearman_ci(x: np.ndarray, y: np.ndarray, n_boot: int = N_BOOT, seed: int = SEED) -> tuple[float, float, float]:
    """Spearman's rho over paired points and a percentile bootstrap 95% CI resampling points.
    Resamples with a constant variable (rho undefined) are dropped."""
    rho = float(spearmanr(x, y).statistic) if np.ptp(x) > 0 and np.ptp(y) > 0 else math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))  # (n_boot, n_points)
    rx = rankdata(x[idx], axis=1)  # (n_boot, n_points), ties get average ranks
    ry = rankdata(y[idx], axis=1)
    rx = rx - rx.mean(axis=1, keepdims=True)
    ry = ry - ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    ok = den > 0
    boots = (rx * ry).sum(axis=1)[ok] / den[ok]
    if len(boots) < n_boot // 2:
        return rho, math.nan, math.nan
    lo, hi = ci(boots)
    return rho, lo, hi


def pretext_points(d: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per method with both a pretext accuracy and ``metric``: method, family, x, y."""
    if "pretext_accuracy" not in d or metric not in d:
        return pd.DataFrame(columns=["method", "family", "x", "y"])
    g = d.assign(x=pd.to_numeric(d["pretext_accuracy"], errors="coerce"), y=pd.to_numeric(d[metric], errors="coerce"))
    g = g.groupby("method").agg(family=("family", "first"), x=("x", "mean"), y=("y", "mean")).reset_index()
    return g[np.isfinite(g["x"]) & np.isfinite(g["y"])].reset_index(drop=True)


Q5_MIN_METHODS = 5


def q5_pretext_predicts(d: pd.DataFrame, setting: str, metric: str) -> Verdict:
    p = pretext_points(d, metric)
    if len(p) < Q5_MIN_METHODS:  # a rank correlation of fewer points, bootstrapped, is all noise
        return _missing(
            "Q5", setting, f"{len(p)} method(s) report a pretext accuracy and {metric}, need {Q5_MIN_METHODS}"
        )
    rho, lo, hi = spearman_ci(p["x"].to_numpy(), p["y"].to_numpy())
    if not np.isfinite(lo):
        ans = "no evidence"
    else:
        ans = "yes" if lo > 0 else "no" if hi < 0 else "no evidence"
    lead = {"yes": "Yes", "no": "No, the opposite", "no evidence": "No evidence"}[ans]
    text = (
        f"{lead}: Spearman rho = {rho:.2f} between pretext accuracy and {metric}, 95% CI "
        f"[{lo:.2f}, {hi:.2f}] (bootstrap over methods), {len(p)} methods "
        f"(pretext accuracies of different tasks have different chance levels)."
    )
    return Verdict("Q5", setting, ans, text, {"metric": metric, "rho": rho, "lo": lo, "hi": hi, "n": len(p)})


# --------------------------------------------------------------------------- all


def answer_all(df: pd.DataFrame, metric: str = DEFAULT_METRIC) -> list[Verdict]:
    """Every question for every setting, in question order; a missing metric or an empty
    table yields "not enough data" verdicts that say what to run."""
    before = settings(df)
    df = gate(df)[0]  # a method that did not learn its own task is no evidence for any answer
    sets = settings(df)
    if not before:
        return [_missing(q, "all", "no finished SSL job in the results table") for q in QUESTIONS]
    if metric not in df:
        return [_missing(q, "all", f"the results table has no column {metric}") for q in QUESTIONS]
    # a setting whose SSL jobs finished but none learned its own task: no verdict can use
    # them; each question says so there, naming them (the DID NOT LEARN notes say why)
    kept = {s for s, _ in sets}
    unlearned = {
        s: (
            f"Not enough data: no SSL method that finished learned its own task here "
            f"({', '.join(sorted(set(d['method'])))}: see the DID NOT LEARN notes for why; at a short "
            "budget, more steps is the first thing to try), so none is evidence."
        )
        for s, d in before
        if s not in kept
    }
    questions = (
        lambda d, s: [q1_pretext_differ(d, s, metric)],
        lambda d, s: q2_time(d, s, metric),
        lambda d, s: [q3_families(d, s, metric)],
        lambda d, s: [q4_augmentation(d, s, metric)],
        lambda d, s: [q5_pretext_predicts(d, s, metric)],
    )
    out: list[Verdict] = []
    for q, answer in zip(QUESTIONS, questions):
        for s, d in sets:
            out.extend(answer(d, s))
        out.extend(Verdict(q, s, "not enough data", text) for s, text in unlearned.items())
    return out


METHOD_TEXT = (
    "intervals are t-intervals of the seed noise (Welch-Satterthwaite degrees of freedom), "
    f"Bonferroni-corrected for the {N_CONTRASTS} contrasts of each setting so that they hold at 95 % "
    'jointly; an interval that touches 0 is "No evidence". Q1: Kruskal-Wallis and a permutation test; '
    "Q5: Spearman's rho with a bootstrap over methods (fixed seed, deterministic)"
)


def verdicts_markdown(verdicts: list[Verdict]) -> str:
    lines = []
    for q, title in QUESTIONS.items():
        vs = [v for v in verdicts if v.question == q]
        if not vs:
            continue
        lines += [f"**{q}. {title}**", ""]
        lines += [f"- `{v.setting}`: {v.text}" for v in vs]
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- budget axis
SETTLED_RHO = 0.8  # the ranking between the two largest budgets has stopped moving at this Spearman rho
PLATEAU_PTS = 0.03  # supervised within 3 points of its best budget: near its plateau
COVERAGE = 0.8  # the larger budget of the pair must hold this share of the smaller one's methods


SEED_RHO_MIN_METHODS = 5  # fewer methods give a rho of a few possible values (3: only +-0.5, +-1)


def seed_rank_agreement(df: pd.DataFrame, metrics: tuple[str, ...] = ("linear_top1", "knn_top1")) -> list[dict]:
    """How far the method ranking moves with the seed alone: per (dataset, backbone, budget)
    with two or more seeds, per metric, the Spearman rho between the rankings of two
    independent seeds (every trained method with a value at both; ``random`` not: it does
    not train), for every pair of seeds with :data:`SEED_RHO_MIN_METHODS` or more methods in
    common. A ranking read off one seed is this uncertain. It bounds nothing on a budget axis
    whose rungs share a seed (same initialisation and data order, so partly the same noise),
    and a ranking of seed means agrees better than two single seeds do.

    Returns ``{"dataset", "backbone", "steps" (-1: no budget recorded), "seeds" (those in a
    pair), "methods": (fewest, most) in common over the pairs, "rho": {metric: [rho per
    pair]}}`` per setting with at least one such pair."""
    if "status" not in df or "seed" not in df:
        return []
    done = df[(df["status"] == "done") & (df["method"] != "random")]
    done = done.assign(_steps=budget_of(done))
    out = []
    for (ds, bb, st), g in done.groupby(["dataset", "backbone", "_steps"], sort=True):
        seeds = sorted(g["seed"].dropna().unique())
        if len(seeds) < 2:
            continue
        rho: dict[str, list[float]] = {}
        counts: list[int] = []
        paired: set = set()
        for m in metrics:
            if m not in g:
                continue
            p = g.assign(_v=pd.to_numeric(g[m], errors="coerce")).pivot_table(
                index="method", columns="seed", values="_v", aggfunc="mean"
            )
            for i, a in enumerate(seeds):
                for b in seeds[i + 1 :]:
                    if a not in p or b not in p:
                        continue
                    both = p[[a, b]].dropna()
                    if len(both) >= SEED_RHO_MIN_METHODS and both[a].nunique() > 1 and both[b].nunique() > 1:
                        rho.setdefault(m, []).append(float(spearmanr(both[a], both[b]).statistic))
                        counts.append(len(both))
                        paired |= {a, b}
        if rho:
            out.append(
                {
                    "dataset": ds,
                    "backbone": bb,
                    "steps": int(st),
                    "seeds": [int(x) for x in sorted(paired)],
                    "methods": (min(counts), max(counts)),
                    "rho": rho,
                }
            )
    return out


def seed_rank_text(agreement: dict) -> str:
    """One setting's seed-to-seed rho per metric: mean over seed pairs, with their range."""
    parts = []
    for m, rs in agreement["rho"].items():
        name = BUDGET_COLUMN.get(m, m)
        span = f" ({min(rs):.2f} to {max(rs):.2f}, {len(rs)} pairs)" if len(rs) > 1 else " (1 pair)"
        parts.append(f"{name} {np.mean(rs):.2f}{span}")
    lo, hi = agreement["methods"]
    return ", ".join(parts) + f"; {lo if lo == hi else f'{lo}-{hi}'} methods"


SEED_NOISE_TITLE = "How much of the ranking is seed noise"


def seed_noise_markdown(df: pd.DataFrame) -> str:
    """The report's section body on :func:`seed_rank_agreement` (empty where no setting has
    two seeds): the same text in leaderboard.md, report.html and on the console."""
    agreement = seed_rank_agreement(df)
    if not agreement:
        return ""
    lines = [
        "Spearman rho between the method rankings of two independent seeds of the same setting (trained "
        "methods, `random` out; mean over seed pairs, their range in parentheses). Below 1 by seed noise "
        "alone: two methods a few places apart may swap with the seed, so a ranking read off one seed is "
        "this uncertain; the table's means over seeds are steadier, and the verdicts' intervals say which "
        "differences the seeds support.",
        "",
    ]
    for a in agreement:
        where = f"{a['dataset']}/{a['backbone']}" + (f", {a['steps']} steps" if a["steps"] >= 0 else "")
        lines.append(f"- {where} (seeds {', '.join(map(str, a['seeds']))}): {seed_rank_text(a)}")
    return "\n".join(lines)


def budget_axis(
    df: pd.DataFrame, metrics: tuple[str, ...] = ("linear_top1", "knn_top1"), verdict_metric: str = DEFAULT_METRIC
) -> list[dict]:
    """Per (dataset, backbone) with two or more budgets: has the answer settled?

    - ``rho``: Spearman correlation, per metric, of the method ranking (every trained method
      present at both, ``supervised`` included, ``random`` not: it does not train) between
      the two largest budgets; settled at >= :data:`SETTLED_RHO` (the point estimate);
      ``rho_ci``: its percentile bootstrap 95% interval over the methods (:func:`spearman_ci`
      on the paired seed means);
    - ``supervised``: its mean per budget and whether the largest budget is within
      :data:`PLATEAU_PTS` of the best one so far (a plateau can only be seen from below);
    - ``verdicts``: each question's answer at each budget (on ``verdict_metric``, as the
      report's verdicts), and whether it changes;
    - ``families``: :func:`family_order`; ``seed_rho``: :func:`seed_rank_agreement` at each
      rung that has two seeds (how far the seed alone moves the ranking there)."""
    if "status" not in df or "steps" not in df:
        return []
    done = df[df["status"] == "done"].assign(_steps=budget_of(df[df["status"] == "done"]))
    out = []
    for (ds, bb), g in done.groupby(["dataset", "backbone"], sort=True):
        budgets = sorted(b for b in g["_steps"].unique() if b > 0)  # random (0 steps) is no budget
        if len(budgets) < 2:
            continue
        trained = g[g["method"] != "random"]
        # the budgets a ranking can be read at (3+ trained methods, 80 % of the most at any
        # budget); one that only some methods have, e.g. supervised alone at 4800 steps to find
        # its plateau, or one a run is still filling, is no rung of the axis
        per = trained.groupby("_steps")["method"].nunique()
        full = max(3, COVERAGE * per.max())  # a budget most methods reached (a run may still be filling one)
        axis = [b for b in budgets if per.get(b, 0) >= full]
        lo_b, hi_b = (axis[-2], axis[-1]) if len(axis) >= 2 else (budgets[-2], budgets[-1])
        entry = {
            "dataset": ds,
            "backbone": bb,
            "budgets": [int(b) for b in budgets],
            "pair": (int(lo_b), int(hi_b)),
            "rho": {},
            "supervised": {},
            "verdicts": {},
            "rungs": len(axis),  # < 2: no ranking can be compared yet, whatever the pair's rho
            "axis": [int(b) for b in (axis or budgets)],  # the budgets with verdicts
            "partial": {int(b): (int(per.get(b, 0)), int(per.max())) for b in budgets if b not in axis},
        }
        lb = learnability(g)
        entry["learned"] = {(r.method, int(r.steps)): r.learned for r in lb.itertuples()}
        entry["family"] = g.groupby("method")["family"].first().to_dict() if "family" in g else {}
        entry["by_method"] = {}
        for m in metrics:
            if m not in g:
                continue
            vals = pd.to_numeric(g[m], errors="coerce")
            for (st, meth), v in g.assign(_v=vals).groupby(["_steps", "method"])["_v"].mean().items():
                entry["by_method"].setdefault(m, {}).setdefault(meth, {})[int(st)] = float(v)
        covered: list[int] = []  # per metric: methods with a value at both budgets of the pair
        for m in metrics:
            if m not in trained:
                continue
            means = (
                trained.assign(_v=pd.to_numeric(trained[m], errors="coerce")).groupby(["_steps", "method"])["_v"].mean()
            )
            a, b = means.get(lo_b), means.get(hi_b)
            if a is None or b is None:
                continue
            common = sorted(set(a.dropna().index) & set(b.dropna().index))
            covered.append(len(common))
            if len(common) >= 3:
                rho, lo, hi = spearman_ci(a[common].to_numpy(), b[common].to_numpy())
                entry["rho"][m] = rho
                entry.setdefault("rho_ci", {})[m] = (lo, hi)
            sup = {  # a budget where supervised has no value is no evidence of a plateau
                int(st): float(means[st]["supervised"])
                for st in budgets
                if st in means.index.get_level_values(0)
                and "supervised" in means[st]
                and np.isfinite(means[st]["supervised"])
            }
            if sup:
                last, before = sup.get(int(hi_b)), sup.get(int(lo_b))
                beyond = [v for st, v in sup.items() if st > hi_b]
                if beyond:  # supervised trained longer too: its plateau is seen from above
                    best = max(v for st, v in sup.items() if st >= hi_b)
                    near = last is not None and last >= best - PLATEAU_PTS
                else:  # only from below: the last two rungs within PLATEAU_PTS of each other
                    best = max(sup.values())
                    near = (
                        last is not None
                        and before is not None
                        and last >= best - PLATEAU_PTS
                        and abs(last - before) < PLATEAU_PTS
                    )
                entry["supervised"][m] = {
                    "by_budget": sup,
                    "near_plateau": near,
                    "seen_above": bool(beyond),
                    "best": best,
                }
        here = done[(done["dataset"] == ds) & (done["backbone"] == bb)]
        per_budget = {
            int(st): answer_all(here[here["_steps"] == st].drop(columns="_steps"), verdict_metric)
            for st in (axis or budgets)
        }
        for st, vs in per_budget.items():
            seen: dict[str, int] = {}
            for v in vs:  # keyed (question, n-th verdict of it): Q2 has two
                nth = seen[v.question] = seen.get(v.question, -1) + 1
                entry["verdicts"].setdefault((v.question, nth), {})[st] = v.answer
        entry["families"] = family_order(entry, [int(b) for b in (axis or budgets)])
        rungs = set(int(x) for x in (axis or budgets))
        entry["seed_rho"] = {a_["steps"]: a_ for a_ in seed_rank_agreement(g, metrics) if a_["steps"] in rungs}
        # coverage of the worst-covered metric: a rho read off a few methods settles nothing
        entry["coverage"] = (min(covered, default=0), int(per.get(lo_b, 0)))
        n_common, n_lo = entry["coverage"]
        entry["settled"] = (
            entry["rungs"] >= 2
            and bool(entry["rho"])
            and len(entry["rho"]) == len([m for m in metrics if m in trained])  # every metric has its rho
            and all(r >= SETTLED_RHO for r in entry["rho"].values())
            and n_common >= COVERAGE * n_lo  # not read off the few methods that reached the larger budget yet
        )
        # trained methods with a value at one budget of the pair and none at the other on some
        # metric (a rung still filling, or a failed job): a ranking settled among the others
        # says nothing about them, so the budget is not called converged until they are in. A
        # metric a method never has (NaN at both) blocks nothing.
        entry["missing"] = sorted(
            meth
            for meth in set(trained["method"])
            if any(
                _at_one_only(entry["by_method"].get(m, {}).get(meth, {}), int(lo_b), int(hi_b))
                for m in metrics
                if m in trained
            )
        )
        entry["near_plateau"] = bool(entry["supervised"]) and all(
            s_["near_plateau"] for s_ in entry["supervised"].values()
        )
        entry["converged"] = entry["settled"] and not entry["missing"] and entry["near_plateau"]
        out.append(entry)
    return out


def _at_one_only(per: dict, a: int, b: int) -> bool:
    """A value (finite) at one of budgets ``a`` and ``b`` and none (NaN or absent) at the other."""
    return bool(np.isfinite(per.get(a, np.nan))) != bool(np.isfinite(per.get(b, np.nan)))


def family_order(entry: dict, budgets: list[int]) -> dict[str, dict]:
    """Per metric, the SSL families at each budget of the axis, best first: each family's
    mean over its methods that learned their own task at that budget (methods the gate does
    not judge count), so a family's mean may cover other methods at another budget. Then,
    between the two largest budgets, which family passes another (``passes``: behind, then
    ahead, the gap between them swinging by :data:`PLATEAU_PTS` or more: a swap within a
    few points on one seed is no change) and which family has a method that learned at one
    budget only (``joins`` / ``leaves``). A whole family can move together while the method
    ranking's rho stays high (20 methods, one family of 8): the family question can still
    be open where the ranking has settled. ``changed``: any of these; None where the two
    budgets do not hold two families to compare. Missing values are not "did not learn": a
    method with a value at only one of the two largest budgets (a rung still filling, a
    failed job) counts at neither (``left_out``), so that the pair's comparison is over the
    same methods; at the smaller budgets each mean is over the methods there."""
    out: dict[str, dict] = {}
    fam, learned = entry.get("family", {}), entry.get("learned", {})
    lo, hi = (budgets[-2], budgets[-1]) if len(budgets) >= 2 else (None, None)
    for m, by in entry.get("by_method", {}).items():
        # the pair compares the same methods: one with a value at only one of the two largest
        # budgets (a rung still filling, a failed job) is left out at both, and named
        ssl = [meth for meth in by if fam.get(meth) in SSL_FAMILIES]
        pair = [st for st in (lo, hi) if st is not None]
        left_out = sorted(meth for meth in ssl if pair and _at_one_only(by[meth], lo, hi))
        means: dict[int, dict[str, float]] = {}
        for st in budgets:
            vals: dict[str, list[float]] = {}
            for meth, per in by.items():
                v = per.get(st, np.nan)
                if meth in ssl and np.isfinite(v) and not (meth in left_out and st in pair):
                    if learned.get((meth, st)) is not False:
                        vals.setdefault(fam[meth], []).append(v)
            if vals:
                means[st] = {f: float(np.mean(v)) for f, v in vals.items()}
        order = {st: sorted(fm, key=lambda f, fm=fm: -fm[f]) for st, fm in means.items()}
        a_lo, a_hi = means.get(lo, {}), means.get(hi, {})
        common = sorted(set(a_lo) & set(a_hi))
        joins, leaves = sorted(set(a_hi) - set(a_lo)), sorted(set(a_lo) - set(a_hi))
        passes = [  # (a, b, gap a - b at lo, gap at hi)
            (a, b, a_lo[a] - a_lo[b], a_hi[a] - a_hi[b])
            for a in common
            for b in common
            if a_lo[a] < a_lo[b] and a_hi[a] > a_hi[b] and (a_hi[a] - a_hi[b]) - (a_lo[a] - a_lo[b]) >= PLATEAU_PTS
        ]
        comparable = bool(a_lo) and bool(a_hi) and len(set(a_lo) | set(a_hi)) >= 2
        out[m] = {
            "means": means,
            "order": order,
            "passes": passes,
            "joins": joins,
            "leaves": leaves,
            "left_out": left_out,
            "changed": bool(passes or joins or leaves) if comparable else None,
        }
    return out


BUDGET_COLUMN = {"linear_top1": "linear", "knn_top1": "kNN"}


def _budget_table(e: dict) -> list[str]:
    """Each method's mean per metric at each budget (``random`` once: it does not train),
    a value in italics where the method did not learn its own task at that budget."""
    b, by = e["budgets"], e["by_method"]
    metrics = list(by)
    if not metrics:
        return []
    head = ["family", "method"] + [f"{BUDGET_COLUMN.get(m, m)} {st}" for m in metrics for st in b]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    fam = e.get("family", {})
    order = sorted(
        by[metrics[0]], key=lambda x: (DISPLAY_FAMILIES.index(fam[x]) if fam.get(x) in DISPLAY_FAMILIES else 9, x)
    )
    for meth in order:
        cells = [fam.get(meth, ""), f"`{meth}`"]
        for m in metrics:
            vals = by[m].get(meth, {})
            for st in b:
                v = vals.get(st, vals.get(0) if meth == "random" else None)
                text = pts(v) if v is not None else "–"
                cells.append(f"*{text}*" if e["learned"].get((meth, st)) is False and v is not None else text)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        "\nMean over seeds, in %; *italics*: did not learn its own task at that budget; `random` does not train "
        "(its one value stands at every budget)."
    )
    return lines


CI_NOTE = "; in brackets a percentile bootstrap 95% interval over the methods"


def _rho_ci_text(ci: tuple[float, float] | None) -> str:
    return f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci and all(np.isfinite(ci)) else ""


def rho_text(r: float) -> str:
    """Two decimals, three where two would round up to the threshold the value misses (0.799)."""
    return f"{r:.3f}" if r < SETTLED_RHO <= round(r, 2) else f"{r:.2f}"


def budget_markdown(axes: list[dict]) -> str:
    lines = []
    for e in axes:
        b = e["budgets"]
        lines += [f"**{e['dataset']}/{e['backbone']}**, budgets {', '.join(map(str, b))} steps:", ""]
        ci = e.get("rho_ci", {})
        note = CI_NOTE if any(_rho_ci_text(c) for c in ci.values()) else ""
        rho = (
            ", ".join(f"{m} {rho_text(r)}{_rho_ci_text(ci.get(m))}" for m, r in e["rho"].items())
            or "n/a (fewer than 3 methods at both)"
        )
        n_common, n_lo = e["coverage"]
        one_rung = e.get("rungs", 2) < 2
        partial = n_common < COVERAGE * n_lo or one_rung
        state = "incomplete" if partial else "settled" if e["settled"] else "still moving"
        state += " so far" if e.get("missing") and not partial else ""
        lines.append(
            f"- method ranking between {e['pair'][0]} and {e['pair'][1]} steps, Spearman rho: {rho} "
            f"({n_common} of the {n_lo} trained methods at {e['pair'][0]} steps have both; settled at >= "
            f"{SETTLED_RHO}, read on the point estimate{note}): **{state}**"
            + (" (fewer than two budgets that most methods reached: no ranking to compare yet)" if one_rung else "")
        )
        seed_rho = e.get("seed_rho", {})
        if seed_rho:
            at = "; ".join(f"{st} steps: {seed_rank_text(a)}" for st, a in sorted(seed_rho.items()))
            lines.append(
                f"- the method ranking between two independent seeds at the same budget, Spearman rho (how far "
                f"the seed alone moves it; the rho above compares seed means): {at}"
            )
        else:
            lines.append(
                "- no budget here has two seeds: how far the seed alone moves the ranking is not measured; the rungs "
                "share one seed (initialisation, data order), so a settled rho says that this seed's ranking has "
                "stopped moving, not that another seed would give the same one"
            )
        for st, (n, of) in e.get("partial", {}).items():
            lines.append(f"- {st} steps: {n} of {of} trained methods so far, not a rung of the ranking")
        hi = e["pair"][1]
        for m, s in e["supervised"].items():
            path = " -> ".join(f"{pts(v)} ({st})" for st, v in sorted(s["by_budget"].items()))
            test = (
                f"at {hi} steps within {100 * PLATEAU_PTS:.0f} points of its best at {hi}+ steps ({pts(s['best'])})"
                if s.get("seen_above")
                else f"last two budgets within {100 * PLATEAU_PTS:.0f} points"
            )
            lines.append(f"- supervised {m}: {path}; near its plateau ({test}): {'yes' if s['near_plateau'] else 'no'}")
        missing = e.get("missing", [])
        sup_missing = "supervised" in missing
        caveat = (
            "; the families' order still changes (below)"
            if any(f["changed"] for f in e.get("families", {}).values())
            else ""
        )
        if missing and not partial:
            names = ", ".join(f"`{x}`" for x in missing)
            gap = (
                f"{len(missing)} trained method{'s' if len(missing) > 1 else ''} with a value at one of "
                f"{e['pair'][0]} / {hi} steps only ({names}: a job still to run, or one that failed)"
            )
            if e["settled"] and (e["near_plateau"] or sup_missing):
                sup = "supervised is not measured there" if sup_missing else "supervised is near its plateau"
                lines.append(
                    f"- **not decided at {hi} steps**: {gap}; among the others the ranking has settled and {sup}"
                    + caveat
                )
            else:  # whatever the missing methods do, the others already say no
                why = (
                    "the ranking still moves among the others"
                    if not e["settled"]
                    else "supervised not near its plateau"
                )
                lines.append(f"- **not converged at {hi} steps** ({why}); also {gap}")
        else:
            lines.append(
                f"- **{'converged' if e['converged'] else 'not converged'} at {hi} steps** (ranking settled and "
                f"supervised near its plateau{'' if e['converged'] else ': not both yet'})"
                + (caveat if e["converged"] else "")
            )
        lo = e["pair"][0]
        for m, f in e.get("families", {}).items():
            if not f["order"]:
                continue
            path = " / ".join(
                " > ".join(f"{x} {pts(f['means'][st][x])}" for x in o) + f" ({st})" for st, o in f["order"].items()
            )
            what = [f"{a} passes {b} (gap {100 * g0:+.1f} -> {100 * g1:+.1f} points)" for a, b, g0, g1 in f["passes"]]
            what += [f"{x} joins (no method of it learned its task at {lo} steps)" for x in f["joins"]]
            what += [f"{x} leaves (no method of it learned its task at {hi} steps)" for x in f["leaves"]]
            tail = {
                True: f" — **changes between {lo} and {hi} steps** ({'; '.join(what)}): the family question can "
                "still move beyond them, whatever the method ranking's rho",
                False: f" — no family passes another between {lo} and {hi} steps (a swing of "
                f"{100 * PLATEAU_PTS:.0f} points or more in the gap between two families)",
                None: "",
            }[f["changed"]]
            out_ = f.get("left_out", [])
            gone = f"; left out at {lo} and {hi}, not at both: {', '.join(f'`{x}`' for x in out_)}" if out_ else ""
            lines.append(
                f"- families on {BUDGET_COLUMN.get(m, m)} (mean of the methods that learned their task{gone}): "
                f"{path}{tail}"
            )
        lines += ["", *_budget_table(e), ""]
        for (q, nth), by in e["verdicts"].items():
            answers = [by.get(st, "–") for st in e["axis"]]
            real = [a for a in answers if a not in ("not enough data", "–")]
            if len(set(real)) > 1:
                tail = " — **changes with the budget**"
            elif len(real) < len(answers):  # a budget without a verdict: nothing to compare it with
                tail = " — cannot tell (no verdict at some budget: more seeds or methods that learned)"
            else:
                tail = " — same at every budget"
            path = " / ".join(f"{a} ({st})" for a, st in zip(answers, e["axis"]))
            lines.append(f"- {q}{f' ({nth})' if nth else ''}: {path}{tail}")
        lines.append("")
    return "\n".join(lines)
