"""End-to-end: ``vssl-bench run`` on ``benchmarks/smoke.yaml``, skipping finished jobs,
``report``, one-line errors (exit 2) for bad input, and resume after ``kill -9``.

The embedded dataset is generated once per session (``smoke_data_root`` in conftest.py).
``eval_clips=1`` and ``threads=1`` keep the evaluation short on a shared 2-core machine;
everything else is the smoke suite as shipped.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FAST = ["--set", "threads=1", "--set", "eval_clips=1"]
REQUIRED = [
    "method",
    "family",
    "uses_time",
    "backbone",
    "dataset",
    "seed",
    "steps",
    "pretrain_seconds",
    "clips_per_second",
    "linear_top1",
    "linear_video_top1",
    "knn_top1",
    "retrieval_r1",
    "retrieval_r5",
    "retrieval_r10",
    "retrieval_r20",
    "commit",
    "device",
]
METRICS = [
    "linear_top1",
    "linear_video_top1",
    "knn_top1",
    "retrieval_r1",
    "retrieval_r5",
    "retrieval_r10",
    "retrieval_r20",
]


def _cmd(*args: str) -> list[str]:
    exe = Path(sys.executable).with_name("vssl-bench")
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "vssl_bench.cli", *args]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


def vb(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(*args), capture_output=True, text=True, timeout=timeout, env=_env())


def _rows(out: Path) -> list[dict]:
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def smoke_out(smoke_data_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smoke_out")
    r = vb("run", "--suite", "smoke", "--data-root", str(smoke_data_root), "--out", str(out), *FAST)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    return out


def test_smoke_suite_results(smoke_out) -> None:
    from vssl_bench.methods import METHODS
    from vssl_bench.suite import load_suite

    suite = load_suite("smoke")
    rows = _rows(smoke_out)
    assert sorted(r["method"] for r in rows) == sorted(suite.methods)  # one row per job
    assert len({r["job_id"] for r in rows}) == len(rows)
    for r in rows:
        for col in REQUIRED:
            assert col in r, col
        m = r["method"]
        assert r["status"] == "done", r
        assert r["family"] == METHODS[m].family
        assert r["uses_time"] == ("true" if METHODS[m].uses_time else "false")
        assert (r["backbone"], r["dataset"], r["seed"]) == ("tiny3d", "synthetic", "0")
        assert int(r["steps"]) == (suite.base.steps if METHODS[m].trains else 0)
        assert float(r["pretrain_seconds"] or 0) >= 0
        if METHODS[m].trains:
            assert float(r["clips_per_second"]) > 0
            assert int(r["clips_seen"]) == suite.base.steps * suite.base.batch_size
        for col in METRICS:
            assert 0.0 <= float(r[col]) <= 1.0, (m, col, r[col])
        assert (
            float(r["retrieval_r1"])
            <= float(r["retrieval_r5"])
            <= float(r["retrieval_r10"])
            <= float(r["retrieval_r20"])
        )
        assert r["commit"] and r["device"]
        assert float(r["chance_top1"]) == float(r["chance_r1"]) == 1 / 16  # 16 balanced classes
        assert 1 - (15 / 16) ** 20 < float(r["chance_r20"]) < 1  # a random ranking of 96 gallery videos
        run_dir = smoke_out / "runs" / r["job_id"]
        # the data it was computed on: the generator's digest of the videos' bytes
        data = json.loads((run_dir / "metrics.json").read_text())["provenance"]["data"]
        meta = json.loads((Path(data["root"]) / "meta.json").read_text())
        assert data["content_sha256"] == meta["content_sha256"] and r["data_digest"] == data["digest"]
        assert data["digest"] == meta["content_sha256"][:16]
        assert data["videos"] == meta["counts"]["train"] + meta["counts"]["test"]
        assert (run_dir / "metrics.json").is_file() and (run_dir / "config.yaml").is_file()
        if METHODS[m].trains:
            assert (run_dir / "checkpoint.pt").is_file() and (run_dir / "curve.csv").is_file()


def test_rerun_skips_finished_jobs(smoke_out, smoke_data_root) -> None:
    before = _rows(smoke_out)
    r = vb("run", "--suite", "smoke", "--data-root", str(smoke_data_root), "--out", str(smoke_out), *FAST)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"0 run, {len(before)} skipped, 0 failed" in " ".join(r.stdout.split())
    assert _rows(smoke_out) == before  # no duplicate rows, nothing re-measured


def test_exit_code_stays_1_while_a_job_is_failed(smoke_data_root, tmp_path) -> None:
    """A failed job makes ``run`` exit 1 in the run where it fails and in every re-run that
    skips it (it used to exit 0 there: a nightly re-run looked green over a failed job)."""
    args = [
        "run",
        "--suite",
        "smoke",
        "--methods",
        "sort",
        "--no-references",
        *FAST,
        "--set",
        "lr=1e30",
        "--data-root",
        str(smoke_data_root),
        "--out",
        str(tmp_path),
    ]
    first = vb(*args)
    assert first.returncode == 1 and "0 run, 0 skipped, 1 failed." in " ".join(first.stdout.split()), first.stdout
    again = " ".join((r := vb(*args)).stdout.split())
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "failed earlier (NonFiniteLoss" in again
    assert "0 run, 1 skipped, 0 failed (1 skipped job failed earlier; --retry-failed runs it again)." in again
    assert [row["status"] for row in _rows(tmp_path)] == ["failed"]


def test_run_summary_counts_and_exit_code(tmp_path) -> None:
    from vssl_bench.cli import run_summary

    text, code = run_summary(["done", "skipped-done", "locked"], tmp_path)
    assert code == 0  # busy elsewhere is not a failure
    assert text.startswith("1 run, 1 skipped, 0 failed, 1 busy (run by another process). ")  # the jobs add up
    text, code = run_summary(["done", "skipped-failed", "skipped-failed", "failed"], tmp_path)
    assert code == 1 and text.startswith(
        "1 run, 2 skipped, 1 failed (2 skipped jobs failed earlier; --retry-failed runs them again). "
    )


def test_run_summary_counts_jobs_a_drain_left() -> None:
    from vssl_bench.cli import DRAINED, run_summary
    from vssl_bench.launch import NOT_STARTED

    text, code = run_summary(["done", "skipped-done", NOT_STARTED, NOT_STARTED], Path("out"))
    assert text.startswith("1 run, 1 skipped, 0 failed, 2 not started (SIGUSR1: the same command runs them).")
    assert code == DRAINED == 128 + signal.SIGUSR1
    assert run_summary(["failed", NOT_STARTED], Path("out"))[1] == 1  # a failure outranks the drain
    text, code = run_summary(["done"], Path("out"))
    assert code == 0 and text == "1 run, 0 skipped, 0 failed. `vssl-bench report --results out` for the comparison."


def test_report_writes_leaderboard(smoke_out) -> None:
    r = vb("report", "--results", str(smoke_out))
    assert r.returncode == 0, r.stdout + r.stderr
    md, lb = smoke_out / "leaderboard.md", smoke_out / "leaderboard.csv"
    assert md.is_file() and lb.is_file()
    text = md.read_text()
    for m in ("random", "supervised", "sort"):
        assert m in text
    with open(lb, newline="") as f:
        assert len(list(csv.DictReader(f))) >= 5


def test_report_piped_into_a_reader_that_stops_early_still_writes(smoke_out, tmp_path) -> None:
    """``vssl-bench report | head -1``: the files are written before the table is printed
    (they used to be written after it, so a closed pipe lost the leaderboard)."""
    import shutil

    res = tmp_path / "results"
    res.mkdir()
    shutil.copy(smoke_out / "results.csv", res / "results.csv")
    p = subprocess.Popen(
        _cmd("report", "--results", str(res)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()
    )
    p.stdout.readline()
    p.stdout.close()  # the reader is gone
    err = p.stderr.read().decode()
    p.wait(timeout=120)
    assert "Traceback" not in err
    assert (res / "leaderboard.md").is_file() and (res / "report.html").is_file()


@pytest.mark.parametrize(
    "args,expect",
    [
        (["run", "--methods", "nosuch"], ["nosuch", "sort", "nce"]),
        (["run", "--methods", "sort", "--dataset", "imagenet"], ["imagenet", "synthetic", "ucf101"]),
        (["run", "--methods", "sort", "--backbone", "resnet9000"], ["resnet9000", "tiny3d"]),
        (["run", "--suite", "nosuch-suite"], ["nosuch-suite", "quick", "smoke"]),
        (["run", "--methods", "sort", "--set", "bogus_key=1"], ["bogus_key", "batch_size"]),
        (["run", "--methods", "sort", "--set", "steps=lots"], ["steps"]),
        (
            ["run", "--methods", "sort", "--steps", "0"],
            ["budget is zero", "--steps", "--epochs"],
        ),  # sort rows of an untrained net
        (
            ["run", "--methods", "sort", "--set", "checkpoint_every=0"],
            ["checkpoint_every", ">= 1"],
        ),  # was a job failure
        (["run", "--methods", "sort", "--set", "knn_ks=0,20"], ["knn_ks", ">= 1"]),
        (["run", "--methods", "sort", "--dataset", "ucf101", "--data-root", "/nonexistent/ucf"], ["/nonexistent/ucf"]),
        (["run", "--methods", "sort", "--device", "tpu"], ["tpu", "cpu", "cuda"]),
        (
            ["report", "--results", "/nonexistent/results"],
            ["/nonexistent/results", "`vssl-bench run` first", "--results"],
        ),
        (["list", "gizmos"], ["gizmos", "methods"]),
        (["run", "--methods", "sort", "--steps", "150", "--epochs", "2"], ["steps and epochs", "one of them"]),
        (["run", "--methods", "sort", "--epochs", "2", "--set", "steps=150"], ["steps and epochs", "one of them"]),
        (["run", "--methods", "sort", "--steps", "abc"], ["--steps", "integer", "'abc'"]),
        (["run", "--methods", "sort", "--steps", "150,,600"], ["--steps", "'150,,600'"]),
        (["run", "--methods", "sort", "--seeds", "-1"], ["seed", ">= 0"]),
        (["run", "--methods", "sort", "--seeds", "0,,1"], ["seed list", "empty item"]),
        (["run", "--methods", "sort", "--set", "lowshot.shots=a"], ["shots", "comma-separated list of int"]),
        (["run", "--methods", "sort", "--set", "vcop.lr=1e-3"], ["vcop is a method", "sort", "--methods"]),
    ],
)
def test_bad_input_is_one_line_exit_2(args, expect, tmp_path, monkeypatch, capsys) -> None:
    """In-process (same entry point as the console script; spawning ten interpreters that
    import torch would cost ~30 s); one case is also checked through a real subprocess below."""
    from vssl_bench import cli

    monkeypatch.setattr(sys, "argv", ["vssl-bench", *args, *(["--out", str(tmp_path)] if args[0] == "run" else [])])
    with pytest.raises(SystemExit) as e:
        cli.main()
    cap = capsys.readouterr()
    assert e.value.code == 2, cap.out + cap.err
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), cap.err
    for word in expect:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in cap.out + cap.err
    assert not (tmp_path / "results.csv").exists()


def test_bad_input_subprocess() -> None:
    r = vb("run", "--methods", "nosuch", "--out", "/nonexistent/never-created", timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stdout + r.stderr
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and "nosuch" in err[0] and "sort" in err[0], r.stderr


# ------------------------------------------------------------------------------ resume
# The smoke suite's `sort` job (4 steps, checkpoint every 2): the uninterrupted reference
# is the row of `smoke_out`, so only the killed run and its resumption cost extra time.
RESUME = ["run", "--suite", "smoke", "--methods", "sort", "--no-references", *FAST]


def _metrics(out: Path, method: str) -> dict:
    (run_dir,) = (out / "runs").glob(f"{method}__*")
    return json.loads((run_dir / "metrics.json").read_text())


def _wait_for_first_checkpoint(proc: subprocess.Popen, out: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not list(out.glob("runs/*/checkpoint.pt")):
        assert proc.poll() is None, f"run ended before its first checkpoint: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no checkpoint within {timeout:.0f} s"
        time.sleep(0.01)


def test_resume_after_kill_matches_uninterrupted_run(smoke_out, smoke_data_root, tmp_path) -> None:
    out = tmp_path / "killed"
    args = [*RESUME, "--data-root", str(smoke_data_root), "--out", str(out)]

    proc = subprocess.Popen(
        _cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(), start_new_session=True
    )
    try:
        _wait_for_first_checkpoint(proc, out, 180)
        os.kill(proc.pid, signal.SIGKILL)  # checkpoints are written atomically: a kill leaves a whole one
    finally:
        proc.kill()
        proc.wait()
    (run_dir,) = (out / "runs").iterdir()
    if (run_dir / "metrics.json").exists():
        pytest.skip("the job finished before it could be killed (machine too fast for this budget)")

    r = vb(*args)  # resume
    assert r.returncode == 0, r.stdout + r.stderr
    got, want = _metrics(out, "sort"), _metrics(smoke_out, "sort")  # want: uninterrupted, same seed
    assert got["job_id"] == want["job_id"]
    assert got["resumed"] == 1 and want["resumed"] == 0
    for k in ("steps", "clips_seen", "decode_skipped"):
        assert got[k] == want[k], k
    for k in [*METRICS, "pretext_accuracy", "pretext_loss_heldout"]:
        assert got[k] == pytest.approx(want[k], abs=1e-6), k
    rows = _rows(out)
    assert len(rows) == 1
    (ref_row,) = [x for x in _rows(smoke_out) if x["method"] == "sort"]
    for k in METRICS:
        assert float(rows[0][k]) == pytest.approx(float(ref_row[k]), abs=1e-6), k


@pytest.mark.parametrize("jobs", ["1", pytest.param("2", marks=pytest.mark.slow)])
def test_ctrl_c_says_how_to_resume_and_exits_130(jobs, smoke_data_root, tmp_path) -> None:
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) once training has
    checkpointed: one line saying how to resume, exit 130, no traceback, and the job is
    partial (a checkpoint, no result: the next run resumes it, as after a kill above).
    (typer turns Ctrl-C into a returned 130: the line was lost.)"""
    out = tmp_path / "interrupted"
    args = [
        "run",
        "--suite",
        "smoke",
        "--methods",
        "sort,mae",
        "--no-references",
        *FAST,
        "--set",
        "steps=400",
        "--set",
        "checkpoint_every=2",
        "--jobs",
        jobs,
        "--data-root",
        str(smoke_data_root),
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        _cmd(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        start_new_session=True,
        restore_signals=True,
    )
    try:
        _wait_for_first_checkpoint(proc, out, 120)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert "interrupted: run the same command again to resume where it stopped" in stderr
    status = vb("status", *args[1 : args.index("--jobs")], "--out", str(out))
    assert "partial" in status.stdout and "failed" not in status.stdout, status.stdout


def test_command_help_has_one_line_per_paragraph() -> None:
    """``--help`` keeps a docstring's line breaks: wrapped docstrings printed sentences cut
    in the middle ("partial (a" / "checkpoint, ..."). Every command's help is unwrapped."""
    from vssl_bench.cli import app, data_app

    for a in (app, data_app):
        for cmd in a.registered_commands:
            assert cmd.help, cmd.callback.__name__
            assert all(p and "\n" not in p for p in cmd.help.split("\n\n")), cmd.callback.__name__
    r = subprocess.run(
        [sys.executable, "-m", "vssl_bench.cli", "status", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert r.returncode == 0 and "checkpoint, no result yet (resumes on the next run)" in r.stdout


def test_a_jobs_log_line_reads_a_reconstruction_task_against_its_baseline() -> None:
    """A generative job has no accuracy: its log line gives the held-out loss as a share of the
    training-free predictor's (what the gate reads), not a blank."""
    from vssl_bench.cli import _own_task_short

    assert _own_task_short(
        {"pretext_accuracy": None, "pretext_loss_heldout": 0.2277, "pretext_baseline_loss": 0.205}
    ) == ("pretext loss  1.11x baseline")
    assert _own_task_short({"pretext_accuracy": 0.5, "pretext_loss_heldout": 0.1}) == "pretext acc  50.0"
    assert _own_task_short({"pretext_loss_heldout": 0.1, "pretext_baseline_loss": 0.0}) == "pretext acc   –  "
