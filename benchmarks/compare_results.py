"""Compare the metric columns of two results folders, job by job.

    .venv/bin/python benchmarks/compare_results.py BEFORE_DIR AFTER_DIR [--methods sort,mae]

Jobs are matched by ``job_id`` (the same method, seed and configuration key). Every
column that is a measurement of the model (accuracies, recalls, losses, chance levels,
own-task numbers) is compared exactly; what depends on the machine or the moment
(seconds, clips/s, dates, commit, versions) is not. Prints one line per differing value
and a summary; exit code 1 if any value differs or no job is shared.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

NOT_METRICS = (
    "seconds",
    "per_second",
    "clips_per_s",
    "data_wait",
    "finished_at",
    "commit",
    "version",
    "device",
    "hostname",
    "provenance",
    "resumed",
    "torch",
    "python",
    "status",
    "job_id",
    "failure_reason",
)


def metric_columns(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    cols = []
    for c in a.columns:
        if c not in b.columns or any(k in c for k in NOT_METRICS):
            continue
        if pd.to_numeric(a[c], errors="coerce").notna().any():
            cols.append(c)
    return cols


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--methods", default="", help="only these methods (comma-separated)")
    args = ap.parse_args(argv)
    read = lambda d: pd.read_csv(d / "results.csv" if d.is_dir() else d, dtype=str, keep_default_na=False)  # noqa: E731
    a, b = read(args.before), read(args.after)
    a, b = a[a["status"] == "done"], b[b["status"] == "done"]
    if args.methods:
        keep = set(args.methods.split(","))
        a, b = a[a["method"].isin(keep)], b[b["method"].isin(keep)]
    shared = sorted(set(a["job_id"]) & set(b["job_id"]))
    if not shared:
        print("no finished job in common")
        return 1
    cols = metric_columns(a, b)
    a, b = a.set_index("job_id"), b.set_index("job_id")
    diffs, compared = 0, 0
    for job in shared:
        for c in cols:
            x, y = a.at[job, c], b.at[job, c]
            fx, fy = pd.to_numeric(x, errors="coerce"), pd.to_numeric(y, errors="coerce")
            both_nan = isinstance(fx, float) and isinstance(fy, float) and math.isnan(fx) and math.isnan(fy)
            if x == "" or y == "" or both_nan:  # an evaluation one of the two runs did not switch on
                continue
            compared += 1
            if x != y:
                diffs += 1
                print(f"DIFF {job} {c}: {x} -> {y}")
    only_a, only_b = len(set(a.index) - set(shared)), len(set(b.index) - set(shared))
    print(
        f"{len(shared)} jobs in common ({only_a} only before, {only_b} only after), {len(cols)} metric columns, "
        f"{compared} values compared, {diffs} differ"
    )
    return int(diffs > 0)


if __name__ == "__main__":
    sys.exit(main())
