"""Matrix execution: ``run --jobs N`` (spawned worker processes, cores and GPUs shared out)
and ``run --launcher slurm`` (submitit; here its local executor, which runs each submitted
job as a detached process on this machine exactly as SLURM would run it on a node).

Slot planning and the option handling are checked on hand-built cases; the two launchers
run the smoke suite's tiny jobs for real.
"""

from __future__ import annotations

import json
import pickle
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest
from test_cli import _cmd, _env, _rows

from vssl_bench.config import ConfigError
from vssl_bench.launch import CLUSTER_ENV, SLURM_DEFAULTS, Slot, cpu_cores, plan_slots, slurm_options, visible_gpus
from vssl_bench.suite import load_suite

FAST = ["--set", "eval_clips=1"]  # threads left unset: --jobs decides them


def _run(
    args: list[str],
    kill_at: str | None = None,
    cluster: str | None = None,
    timeout: float = 120,
    slow_step_s: float | None = None,
):
    import subprocess

    env = _env()
    for k, v in (
        ("VSSL_BENCH_KILL_AT", kill_at),
        (CLUSTER_ENV, cluster),
        ("VSSL_BENCH_SLOW_STEP_S", None if slow_step_s is None else str(slow_step_s)),
    ):
        env.pop(k, None)
        if v:
            env[k] = v
    # Output through files, not pipes: a job that submitit's local executor starts inherits
    # this process's descriptors, and reading a pipe would wait for that job to end too.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.run(_cmd(*args), stdout=out, stderr=err, text=True, timeout=timeout, env=env)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())


# ------------------------------------------------------------------------ slot planning
def test_plan_slots_known_answers() -> None:
    assert plan_slots(2, 16, []) == [Slot(8, None), Slot(8, None)]
    assert plan_slots(3, 2, ["0", "1"]) == [Slot(1, "0"), Slot(1, "1"), Slot(1, "0")]  # round robin, >= 1 thread
    assert plan_slots(4, 18, ["2", "5"]) == [Slot(4, "2"), Slot(4, "5"), Slot(4, "2"), Slot(4, "5")]
    assert plan_slots(1, 8, ["GPU-a1"]) == [Slot(8, "GPU-a1")]
    with pytest.raises(ConfigError, match="--jobs"):
        plan_slots(0, 8, [])


