"""The body of one job process of ``run --jobs N`` (``launch.run_parallel`` spawns it).

Kept apart from ``launch`` on purpose: a spawned process imports the module of its target
before running it, and this one imports nothing heavy at the top, so the job's GPU
(``CUDA_VISIBLE_DEVICES``) and thread count (``OMP_NUM_THREADS``) are set before torch is
imported. The job's progress (``utils.heartbeat``) goes to the parent's watchdog as
``("beat", what)`` messages on the pipe that finally carries its outcome.

A job process does not outlive its parent: the parent stops its job processes when it is
interrupted or terminated (``launch.run_parallel``), and a parent killed outright
(``SIGKILL``, out of memory) is seen here within a beat (the process is re-parented, or the
pipe is broken): the job stops where it is, its last checkpoint on disk, and the next
``run`` resumes it. Training on unwatched would hold the job's lock and cores, invisibly.
"""

from __future__ import annotations

import _thread
import logging
import os
import signal
import threading
import time
from pathlib import Path

BEAT_EVERY_S = 5.0  # a job process reports progress to the parent at most this often


def main(cfg, out: Path, retry_failed: bool, gpu: str | None, conn) -> None:
    """Pin the job's GPU and threads, run it, send its outcome to the parent."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # before CUDA initialises in this process
    if cfg.threads > 0:
        os.environ["OMP_NUM_THREADS"] = str(cfg.threads)  # before torch is imported here
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    if hasattr(signal, "SIGUSR1"):  # the parent's drain signal, sent to the process group too: this job trains on
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # (blocked since the parent started it; blocked it stays,
        # so DataLoader workers started from here inherit the block across their exec, and live on too)
    latest = {"n": 1, "what": "starting", "done": False}  # progress so far; a thread forwards it when it moved
    send_lock = threading.Lock()  # the outcome and the beats share the pipe

    parent = os.getppid()

    def forward(every: float) -> None:
        sent = 0
        while True:
            with send_lock:
                if latest["done"]:  # the outcome went, the pipe is closed
                    return
                orphaned = os.getppid() != parent  # the parent died: this process was re-parented
                if not orphaned and latest["n"] != sent:
                    sent = latest["n"]
                    try:
                        conn.send(("beat", latest["what"]))
                    except OSError:  # broken pipe: nobody reads this job's outcome any more
                        orphaned = True
            if orphaned:
                logging.warning("the run process of this job is gone: job stopped, it resumes on the next run")
                _thread.interrupt_main()  # KeyboardInterrupt in the job's thread, handled below
                return
            time.sleep(every)

    def beat(what: str) -> None:
        latest["what"] = what
        latest["n"] += 1

    # started before the imports below (seconds, more on a loaded machine): the parent
    # hears from this process at once
    threading.Thread(target=forward, args=(min(BEAT_EVERY_S, cfg.job_stall_s / 5),), daemon=True).start()
    # after the environment above: these import torch
    from vssl_bench.runner import run_job
    from vssl_bench.utils import set_heartbeat

    set_heartbeat(beat)
    beat("imported")

    try:
        outcome = run_job(cfg, out, None, retry_failed)  # no progress bar in workers
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group, or the parent is gone
        return
    with send_lock:
        latest["done"] = True
        conn.send(outcome)
        conn.close()
