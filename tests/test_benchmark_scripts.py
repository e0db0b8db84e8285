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


def _table(rows):
    import pandas as pd

    cols = ["method", "dataset", "backbone", "steps", "seed", "status", "finished_at", "linear_top1"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows])


def test_compare_rankings_known_answers(tmp_path, capsys):
    """benchmarks/compare_rankings.py: rows match on (method, data, backbone, budget, seed);
    a superseded row (same key, earlier) is left out; `random` is shown but not ranked;
    one swapped pair of four methods gives rho 0.8; --after-steps matches across budgets;
    no shared row is exit 1, a missing table exit 2."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("compare_rankings", ROOT / "benchmarks" / "compare_rankings.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    s, t = "synthetic", "tiny3d"
    a = _table(
        [("random", s, t, 0, 0, "done", "1", 0.10)]
        + [(m, s, t, 100, 0, "done", "1", v) for m, v in [("m1", 0.2), ("m2", 0.3), ("m3", 0.4), ("m4", 0.5)]]
        + [("m1", s, t, 100, 0, "done", "0", 0.9)]  # superseded by the later m1 row
        + [(m, s, t, 200, 0, "done", "1", v) for m, v in [("m1", 0.6), ("m2", 0.5), ("m3", 0.4), ("m4", 0.3)]]
    )
    b = _table(
        [("random", s, t, 0, 0, "done", "1", 0.10)]
        + [(m, s, t, 100, 0, "done", "1", v) for m, v in [("m1", 0.3), ("m2", 0.2), ("m3", 0.5), ("m4", 0.6)]]
        + [("m1", s, t, 100, 1, "done", "1", 0.7)]  # a seed the other folder lacks: not matched
    )
    m = mod.matched(a, b, [100], None)
    assert sorted(m["method"]) == ["m1", "m2", "m3", "m4", "random"]
    per, r = mod.compare(m, "linear_top1")
    assert per.loc["m1", "linear_top1_a"] == pytest.approx(20.0) and per.loc["m1", "diff"] == pytest.approx(10.0)
    assert per.loc["random", "diff"] == pytest.approx(0.0)
    assert r["methods"] == 4 and r["rho"] == pytest.approx(0.8) and (r["swaps"], r["pairs"]) == (1, 6)
    across = mod.compare(mod.matched(a, a, [100], None, after_steps=[200]), "linear_top1")[1]
    assert across["rho"] == pytest.approx(-1.0) and across["swaps"] == 6
    for d, df in (("a", a), ("b", b), ("c", b.assign(seed=5))):
        (tmp_path / d).mkdir()
        df.to_csv(tmp_path / d / "results.csv", index=False)
    assert mod.main([str(tmp_path / "a"), str(tmp_path / "b"), "--steps", "100", "--metrics", "linear_top1"]) == 0
    out = capsys.readouterr().out
    assert (
        "Spearman rho 0.80" in out and "1 of 6 pairs swap places" in out and "| `m1` | 1 | 20.0 | 30.0 | +10.0 |" in out
    )
    assert mod.main([str(tmp_path / "a"), str(tmp_path / "c")]) == 1
    assert mod.main([str(tmp_path / "a"), str(tmp_path / "nowhere")]) == 2


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


def test_nightly_state_a_change_to_report_only_code_is_not_stale(tmp_path):
    """The nightly starts a finished suite over when code that computes a row changed, not
    when only the report, the command line's printing or tune.py did (NOT_RESULTS)."""
    import importlib.util
    import shutil

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    spec = importlib.util.spec_from_file_location("nightly_state", ROOT / "benchmarks" / "nightly_state.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    repo = tmp_path / "repo"
    (repo / "vssl_bench").mkdir(parents=True)
    (repo / "benchmarks").mkdir()
    env = dict(
        os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t"
    )

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()

    def commit(path: str, text: str) -> str:
        (repo / path).write_text(text)
        git("add", "-A")
        git("commit", "-q", "-m", path)
        return git("rev-parse", "HEAD")

    git("init", "-q")
    for p in ("vssl_bench/train.py", "vssl_bench/stats.py", "vssl_bench/cli.py", "benchmarks/smoke.yaml"):
        (repo / p).write_text("v1\n")
    first = commit("pyproject.toml", "v1\n")
    assert mod.same_code(first, "smoke", repo)
    commit("vssl_bench/stats.py", "v2\n")  # the report's statistics
    commit("vssl_bench/cli.py", "v2\n")  # printing
    commit("README.md", "v2\n")  # outside the compared paths
    assert mod.same_code(first, "smoke", repo)
    commit("vssl_bench/train.py", "v2\n")  # what trains: every row it computed is stale
    assert not mod.same_code(first, "smoke", repo)
    second = commit("benchmarks/smoke.yaml", "v2\n")
    assert mod.same_code(second, "smoke", repo) and not mod.same_code(first, "smoke", repo)
    commit("benchmarks/tuned.yaml", "date: v2\n")  # a selection: a changed recipe changes job keys instead
    assert mod.same_code(second, "smoke", repo)
    assert not mod.same_code("", "smoke", repo) and not mod.same_code("0" * 40, "smoke", repo)
    assert all(p.startswith("vssl_bench/") and (ROOT / p).is_file() for p in mod.NOT_RESULTS)
    # the rule the list rests on: no module outside it imports one of them (the code that
    # trains and evaluates a job never runs them)
    import ast

    listed = {p.removeprefix("vssl_bench/").removesuffix(".py").replace("/", ".") for p in mod.NOT_RESULTS}
    for path in (ROOT / "vssl_bench").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel in mod.NOT_RESULTS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            hit = [n for n in names if n.removeprefix("vssl_bench.") in listed and n.startswith("vssl_bench.")]
            assert not hit, f"{rel} imports {hit}: not a report-only module then (nightly_state.NOT_RESULTS)"


def test_reread_own_task_matches_what_the_job_recorded(tmp_path, smoke_data_root):
    """benchmarks/reread_own_task.py measures a finished job's own task again from its
    checkpoint: for a method whose held-out measure draws no random numbers (`sort`: its
    questions come from the held-out loader's seeded views) it is what the job recorded."""
    import importlib.util

    out = tmp_path / "results"
    r = subprocess.run(
        [sys.executable, "-m", "vssl_bench.cli", "run", "--suite", "smoke", "--methods", "sort", "--no-references"]
        + ["--set", "threads=1", "--set", "eval_clips=1", "--data-root", str(smoke_data_root), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (run_dir,) = (out / "runs").glob("sort__*")
    spec = importlib.util.spec_from_file_location("reread_own_task", ROOT / "benchmarks" / "reread_own_task.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    recorded = json.loads((run_dir / "metrics.json").read_text())
    again = mod.reread(run_dir, mod.torch.device("cpu"))
    assert again["pretext_samples"] == recorded["pretext_samples"] > 0
    for k in ("pretext_accuracy", "pretext_chance", "pretext_baseline", "pretext_loss_heldout"):
        assert again[k] == pytest.approx(recorded[k], abs=1e-6), k


def test_nightly_workflow_carries_the_jobs_cut_at_its_deadline(tmp_path):
    """.github/workflows/nightly.yml: the pack step tars only the folders with a checkpoint
    and no metrics.json (cut mid-job) and says so in a step output, which the save step
    reads (not hashFiles: it sees nothing outside the workspace, where the tar is); the
    unpack step puts them back in a fresh workspace."""
    import yaml

    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())
    steps = {s.get("name"): s for s in wf["jobs"]["leaderboard"]["steps"]}
    pack, unpack = steps["Pack the jobs cut at this deadline"], steps["Unpack them"]
    save = steps["Save them for the next night"]
    assert f"steps.{pack['id']}.outputs.packed == 'true'" in save["if"] and "hashFiles" not in save["if"]
    temp = tmp_path / "temp"
    temp.mkdir()

    def run(script: str, cwd: Path, out: Path) -> None:
        script = script.replace("${{ runner.temp }}", str(temp))
        env = {**os.environ, "GITHUB_OUTPUT": str(out)}
        subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env, check=True, timeout=60, capture_output=True)

    night1 = tmp_path / "night1"
    for job, files in {"cut": ["checkpoint.pt"], "done": ["checkpoint.pt", "metrics.json"], "new": []}.items():
        d = night1 / "results" / "runs" / job
        d.mkdir(parents=True)
        for f in files:
            (d / f).write_text(job)
    run(pack["run"], night1, tmp_path / "out1")
    assert "packed=true" in (tmp_path / "out1").read_text()
    night2 = tmp_path / "night2"
    night2.mkdir()
    run(unpack["run"], night2, tmp_path / "out2")
    assert sorted(p.name for p in (night2 / "results" / "runs").iterdir()) == ["cut"]
    assert (night2 / "results" / "runs" / "cut" / "checkpoint.pt").read_text() == "cut"
    assert not (temp / "partial-jobs.tar").exists()  # unpacked and removed
    empty = tmp_path / "night3"
    (empty / "results" / "runs" / "done").mkdir(parents=True)
    (empty / "results" / "runs" / "done" / "metrics.json").write_text("{}")
    run(pack["run"], empty, tmp_path / "out3")
    assert not (tmp_path / "out3").exists() or "packed" not in (tmp_path / "out3").read_text()
    assert not (temp / "partial-jobs.tar").exists()
