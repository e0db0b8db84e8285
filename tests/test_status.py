"""``vssl-bench status`` on a hand-made results folder: one job done, one failed (with its
reason), one pending, one partial (a checkpoint, no result) and one running (its lock held).

Nothing is trained: the run folders are written by the test, as ``runner.run_job`` would
leave them (``metrics.json``, ``checkpoint.pt``, ``.lock``).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from pathlib import Path

import pytest
from rich.console import Console

from vssl_bench.rundir import RunDir
from vssl_bench.runner import job_status
from vssl_bench.suite import load_suite
from vssl_bench.utils import file_lock

REASON = "NonFiniteLoss: non-finite loss nan at step 3"


def _jobs():
    """The smoke suite's five jobs (random, supervised, sort, mae, nce; seed 0) by method."""
    return {cfg.method: cfg for cfg in load_suite("smoke").jobs()}


@pytest.fixture
def results_dir(tmp_path) -> Path:
    jobs = _jobs()
    runs = tmp_path / "runs"
    done = runs / jobs["sort"].job_name()
    done.mkdir(parents=True)
    (done / "metrics.json").write_text(
        json.dumps(
            {
                "job_id": done.name,
                "status": "done",
                "method": "sort",
                "seed": 0,
                "linear_top1": 0.25,
                "knn_top1": 0.125,
                "retrieval_r1": 0.5,
            }
        )
    )
    failed = runs / jobs["mae"].job_name()
    failed.mkdir()
    (failed / "metrics.json").write_text(
        json.dumps({"job_id": failed.name, "status": "failed", "method": "mae", "seed": 0, "failure_reason": REASON})
    )
    partial = runs / jobs["supervised"].job_name()
    partial.mkdir()
    (partial / "checkpoint.pt").write_bytes(b"")  # a killed job's last checkpoint
    (partial / ".lock").write_text("99999999 elsewhere\n")  # its (dead) holder's lock file, unlocked
    (partial / "progress.json").write_text(json.dumps({"step": 3, "steps": 8, "seconds": 1.5}))
    (runs / jobs["random"].job_name()).mkdir()  # started, nothing written yet: pending
    (runs / "nce__synthetic__tiny3d__seed7__0123456789").mkdir()  # another matrix's run
    return tmp_path  # nce (seed 0) has no folder at all: pending


def test_job_status_each_state(results_dir) -> None:
    jobs = _jobs()
    want = {"sort": "done", "mae": "failed", "supervised": "partial", "random": "pending", "nce": "pending"}
    assert {m: job_status(cfg, results_dir) for m, cfg in jobs.items()} == want
    lock = results_dir / "runs" / jobs["nce"].job_name() / ".lock"
    with file_lock(lock) as got:  # a live holder (another open file description): running
        assert got
        assert job_status(jobs["nce"], results_dir) == "running"
    assert job_status(jobs["nce"], results_dir) == "pending"  # released: nothing ran


def test_status_command_table(results_dir, monkeypatch, capsys) -> None:
    from vssl_bench import cli

    monkeypatch.setattr(cli, "console", Console(width=200, force_terminal=False))
    monkeypatch.setattr(sys, "argv", ["vssl-bench", "status", "--suite", "smoke", "--out", str(results_dir)])
    jobs = _jobs()
    lock = results_dir / "runs" / jobs["nce"].job_name() / ".lock"
    lock.parent.mkdir(parents=True)
    RunDir(lock.parent).write_progress(2, 8, 10.0)  # 5 s a step so far
    with file_lock(lock):
        with pytest.raises(SystemExit) as e:
            cli.main()
    out = capsys.readouterr().out
    assert e.value.code == 0, out
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]  # │ method │ steps │ seed │ status │ detail │
        if len(cells) == 5 and cells[0] in jobs:
            rows[cells[0]] = [cells[0], *cells[2:]]
    assert set(rows) == set(jobs), out
    assert rows["sort"][1:3] == ["0", "done"] and rows["sort"][3] == "linear 25.0  kNN 12.5  R@1 50.0"
    assert rows["mae"][2:] == ["failed", REASON]
    assert rows["supervised"][2:] == ["partial", "checkpoint at step 3/8, no result: resumes on the next run"]
    assert rows["random"][2:] == ["pending", ""]
    assert rows["nce"][2] == "running" and rows["nce"][3].startswith("pid ")
    assert rows["nce"][3].endswith("; step 2/8 (25 %), ~30 s of training left"), rows["nce"]
    assert "1 done, 1 failed, 1 partial, 1 pending, 1 running" in out
    # sort's record has no measured time: nothing to estimate from, said so
    assert (
        "no estimate for 3 job(s) of random, supervised, nce: none like them has finished yet (`--times-from "
        "FOLDER` estimates them from another folder's finished jobs)" in " ".join(out.split())
    )
    assert "1 other run(s)" in out


