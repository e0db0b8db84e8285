"""What fork-safe DataLoader workers cost: start-up and throughput by start method.

Every loader of the package starts its workers from a forkserver (``vssl_bench.data.loader``)
instead of forking the process that reads videos. This measures, on the embedded dataset
and a method's real training views, for ``fork`` (the unsafe default), ``forkserver`` (the
package's choice) and ``spawn``:

- ``first batch``: seconds from creating the loader to its first batch, the first loader of
  the process (a forkserver starts then, importing torch and the package once) and a
  second loader (the server is warm: what each later evaluation loader pays);
- ``clips/s``: steady state over ``--batches`` batches of persistent workers (what a
  training job sees after its one start-up).

Usage: ``.venv/bin/python benchmarks/worker_startup.py --workers 2 --batches 40``
(each start method in a fresh process, so every "first loader" is a cold start).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from functools import partial


def measure(method: str, workers: int, batches: int, view_method: str) -> dict:
    import multiprocessing as mp

    import torch

    from vssl_bench.config import Config
    from vssl_bench.data.datasets import PretrainDataset, build_dataset
    from vssl_bench.data.loader import PRELOAD, worker_init
    from vssl_bench.methods import get_method, resolve_params
    from vssl_bench.methods.base import params_from_dict

    cfg = Config(method=view_method)
    train, _ = build_dataset(cfg)
    cls = get_method(view_method)
    p = params_from_dict(cls, resolve_params(view_method, {}))
    ds = PretrainDataset(train, partial(cls.views, p=p, cfg=cfg), cfg, seed=0)
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(PRELOAD)
    out = {"start_method": method, "workers": workers}

    def loader(persistent: bool):
        return torch.utils.data.DataLoader(
            ds,
            batch_size=32,
            shuffle=True,
            num_workers=workers,
            multiprocessing_context=ctx,
            worker_init_fn=worker_init,
            persistent_workers=persistent,
            drop_last=True,
        )

    for name in ("first_batch_cold_s", "first_batch_warm_s"):
        t0 = time.perf_counter()
        it = iter(loader(False))
        next(it)
        out[name] = round(time.perf_counter() - t0, 3)
        del it
    dl = loader(True)
    n, t0 = 0, None
    while n < batches:
        for _ in dl:
            if t0 is None:
                t0 = time.perf_counter()  # after the first batch: steady state
                continue
            n += 1
            if n >= batches:
                break
    out["clips_per_s"] = round(n * 32 / (time.perf_counter() - t0), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--method", default="supervised", help="whose training views the workers build")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: measure one start method
    a = ap.parse_args()
    if a.one:
        print(json.dumps(measure(a.one, a.workers, a.batches, a.method)))
        return
    rows = []
    for m in ("fork", "forkserver", "spawn"):
        r = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                m,
                "--workers",
                str(a.workers),
                "--batches",
                str(a.batches),
                "--method",
                a.method,
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if r.returncode:
            raise SystemExit(r.stderr)
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    print(f"{'start method':<12} {'first batch, cold':>18} {'first batch, warm':>18} {'clips/s':>9}")
    for r in rows:
        print(
            f"{r['start_method']:<12} {r['first_batch_cold_s']:>17.2f}s {r['first_batch_warm_s']:>17.2f}s "
            f"{r['clips_per_s']:>9.0f}"
        )


if __name__ == "__main__":
    main()
