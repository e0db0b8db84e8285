"""A job killed at any moment finishes on the next run with the row an uninterrupted run
gives, exactly once; two ``run`` processes on one results folder run each job once.

The kill is a real ``SIGKILL`` of the ``vssl-bench run`` process at a controlled point:
``VSSL_BENCH_KILL_AT`` (``utils.kill_point``) = ``train:3`` (after optimiser step 3; the
last checkpoint is step 2, so step 3 is lost and redone), ``eval`` (trained, before the
frozen-feature evaluation) or ``results`` (``metrics.json`` written, no ``results.csv`` row
yet). On CPU with one thread the resumed job is bit-identical to the uninterrupted one, so
metrics are compared with tolerance 0 (timing columns and ``resumed`` differ by design).

Jobs are the smoke suite's ``sort`` (4 steps, checkpoint every 2), as in test_cli.py.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from test_cli import FAST, METRICS, _cmd, _env, _rows

SORT = ["run", "--suite", "smoke", "--methods", "sort", "--no-references", *FAST]
EXACT = [
    *METRICS,
    "pretext_accuracy",
    "pretext_loss_heldout",
    "steps",
    "clips_seen",
    "decode_skipped",
    "status",
    "job_id",
    "config_key",
]


def _run(
    args: list[str], kill_at: str | None = None, timeout: float = 120, stall_at: str | None = None
) -> subprocess.CompletedProcess:
    env = _env()
    for k, v in (("VSSL_BENCH_KILL_AT", kill_at), ("VSSL_BENCH_STALL_AT", stall_at)):
        env.pop(k, None)
        if v:
            env[k] = v
    return subprocess.run(_cmd(*args), capture_output=True, text=True, timeout=timeout, env=env)


def _metrics(out: Path, method: str) -> dict:
    (run_dir,) = (out / "runs").glob(f"{method}__*")
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture(scope="module")
def reference(smoke_data_root, tmp_path_factory) -> Path:
    """The uninterrupted run of the same job."""
    out = tmp_path_factory.mktemp("uninterrupted")
    r = _run([*SORT, "--data-root", str(smoke_data_root), "--out", str(out)])
    assert r.returncode == 0, r.stdout + r.stderr
    return out


@pytest.mark.parametrize(
    "kill_at",
    ["train:3", pytest.param("eval", marks=pytest.mark.slow), pytest.param("results", marks=pytest.mark.slow)],
)
def test_resume_after_kill_at_each_stage(kill_at, reference, smoke_data_root, tmp_path) -> None:
    out = tmp_path / "killed"
    args = [*SORT, "--data-root", str(smoke_data_root), "--out", str(out)]
    r = _run(args, kill_at)
    assert r.returncode == -9, f"not killed at {kill_at}: {r.returncode}\n{r.stdout}{r.stderr}"
    (run_dir,) = (out / "runs").iterdir()
    rows_after_kill = _rows(out) if (out / "results.csv").exists() else []
    assert rows_after_kill == []  # never a partial row
    if kill_at == "results":
        assert json.loads((run_dir / "metrics.json").read_text())["status"] == "done"
    else:
        assert (run_dir / "checkpoint.pt").is_file() and not (run_dir / "metrics.json").exists()
        progress = json.loads((run_dir / "progress.json").read_text())  # what `status` reads: the checkpoint's step
        assert (progress["step"], progress["steps"]) == ((2, 4) if kill_at == "train:3" else (4, 4))

    r = _run(args)  # the same command again, no kill
    assert r.returncode == 0, r.stdout + r.stderr
    summary = " ".join(r.stdout.split())
    assert ("0 run, 1 skipped, 0 failed" if kill_at == "results" else "1 run, 0 skipped, 0 failed") in summary
    got, want = _metrics(out, "sort"), _metrics(reference, "sort")
    for k in EXACT:
        assert got[k] == want[k], (k, got[k], want[k])  # tolerance 0: bit-identical on CPU
    assert (got["resumed"], want["resumed"]) == ((0 if kill_at == "results" else 1), 0)
    rows, (ref_row,) = _rows(out), _rows(reference)
    assert len(rows) == 1
    for k in [*METRICS, "pretext_accuracy", "steps", "clips_seen", "job_id", "status"]:
        assert rows[0][k] == ref_row[k], k

    r = _run(args)  # and once more: nothing runs, still one row
    assert r.returncode == 0 and "0 run, 1 skipped" in " ".join(r.stdout.split())
    assert len(_rows(out)) == 1


def test_two_run_processes_share_a_results_folder(smoke_data_root, tmp_path) -> None:
    """Started together on the same matrix (same order): the per-job lock makes the second
    process skip what the first is running, so each job runs once; results.csv stays valid."""
    out = tmp_path / "shared"
    args = [
        "run",
        "--suite",
        "smoke",
        "--methods",
        "sort,mae",
        "--no-references",
        *FAST,
        "--data-root",
        str(smoke_data_root),
        "--out",
        str(out),
    ]
    env = _env()
    env.pop("VSSL_BENCH_KILL_AT", None)
    procs = [
        subprocess.Popen(_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outs = []
    deadline = time.monotonic() + 120
    for p in procs:
        o, e = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        assert p.returncode == 0, o + e
        outs.append(" ".join(o.split()))
    text = "\n".join(outs)
    for method in ("sort", "mae"):
        assert text.count(f"done {method} ") == 1, text  # ran by exactly one of the two processes
        for o in outs:  # and the other one saw it running (busy) or finished (skip)
            assert o.count(f"done {method} ") + o.count(f"busy {method}__") + o.count(f"skip {method}__") == 1, o
        m = _metrics(out, method)
        assert m["status"] == "done" and m["resumed"] == 0 and m["steps"] == 4
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["method"] for r in rows) == ["mae", "sort"]
    assert all(r["status"] == "done" and r["job_id"] and r["linear_top1"] for r in rows)
    assert not list(out.glob(".results.csv.*.tmp"))  # no temporary file left behind


def test_stalled_loader_worker_fails_the_job_and_the_same_command_resumes(smoke_data_root, tmp_path) -> None:
    """A DataLoader worker stuck in a read (``VSSL_BENCH_STALL_AT=read:...``: every video
    open hangs): after ``loader_timeout_s`` the job stops with a line naming the files the
    workers were reading, exit 1, nothing recorded; the same command (no stall) runs it."""
    out = tmp_path / "stall"
    args = [
        *SORT,
        "--set",
        "num_workers=2",
        "--set",
        "loader_timeout_s=20",
        "--data-root",
        str(smoke_data_root),
        "--out",
        str(out),
    ]  # 20 s: time for the workers to start and open a video on a loaded machine
    r = _run(args, stall_at="read:*.mp4")
    text = " ".join(r.stdout.split())
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"FAILED sort__\S+: data loader stalled for 20 s \(worker \d was reading \S+\.mp4", text), text
    assert "run the same command again to resume" in text and "0 run, 0 skipped, 1 failed" in text
    assert not (out / "results.csv").exists() or _rows(out) == []
    (run_dir,) = (out / "runs").iterdir()
    assert not (run_dir / "metrics.json").exists()  # not recorded as failed: it resumes

    r = _run(args)
    assert r.returncode == 0 and "1 run, 0 skipped, 0 failed" in " ".join(r.stdout.split()), r.stdout + r.stderr
    assert [row["status"] for row in _rows(out)] == ["done"]


def test_stalled_job_process_is_stopped_by_the_parent_and_resumed(smoke_data_root, tmp_path) -> None:
    """``--jobs 2``: the sort job hangs after optimiser step 2 (its checkpoint); its process
    stops reporting progress, the parent stops it after ``job_stall_s``, the other job
    finishes, and the same command resumes sort from step 2."""
    out = tmp_path / "jobstall"
    args = [
        "run",
        "--suite",
        "smoke",
        "--methods",
        "random,sort",
        "--no-references",
        "--set",
        "eval_clips=1",
        "--jobs",
        "2",
        "--set",
        "job_stall_s=40",
        "--data-root",
        str(smoke_data_root),
        "--out",
        str(out),
    ]
    r = _run(args, stall_at="train:sort__*@2")
    text = " ".join(r.stdout.split())
    assert r.returncode == 1, r.stdout + r.stderr
    assert text.count("done random seed 0") == 1, text
    assert re.search(
        r"FAILED sort__\S+: job stalled: no progress for \d+ s \(job_stall_s=40; last: training step "
        r"2/4\); stopped, run the same command again to resume",
        text,
    ), text
    assert [row["method"] for row in _rows(out)] == ["random"]

    r = _run(args)
    text = " ".join(r.stdout.split())
    assert r.returncode == 0 and "1 run, 1 skipped, 0 failed" in text, r.stdout + r.stderr
    m = _metrics(out, "sort")
    assert m["status"] == "done" and m["resumed"] == 1 and m["steps"] == 4


def test_stalled_job_in_one_process_is_stopped_by_the_watchdog_and_resumed(smoke_data_root, tmp_path) -> None:
    """``--jobs 1`` (the default): a job stuck after optimiser step 2 makes no progress; the
    in-process watchdog stops the run after ``job_stall_s`` with one line and exit code 3,
    and the same command resumes the job from its step-2 checkpoint."""
    out = tmp_path / "solo"
    args = [*SORT, "--set", "job_stall_s=20", "--data-root", str(smoke_data_root), "--out", str(out)]
    r = _run(args, stall_at="train:sort__*@2")
    assert r.returncode == 3, r.stdout + r.stderr
    assert re.search(
        r"error: no progress for \d+ s \(job_stall_s=20; last: training step 2/4\); stopped\. Run the "
        r"same command again to resume\.",
        r.stderr,
    ), r.stderr
    (run_dir,) = (out / "runs").iterdir()
    assert (run_dir / "checkpoint.pt").is_file() and not (run_dir / "metrics.json").exists()
    r = _run(args)
    assert r.returncode == 0 and "1 run, 0 skipped, 0 failed" in " ".join(r.stdout.split()), r.stdout + r.stderr
    m = _metrics(out, "sort")
    assert m["status"] == "done" and m["resumed"] == 1 and m["steps"] == 4


def test_atomic_writes_give_the_usual_file_mode(tmp_path) -> None:
    """Write-then-rename must not leave results readable by their owner only (mkstemp's
    0o600): the mode is what a plain open() gives under the process's umask."""
    import os
    import stat

    from vssl_bench import utils

    plain = tmp_path / "plain"
    plain.write_text("x")
    utils.atomic_write_text(tmp_path / "a.md", "x")
    utils.atomic_torch_save({"x": 1}, tmp_path / "c.pt")
    for p in (tmp_path / "a.md", tmp_path / "c.pt"):
        assert stat.S_IMODE(p.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == utils.FILE_MODE
    old = os.umask(0o022)
    try:
        assert utils._file_mode() == 0o644
    finally:
        os.umask(old)