def test_time_left_from_the_finished_jobs(tmp_path) -> None:
    """The time a matrix still needs, from its finished jobs' measured times: a stopped job
    counts for the steps it has left (its evaluation in full), a failed one not at all unless
    retried, a job with none like it finished is named rather than guessed, and the wall time
    is never below the longest job's."""
    from vssl_bench.cli import _time_left

    jobs = _jobs()
    sort = [dataclasses.replace(jobs["sort"], seed=s) for s in (0, 1, 2, 3)]
    cfgs = [*sort, jobs["mae"], jobs["nce"]]
    RunDir.of(tmp_path, sort[0]).write_metrics({"status": "done", "pretrain_seconds": 3000.0, "eval_seconds": 600.0})
    RunDir.of(tmp_path, sort[1]).write_progress(2, 8, 900.0)  # stopped at a quarter of its steps
    RunDir.of(tmp_path, sort[3]).write_progress(8, 8, 3000.0)  # trained, evaluating
    statuses = ["done", "partial", "pending", "running", "failed", "pending"]
    text = _time_left(cfgs, statuses, tmp_path, n_jobs=2)  # 0.75 x 3000 + 600, 3600, 600 s
    assert text.startswith("about 2.0 h of job time left for 3 job(s) (~60 min of wall time running 2 at a time)"), text
    assert text.endswith("; no estimate for 1 job(s) of nce: none like them has finished yet"), text
    assert "wall time" not in _time_left(cfgs, statuses, tmp_path)  # status: no --jobs to divide by
    assert "(~2.0 h of wall time running 1 at a time)" in _time_left(cfgs, statuses, tmp_path, n_jobs=1)
    assert "(~60 min of wall time running 8" in _time_left(cfgs, statuses, tmp_path, n_jobs=8)  # the longest job
    retried = _time_left(cfgs, statuses, tmp_path, retry_failed=True)
    assert retried.endswith("no estimate for 2 job(s) of mae, nce: none like them has finished yet"), retried
    assert (
        _time_left(cfgs[4:], statuses[4:], tmp_path)
        == "no estimate for 1 job(s) of nce: none like them has finished yet"
    )
    assert _time_left(cfgs[:1], ["done"], tmp_path) == ""  # nothing left
    # another recipe of the method (a grid point, another budget) is timed by the method's jobs
    # at that budget only where none of its own has finished; a budget axis names the budget
    other = dataclasses.replace(sort[2], lr=sort[2].lr / 2)
    RunDir.of(tmp_path, other).write_metrics({"status": "done", "pretrain_seconds": 60.0, "eval_seconds": 0.0})
    assert _time_left([sort[0], other, sort[2]], ["done", "done", "pending"], tmp_path) == (
        "about 60 min of job time left for 1 job(s), from the finished jobs' measured times here"
    )
    fresh = dataclasses.replace(sort[2], lr=sort[2].lr / 4)
    assert _time_left([other, fresh], ["done", "pending"], tmp_path).startswith("about 1 min of job time left")
    longer = dataclasses.replace(fresh, steps=fresh.steps * 2)
    assert _time_left([other, longer], ["done", "pending"], tmp_path) == (
        f"no estimate for 1 job(s) of sort at {longer.steps} steps: none like them has finished yet"
    )


