"""What the nightly (benchmarks/nightly.sh) does with a results folder, one line on stdout:

- ``incomplete: <counts>``: jobs of the suite are pending, running or partial: resume them;
- ``stale: <commits>``: every job is finished (done or failed), but some finished job was
  computed by code this checkout does not have, or by code that differs from HEAD in
  ``vssl_bench/`` (except :data:`NOT_RESULTS`: the modules that only read finished results
  or print), ``pyproject.toml`` or the suite: start over. Not the tuned selection
  (``benchmarks/tuned.yaml``): a method whose selected recipe changes has new job keys, so
  its jobs are pending (``incomplete``) and their rows supersede the old ones as they land,
  while the other methods' rows stay; a rewrite that changes no recipe (its date, its
  cautions) changes nothing;
- ``current: <commit(s)>``: every job finished and every done job's code is HEAD's (but
  for :data:`NOT_RESULTS`).

Each done job's commit is read from its own ``metrics.json`` (provenance), so a suite
resumed across nights while the code changed is stale even where most rows are current.

    .venv/bin/python benchmarks/nightly_state.py SUITE OUT
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import vssl_bench.data.datasets  # noqa: F401  (registers the job keys' data part)
from vssl_bench.rundir import RunDir
from vssl_bench.runner import job_status
from vssl_bench.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]
# Modules that never touch a job's numbers: they read finished results (the report, its
# statistics, figures and HTML), print (the command line's tables and messages) or choose a
# recipe (tune.py: its choice reaches a job through tuned.yaml, whose recipes are in the job keys); none is
# imported by the code that trains or evaluates a job (tests/test_benchmark_scripts.py
# checks it). A change there re-writes the report; it does not start a 45-hour suite over.
NOT_RESULTS = (
    "vssl_bench/cli.py",
    "vssl_bench/stats.py",
    "vssl_bench/report.py",
    "vssl_bench/html_report.py",
    "vssl_bench/plots.py",
    "vssl_bench/tune.py",
)


def same_code(commit: str, suite: str, root: Path = ROOT) -> bool:
    """``commit`` exists here and differs from HEAD in nothing that changes a result."""
    paths = ["vssl_bench", "pyproject.toml", f"benchmarks/{suite}.yaml"]  # not tuned.yaml: it is in the job keys
    git = lambda *a: subprocess.run(["git", *a], cwd=root, capture_output=True).returncode  # noqa: E731
    spec = [p for p in paths if (root / p).exists()] + [f":(exclude){p}" for p in NOT_RESULTS]
    return (
        bool(commit)
        and git("cat-file", "-e", f"{commit}^{{commit}}") == 0
        and git("diff", "--quiet", commit, "HEAD", "--", *spec) == 0
    )


def state(suite: str, out: Path) -> str:
    counts: dict[str, int] = {}
    commits: set[str] = set()
    for cfg in load_suite(suite).jobs():
        st = job_status(cfg, out)
        counts[st] = counts.get(st, 0) + 1
        if st == "done":
            prov = (RunDir.of(out, cfg).read_metrics() or {}).get("provenance") or {}
            commits.add(str(prov.get("commit") or "").removesuffix("-dirty"))
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    if any(counts.get(k) for k in ("pending", "running", "partial")):
        return f"incomplete: {summary}"
    stale = sorted(c or "unknown" for c in commits if not same_code(c, suite))
    if stale:
        return f"stale: {summary}; computed by {', '.join(stale)}, not this code"
    return f"current: {summary}; computed by {', '.join(sorted(commits)) or 'nothing yet'}"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(state(sys.argv[1], Path(sys.argv[2])))
