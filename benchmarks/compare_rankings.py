"""How far does a change (of recipe, or of budget) move each method and the method ranking?

    .venv/bin/python benchmarks/compare_rankings.py BEFORE_DIR AFTER_DIR [--steps 9600] [--seeds 0]
        [--metrics linear_top1,knn_top1] [--after-steps 9600]

Rows of the two folders' ``results.csv`` (read as the report reads them: validation rows of
a tuning grid and superseded rows left out) are matched on method, dataset, backbone, budget
and seed, not on the job key: the point is to compare two recipes (the shared
one of ``results/budgets`` against the tuned selection of ``results/``, say) for the same
method at the same budget. Prints, per shared budget and metric, a markdown table of each method's value in
both folders and the difference (means over the matched seeds, in %), then the Spearman
correlation of the trained methods' ranking between the two (``random`` does not train
and is left out of it) with a bootstrap 95 % interval over methods, and how many pairs of
methods swap places. With ``--after-steps B`` (and ``--steps A``: one budget each) the second
folder is read at budget B, the first at A, and the rows match on everything but the
budget: the same folder twice, ``--steps 4800 --after-steps 9600``, gives the ranking's
agreement between two rungs, as the report's budget section does. Exit code 1 if the
folders share no trained method's (budget, seed), 2 on a missing table or bad options.
"""

from __future__ import annotations

import argparse
import sys
from itertools import combinations
from pathlib import Path

import pandas as pd

from vssl_bench.config import ConfigError
from vssl_bench.report import load_results
from vssl_bench.stats import budget_of, rho_text, spearman_ci

KEYS = ["method", "dataset", "backbone", "seed"]


def load(folder: Path) -> pd.DataFrame:
    """The folder's done rows as the report reads them, with each row's budget (``_budget``;
    ``random``, which does not train, at 0)."""
    df = load_results(folder)
    df = df[df["status"] == "done"] if "status" in df else df
    return df.assign(_budget=budget_of(df))


def _at(df: pd.DataFrame, budgets: list[int] | None, seeds: list[int] | None) -> pd.DataFrame:
    if budgets:
        df = df[df["_budget"].isin(budgets) | (df["_budget"] == 0)]
    if seeds:
        df = df[df["seed"].isin(seeds)]  # load_results reads it as a number
    return df


def matched(
    before: pd.DataFrame,
    after: pd.DataFrame,
    steps: list[int] | None,
    seeds: list[int] | None,
    after_steps: list[int] | None = None,
) -> pd.DataFrame:
    """The rows of both tables (from :func:`load`) joined on :data:`KEYS` and the budget
    (suffixes ``_a``, ``_b``; the budget in ``_budget``). With ``after_steps``, ``before``
    at its one budget ``steps`` is joined with ``after`` at its one budget ``after_steps``
    (``_budget`` is then the pair, "A -> B")."""
    a, b = _at(before, steps, seeds), _at(after, after_steps or steps, seeds)
    if not after_steps:
        return a.merge(b, on=[*KEYS, "_budget"], suffixes=("_a", "_b"))
    if len(steps or []) != 1 or len(after_steps) != 1:
        raise ValueError("--after-steps compares one budget with another: give one --steps and one --after-steps")
    m = a.merge(b, on=KEYS, suffixes=("_a", "_b"))
    m = m[(m["_budget_a"] == 0) == (m["_budget_b"] == 0)]  # random with random
    return m.assign(_budget=f"{steps[0]} -> {after_steps[0]}").drop(columns=["_budget_a", "_budget_b"])


def swaps(x: pd.Series, y: pd.Series) -> int:
    """Pairs of methods ordered one way by ``x`` and strictly the other way by ``y``."""
    return sum(1 for i, j in combinations(x.index, 2) if (x[i] - x[j]) * (y[i] - y[j]) < 0)


def compare(m: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, dict]:
    """Per-method means over seeds (of one budget, or one pair of budgets) and the
    ranking's agreement for one metric."""
    per = (
        m.groupby("method")[[f"{metric}_a", f"{metric}_b"]]
        .mean()
        .mul(100)
        .join(m.groupby("method").size().rename("seeds"))
    )
    per["diff"] = per[f"{metric}_b"] - per[f"{metric}_a"]
    trained = per.drop(index="random", errors="ignore").dropna()
    nan = float("nan")
    out = {"methods": len(trained), "rho": nan, "lo": nan, "hi": nan, "swaps": 0, "pairs": 0}
    if len(trained) >= 3:
        rho, lo, hi = spearman_ci(trained[f"{metric}_a"].to_numpy(), trained[f"{metric}_b"].to_numpy())
        out.update(
            rho=rho,
            lo=lo,
            hi=hi,
            swaps=swaps(trained[f"{metric}_a"], trained[f"{metric}_b"]),
            pairs=len(trained) * (len(trained) - 1) // 2,
        )
    return per.sort_values("diff", ascending=False), out


def markdown(per: pd.DataFrame, metric: str, before: str, after: str) -> str:
    lines = [f"| method | seeds | {metric} {before} | {metric} {after} | after − before |", "|---|---|---|---|---|"]
    for method, r in per.iterrows():
        lines.append(
            f"| `{method}` | {int(r['seeds'])} | {r[f'{metric}_a']:.1f} | {r[f'{metric}_b']:.1f} | {r['diff']:+.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--steps", default="", help="budgets to compare, comma-separated (default: every shared one)")
    ap.add_argument("--after-steps", default="", help="AFTER_DIR at this budget (one budget against another)")
    ap.add_argument("--seeds", default="", help="seeds to compare, comma-separated (default: every shared one)")
    ap.add_argument("--metrics", default="linear_top1,knn_top1")
    a = ap.parse_args(argv)
    try:
        before, after = load(a.before), load(a.after)
        ints = lambda s: [int(v) for v in s.split(",") if v.strip()]  # noqa: E731
        m = matched(before, after, ints(a.steps) or None, ints(a.seeds) or None, ints(a.after_steps) or None)
    except (FileNotFoundError, ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if m[m["method"] != "random"].empty:
        print("no trained method's (dataset, backbone, budget, seed) in both folders", file=sys.stderr)
        return 1
    names = (a.before.name or str(a.before), a.after.name or str(a.after))
    # smallest first; a pair of budgets ("4800 -> 9600") sorts by its first
    budgets = sorted({b for b in m["_budget"] if b != 0}, key=lambda b: int(str(b).split()[0]))
    for budget in budgets:
        sub = m[(m["_budget"] == budget) | (m["_budget"] == 0)]
        print(f"## {budget} steps\n")
        for metric in [s.strip() for s in a.metrics.split(",") if s.strip()]:
            per, r = compare(sub, metric)
            print(markdown(per, metric, *names))
            if r["methods"] < 3:
                print(f"\n{metric}: {r['methods']} trained method(s) in both: too few to rank\n")
                continue
            print(
                f"\n{metric}: ranking of {r['methods']} trained methods, Spearman rho {rho_text(r['rho'])} "
                f"(95 % bootstrap interval over methods {r['lo']:.2f} to {r['hi']:.2f}); "
                f"{r['swaps']} of {r['pairs']} pairs swap places\n"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
