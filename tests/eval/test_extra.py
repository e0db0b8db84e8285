"""The evaluations as switches of a job: suite YAML mapping, running them on a frozen model
(BatchNorm untouched), result columns, and end to end on the smoke suite, including an
evaluation switched on after the jobs finished (run on the saved checkpoints, no retraining)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from brightness_data import make_brightness_folder, tiny_cfg

from vssl_bench.config import ConfigError, apply_overrides
from vssl_bench.eval import EVALUATIONS, OPTIONAL, EvalContext, build_evaluations, resolve_evaluations, run_evaluations
from vssl_bench.results import COLUMNS, result_columns
from vssl_bench.rundir import RunDir
from vssl_bench.runner import pending_evaluations
from vssl_bench.suite import load_suite


def test_suite_evaluations_block_maps_onto_each_evaluations_params():
    cfg = apply_overrides(
        tiny_cfg(),
        {
            "evaluations": {
                "lowshot": {"shots": [1, 5], "draws": 2},
                "finetune": False,
                "temporal": True,
                "budgets": {"fracs": [0.5]},
            }
        },
    )
    assert cfg.evaluations == {"lowshot": {"shots": [1, 5], "draws": 2}, "temporal": {}, "budgets": {"fracs": [0.5]}}
    assert resolve_evaluations(cfg.evaluations) == {
        "lowshot": {"shots": (1, 5), "draws": 2},
        "temporal": {},
        "budgets": {"fracs": (0.5,)},
    }  # registry order, defaults filled
    assert apply_overrides(tiny_cfg(), {"evaluations": "shift, temporal"}).evaluations == {"shift": {}, "temporal": {}}
    assert apply_overrides(tiny_cfg(), {"evaluations": "none"}).evaluations == {}
    with pytest.raises(ConfigError, match="valid choices: lowshot, temporal, budgets, finetune, shift"):
        resolve_evaluations({"lowshots": {}})
    with pytest.raises(ConfigError, match="valid: draws, shots"):
        resolve_evaluations({"lowshot": {"shot": [1]}})
    with pytest.raises(ConfigError, match="fracs must be in"):
        resolve_evaluations({"budgets": {"fracs": "0.5,1.0"}})


def test_every_evaluation_declares_its_columns_and_the_table_has_them():
    assert list(EVALUATIONS)[:3] == ["linear", "knn", "retrieval"] and OPTIONAL == tuple(EVALUATIONS)[3:]
    for name, e in EVALUATIONS.items():
        assert e.name == name and e.columns and all(c.startswith(e.prefix) for c in e.columns), name
        assert all(c in COLUMNS for c in e.columns), name
        if not e.standard:
            assert f"{name}_seconds" in COLUMNS


def test_full_and_shift_suites():
    full, everything = load_suite("full"), load_suite("all-methods")
    assert set(full.base.evaluations) == set(OPTIONAL) == set(everything.base.evaluations)
    assert full.methods == everything.methods and full.seeds == [0, 1, 2]
    # full: the converged budget with the tuned selection (every method that trains has one);
    # all-methods: the committed 150-step suite's jobs (results/150-steps), the shared recipe
    assert {c.steps for c in full.jobs()} == {9600} and {c.steps for c in everything.jobs()} == {150}
    assert set(full.tuned) == set(full.methods) - {"random"}
    assert not everything.tuned
    # all-methods names the committed 150-step suite's jobs: its rows are results/150-steps',
    # but xmodal's, measured on 32-clip galleries before its measure_version 1 (methods/xmodal.py)
    committed = Path(__file__).resolve().parents[2] / "results" / "150-steps" / "results.csv"
    if committed.exists():  # a trimmed checkout may lack the results
        with committed.open(newline="") as f:
            ids = {row["job_id"] for row in csv.DictReader(f)}
        names = {c.method: set() for c in everything.jobs()}
        for c in everything.jobs():
            names[c.method].add(c.job_name())
        assert set().union(*(v for m, v in names.items() if m != "xmodal")) <= ids
        assert len(names["xmodal"]) == 3 and not names["xmodal"] & ids
    assert list(load_suite("quick").base.evaluations) == ["lowshot", "temporal"]  # the cheap ones only
    shift = load_suite("shift")
    assert shift.base.dataset == "synthetic-biased" and "shift" in shift.base.evaluations


def test_frozen_evaluations_never_touch_the_model(tmp_path):
    root = make_brightness_folder(tmp_path / "data", per_class=8)
    from vssl_bench.data.datasets import build_dataset
    from vssl_bench.runner import build_method

    cfg = tiny_cfg(
        method="supervised",
        dataset="folder",
        data_root=str(root),
        evaluations={"lowshot": {"shots": (1, 2), "draws": 2}, "temporal": {}, "budgets": {}, "shift": {}},
    )
    train, test = build_dataset(cfg)
    method = build_method(cfg, len(train.classes), torch.device("cpu"))
    method.train()  # whatever mode it comes in, frozen evaluations switch to eval mode
    with torch.no_grad():  # BatchNorm statistics that differ from the initial ones
        for m in method.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_var.mul_(2.0)
    before = {k: v.clone() for k, v in method.state_dict().items()}
    run_dir = RunDir(tmp_path / "run").make()
    ctx = EvalContext(
        method,
        train,
        test,
        cfg,
        torch.device("cpu"),
        run_dir,
        total_steps=4,
        final={"linear_top1": 1.0, "knn_top1": 1.0},
    )
    evs = run_evaluations(ctx, build_evaluations(cfg.evaluations))
    assert all(torch.equal(before[k], v) for k, v in method.state_dict().items())  # BN buffers included
    assert not method.training
    assert list(evs) == ["lowshot", "temporal", "budgets", "shift"]
    assert evs["lowshot"]["metrics"]["lowshot_2_linear"] == 1.0  # brightness: 2 labels per class suffice
    assert evs["lowshot"]["params"]["shots"] == [1, 2] and evs["lowshot"]["params"]["seed"] == 0
    assert "no time-reversal" in evs["temporal"]["note"]  # a folder dataset has no reversal pairs
    assert "no weights snapshot" in evs["budgets"]["note"]  # trained without budgets: no curve, said so
    assert "skipped" in evs["shift"]["note"]  # a folder dataset without a shift dataset: no target
    assert all(e["seconds"] >= 0 for e in evs.values())
    # a broken evaluation is recorded, the others still run, and --retry-failed retries it
    bad = apply_overrides(
        cfg,
        {
            "evaluations": {
                "shift": {"dataset": "folder", "data_root": str(tmp_path / "missing")},
                "lowshot": {"shots": [1, 2], "draws": 2},
            }
        },
    )
    evs = run_evaluations(
        EvalContext(method, train, test, bad, torch.device("cpu"), run_dir), build_evaluations(bad.evaluations)
    )
    assert "ConfigError" in evs["shift"]["error"] and evs["lowshot"]["metrics"]
    m = {"evaluations": evs}
    assert pending_evaluations(bad, m) == [] and pending_evaluations(bad, m, retry_failed=True) == ["shift"]
    more = apply_overrides(bad, {"evaluations": {**bad.evaluations, "lowshot": {"shots": [1, 2], "draws": 3}}})
    assert pending_evaluations(more, m) == ["lowshot"]  # new params: rerun
    cols = result_columns(evs)
    assert cols["lowshot_1_linear"] == evs["lowshot"]["metrics"]["lowshot_1_linear"]
    assert "per_draw" not in cols and "shift_linear_top1" not in cols and cols["shift_seconds"] >= 0


# ------------------------------------------------------------------------- end to end
ALL = [
    "--set",
    "evaluations=lowshot,temporal,budgets,finetune,shift",
    "--set",
    "finetune.steps=2",
    "--set",
    "lowshot.draws=2",
]
FAST = ["--set", "threads=1", "--set", "eval_clips=1"]


def _vb(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("vssl-bench")
    cmd = [str(exe), *args] if exe.exists() else [sys.executable, "-m", "vssl_bench.cli", *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    )


def _rows(out: Path) -> list[dict]:
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def _metrics(out: Path, method: str) -> dict:
    (p,) = (out / "runs").glob(f"{method}__*/metrics.json")
    return json.loads(p.read_text())


@pytest.mark.slow
def test_smoke_suite_with_every_evaluation(smoke_data_root, tmp_path):
    out = tmp_path / "out"
    args = [
        "run",
        "--suite",
        "smoke",
        "--methods",
        "sort",
        "--data-root",
        str(smoke_data_root),
        "--out",
        str(out),
        *FAST,
    ]
    r = _vb(*args, *ALL)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    rows = _rows(out)
    assert sorted(r["method"] for r in rows) == ["random", "sort", "supervised"]
    for row in rows:
        for col in (
            "lowshot_1_linear",
            "lowshot_10_knn",
            "temporal_pair_top1",
            "temporal_reverse_cosine",
            "budget_linear_top1_at25",
            "budget_knn_top1_at50",
            "finetune_top1",
            "finetune_video_top1",
            "shift_linear_top1",
            "shift_knn_top1",
        ):
            assert 0.0 <= float(row[col]) <= 1.0 + 1e-6, (row["method"], col, row[col])
        assert row["shift_dataset"] == "synthetic-biased" and float(row["temporal_pair_chance"]) == 0.5
        for name in OPTIONAL:
            assert float(row[f"{name}_seconds"]) >= 0
    sort = _metrics(out, "sort")
    assert set(sort["evaluations"]) == set(OPTIONAL)
    assert not any("error" in e for e in sort["evaluations"].values()), sort["evaluations"]
    assert sort["evaluations"]["finetune"]["metrics"]["steps"] == 2
    assert sort["evaluations"]["lowshot"]["params"]["draws"] == 2
    assert len(sort["evaluations"]["temporal"]["metrics"]["pairs"]) == 5
    run_dir = next((out / "runs").glob("sort__*"))
    assert sorted(p.name for p in run_dir.glob("weights_step*.pt")) == ["weights_step1.pt", "weights_step2.pt"]
    assert not list(run_dir.glob("finetune_*")) and not list(run_dir.glob("features_step*"))
    assert sort["evaluations"]["budgets"]["metrics"]["curve"][-1]["step"] == 4

    # switched on later / with other parameters: only that evaluation runs, on the checkpoint
    before = {m: _metrics(out, m) for m in ("random", "sort", "supervised")}
    r = _vb(*args, *ALL[:-1], "lowshot.draws=3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 run, 0 skipped" in " ".join(r.stdout.split())
    rows2 = _rows(out)
    assert len(rows2) == 3 and {x["job_id"] for x in rows2} == {x["job_id"] for x in rows}  # same jobs, one row each
    for m, old in before.items():
        new = _metrics(out, m)
        assert new["evaluations"]["lowshot"]["params"]["draws"] == 3
        assert new["pretrain_seconds"] == old["pretrain_seconds"] and new["linear_top1"] == old["linear_top1"]
        for name in ("temporal", "budgets", "finetune", "shift"):  # not re-run
            assert new["evaluations"][name] == old["evaluations"][name]
    # draws 0 and 1 are the same videos as before (seeded), so their accuracies repeat exactly
    assert (
        _metrics(out, "sort")["evaluations"]["lowshot"]["metrics"]["per_draw"]["5"]["knn"][:2]
        == before["sort"]["evaluations"]["lowshot"]["metrics"]["per_draw"]["5"]["knn"]
    )
    r = _vb(*args, *ALL[:-1], "lowshot.draws=3")
    assert "0 run, 3 skipped" in " ".join(r.stdout.split())  # nothing left to do

    r = _vb("report", "--results", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    md = (out / "leaderboard.md").read_text()
    for col in ("lowshot_1_linear", "temporal_pair_top1", "finetune_top1", "shift_linear_top1"):
        assert col in md
    assert {p.name.split("_")[0] for p in (out / "figures").glob("*.png")} >= {"bars", "lowshot", "budgets"}
