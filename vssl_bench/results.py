"""Result rows, the results table (``results.csv``) and provenance.

``results.csv`` has exactly one row per job, keyed by ``job_id`` (the job's name, which
includes a hash of its resolved config). Rows are *upserted* under a file lock and the
table is rewritten atomically (write-then-rename): a kill at any moment leaves either the
old or the new table, two processes never interleave writes, and no row is ever written
twice. Each job's ``metrics.json`` (in its run directory) holds the full record and is
written before the row, so the table can always be rebuilt from the runs.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from vssl_bench.eval import EVALUATIONS
from vssl_bench.utils import atomic_write_text, file_lock

COLUMNS = [
    "job_id",
    "status",
    "method",
    "family",
    "uses_time",
    "backbone",
    "dataset",
    "seed",
    "steps",
    "batch_size",
    "clips_seen",
    "pretrain_seconds",
    "clips_per_second",
    "data_wait_share",
    "linear_top1",
    "linear_video_top1",
    "knn_top1",
    "retrieval_r1",
    "retrieval_r5",
    "retrieval_r10",
    "retrieval_r20",
    "pretext_accuracy",
    "pretext_loss_heldout",
    "eval_seconds",
    "decode_skipped",
    "failure_reason",
    "commit",
    "device",
    "torch",
    "data_digest",
    "finished_at",
    "config_key",
    "chance_top1",
    "chance_r1",
    "chance_r5",
    "chance_r10",
    "chance_r20",  # eval/chance.py: labels only
    # the method's own task on held-out videos beside its chance level and a training-free
    # baseline (methods/base.py): what the report's learnability gate reads
    "pretext_chance",
    "pretext_baseline",
    "pretext_chance_loss",
    "pretext_baseline_loss",
    "pretext_samples",
    "pretext_spread",  # embedding methods: mean squared distance of held-out unit embeddings (0: collapsed)
    "eval_bn",
    "hflip",  # the frozen evaluation's BatchNorm policy; horizontal flips in training views
    "time_blind_control",
    "augmentation",  # facts of the method (its class), read by the verdicts
    "budget_steps",  # the job's budget (its config's steps; `steps` is what it trained: 0 for random)
    "holdout",  # what the evaluations held out: "test", or "val" (a tuning job: never mixed with test rows)
]
# Columns of the evaluations beyond linear / kNN / retrieval, as each declares them at its
# default parameters (others, e.g. more shot counts, are appended as extra columns), and
# each one's wall time. Empty where an evaluation was not run; the full record is in
# metrics.json "evaluations".
EVAL_COLUMNS = [c for e in EVALUATIONS.values() if not e.standard for c in e.columns] + [
    f"{n}_seconds" for n, e in EVALUATIONS.items() if not e.standard
]
COLUMNS = COLUMNS + EVAL_COLUMNS


def results_path(out: Path) -> Path:
    return Path(out) / "results.csv"


def read_rows(path: Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def upsert_row(path: Path, row: dict) -> None:
    """Insert or replace the row with the same ``job_id``; atomic and process-safe."""
    path = Path(path)
    with file_lock(path.with_name(path.name + ".lock")):
        rows = [r for r in read_rows(path) if r.get("job_id") != row["job_id"]]
        rows.append({k: _fmt(row.get(k)) for k in dict.fromkeys([*COLUMNS, *row])})  # + non-default eval columns
        extra = sorted({k for r in rows for k in r} - set(COLUMNS))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COLUMNS + extra, extrasaction="ignore")
        w.writeheader()
        for r in sorted(rows, key=lambda r: (r.get("dataset", ""), r.get("method", ""), r.get("job_id", ""))):
            w.writerow(r)
        atomic_write_text(path, buf.getvalue())


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def result_columns(evaluations: dict | None) -> dict:
    """The ``results.csv`` columns of a job's ``evaluations`` record: every scalar metric
    named with its evaluation's prefix, and ``<name>_seconds``."""
    row = {}
    for name, e in (evaluations or {}).items():
        prefix = EVALUATIONS[name].prefix if name in EVALUATIONS else name + "_"
        for k, v in (e.get("metrics") or {}).items():
            if k.startswith(prefix) and isinstance(v, (int, float, str)) and not isinstance(v, bool):
                row[k] = v
        row[f"{name}_seconds"] = e.get("seconds")
    return row


def row_from_metrics(m: dict) -> dict:
    row = {k: m.get(k) for k in COLUMNS}
    row.update(result_columns(m.get("evaluations")))
    prov = m.get("provenance", {})
    row["commit"] = prov.get("commit")
    row["device"] = prov.get("device")
    row["torch"] = prov.get("versions", {}).get("torch")
    row["data_digest"] = prov.get("data", {}).get("digest")  # datasets.data_fingerprint
    cfg = prov.get("config", {})
    row["eval_bn"] = cfg.get("eval_bn", "pretrain")  # results written before the setting: their own statistics
    row["budget_steps"] = cfg.get("steps") or m.get("steps")  # an epoch budget: the steps it came to
    row["holdout"] = cfg.get("holdout", "test")
    row["hflip"] = m.get("hflip")
    return row