def test_visible_gpus(monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3, 1")
    assert visible_gpus("auto") == ["3", "1"] and visible_gpus("cuda") == ["3", "1"]
    assert visible_gpus("cpu") == [] and visible_gpus("cuda:1") == []  # an explicit device is not re-pinned
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus("auto") == []


# ------------------------------------------------------------------------ SLURM options
def test_slurm_options_suite_then_command_line(tmp_path) -> None:
    p = tmp_path / "gpu.yaml"
    p.write_text("name: gpu\nmethods: [sort]\nslurm:\n  partition: gpu\n  time: 30\n  gpus_per_job: 2\n")
    s = load_suite(str(p))
    assert s.slurm == {"partition": "gpu", "time": 30, "gpus_per_job": 2}
    assert slurm_options(s.slurm) == {
        "partition": "gpu",
        "time": 30,
        "gpus_per_job": 2,
        "cpus_per_job": 8,
        "signal_delay_s": 90,
    }
    assert slurm_options(s.slurm, partition="big", time=None, gpus_per_job=0, cpus_per_job=None) == {
        "partition": "big",
        "time": 30,
        "gpus_per_job": 0,
        "cpus_per_job": 8,
        "signal_delay_s": 90,
    }
    assert slurm_options({}) == SLURM_DEFAULTS
    assert slurm_options({"signal_delay_s": "120"})["signal_delay_s"] == 120
    with pytest.raises(ConfigError, match="signal_delay_s must be >= 1"):
        slurm_options({"signal_delay_s": 0})
    with pytest.raises(ConfigError, match="time must be >= 1"):
        slurm_options({}, time=0)
    with pytest.raises(ConfigError, match="cpus_per_job must be an integer"):
        slurm_options({"cpus_per_job": "many"})


def test_suite_slurm_mapping_unknown_key(tmp_path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("methods: [sort]\nslurm:\n  partiton: gpu\n")
    with pytest.raises(ConfigError) as e:
        load_suite(str(p))
    msg = str(e.value)
    assert "partiton" in msg and "partition" in msg and "cpus_per_job" in msg and "\n" not in msg


@pytest.mark.parametrize(
    "args,expect",
    [
        (["--launcher", "slurm"], ["sbatch", "--launcher local"]),
        (["--launcher", "pbs"], ["pbs", "local", "slurm"]),
        (["--jobs", "0"], ["--jobs", "1"]),
        (["--jobs", "2", "--launcher", "slurm"], ["--jobs", "local"]),
        (["--launcher", "slurm", "--time", "0"], ["time", ">= 1"]),
    ],
)
def test_launcher_mistakes_are_one_line_exit_2(args, expect, tmp_path, monkeypatch, capsys) -> None:
    from vssl_bench import cli

    monkeypatch.delenv(CLUSTER_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here (nor anywhere on this machine)
    monkeypatch.setattr(sys, "argv", ["vssl-bench", "run", "--suite", "smoke", *args, "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as e:
        cli.main()
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert e.value.code == 2 and len(lines) == 1 and lines[0].startswith("error:"), cap.out + cap.err
    for word in expect:
        assert word in lines[0], (word, lines[0])
    assert not (tmp_path / "o").exists()  # nothing started


# ------------------------------------------------------------------------ --jobs N, for real
def _par_args(smoke_data_root: Path, out: Path) -> list[str]:
    return [
        "run",
        "--suite",
        "smoke",
        "--methods",
        "random,sort",
        "--no-references",
        *FAST,
        "--jobs",
        "2",
        "--data-root",
        str(smoke_data_root),
        "--out",
        str(out),
    ]


def test_parallel_jobs_one_line_and_one_row_each(smoke_data_root, tmp_path) -> None:
    out = tmp_path / "par"
    r = _run(_par_args(smoke_data_root, out))
    text = " ".join(r.stdout.split())
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 run, 0 skipped, 0 failed" in text
    assert text.count("done random seed 0") == 1 and text.count("done sort seed 0") == 1
    for bar in ("━", "╸", "clips/s"):  # no progress bar from workers (nor the parent: not a terminal)
        assert bar not in r.stdout + r.stderr
    rows = _rows(out)
    assert sorted(row["method"] for row in rows) == ["random", "sort"] and all(x["status"] == "done" for x in rows)
    threads = max(1, cpu_cores() // 2)  # the cores shared by the two slots (threads not set)
    assert all(f"{threads} threads" in row["device"] for row in rows), [row["device"] for row in rows]

    r = _run(_par_args(smoke_data_root, out))  # all finished: answered without starting a worker
    assert r.returncode == 0 and "0 run, 2 skipped, 0 failed" in " ".join(r.stdout.split()), r.stdout + r.stderr
    assert _rows(out) == rows


@pytest.mark.slow
def test_parallel_jobs_survive_a_killed_worker_and_resume(smoke_data_root, tmp_path) -> None:
    """``--jobs 2`` on random + sort; the ``sort`` worker is SIGKILLed after step 3 (random
    does not train, so it finishes): the parent reports the dead worker, records nothing for
    it, and the same command resumes it in a new worker."""
    out = tmp_path / "par"
    args = _par_args(smoke_data_root, out)
    r = _run(args, kill_at="train:3")
    text = " ".join(r.stdout.split())
    assert r.returncode == 1, r.stdout + r.stderr
    assert text.count("done random seed 0") == 1
    assert re.search(r"FAILED sort__\S+: worker process died \(killed by signal 9\); run again to resume", text), text
    assert "1 run, 0 skipped, 1 failed" in text
    assert [row["method"] for row in _rows(out)] == ["random"]  # nothing recorded for the killed job
    (sort_dir,) = (out / "runs").glob("sort__*")
    assert (sort_dir / "checkpoint.pt").is_file() and not (sort_dir / "metrics.json").exists()

    r = _run(args)
    text = " ".join(r.stdout.split())
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 run, 1 skipped, 0 failed" in text and text.count("done sort seed 0") == 1
    assert sorted(row["method"] for row in _rows(out)) == ["random", "sort"]
    m = json.loads((sort_dir / "metrics.json").read_text())
    assert m["resumed"] == 1 and m["steps"] == 4 and m["status"] == "done"


# ------------------------------------------------------------------------ SLURM via submitit, for real
def test_slurm_launcher_with_submitit_local_executor(smoke_data_root, tmp_path) -> None:
    out = tmp_path / "slurm_out"
    args = [
        "run",
        "--suite",
        "smoke",
        "--methods",
        "sort",
        "--no-references",
        *FAST,
        "--launcher",
        "slurm",
        "--time",
        "5",
        "--cpus-per-job",
        "1",
        "--gpus-per-job",
        "0",
        "--data-root",
        str(smoke_data_root),
        "--out",
        str(out),
    ]
    r = _run(args, cluster="local")
    assert r.returncode == 0, r.stdout + r.stderr
    text = " ".join(r.stdout.split())
    (job_id,) = re.findall(r"submitted sort__\S+ as job (\S+)", text)
    assert "1 submitted, 0 not submitted" in text

    result = out / "slurm" / f"{job_id}_0_result.pkl"
    deadline = time.monotonic() + 150
    while not result.exists():
        assert time.monotonic() < deadline, (out / "slurm" / f"{job_id}_0_log.err").read_text()
        time.sleep(0.5)
    time.sleep(0.2)  # written by submitit after run_job returned
    kind, outcome = pickle.loads(result.read_bytes())
    assert kind == "success" and outcome.status == "done", (kind, outcome)
    assert (out / "slurm" / f"{job_id}_0_log.out").exists()  # logs under <out>/slurm/
    rows = _rows(out)
    assert len(rows) == 1 and rows[0]["method"] == "sort" and rows[0]["status"] == "done"
    assert rows[0]["job_id"] == outcome.name and "1 threads" in rows[0]["device"]  # --cpus-per-job 1

    r = _run(args, cluster="local")  # finished: not submitted again, still one row
    text = " ".join(r.stdout.split())
    assert r.returncode == 0 and "0 submitted, 1 not submitted" in text and "skip sort__" in text, text
    assert len(_rows(out)) == 1
    assert not list((out / "slurm").glob("*_submitted.pkl"))[1:]  # one submission in all


def test_slurm_job_requeues_the_same_call() -> None:
    """What submitit runs and, on SLURM's warning signal, requeues: the same call (same
    config, results folder, retry switch), picklable (submitit pickles it to the job)."""
    from submitit.helpers import DelayedSubmission

    from vssl_bench.config import Config
    from vssl_bench.launch import SlurmJob

    cfg, out = Config(method="sort", steps=3), Path("/tmp/somewhere")
    job = pickle.loads(pickle.dumps(SlurmJob()))
    again = job.checkpoint(cfg, out, True)
    assert isinstance(again, DelayedSubmission) and isinstance(again.function, SlurmJob)
    assert again.args == (cfg, out, True) and not again.kwargs


def test_slurm_submission_carries_retry_failed(tmp_path, monkeypatch) -> None:
    """``--retry-failed`` reaches the job on the node (it used to run ``run_job(cfg, out)``,
    which then skipped the failed job it was sent to retry)."""
    import contextlib

    import submitit

    from vssl_bench.config import Config
    from vssl_bench.launch import SlurmJob, submit_slurm

    calls = []

    class FakeExecutor:
        def __init__(self, folder, cluster):
            self.params = {}

        def update_parameters(self, **kw):
            self.params.update(kw)

        def batch(self):
            return contextlib.nullcontext()

        def submit(self, fn, *args):
            calls.append((fn, args, self.params))
            return type("Job", (), {"job_id": "1"})()

    monkeypatch.setattr(submitit, "AutoExecutor", FakeExecutor)
    opts = dict(SLURM_DEFAULTS, signal_delay_s=120)
    for retry in (False, True):
        calls.clear()
        (sub,) = submit_slurm([Config(method="sort", steps=3)], tmp_path, opts, "slurm", retry_failed=retry)
        ((fn, args, params),) = calls
        assert isinstance(fn, SlurmJob) and args[1:] == (tmp_path, retry) and sub.job_id == "1"
        assert params["slurm_signal_delay_s"] == 120 and params["timeout_min"] == 720


def _slow_suite(tmp_path: Path, steps: int, seeds: str, extra: str = "") -> Path:
    """A suite of tiny ``sort`` jobs with a checkpoint every 2 steps (``VSSL_BENCH_SLOW_STEP_S``
    makes each step last long enough to stop a job mid-training on any machine)."""
    suite = tmp_path / "slow.yaml"
    suite.write_text(
        f"name: slow\ndataset: synthetic\nbackbone: tiny3d\nmethods: [sort]\nseeds: {seeds}\n"
        f"config: {{steps: {steps}, clip_len: 8, frame_stride: 2, batch_size: 8, checkpoint_every: 2, "
        "eval_clips: 1, linear_epochs: 2, pretext_eval_batches: 1, synthetic_train_per_class: 6, "
        f"synthetic_test_per_class: 3}}\n{extra}"
    )
    return suite


@pytest.mark.slow
def test_slurm_job_cut_by_its_time_limit_requeues_and_resumes(smoke_data_root, tmp_path) -> None:
    """submitit's local executor plays SLURM: 1-minute limit, its warning 30 s before it,
    so ~30 s into each run, mid-training: 40 steps made to last >= 1 s each
    (``VSSL_BENCH_SLOW_STEP_S``, whatever the machine), a checkpoint every 2; the job
    requeues itself, resumes from its checkpoint and finishes (submitit allows 3
    time-outs): one row, ``resumed`` >= 1."""
    suite = _slow_suite(tmp_path, steps=40, seeds="[0]", extra="slurm: {time: 1, cpus_per_job: 1, gpus_per_job: 0}\n")
    out = tmp_path / "requeue"
    r = _run(
        [
            "run",
            "--suite",
            str(suite),
            "--no-references",
            "--launcher",
            "slurm",
            "--data-root",
            str(smoke_data_root),
            "--out",
            str(out),
        ],
        cluster="local",
        slow_step_s=1.0,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (job_id,) = re.findall(r"submitted sort__\S+ as job (\S+)", " ".join(r.stdout.split()))
    log_out = out / "slurm" / f"{job_id}_0_log.out"
    deadline = time.monotonic() + 240  # the submitted job runs on after `run` returns
    while not list((out / "runs").glob("sort__*/metrics.json")):
        assert time.monotonic() < deadline, (out / "slurm" / f"{job_id}_0_log.err").read_text()
        time.sleep(1.0)
    run_dir = next((out / "runs").glob("sort__*"))
    m = json.loads((run_dir / "metrics.json").read_text())
    log_err = (out / "slurm" / f"{job_id}_0_log.err").read_text()
    assert m["status"] == "done" and m["resumed"] >= 1 and m["steps"] == 40, (m, log_err)
    assert "requeued, it resumes from its last checkpoint" in log_err + log_out.read_text()
    assert len(_rows(out)) == 1


def test_a_job_process_imports_no_torch_before_its_environment() -> None:
    """The spawned job process's module (``job_process``) imports no torch: the process sets
    CUDA_VISIBLE_DEVICES and OMP_NUM_THREADS before torch loads in it."""
    import subprocess

    code = "import sys, vssl_bench.job_process; print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "False", r.stdout + r.stderr


def _alive(pid: int) -> bool:
    """A process that runs (a zombie, exited and not yet reaped, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _signal_once_two_train(args: list[str], out: Path, send, group: bool = False) -> tuple[int, str]:
    """Start ``vssl-bench ARGS`` (steps made to last 0.5 s each), wait until two jobs train
    (each has a checkpoint), call ``send(process, checkpoints)``, wait for the run to end:
    its exit code and its output on one line. ``group``: in a process group of its own."""
    import subprocess

    env = {**_env(), "VSSL_BENCH_SLOW_STEP_S": "0.5"}
    with tempfile.TemporaryFile("w+") as log:
        p = subprocess.Popen(
            _cmd(*args), stdout=log, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=group
        )
        try:
            deadline = time.monotonic() + 180
            while len(ckpts := list((out / "runs").glob("sort__*/checkpoint.pt"))) < 2:  # both training
                assert p.poll() is None and time.monotonic() < deadline, (p.poll(), log.seek(0), log.read())
                time.sleep(0.2)
            send(p, ckpts)
            code = p.wait(timeout=180)
        finally:
            if p.poll() is None:
                p.kill()
        log.seek(0)
        return code, " ".join(log.read().split())


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc (Linux)")
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_a_stopped_run_leaves_no_job_process_behind(sig, smoke_data_root, tmp_path) -> None:
    """``--jobs 2``, two jobs training (steps made to last 0.5 s each), then the ``run``
    process gets ``sig``. SIGTERM (kill, timeout, a batch system): it stops its job
    processes itself, says how to resume, exits 143. SIGKILL (cannot be caught): each job
    process sees its parent gone within a beat and stops. Either way no job process trains
    on, unwatched, holding the job's lock and cores; after SIGTERM the same command resumes
    both jobs from their checkpoints."""
    import os
    import subprocess

    suite = _slow_suite(tmp_path, steps=200, seeds="[0, 1]")
    out = tmp_path / "stopped"
    args = ["run", "--suite", str(suite), "--no-references", "--jobs", "2"]
    args += ["--data-root", str(smoke_data_root), "--out", str(out)]
    workers: list[int] = []

    def send(p, ckpts) -> None:
        workers.extend(int((c.parent / ".lock").read_text().split()[0]) for c in ckpts)
        assert p.pid not in workers and all(_alive(w) for w in workers)
        p.send_signal(getattr(signal, sig))

    code, text = _signal_once_two_train(args, out, send)
    deadline = time.monotonic() + 30  # a job process checks on its parent every beat (5 s)
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert not left, f"job processes {left} outlived the run process ({sig})"
    assert not (out / "results.csv").exists() or _rows(out) == []  # nothing recorded half-done
    if sig == "SIGKILL":
        assert code == -signal.SIGKILL
        return
    assert code == 128 + signal.SIGTERM, text
    assert "stopped by SIGTERM: run the same command again to resume where it stopped" in text, text
    assert "Traceback" not in text, text
    r = subprocess.run(_cmd(*args), capture_output=True, text=True, timeout=600, env=_env())
    assert r.returncode == 0, r.stdout + r.stderr
    rows = _rows(out)
    assert sorted(row["seed"] for row in rows) == ["0", "1"] and all(row["status"] == "done" for row in rows)
    for run_dir in (out / "runs").glob("sort__*"):
        m = json.loads((run_dir / "metrics.json").read_text())
        assert m["resumed"] >= 1 and m["steps"] == 200


def test_stop_signals_an_ignoring_parent_set_stay_ignored() -> None:
    """Under ``nohup`` (SIGHUP ignored) closing the terminal must not stop a run; SIGTERM,
    not ignored, gets the handler that stops the job processes."""
    import subprocess

    code = (
        "import signal; signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        "from vssl_bench import cli; cli._install_stop_handlers()\n"
        "print(signal.getsignal(signal.SIGHUP) is signal.SIG_IGN, signal.getsignal(signal.SIGTERM) is cli._stop)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.split() == ["True", "True"], r.stdout + r.stderr


def test_sigusr1_drains_a_run_finishing_its_running_jobs(smoke_data_root, tmp_path) -> None:
    """``--jobs 2`` over three ``sort`` seeds; SIGUSR1 to the whole process group (as
    ``timeout -s USR1`` sends it) once the first two are training: both job processes ignore
    it and finish (not cut short: ``resumed`` 0), the third is not started, the run says so
    and exits 128 + SIGUSR1; the same command then runs only the third."""
    import os
    import subprocess

    suite = _slow_suite(tmp_path, steps=12, seeds="[0, 1, 2]")
    out = tmp_path / "drained"
    args = ["run", "--suite", str(suite), "--no-references", "--jobs", "2"]
    args += ["--data-root", str(smoke_data_root), "--out", str(out)]
    # to the whole group: the run process, its job processes, multiprocessing's helpers
    code, text = _signal_once_two_train(args, out, lambda p, _: os.killpg(p.pid, signal.SIGUSR1), group=True)
    assert code == 128 + signal.SIGUSR1, text
    assert "worker process died" not in text, text
    assert "SIGUSR1: finishing the jobs running now, starting no new one" in text, text
    assert "2 run, 0 skipped, 0 failed, 1 not started (SIGUSR1: the same command runs them)" in text, text
    assert "Traceback" not in text, text
    rows = _rows(out)
    assert sorted(row["seed"] for row in rows) == ["0", "1"] and all(row["status"] == "done" for row in rows)
    for seed in (0, 1):
        (run_dir,) = (out / "runs").glob(f"sort__*seed{seed}__*")
        assert json.loads((run_dir / "metrics.json").read_text())["resumed"] == 0  # finished, not cut short
    assert not list((out / "runs").glob("sort__*seed2__*/checkpoint.pt"))  # never started

    r = subprocess.run(_cmd(*args), capture_output=True, text=True, timeout=600, env=_env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 run, 2 skipped, 0 failed" in " ".join(r.stdout.split()), r.stdout
    assert sorted(row["seed"] for row in _rows(out)) == ["0", "1", "2"]


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="no SIGUSR1 (Windows)")
def test_the_drain_signal_is_taken_only_while_jobs_run_here(monkeypatch) -> None:
    """``run`` / ``tune`` take SIGUSR1 while their jobs run on this machine and give back the
    previous disposition after (``report``, ``status``, a SLURM submission keep the default);
    not where it was ignored, nor under ``torchrun`` (every rank must run the same jobs)."""
    from vssl_bench import cli

    before = signal.getsignal(signal.SIGUSR1)
    with cli._drain_on_signal():
        assert signal.getsignal(signal.SIGUSR1) is cli._on_drain_signal
    assert signal.getsignal(signal.SIGUSR1) is before
    monkeypatch.setenv("WORLD_SIZE", "2")
    with cli._drain_on_signal():
        assert signal.getsignal(signal.SIGUSR1) is before
    monkeypatch.setenv("WORLD_SIZE", "1")
    previous = signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    try:
        with cli._drain_on_signal():
            assert signal.getsignal(signal.SIGUSR1) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_a_drained_matrix_starts_no_job_but_still_skips_finished_ones(monkeypatch, tmp_path) -> None:
    """One job at a time (``run_matrix`` in this process): once draining, a finished job is
    still skipped (its row repaired), a job that would train is ``not-started`` and never
    run; ``on_done`` hears only about the jobs it ran or skipped."""
    from vssl_bench import launch
    from vssl_bench.runner import JobOutcome

    class Job:
        def __init__(self, name: str, finished: bool) -> None:
            self.name, self.finished = name, finished

        def job_name(self) -> str:
            return self.name

    ran: list[str] = []

    def run_job(cfg, out, progress, retry_failed):
        ran.append(cfg.name)
        if cfg.name == "a":
            launch.request_drain()  # arrives while the first job trains
        return JobOutcome(cfg.name, "skipped-done" if cfg.finished else "done")

    monkeypatch.setattr(launch, "run_job", run_job)
    monkeypatch.setattr(launch, "nothing_to_do", lambda cfg, out, retry: cfg.finished)
    monkeypatch.setattr(launch, "job_status", lambda cfg, out: "pending")
    monkeypatch.setattr(launch, "_drain_requested", False)  # this test's own flag, restored after
    heard: list[str] = []
    jobs = [Job("a", False), Job("b", True), Job("c", False)]
    outcomes = launch.run_matrix(jobs, tmp_path, on_done=lambda o, s: heard.append(o.name))
    assert ran == ["a", "b"] and heard == ["a", "b"]
    assert [o.status for o in outcomes] == ["done", "skipped-done", launch.NOT_STARTED]
    assert launch.draining()
