"""Where a job's time goes, from a results folder: per method, the median seconds of
pretraining, of the standard evaluation (features + linear probe + kNN + retrieval: the
``eval_seconds`` column) and of the other switched-on evaluations, and the evaluation's
share of the job (target: <= 15 %).

    .venv/bin/python benchmarks/job_shares.py results/quick --commit abc1234   # the rows `make run` wrote at abc1234

Two shares are printed: of pretraining + standard evaluation, and of the whole job as the
results record it (pretraining + every evaluation). ``random`` does not train (its share is
100 % by construction) and is listed without one. The times are those the jobs recorded,
so they carry the machine's drift (+-10 % from one minute to the next here) and whatever
else ran beside them (``--jobs N``: N jobs sharing the cores).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

EXTRA = ("lowshot_seconds", "temporal_seconds", "budgets_seconds", "finetune_seconds", "shift_seconds")


def shares(df: pd.DataFrame, commit: str = "") -> pd.DataFrame:
    df = df[(df["status"] == "done") & df["commit"].astype(str).str.startswith(commit)].copy()
    extra = [c for c in EXTRA if c in df.columns]
    df["extra_seconds"] = df[extra].fillna(0).sum(axis=1) if extra else 0.0
    g = df.groupby("method")[["pretrain_seconds", "eval_seconds", "extra_seconds"]].median()
    g["jobs"] = df.groupby("method").size()
    trains = g["pretrain_seconds"] > 0
    g["share_of_train_eval"] = (g["eval_seconds"] / (g["pretrain_seconds"] + g["eval_seconds"])).where(trains)
    g["share_of_job"] = (
        g["eval_seconds"] / g[["pretrain_seconds", "eval_seconds", "extra_seconds"]].sum(axis=1)
    ).where(trains)
    return g


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="?", default="results", help="a results folder (holds results.csv)")
    ap.add_argument(
        "--commit",
        default="",
        help="only rows computed at this commit (prefix): `results/` also holds the committed full-suite rows",
    )
    a = ap.parse_args()
    path = Path(a.results) / "results.csv"
    if not path.exists():
        raise SystemExit(f"error: no {path}")
    df = pd.read_csv(path)
    g = shares(df, a.commit)
    if g.empty:
        raise SystemExit(f"error: no finished job in {path}" + (f" at commit {a.commit}" if a.commit else ""))
    print(
        f"{path}{f' (commit {a.commit})' if a.commit else ''}: medians per method (seconds); "
        "eval = features + linear + kNN + retrieval"
    )
    print(
        f"{'method':14s} {'jobs':>4s} {'pretrain':>9s} {'eval':>6s} {'other evals':>11s} "
        f"{'eval / (pretrain + eval)':>24s} {'eval / job':>10s}"
    )
    for m, r in g.iterrows():
        s1 = "-" if pd.isna(r.share_of_train_eval) else f"{100 * r.share_of_train_eval:.1f} %"
        s2 = "-" if pd.isna(r.share_of_job) else f"{100 * r.share_of_job:.1f} %"
        print(
            f"{m:14s} {int(r.jobs):4d} {r.pretrain_seconds:9.2f} {r.eval_seconds:6.2f} {r.extra_seconds:11.2f} "
            f"{s1:>24s} {s2:>10s}"
        )


if __name__ == "__main__":
    main()
