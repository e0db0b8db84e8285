"""How far does a change (of recipe, or of budget) move each method and the method ranking?

    .venv/bin/python benchmarks/compare_rankings.py BEFORE_DIR AFTER_DIR [--steps 9600] [--seeds 0]
        [--metrics linear_top1,knn_top1] [--after-steps 9600]

Rows of the two folders' ``results.csv`` are matched on method, dataset, backbone, budget
(``steps``) and seed, not on the job key: the point is to compare two recipes (the shared
one of ``results/budgets`` against the tuned selection of ``results/``, say) for the same
method at the same budget. Prints, per metric, a markdown table of each method's value in
both folders and the difference (means over the matched seeds, in %), then the Spearman
correlation of the trained methods' ranking between the two (``random`` does not train
and is left out of it) with a bootstrap 95 % interval over methods, and how many pairs of
methods swap places. With ``--after-steps`` the second folder is read at other budgets and
the rows match on everything but the budget: the same folder twice, ``--steps 4800
--after-steps 9600``, gives the ranking's agreement between two rungs, as the report's
budget section does. Exit code 1 if the folders share no (method, budget, seed).
"""

from __future__ import annotations

import argparse
import sys
from itertools import combinations
from pathlib import Path

import pandas as pd

KEYS = ["method", "dataset", "backbone", "steps", "seed"]


def matched(
    before: pd.DataFrame,
    after: pd.DataFrame,
    steps: list[int] | None,
    seeds: list[int] | None,
    after_steps: list[int] | None = None,
) -> pd.DataFrame:
    """The done rows of both tables joined on :data:`KEYS` (suffixes ``_a``, ``_b``); with
    ``after_steps``, ``after`` is read at those budgets and the join leaves out ``steps``
    (one budget against another)."""
    frames = []
    for df, steps in ((before, steps), (after, after_steps or steps)):
        d = df[df["status"] == "done"] if "status" in df else df
        if steps:
            d = d[d["steps"].isin(steps) | (d["method"] == "random")]
        if seeds:
            d = d[d["seed"].isin(seeds)]
        # a re-run with another recipe of its own (a superseded row) leaves two rows for one
        # (method, budget, seed): the later one is the folder's answer
        if "finished_at" in d:
            d = d.sort_values("finished_at")
        dropped = d.duplicated(KEYS, keep="last")
        if dropped.any():
            print(
                f"note: {int(dropped.sum())} earlier row(s) superseded by a later one of the same "
                f"(method, budget, seed) left out: {', '.join(sorted(set(d[dropped]['method'])))}",
                file=sys.stderr,
            )
        frames.append(d[~dropped])
    a, b = frames
    # random does not train: its rows carry steps 0 in both, and match on that
    keys = [k for k in KEYS if k != "steps"] if after_steps else KEYS
    return a.merge(b, on=keys, suffixes=("_a", "_b"))


def swaps(x: pd.Series, y: pd.Series) -> int:
    """Pairs of methods ordered one way by ``x`` and strictly the other way by ``y``."""
    return sum(1 for i, j in combinations(x.index, 2) if (x[i] - x[j]) * (y[i] - y[j]) < 0)


def compare(m: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, dict]:
    """Per-method means over seeds and the ranking's agreement for one metric."""
    per = (
        m.groupby("method")[[f"{metric}_a", f"{metric}_b"]]
        .mean()
        .mul(100)
        .join(m.groupby("method").size().rename("seeds"))
    )
    per["diff"] = per[f"{metric}_b"] - per[f"{metric}_a"]
    trained = per.drop(index="random", errors="ignore").dropna()
    out = {"methods": len(trained), "rho": float("nan"), "lo": float("nan"), "hi": float("nan"), "swaps": 0, "pairs": 0}
    if len(trained) >= 3:
        from vssl_bench.stats import spearman_ci

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
    ap.add_argument("--after-steps", default="", help="AFTER_DIR at these budgets (one budget against another)")
    ap.add_argument("--seeds", default="", help="seeds to compare, comma-separated (default: every shared one)")
    ap.add_argument("--metrics", default="linear_top1,knn_top1")
    a = ap.parse_args(argv)
    tables = []
    for folder in (a.before, a.after):
        csv = folder / "results.csv"
        if not csv.is_file():
            print(f"error: no results table {csv}", file=sys.stderr)
            return 2
        tables.append(pd.read_csv(csv))
    ints = lambda s: [int(v) for v in s.split(",") if v.strip()]  # noqa: E731
    m = matched(*tables, ints(a.steps) or None, ints(a.seeds) or None, ints(a.after_steps) or None)
    if m.empty:
        print("no (method, dataset, backbone, steps, seed) in both folders", file=sys.stderr)
        return 1
    for metric in [s.strip() for s in a.metrics.split(",") if s.strip()]:
        per, r = compare(m, metric)
        print(markdown(per, metric, a.before.name or str(a.before), a.after.name or str(a.after)))
        if r["methods"] < 3:
            print(f"\n{metric}: {r['methods']} trained method(s) in both: too few to rank\n")
            continue
        print(
            f"\n{metric}: ranking of {r['methods']} trained methods, Spearman rho {r['rho']:.2f} "
            f"(95 % bootstrap interval over methods {r['lo']:.2f} to {r['hi']:.2f}); "
            f"{r['swaps']} of {r['pairs']} pairs swap places\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