def test_time_left_from_another_folder(tmp_path) -> None:
    """``status --times-from DIR``: jobs none like which finished here are timed by DIR's done
    rows of the same method and budget (an untrained method's at any budget), and the line
    says where the times came from; a folder without a table is a one-line error."""
    from vssl_bench.cli import _measured_times, _time_left
    from vssl_bench.config import ConfigError

    jobs = _jobs()
    other = tmp_path / "other"
    other.mkdir()
    rows = [
        # method, status, steps trained, budget, train s, eval s
        ("sort", "done", 4, 4, 3000.0, 600.0),
        ("sort", "done", 4, 4, 1000.0, 200.0),
        ("sort", "done", 8, 8, 10.0, 1.0),  # another budget: not this one's
        ("mae", "failed", 4, 4, 5.0, 5.0),  # not done: no time
        ("random", "done", 0, 150, 0.0, 60.0),  # untrained: any budget
    ]
    with (other / "results.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "status", "steps", "budget_steps", "pretrain_seconds", "eval_seconds"])
        w.writerows(rows)
    ref = _measured_times(other)
    assert ref[1][("sort", 4)] == [(3000.0, 600.0), (1000.0, 200.0)] and ("mae", 4) not in ref[1]
    assert ref[1][("random", 0)] == [(0.0, 60.0)]
    cfgs = [jobs["sort"], jobs["random"], jobs["mae"]]
    assert jobs["sort"].steps == 4, jobs["sort"].steps
    text = _time_left(cfgs, ["pending"] * 3, tmp_path / "here", reference=ref)  # 2400 + 60 s
    assert text.startswith(
        f"about 41 min of job time left for 2 job(s), from the finished jobs' measured times in {other} "
        "(same method and budget)"
    ), text
    assert text.endswith("no estimate for 1 job(s) of mae: none like them has finished yet"), text  # no hint: given
    RunDir.of(tmp_path / "here", jobs["random"]).write_metrics(
        {"status": "done", "pretrain_seconds": 0.0, "eval_seconds": 6.0}
    )
    seeds = [jobs["sort"], jobs["random"], dataclasses.replace(jobs["random"], seed=1)]
    text = _time_left(seeds, ["pending", "done", "pending"], tmp_path / "here", reference=ref)
    assert "for 1 of them, in" in text and text.startswith("about 40 min of job time left for 2 job(s)"), text
    with pytest.raises(ConfigError, match="no results table"):
        _measured_times(tmp_path / "nowhere")


def test_status_bad_input_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    from vssl_bench import cli

    monkeypatch.setattr(
        sys, "argv", ["vssl-bench", "status", "--suite", "smoke", "--set", "bogus=1", "--out", str(tmp_path)]
    )
    with pytest.raises(SystemExit) as e:
        cli.main()
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert e.value.code == 2 and len(err) == 1 and "bogus" in err[0], err
    nowhere = tmp_path / "nowhere"
    monkeypatch.setattr(
        sys, "argv", ["vssl-bench", "status", "--suite", "smoke", "--times-from", str(nowhere), "--out", str(tmp_path)]
    )
    with pytest.raises(SystemExit) as e:
        cli.main()
    captured = capsys.readouterr()
    err = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert e.value.code == 2 and len(err) == 1 and "--times-from" in err[0] and not captured.out, (err, captured.out)


def test_a_brief_probe_of_the_lock_does_not_turn_a_run_away(tmp_path) -> None:
    """`status` holds a job's lock for an instant; a run starting the job at that instant
    waits (wait_s) instead of taking it for a running job; a really held lock still says no."""
    import threading
    import time

    from vssl_bench.utils import file_lock

    lock = tmp_path / ".lock"
    with file_lock(lock) as held:  # the running job writes its pid
        assert held
    pid_line = lock.read_text()
    probe_holding, release = threading.Event(), threading.Event()

    def probe(hold_s: float) -> None:
        with file_lock(lock, blocking=False, record_pid=False) as got:
            assert got
            probe_holding.set()
            release.wait(hold_s)

    t = threading.Thread(target=probe, args=(0.1,))
    t.start()
    probe_holding.wait(5)
    with file_lock(lock, blocking=False, wait_s=2.0) as got:
        assert got  # the probe let go after 0.1 s
    t.join()
    assert lock.read_text() != "" and pid_line.split()[0].isdigit()
    probe_holding.clear()
    t = threading.Thread(target=probe, args=(5.0,))
    t.start()
    probe_holding.wait(5)
    t0 = time.monotonic()
    with file_lock(lock, blocking=False, wait_s=0.2) as got:
        assert not got  # held longer than wait_s: busy
    assert time.monotonic() - t0 >= 0.2
    release.set()
    t.join()


def test_status_names_evaluations_a_done_job_still_lacks(results_dir, monkeypatch, capsys) -> None:
    """A done job whose switched-on evaluations are missing says which, and whether its
    checkpoint is there to run them; one whose evaluations were skipped for a missing
    checkpoint says so (they would never run on their own)."""
    from vssl_bench import cli
    from vssl_bench.runner import CHECKPOINT_GONE, checkpoint_skipped

    jobs = _jobs()
    sort_dir = RunDir.of(results_dir, jobs["sort"])
    m = json.loads(sort_dir.metrics.read_text())
    m["evaluations"] = {"temporal": {"params": {}, "metrics": {}, "seconds": 0.0, "note": CHECKPOINT_GONE + " (...)"}}
    sort_dir.metrics.write_text(json.dumps(m))
    assert checkpoint_skipped(m) == ["temporal"] and checkpoint_skipped({}) == []
    monkeypatch.setattr(cli, "console", Console(width=400, force_terminal=False))

    def sort_detail(*sets: str) -> str:
        monkeypatch.setattr(
            sys,
            "argv",
            ["vssl-bench", "status", "--suite", "smoke", "--set", "lowshot.shots=1", *sets, "--out", str(results_dir)],
        )
        with pytest.raises(SystemExit) as e:
            cli.main()
        out = capsys.readouterr().out
        assert e.value.code == 0, out
        line = next(ln for ln in out.splitlines() if ln.startswith("│ sort "))
        return line.split("│")[5].strip()

    detail = sort_detail()
    assert detail.startswith("linear 25.0  kNN 12.5  R@1 50.0; to evaluate: lowshot (checkpoint gone"), detail
    assert "skipped for a missing checkpoint: temporal" in detail
    sort_dir.checkpoint.write_bytes(b"")  # a checkpoint: the next run evaluates it without retraining
    assert "to evaluate: lowshot (on its checkpoint)" in sort_detail()
    # budgets reads weight snapshots saved while training: a job trained without them cannot get them
    detail = sort_detail("--set", "budgets.fracs=0.5")
    assert "to evaluate: lowshot, budgets (on its checkpoint); budgets also needs what training saves" in detail
    sort_dir.snapshot(4).write_bytes(b"")
    assert "also needs" not in sort_detail("--set", "budgets.fracs=0.5")


def test_status_says_a_pending_job_has_a_row_without_its_folder(tmp_path, monkeypatch, capsys) -> None:
    """A clone that carries results.csv but not the run folders: the job is pending (`run`
    trains it again), and status says a row is there, so a user is not surprised twice."""
    from vssl_bench import cli
    from vssl_bench.results import results_path, upsert_row

    jobs = _jobs()
    upsert_row(results_path(tmp_path), {"job_id": jobs["sort"].job_name(), "status": "done", "method": "sort"})
    monkeypatch.setattr(cli, "console", Console(width=300, force_terminal=False))
    monkeypatch.setattr(sys, "argv", ["vssl-bench", "status", "--suite", "smoke", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as e:
        cli.main()
    out = capsys.readouterr().out
    assert e.value.code == 0, out
    lines = {ln.split("│")[1].strip(): ln for ln in out.splitlines() if ln.startswith("│ ")}
    assert "pending" in lines["sort"] and "a done row in results.csv but no finished job here" in lines["sort"]
    assert "pending" in lines["nce"] and "results.csv" not in lines["nce"]
    assert "1 pending job(s) have a done row in" in out


def test_status_with_an_unreadable_results_csv_warns_and_answers(tmp_path, monkeypatch, capsys) -> None:
    from vssl_bench import cli

    (tmp_path / "results.csv").mkdir()  # unreadable as a file
    monkeypatch.setattr(cli, "console", Console(width=300, force_terminal=False))
    monkeypatch.setattr(sys, "argv", ["vssl-bench", "status", "--suite", "smoke", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as e:
        cli.main()
    out = capsys.readouterr().out
    assert e.value.code == 0 and "warning" in out and "cannot read" in out and "5 pending" in out, out


def test_progress_text_units(tmp_path) -> None:
    """The training left reads in the unit it reads best in, as the time-left line does."""
    from vssl_bench.cli import _progress_text

    rd = RunDir(tmp_path / "job")
    rd.path.mkdir()
    rd.write_progress(100, 2500, 300.0)  # 3 s a step, 2400 steps left: 2.0 h
    assert _progress_text(rd, running=True) == "step 100/2500 (4 %), ~2.0 h of training left"
    rd.write_progress(100, 1100, 300.0)  # 1000 steps left: 50 min
    assert _progress_text(rd, running=True) == "step 100/1100 (9 %), ~50 min of training left"
    assert _progress_text(rd, running=False) == " at step 100/1100"
    rd.write_progress(1100, 1100, 3300.0)
    assert _progress_text(rd, running=True) == "training done, evaluating"
