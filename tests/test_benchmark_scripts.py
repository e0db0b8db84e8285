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

    cols = ["method", "dataset", "backbone", "steps", "seed", "status", "finished_at", "linear_top1", "holdout"]
    df = pd.DataFrame([dict(zip(cols, r)) for r in rows])
    return df.assign(job_id=[f"j{i}" for i in range(len(df))], family="f", knn_top1=df["linear_top1"])


def test_compare_rankings_known_answers(tmp_path, capsys):
    """benchmarks/compare_rankings.py reads a folder as the report does (superseded and
    validation rows left out) and matches rows on (method, data, backbone, budget, seed):
    one table and rho per shared budget, never a mean over budgets; `random` is shown but
    not ranked; one swapped pair of four methods gives rho 0.8 with spearman_ci's interval
    on the per-method means; --after-steps pairs one budget with another; no shared trained
    method is exit 1, a missing table or an ambiguous --after-steps exit 2."""
    import importlib.util

    import numpy as np

    from vssl_bench.stats import spearman_ci

    spec = importlib.util.spec_from_file_location("compare_rankings", ROOT / "benchmarks" / "compare_rankings.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    s, t = "synthetic", "tiny3d"
    four = ("m1", "m2", "m3", "m4")
    a = _table(
        [("random", s, t, 0, 0, "done", "1", 0.10, "test")]
        + [(m, s, t, 100, 0, "done", "1", v, "test") for m, v in zip(four, (0.2, 0.3, 0.4, 0.5))]
        + [("m1", s, t, 100, 0, "done", "0", 0.9, "test")]  # superseded by the later m1 row
        + [("m2", s, t, 100, 0, "done", "2", 0.9, "val")]  # a tuning grid's validation row: not a result
        + [(m, s, t, 200, 0, "done", "1", v, "test") for m, v in zip(four, (0.6, 0.5, 0.4, 0.3))]
    )
    b = _table(
        [("random", s, t, 0, 0, "done", "1", 0.10, "test")]
        + [(m, s, t, 100, 0, "done", "1", v, "test") for m, v in zip(four, (0.3, 0.2, 0.5, 0.6))]
        + [(m, s, t, 200, 0, "done", "1", v, "test") for m, v in zip(four, (0.6, 0.5, 0.4, 0.3))]
        + [("m1", s, t, 100, 1, "done", "1", 0.7, "test")]  # a seed the other folder lacks: not matched
    )
    for d, df in (("a", a), ("b", b), ("c", b.assign(seed=5)), ("r", b[b["method"] == "random"])):
        (tmp_path / d).mkdir()
        df.to_csv(tmp_path / d / "results.csv", index=False)
    fa, fb = mod.load(tmp_path / "a"), mod.load(tmp_path / "b")
    m = mod.matched(fa, fb, None, None)
    at100 = m[m["_budget"].isin([0, 100])]
    assert sorted(at100["method"]) == ["m1", "m2", "m3", "m4", "random"]
    per, r = mod.compare(at100, "linear_top1")
    assert per.loc["m1", "linear_top1_a"] == pytest.approx(20.0) and per.loc["m1", "diff"] == pytest.approx(10.0)
    assert per.loc["m2", "linear_top1_a"] == pytest.approx(30.0) and per.loc["m2", "seeds"] == 1
    assert per.loc["random", "diff"] == pytest.approx(0.0)
    assert r["methods"] == 4 and r["rho"] == pytest.approx(0.8) and (r["swaps"], r["pairs"]) == (1, 6)
    _, lo, hi = spearman_ci(np.array([20.0, 30.0, 40.0, 50.0]), np.array([30.0, 20.0, 50.0, 60.0]))
    assert (r["lo"], r["hi"]) == (pytest.approx(lo), pytest.approx(hi))
    across = mod.compare(mod.matched(fa, fa, [100], None, after_steps=[200]), "linear_top1")[1]
    assert across["rho"] == pytest.approx(-1.0) and across["swaps"] == 6
    with pytest.raises(ValueError, match="one --steps"):
        mod.matched(fa, fa, None, None, after_steps=[200])
    assert mod.main([str(tmp_path / "a"), str(tmp_path / "b"), "--metrics", "linear_top1"]) == 0
    out = capsys.readouterr().out
    assert "## 100 steps" in out and "## 200 steps" in out  # each budget its own table, no mean over both
    for d, df in (("a30", a), ("b30", b)):  # smallest budget first, as numbers (30 before 100), not as text
        (tmp_path / d).mkdir()
        df.assign(steps=df["steps"].replace(200, 30)).to_csv(tmp_path / d / "results.csv", index=False)
    assert mod.main([str(tmp_path / "a30"), str(tmp_path / "b30"), "--metrics", "linear_top1"]) == 0
    out30 = capsys.readouterr().out
    assert out30.index("## 30 steps") < out30.index("## 100 steps")
    assert "Spearman rho 0.80" in out and "1 of 6 pairs swap places" in out
    assert "| `m1` | 1 | 20.0 | 30.0 | +10.0 |" in out and "Spearman rho 1.00" in out
    assert mod.main([str(tmp_path / "a"), str(tmp_path / "c")]) == 1
    assert mod.main([str(tmp_path / "a"), str(tmp_path / "r")]) == 1  # random alone: nothing ranked
    assert mod.main([str(tmp_path / "a"), str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "--results" not in err  # --results is the report's option, not this script's
    assert mod.main([str(tmp_path / "a"), str(tmp_path / "a"), "--after-steps", "200"]) == 2


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
    # other batches: as many as cover the clips the job read, at least one (of all held-out clips at most)
    n, held = recorded["pretext_samples"], len(mod.build_dataset(mod.config_of(run_dir))[1])
    assert n < held and mod.reread(run_dir, mod.torch.device("cpu"), batch_size=n // 2)["pretext_samples"] == n
    assert mod.reread(run_dir, mod.torch.device("cpu"), batch_size=10_000)["pretext_samples"] == held
    fresh = mod.reread(run_dir, mod.torch.device("cpu"), untrained=True)  # the seeded initial weights
    assert fresh["pretext_samples"] == n and fresh["pretext_loss_heldout"] != pytest.approx(
        recorded["pretext_loss_heldout"], abs=1e-6
    )


def test_nightly_workflow_carries_the_jobs_cut_at_its_deadline(tmp_path):
    """.github/workflows/nightly.yml: the pack step tars only the folders with a checkpoint
    and no metrics.json (cut mid-job), every night (an empty tar when none was cut, so the
    newest cache is tonight's), and the save step runs when it succeeded (not on hashFiles:
    it sees nothing outside the workspace, where the tar is); the unpack step puts
    them back, except over a job whose committed folder has finished since."""
    import yaml

    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())
    steps = {s.get("name"): s for s in wf["jobs"]["leaderboard"]["steps"]}
    pack, unpack = steps["Pack the jobs cut at this deadline"], steps["Unpack them"]
    save = steps["Save them for the next night"]
    assert f"steps.{pack['id']}.outcome == 'success'" in save["if"] and "hashFiles" not in save["if"]
    temp = tmp_path / "temp"
    temp.mkdir()
    tar = temp / "partial-jobs.tar"

    def run(script: str, cwd: Path) -> None:
        script = script.replace("${{ runner.temp }}", str(temp))
        subprocess.run(["bash", "-e", "-c", script], cwd=cwd, check=True, timeout=60, capture_output=True)

    def folders(root: Path, jobs: dict) -> None:
        for job, files in jobs.items():
            d = root / "results" / "runs" / job
            d.mkdir(parents=True, exist_ok=True)
            for f in files:
                (d / f).write_text(f"{root.name} {job}")

    night1 = tmp_path / "night1"
    folders(night1, {"cut": ["checkpoint.pt"], "cut2": ["checkpoint.pt", "curve.csv"], "done": ["metrics.json"]})
    run(pack["run"], night1)
    assert tar.exists()
    # night 2: cut2 finished in a night whose cache was lost; its committed folder is here
    night2 = tmp_path / "night2"
    folders(night2, {"cut2": ["metrics.json", "curve.csv"]})
    run(unpack["run"], night2)
    assert sorted(p.name for p in (night2 / "results" / "runs").iterdir()) == ["cut", "cut2"]
    assert (night2 / "results" / "runs" / "cut" / "checkpoint.pt").read_text() == "night1 cut"
    cut2 = night2 / "results" / "runs" / "cut2"
    assert (cut2 / "curve.csv").read_text() == "night2 cut2" and not (cut2 / "checkpoint.pt").exists()
    assert not tar.exists()  # unpacked and removed
    night3 = tmp_path / "night3"  # nothing cut: an empty tar all the same
    folders(night3, {"done": ["metrics.json", "checkpoint.pt"]})
    run(pack["run"], night3)
    assert tar.exists()
    night4 = tmp_path / "night4"
    night4.mkdir()
    run(unpack["run"], night4)
    assert not (night4 / "results").exists() and not tar.exists()


def test_readme_table_known_answers(tmp_path, capsys):
    """benchmarks/readme_table.py: chance first, then random and supervised, then each family
    best linear first; a method that did not learn in italics with **no**; --seeds narrows
    to one seed (no spread), --steps to one budget (random stands beside it), which a folder
    of several budgets needs; a missing folder is exit 2, nothing matching exit 1."""
    import importlib.util

    import pandas as pd

    sys.path.insert(0, str(ROOT / "tests"))
    from test_stats import METHODS, make_table

    spec = importlib.util.spec_from_file_location("readme_table", ROOT / "benchmarks" / "readme_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    df = make_table({m: 0.3 + 0.02 * i for i, m in enumerate(METHODS)}, pretext=lambda mu: mu).assign(
        pretext_chance=0.25, chance_top1=0.0625, chance_r1=0.0625
    )
    df.loc[df["method"] == "sort", "pretext_accuracy"] = 0.2  # below its chance level: did not learn
    (tmp_path / "r").mkdir()
    df.to_csv(tmp_path / "r" / "results.csv", index=False)
    assert mod.main([str(tmp_path / "r")]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [ln for ln in lines if ln.startswith("| ") and not ln.startswith("| family")]
    names = [ln.split(" | ")[1].strip("*`") for ln in rows]
    assert names[:3] == ["–", "random", "supervised"] and rows[0].startswith("| chance | – | 6.2 | 6.2 | 6.2 |")
    fams = [ln.split(" | ")[0].strip("|* ") for ln in rows[3:]]
    assert fams == sorted(fams, key=["pretext", "generative", "contrastive"].index)
    pretext = [n for n, f in zip(names[3:], fams) if f == "pretext"]
    order = list(METHODS)  # planted means rise with the registry order: best first is the reverse
    assert pretext == sorted(pretext, key=order.index, reverse=True)
    (sort_row,) = [ln for ln in rows if "`sort`" in ln]
    assert sort_row.startswith("| *pretext* | *`sort`* |") and sort_row.endswith("| **no** |")
    assert " ± " in rows[3] and "Seeds per row: 3." in lines
    assert mod.main([str(tmp_path / "r"), "--seeds", "0", "--steps", "150"]) == 0
    out = capsys.readouterr().out
    assert " ± " not in out and "| reference | `random` |" in out and "Seeds per row: 1." in out
    assert mod.main([str(tmp_path / "r"), "--steps", "999"]) == 1  # random alone is no table either
    (tmp_path / "two").mkdir()  # two budgets: one must be chosen (one row per method)
    pd.concat([df, df[df["method"] != "random"].assign(steps=300.0)]).to_csv(tmp_path / "two" / "results.csv")
    assert mod.main([str(tmp_path / "two")]) == 2 and "pass --steps" in capsys.readouterr().err
    assert mod.main([str(tmp_path / "two"), "--steps", "300"]) == 0
    assert mod.main([str(tmp_path / "nowhere")]) == 2
    assert mod.main([str(tmp_path / "r"), "--seeds", "x"]) == 2
