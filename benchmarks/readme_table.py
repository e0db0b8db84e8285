"""The README's compact results table, from a results folder, as the report reads it.

    .venv/bin/python benchmarks/readme_table.py RESULTS_DIR [--steps 9600] [--seeds 0]

Prints one markdown table: family | method | linear | kNN | R@1 | own task | learned, a
``chance`` row first, ``random`` and ``supervised`` next, then each family's methods by
linear probe (best first), a method that did not learn its own task in *italics* with
**no** (as the leaderboard marks it). Cells are mean ± std over the seeds read (``--seeds``
narrows them: the first seed of a suite still filling gives a complete one-seed table);
the line under the table says how many seeds each row has. The numbers come from
``vssl_bench.report.summarize``, the leaderboard's own summary, so the README copies no
number by hand. Exit code 2 on a missing table, bad options or several budgets without
``--steps``; 1 if no trained method's row matches.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vssl_bench.config import ConfigError
from vssl_bench.report import display_frame, load_results, summarize
from vssl_bench.stats import budget_of
from vssl_bench.taxonomy import FAMILIES

METRICS = {"linear_top1": "linear", "knn_top1": "kNN", "retrieval_r1": "R@1"}


def table(folder: Path, steps: int | None = None, seeds: list[int] | None = None) -> tuple[str, list[int]]:
    """The markdown table and the seed counts of its rows (empty table: no matching row)."""
    df = load_results(folder)
    df = df[df["status"] == "done"]
    if seeds is not None:
        df = df[df["seed"].isin(seeds)]
    if steps is not None:
        df = df[budget_of(df).isin([0, steps])]  # random (0 steps) stands beside every budget
    trained_at = sorted(set(budget_of(df)) - {0})
    if not trained_at:  # random alone, or nothing: no comparison to show
        return "", []
    if len(trained_at) > 1:  # one row per method: a table of one budget
        budgets = ", ".join(map(str, trained_at))
        raise ConfigError(f"{folder} has {len(trained_at)} budgets ({budgets} steps): pass --steps")
    s = summarize(df, list(METRICS))
    shown = display_frame(s, list(METRICS))
    trained = shown[shown["family"] != "chance"].copy()
    trained["_fam"] = trained["family"].map({f: i for i, f in enumerate(FAMILIES)}).fillna(len(FAMILIES))
    ref_order = {"random": 0, "supervised": 1}
    trained["_ref"] = trained["method"].map(ref_order).fillna(2)
    trained["_lin"] = -s.table.set_index("method").loc[trained["method"], "linear_top1"].to_numpy()
    trained = trained.sort_values(["_fam", "_ref", "_lin", "method"])
    lines = ["| family | method | " + " | ".join(METRICS.values()) + " | own task | learned |", "|---" * 7 + "|"]
    for _, r in shown[shown["family"] == "chance"].iterrows():
        lines.append("| chance | – | " + " | ".join(str(r[m]) for m in METRICS) + " | | |")
    for _, r in trained.iterrows():
        cells = [r["family"], f"`{r['method']}`", *(str(r[m]) for m in METRICS), r["own task"]]
        if r["learned"] == "no":
            lines.append("| " + " | ".join(f"*{c}*" for c in cells) + " | **no** |")
        else:
            lines.append("| " + " | ".join(cells) + f" | {r['learned']} |")
    return "\n".join(lines), sorted(set(int(n) for n in trained["n"]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path, help="a results folder (its results.csv)")
    ap.add_argument("--steps", type=int, default=None, help="one budget (default: the folder's, if it has one)")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default: all)")
    a = ap.parse_args(argv)
    try:
        seeds = None if a.seeds is None else [int(x) for x in a.seeds.split(",") if x.strip()]
    except ValueError:
        print(f"error: --seeds takes comma-separated integers, got {a.seeds!r}", file=sys.stderr)
        return 2
    try:
        text, ns = table(a.results, a.steps, seeds)
    except (FileNotFoundError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not text:
        print(f"error: no finished row in {a.results} matches (steps {a.steps}, seeds {a.seeds})", file=sys.stderr)
        return 1
    try:
        print(text)
        print(f"\nSeeds per row: {', '.join(map(str, ns))}.")
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
