"""The measurement scripts under ``benchmarks/`` are run by hand (they are not timed unit
tests); these checks catch a script that no longer parses or whose step plumbing broke, and run
the nightly's cut-resume-restart logic on the smoke suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHELL = sorted((ROOT / "benchmarks").glob("*.sh"))
PYTHON = sorted((ROOT / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", SHELL, ids=lambda p: p.name)
def test_shell_scripts_parse(script):
    r = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("script", PYTHON, ids=lambda p: p.name)
def test_python_scripts_compile(script):
    compile(script.read_text(), str(script), "exec")


def test_gpu_check_runs_its_steps_and_keeps_going(tmp_path):
    """A dry run on the CPU of the environment step, plus a step name that is not selected:
    the log records each selected step with its exit status, and only those."""
    env = dict(os.environ, DEVICE="cpu", STEPS="env", PY=sys.executable, WORK=str(tmp_path / "work"))
    r = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), str(tmp_path / "out")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    log = (tmp_path / "out" / "log.txt").read_text()
    assert "=== env: rc=0" in log and "cuda available False" in log
    assert "=== smoke" not in log and log.rstrip().endswith("=== done")


def test_job_shares_known_answers():
    """benchmarks/job_shares.py: medians per method, the evaluation's share of pretrain +
    eval and of the recorded job; a method that does not train has no share; failed jobs
    are left out."""
    import importlib.util

    import pandas as pd

    spec = importlib.util.spec_from_file_location("job_shares", ROOT / "benchmarks" / "job_shares.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    df = pd.DataFrame(
        {
            "method": ["sup", "sup", "sup", "random", "sup"],
            "status": ["done", "done", "done", "done", "failed"],
            "pretrain_seconds": [8.0, 9.0, 10.0, 0.0, 1.0],
            "eval_seconds": [2.0, 1.0, 3.0, 5.0, 9.0],
            "lowshot_seconds": [1.0, 1.0, 1.0, 1.0, None],
            "temporal_seconds": [None, 0.0, 0.0, 1.0, None],
            "commit": ["abc1", "abc1", "abc1", "abc1", "abc1"],
        }
    )
    g = mod.shares(df)
    sup = g.loc["sup"]
    assert sup.jobs == 3 and sup.pretrain_seconds == 9.0 and sup.eval_seconds == 2.0 and sup.extra_seconds == 1.0
    assert sup.share_of_train_eval == pytest.approx(2 / 11) and sup.share_of_job == pytest.approx(2 / 12)
    assert pd.isna(g.loc["random"].share_of_train_eval) and pd.isna(g.loc["random"].share_of_job)
    assert mod.shares(df, "abc").equals(g) and mod.shares(df, "def").empty  # --commit: rows of one commit


@pytest.mark.timeout(290)
def test_nightly_cuts_at_its_deadline_resumes_and_starts_over_only_when_the_code_changed(tmp_path, smoke_data_root):
    """benchmarks/nightly.sh on the smoke suite: a night cut at its deadline keeps what is
    finished and the next night completes the rest; a complete suite computed by this code
    runs nothing; one computed by other code is started over (run folders removed)."""
    if not (ROOT / ".venv" / "bin" / "vssl-bench").exists() or not (ROOT / ".git").exists():
        pytest.skip("nightly.sh runs from a checkout with its .venv")
    out = tmp_path / "results"
    env = dict(os.environ, SUITE="smoke", OUT=str(out), JOBS="1", VSSL_BENCH_DATA=str(smoke_data_root))

    def night(deadline_s: int) -> str:
        r = subprocess.run(
            ["bash", str(ROOT / "benchmarks" / "nightly.sh")],
            cwd=ROOT,
            env=dict(env, DEADLINE_S=str(deadline_s)),
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    first = night(3)  # cut before the 5 jobs can finish
    assert "cut at the deadline" in first and first.splitlines()[-1].startswith("after: incomplete:")
    second = night(200)
    assert "run exit code 0 (finished)" in second and second.splitlines()[-1].startswith("after: current: 5 done;")
    rows = (out / "results.csv").read_text()
    assert len(rows.strip().splitlines()) == 1 + 5  # one row per job, none twice
    third = night(200)
    assert "nothing to run" in third and "0 run, 5 skipped" in third
    # one job as if computed by code this checkout does not have: the suite starts over
    m = sorted((out / "runs").glob("*/metrics.json"))[0]
    doc = json.loads(m.read_text())
    doc["provenance"]["commit"] = "0123456789" * 4
    m.write_text(json.dumps(doc))
    fourth = night(2)
    assert "before: stale:" in fourth and "starting it over" in fourth and "cut at the deadline" in fourth
    assert len(list((out / "runs").glob("*/metrics.json"))) < 5  # removed, not skipped
