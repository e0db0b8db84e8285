"""Running the evaluations beyond linear / kNN / retrieval for one job (issue 6).

``cfg.evaluations`` switches them on (suite YAML ``evaluations:`` or ``--set
evaluations=lowshot,temporal``); each is a documented function in its own module:

=========  ==========================================  ===================================
name       what                                        module
=========  ==========================================  ===================================
lowshot    linear + kNN with 1/5/10 labels per class   ``lowshot.py`` (cached features)
temporal   reversal-pair probe, clip vs reversed clip  ``temporal.py`` (+ 2 x test centre clips)
budgets    linear + kNN at 1/4, 1/2 of the steps       ``budgets.py`` (snapshots, centre clips)
finetune   whole network trained with labels           ``finetune.py`` (finetune_steps steps)
shift      linear + kNN on another dataset             ``shift.py`` (target centre clips)
=========  ==========================================  ===================================

Each evaluation's record in ``metrics.json`` is ``evaluations[name] = {"params": {...},
"metrics": {...}, "seconds": s}`` (+ ``"note"`` when it was skipped, e.g. a dataset without
reversal pairs, + ``"error"`` when it raised: the job stays ``done``, its standard metrics
are valid, and ``--retry-failed`` runs the evaluation again). ``params`` hold everything
that defines the result, seed included. Scalar metrics whose names start with the
evaluation's prefix (``lowshot_``, ``temporal_``, ``budget_``, ``finetune_``, ``shift_``)
become ``results.csv`` columns (``results.row_from_metrics``), with ``<name>_seconds``: the
wall time of that evaluation, including any feature extraction it needed beyond the
standard evaluation's (on a finished job: also the standard feature banks, recomputed).

The switches are not part of the job key: a finished job for which an evaluation is
missing, or was run with other parameters, gets only that evaluation, on its saved
checkpoint (:func:`evaluate_finished_job`), with no retraining. ``budgets`` needs the
snapshots written during training; a job trained without them records a note instead.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from vssl_bench.config import EVALUATION_PREFIX, EVALUATIONS, Config
from vssl_bench.utils import error_line

log = logging.getLogger("vssl_bench")

NEEDS_BANKS = ("lowshot", "temporal")  # reuse the main evaluation's cached features


def eval_params(name: str, cfg: Config) -> dict:
    """Everything that defines evaluation ``name``'s result (JSON-plain, for the record and
    to tell whether a stored result is still current)."""
    probe = {"linear_epochs": cfg.linear_epochs, "linear_lr": cfg.linear_lr,
             "linear_weight_decay": cfg.linear_weight_decay, "knn_k": cfg.knn_k,
             "knn_temperature": cfg.knn_temperature, "seed": cfg.seed}
    if name == "lowshot":
        p = {"shots": list(cfg.lowshot_shots), "draws": cfg.lowshot_draws, "features": "centre clip", **probe}
    elif name == "temporal":
        p = {"features": "centre clip, forward and time-reversed", "chance": 0.5, **probe}
    elif name == "budgets":
        p = {"fracs": list(cfg.budget_fracs), "features": "centre clip", **probe}
    elif name == "finetune":
        p = {"steps": cfg.finetune_steps, "lr": cfg.finetune_lr, "batch_size": cfg.batch_size,
             "weight_decay": cfg.weight_decay, "warmup_frac": cfg.warmup_frac, "grad_clip": cfg.grad_clip,
             "optimizer": "AdamW, warm-up + cosine", "augmentation": "random clip, crop scale 0.6-1, no flip",
             "eval_clips": cfg.eval_clips, "seed": cfg.seed}
    elif name == "shift":
        from vssl_bench.eval.shift import EMBEDDED_SHIFT

        p = {"dataset": cfg.shift_dataset or EMBEDDED_SHIFT.get(cfg.dataset), "data_root": cfg.shift_data_root,
             "features": "centre clip", **probe}
    else:
        from vssl_bench.config import choice_error

        raise choice_error("evaluation", name, EVALUATIONS)
    return json.loads(json.dumps(p))


def pending_evaluations(cfg: Config, metrics: dict | None, retry_failed: bool = False) -> list[str]:
    """Switched-on evaluations that ``metrics`` lacks, ran with other parameters, or
    (with ``retry_failed``) ended in an error."""
    done = (metrics or {}).get("evaluations") or {}
    out = []
    for name in cfg.evaluations:
        e = done.get(name)
        if e is None or e.get("params") != eval_params(name, cfg) or (retry_failed and "error" in e):
            out.append(name)
    return out


def run_evaluations(method, train, test, cfg: Config, device: torch.device, run_dir: Path,
                    names=None, banks: dict | None = None, final: dict | None = None,
                    total_steps: int | None = None, progress=None) -> dict:
    """Run evaluations ``names`` (default ``cfg.evaluations``) on ``method``; returns
    ``{name: {"params", "metrics", "seconds"[, "note" | "error"]}}``.

    Args:
        method: the model after pretraining, left unchanged (frozen parts run in eval mode;
            ``budgets`` and ``finetune`` work on copies).
        banks: the main evaluation's ``{"train", "test"}`` feature banks (extracted here
            when None and ``lowshot`` / ``temporal`` need them).
        final: the job's main metrics (``linear_top1`` / ``knn_top1``: the last budget point).
        total_steps: the job's budget in steps (default from ``cfg``).
    """
    from vssl_bench.train import total_steps as budget_steps

    names = [n for n in EVALUATIONS if n in (cfg.evaluations if names is None else names)]
    if total_steps is None:
        total_steps = budget_steps(cfg, len(train))
    out = {}
    for name in names:
        method.eval()  # frozen evaluations never update BatchNorm statistics
        t0 = time.perf_counter()
        entry: dict = {"params": eval_params(name, cfg)}
        try:
            if name in NEEDS_BANKS and not banks:
                banks = _extract_banks(method, train, test, cfg, device)
            res = _run_one(name, method, train, test, cfg, device, run_dir, banks, final, total_steps, progress)
            if "note" in res:
                entry["note"] = res.pop("note")
            entry["metrics"] = res
        except KeyboardInterrupt:
            raise
        except Exception as e:  # the job's standard metrics stay valid; recorded, retried on --retry-failed
            entry["error"] = error_line(e)
            entry["metrics"] = {}
            log.warning("evaluation %s of %s seed %s failed: %s", name, cfg.method, cfg.seed, entry["error"])
        entry["seconds"] = time.perf_counter() - t0
        out[name] = entry
    method.eval()
    return out


def _extract_banks(method, train, test, cfg: Config, device: torch.device) -> dict:
    from vssl_bench.eval.features import extract_features, frozen_embed

    embed = frozen_embed(method, train, cfg, device)
    return {"train": extract_features(embed, train, cfg, device),
            "test": extract_features(embed, test, cfg, device)}


def _run_one(name, method, train, test, cfg, device, run_dir, banks, final, total_steps, progress) -> dict:
    if name == "lowshot":
        from vssl_bench.eval.lowshot import lowshot_eval

        tr, te = banks["train"], banks["test"]
        return lowshot_eval(tr.centre_features, tr.labels, te.centre_features, te.labels, cfg.lowshot_shots,
                            cfg.lowshot_draws, cfg.seed, num_classes=len(train.classes), knn_k=cfg.knn_k,
                            temperature=cfg.knn_temperature, linear_epochs=cfg.linear_epochs,
                            linear_lr=cfg.linear_lr, linear_weight_decay=cfg.linear_weight_decay)
    if name == "temporal":
        from vssl_bench.eval.features import extract_centre_features, frozen_embed
        from vssl_bench.eval.temporal import reversal_pairs, temporal_eval

        pairs = reversal_pairs(list(train.classes))
        if not pairs:
            return {"note": f"skipped: dataset {cfg.dataset!r} has no time-reversal class pairs"}
        embed = frozen_embed(method, train, cfg, device)
        fwd = extract_centre_features(embed, test, cfg, device)
        rev = extract_centre_features(embed, test, cfg, device, reverse=True)
        res = temporal_eval(banks["train"].centre_features, banks["train"].labels, fwd.centre_features, fwd.labels,
                            rev.centre_features, pairs, k=cfg.knn_k, temperature=cfg.knn_temperature,
                            epochs=cfg.linear_epochs, lr=cfg.linear_lr, weight_decay=cfg.linear_weight_decay,
                            seed=cfg.seed)
        res["pairs"] = [[train.classes[a], train.classes[b]] for a, b in pairs]
        return res
    if name == "budgets":
        from vssl_bench.eval.budgets import budget_eval

        res = budget_eval(method, train, test, cfg, device, run_dir, total_steps, final)
        if res["missing"]:
            res["note"] = (f"no weights snapshot for steps {res['missing']} (the job was trained without "
                           f"`budgets` on, or with other budget_fracs): those points are left out")
        return res
    if name == "finetune":
        from vssl_bench.eval.finetune import finetune_eval

        return finetune_eval(method, train, test, cfg, device, run_dir, progress=progress)
    if name == "shift":
        from vssl_bench.eval.features import frozen_embed
        from vssl_bench.eval.shift import shift_eval, shift_target

        target = shift_target(cfg)
        if target is None:
            return {"note": f"skipped: no shift target for dataset {cfg.dataset!r} (set shift_dataset and "
                            f"shift_data_root)"}
        return shift_eval(frozen_embed(method, train, cfg, device), target, device)  # BN of the job's own data
    raise AssertionError(name)


def evaluate_finished_job(cfg: Config, run_dir: Path, prev: dict, names: list[str], progress=None) -> dict:
    """Run ``names`` on a ``done`` job's saved checkpoint (no retraining), merge them into
    its metrics and rewrite ``metrics.json`` (atomic). Returns the new metrics."""
    from vssl_bench.data.datasets import build_dataset
    from vssl_bench.runner import build_method
    from vssl_bench.train import load_weights
    from vssl_bench.utils import atomic_write_json, resolve_device

    device = resolve_device(cfg.device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    try:
        train, test = build_dataset(cfg)
        method = build_method(cfg, len(train.classes), device)
    except Exception as e:  # data moved or unreadable: keep the finished job as it is, say so
        log.warning("could not evaluate %s on the finished job %s: %s", ", ".join(names), Path(run_dir).name, e)
        return prev
    ckpt = Path(run_dir) / "checkpoint.pt"
    if type(method).trains and (prev.get("steps") or 0) > 0:
        if not ckpt.exists():
            evs = {n: {"params": eval_params(n, cfg), "metrics": {}, "seconds": 0.0,
                       "note": "skipped: the job's checkpoint.pt is gone (retrain to evaluate)"} for n in names}
            return _merge(run_dir, prev, evs, atomic_write_json)
        load_weights(method, Path(run_dir), device)
    final = {k: prev.get(k) for k in ("linear_top1", "knn_top1")}
    evs = run_evaluations(method, train, test, cfg, device, Path(run_dir), names, final=final, progress=progress)
    return _merge(run_dir, prev, evs, atomic_write_json)


def _merge(run_dir: Path, prev: dict, evs: dict, write) -> dict:
    m = {**prev, "evaluations": {**(prev.get("evaluations") or {}), **evs}}
    write(Path(run_dir) / "metrics.json", m)
    return m


def result_columns(evaluations: dict | None) -> dict:
    """The ``results.csv`` columns of a job's ``evaluations`` record: every scalar metric
    named with its evaluation's prefix, and ``<name>_seconds``."""
    row = {}
    for name, e in (evaluations or {}).items():
        prefix = EVALUATION_PREFIX.get(name, name + "_")
        for k, v in (e.get("metrics") or {}).items():
            if k.startswith(prefix) and isinstance(v, (int, float, str)) and not isinstance(v, bool):
                row[k] = v
        row[f"{name}_seconds"] = e.get("seconds")
    return row
