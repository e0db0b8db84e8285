"""`vssl-bench tune`: the same grid for every method, a validation split carved from the
training videos (never the test set), a selection the suites apply."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vssl_bench.config import Config, ConfigError
from vssl_bench.data.datasets import VideoEntry, VideoList, build_dataset, validation_split
from vssl_bench.methods import METHODS
from vssl_bench.suite import load_suite, suite_from_options
from vssl_bench.tune import (
    LR_FACTORS,
    cautions,
    default_point,
    method_grid,
    own_task,
    select,
    table_markdown,
    tuning_jobs,
)

LEARNING_RATES = tuple(f * Config().lr for f in LR_FACTORS)


def _videos(per_class: int, classes: int = 4) -> VideoList:
    entries = [VideoEntry(f"/v/c{c}_{i}.mp4", c) for c in range(classes) for i in range(per_class)]
    return VideoList(entries, [f"c{c}" for c in range(classes)], name="toy")


def test_validation_split_is_stratified_fixed_and_disjoint() -> None:
    train = _videos(10)
    rest, val = validation_split(train, 0.2)
    assert len(val) == 8 and len(rest) == 32  # 2 of each class's 10
    assert sorted(val.labels.tolist()) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert not {e.path for e in rest.entries} & {e.path for e in val.entries}
    assert {e.path for e in rest.entries} | {e.path for e in val.entries} == {e.path for e in train.entries}
    again = validation_split(train, 0.2)[1]
    assert [e.path for e in again.entries] == [e.path for e in val.entries]  # the same videos for every job


def test_validation_split_keeps_recording_groups_whole() -> None:
    """UCF101-style names (v_X_g08_c01): whole groups go to validation, none is split."""
    entries = [
        VideoEntry(f"/v/C{c}/v_C{c}_g{g:02d}_c{k:02d}.avi", c)
        for c in range(3)
        for g in range(1, 6)
        for k in range(1, 5)
    ]
    train = VideoList(entries, ["C0", "C1", "C2"], name="ucf-like")
    rest, val = validation_split(train, 0.2)
    group = lambda e: (e.label, e.path.split("_g")[1][:2])  # noqa: E731
    assert not {group(e) for e in rest.entries} & {group(e) for e in val.entries}
    assert sorted(val.labels.tolist()) == [0] * 4 + [1] * 4 + [2] * 4  # one group of 4 = 20 % of 20
    assert [e.path for e in validation_split(train, 0.2)[1].entries] == [e.path for e in val.entries]
    # names without a group: every video is its own group, so the draw is per video
    assert len(validation_split(_videos(10), 0.2)[1]) == 8


def _grouped(spec: list[list[int]]) -> VideoList:
    """Class c has groups of the sizes spec[c], named UCF101's way."""
    entries = [
        VideoEntry(f"/v/C{c}/v_C{c}_g{g:02d}_c{k:02d}.avi", c)
        for c, sizes in enumerate(spec)
        for g, n in enumerate(sizes, 1)
        for k in range(1, n + 1)
    ]
    return VideoList(entries, [f"C{c}" for c in range(len(spec))], name="ucf-like")


def test_validation_split_with_uneven_groups_stays_near_its_share(caplog) -> None:
    """Groups of 1 and 7 at 20 %: the 1-video group, not the 7 (which would be 88 %); a class
    that is one recording stays whole in training, with a warning, rather than leak."""
    rest, val = validation_split(_grouped([[1, 7]] * 6), 0.2)
    assert sorted(val.labels.tolist()) == list(range(6))  # one video of each class
    with caplog.at_level("WARNING"):
        rest, val = validation_split(_grouped([[6], [3, 3]]), 0.2)
    assert set(val.labels.tolist()) == {1} and len(val) == 3  # class 0 is one recording: not split
    assert "one recording group" in caplog.text
    rest, val = validation_split(_grouped([[4] * 18]), 0.2)  # UCF101-like: 18 groups of 4, share 14
    assert len(val) == 12 and len(rest) == 60


def test_holdout_val_never_reads_the_test_split(smoke_data_root) -> None:
    cfg = dataclasses.replace(load_suite("smoke").base, data_root=str(smoke_data_root))
    train, test = build_dataset(cfg)
    rest, val = build_dataset(dataclasses.replace(cfg, holdout="val"))
    test_paths = {e.path for e in test.entries}
    assert not test_paths & {e.path for e in val.entries}
    assert {e.path for e in rest.entries} | {e.path for e in val.entries} == {e.path for e in train.entries}


def test_new_fields_keep_old_job_keys() -> None:
    """holdout / val_fraction joined the key only away from their defaults: every job run
    before them keeps its name; tensorboard (where events go) is never in the key."""
    import vssl_bench.data.datasets  # noqa: F401 - registers the key parts

    base = Config()
    assert Config(holdout="test", val_fraction=0.2, tensorboard="off").job_key() == base.job_key()
    assert Config(holdout="val").job_key() != base.job_key()
    assert Config(holdout="val", val_fraction=0.3).job_key() != Config(holdout="val").job_key()
    assert Config(val_fraction=0.3).job_key() == base.job_key()  # no validation carve on the test holdout
    # anchored to the committed results (results/150-steps/results.csv): a key change would re-run them all
    names = {c.method: c.job_name() for c in load_suite("quick").jobs() if c.seed == 0}
    assert names["random"] == "random__synthetic__tiny3d__seed0__fa568b6075"
    assert names["nce"] == "nce__synthetic__tiny3d__seed0__d86d2ca583"
    with pytest.raises(ConfigError, match="holdout"):
        Config(holdout="train")
    with pytest.raises(ConfigError, match="val_fraction"):
        Config(val_fraction=1.0)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_gets_the_same_grid(name) -> None:
    """lr x 3 and at most one parameter of its own x 2 (its default first), every point a
    valid config; random, which does not train, is evaluated once."""
    cls = METHODS[name]
    grid = method_grid(name, Config(), {})
    if not cls.trains:
        assert len(grid) == 1 and grid[0].overrides == {}
        return
    assert len(cls.tune) <= 1
    assert len(grid) == len(LEARNING_RATES) * (2 if cls.tune else 1)
    assert sorted({pt.cfg.lr for pt in grid}) == sorted(LEARNING_RATES)
    for k, values in cls.tune.items():
        assert len(values) == 2 and values[0] != values[1]
        default = getattr(cls.Params(), k) if hasattr(cls.Params(), k) else getattr(Config(), k)
        assert values[0] == default, f"{name}.tune must list its default first"
        seen = {pt.cfg.params.get(k, getattr(pt.cfg, k, None)) for pt in grid}
        assert seen == set(values)


def test_tuning_jobs_hold_out_validation_and_run_no_extra_evaluation() -> None:
    s = suite_from_options("smoke", methods="sort", seeds="0,1", references=False)
    jobs = tuning_jobs(s)
    assert len(jobs) == 2 * len(LEARNING_RATES) * 2
    assert all(pt.cfg.holdout == "val" and pt.cfg.evaluations == {} for pt in jobs)
    assert len({pt.cfg.job_name() for pt in jobs}) == len(jobs)


def test_selection_takes_the_best_score_and_breaks_ties_toward_the_default() -> None:
    base = Config()
    rows = [
        {"method": "nce", "overrides": {"lr": 1e-3, "temperature": 0.1}, "score": 0.20, "seeds": 1},
        {"method": "nce", "overrides": {"lr": 4e-3, "temperature": 0.2}, "score": 0.30, "seeds": 1},
        {"method": "sort", "overrides": {"lr": 4e-3, "n_candidates": 1}, "score": 0.25, "seeds": 1},
        {"method": "sort", "overrides": {"lr": 2e-3, "n_candidates": 4}, "score": 0.25, "seeds": 1},
    ]
    best = select(rows, base)
    assert best["nce"]["overrides"] == {"lr": 4e-3, "temperature": 0.2}
    assert best["sort"]["overrides"] == {"lr": 2e-3, "n_candidates": 4}
    # a point that finished on 1 of 2 seeds (it diverged on the other) cannot win
    partial = [dict(r, seeds=2) for r in rows[:1]] + [dict(rows[1], seeds=1)]
    assert select(partial, base, n_seeds=2)["nce"]["overrides"] == {"lr": 1e-3, "temperature": 0.1}
    # a grid centred on the method's own rate (nce.lr=1e-3 in the suite): a tie goes there
    tie = [
        {"method": "nce", "overrides": {"lr": 2e-3, "temperature": 0.1}, "score": 0.30, "seeds": 1},
        {"method": "nce", "overrides": {"lr": 1e-3, "temperature": 0.1}, "score": 0.30, "seeds": 1},
    ]
    assert select(tie, base)["nce"]["overrides"]["lr"] == 2e-3
    assert select(tie, base, centres={"nce": 1e-3})["nce"]["overrides"]["lr"] == 1e-3


def test_selection_passes_over_a_point_that_did_not_learn_its_own_task() -> None:
    """The gate a leaderboard row must pass decides first: a recipe under which the method does
    not learn its task is not selected for a better downstream score, and the grid says so."""
    acc = {"own_kind": "accuracy", "own_floor": 0.1875}
    rows = [
        {"method": "oddoneout", "overrides": {"lr": 1e-3, "element_len": 2}, "score": 0.40, "seeds": 1,
         "own_task": 0.29, "learned": False, **acc},
        {"method": "oddoneout", "overrides": {"lr": 1e-3, "element_len": 4}, "score": 0.30, "seeds": 1,
         "own_task": 0.93, "learned": True, **acc},
        # not gated (no own task measured, e.g. gan's results from before it measured one): its score
        {"method": "gan", "overrides": {"lr": 1e-3}, "score": 0.20, "seeds": 1, "learned": None},
        {"method": "gan", "overrides": {"lr": 2e-3}, "score": 0.25, "seeds": 1, "learned": None},
        # no point learned: the score alone decides, and the caution says so
        {"method": "sort", "overrides": {"lr": 1e-3}, "score": 0.20, "seeds": 1, "own_task": 0.5, "learned": False,
         **acc},
        {"method": "sort", "overrides": {"lr": 2e-3}, "score": 0.25, "seeds": 1, "own_task": 0.5, "learned": False,
         **acc},
    ]  # fmt: skip
    best = select(rows, Config())
    assert best["oddoneout"]["overrides"] == {"lr": 1e-3, "element_len": 4}
    assert best["gan"]["overrides"] == {"lr": 2e-3} and best["sort"]["overrides"] == {"lr": 2e-3}
    notes = cautions(rows, best)
    (odd,) = [n for n in notes["oddoneout"] if "own task" in n]
    assert "40.0 at lr=0.001, element_len=2" in odd and "29.0 (>18.8)" in odd and "the best point that did" in odd
    assert any("no grid point learned its own task" in n for n in notes["sort"])
    assert not any("own task" in n for n in notes.get("gan", []))
    md = table_markdown([dict(r, linear_top1=r["score"], knn_top1=r["score"]) for r in rows], best, notes)
    assert "| own task (held-out) | learned |" in md
    (line,) = [ln for ln in md.splitlines() if "element_len=2 |" in ln]
    assert "| 29.0 (>18.8) | no |" in line and "**yes**" not in line
    (line,) = [ln for ln in md.splitlines() if "| gan | lr=0.002 |" in ln]
    assert "| – | – | **yes** |" in line
    # within a gated method a point whose own task was not measured has not shown it learned
    # either: it does not beat one that did, whatever its score
    acc = {**acc, "own_task": 0.5}
    mixed = [
        {"method": "aot", "overrides": {"lr": 1e-3}, "score": 0.30, "seeds": 1, "learned": True, **acc},
        {"method": "aot", "overrides": {"lr": 2e-3}, "score": 0.50, "seeds": 1, "learned": None},
        {"method": "aot", "overrides": {"lr": 4e-3}, "score": 0.60, "seeds": 1, "learned": False, **acc},
    ]  # fmt: skip
    best = select(mixed, Config())
    assert best["aot"]["overrides"] == {"lr": 1e-3} and best["aot"]["passed_over"]["overrides"] == {"lr": 4e-3}


def _metrics(acc: float, seed: int = 0) -> dict:
    """A finished aot job's metrics as metrics.json holds them (what ``grid_table`` reads)."""
    return {
        "status": "done", "method": "aot", "family": "pretext", "dataset": "synthetic", "backbone": "tiny3d",
        "seed": seed, "steps": 2400, "linear_top1": 0.3, "knn_top1": 0.2, "pretext_accuracy": acc,
        "pretext_chance": 0.5, "pretext_samples": 128, "provenance": {"config": {"steps": 2400}},
    }  # fmt: skip


def test_own_task_reads_a_points_seeds_through_the_leaderboards_gate() -> None:
    """One seed: a Wilson interval over its 128 held-out answers; several: a t-interval over
    the seeds; no finished seed or no own task: not gated (None)."""
    assert own_task([])["learned"] is None
    high, edge = own_task([_metrics(0.75)]), own_task([_metrics(0.586)])
    assert high["learned"] is True and high["own_kind"] == "accuracy" and high["own_floor"] == 0.5
    # 58.6 % of 128 answers: above the 50 % chance, but not its interval's lower end
    assert edge["learned"] is False and edge["own_bound"] < 0.5 < edge["own_task"]
    two = own_task([_metrics(0.74, 0), _metrics(0.76, 1)])
    assert two["learned"] is True and abs(two["own_task"] - 0.75) < 1e-9
    gan = dict(_metrics(0.75), method="gan", family="generative", pretext_accuracy=None, pretext_chance=None)
    assert own_task([gan])["learned"] is None and own_task([gan])["own_kind"] == ""


def test_cautions_name_a_grid_edge_and_a_selection_within_noise_of_random() -> None:
    rows = [{"method": "random", "overrides": {}, "score": 0.07, "seeds": 1}]
    for lr in (1e-3, 2e-3, 4e-3):  # sort learned, best inside the grid; nce at random's level, best at the edge
        rows.append({"method": "sort", "overrides": {"lr": lr}, "score": 0.30 if lr == 2e-3 else 0.20, "seeds": 1})
        rows.append({"method": "nce", "overrides": {"lr": lr}, "score": 0.09 if lr == 1e-3 else 0.05, "seeds": 1})
    rows.append({"method": "vcop", "overrides": {"lr": 4e-3}, "score": 0.35, "seeds": 1})
    rows.append({"method": "vcop", "overrides": {"lr": 2e-3}, "score": 0.30, "seeds": 1})
    best = select(rows, Config())
    notes = cautions(rows, best, n_val=128)
    assert "sort" not in notes and "random" not in notes
    assert len(notes["nce"]) == 2
    assert "grid's lowest" in notes["nce"][0] and "below" in notes["nce"][0]
    # 2 sd of the difference of two accuracies of 7 % on 128 videos = 6.4 points: 9 % is within it
    assert "within 6.4 points" in notes["nce"][1] and "noise" in notes["nce"][1]
    assert notes["vcop"] == ["lr 0.004 is the grid's highest: the best may lie above it"]
    # without the validation size nothing is said about noise; the edge is still named
    assert len(cautions(rows, best)["nce"]) == 1
    # a selection far above random (35 % vs 7 %) is not noise
    assert not any("noise" in n for n in notes["vcop"])
    # no random row, or a random row that did not finish: nothing is said about noise
    no_random = [r for r in rows if r["method"] != "random"]
    assert all("noise" not in n for v in cautions(no_random, best, n_val=128).values() for n in v)
    nan_random = [dict(r, score=math.nan) if r["method"] == "random" else r for r in rows]
    assert all("noise" not in n for v in cautions(nan_random, best, n_val=128).values() for n in v)
    md = table_markdown([dict(r, linear_top1=r["score"], knn_top1=r["score"]) for r in rows], best, notes)
    assert "Cautions" in md and "- nce: lr 0.001" in md


def test_cautions_name_a_selection_within_noise_of_the_untuned_recipe() -> None:
    base = Config()  # lr 2e-3: the grid's centre; sort's parameter defaults to n_candidates=4
    default = default_point("sort", base)
    assert default == {"lr": 2e-3, "n_candidates": next(iter(METHODS["sort"].tune.values()))[0]}
    assert default_point("nce", base, centres={"nce": 1e-3})["lr"] == 1e-3
    rows = [{"method": "random", "overrides": {}, "score": 0.07, "seeds": 1}]

    def grid(method, scores):  # lr -> score at the default parameter; the alternative scores 0.1
        ((name, (dflt, alt)),) = METHODS[method].tune.items()
        for lr, sc in scores.items():
            rows.append({"method": method, "overrides": {"lr": lr, name: dflt}, "score": sc, "seeds": 1})
            rows.append({"method": method, "overrides": {"lr": lr, name: alt}, "score": 0.1, "seeds": 1})

    grid("sort", {1e-3: 0.50, 2e-3: 0.46, 4e-3: 0.40})  # 4 points over the default: within 2 sd on 128 videos
    grid("vcop", {1e-3: 0.70, 2e-3: 0.40, 4e-3: 0.40})  # 30 points over it: a real difference
    grid("speed", {1e-3: 0.30, 2e-3: 0.50, 4e-3: 0.30})  # the default wins: nothing to say
    best = select(rows, base)
    defaults = {m: default_point(m, base) for m in best if m != "random"}
    notes = cautions(rows, best, n_val=128, defaults=defaults)
    # 2 sd of a difference of two accuracies at 48 % on 128 videos: 12.5 points
    assert len(notes["sort"]) == 2 and "grid's lowest" in notes["sort"][0]
    assert "within 12.5 points" in notes["sort"][1] and "untuned recipe's 46.0" in notes["sort"][1]
    assert "lr=0.002" in notes["sort"][1] and "may not replicate" in notes["sort"][1]
    assert not any("untuned" in n for n in notes.get("vcop", []))
    assert "speed" not in notes
    # an untuned point that finished on fewer seeds than the selection is not compared
    fewer = [dict(r, seeds=0) if r["method"] == "sort" and r["overrides"] == defaults["sort"] else r for r in rows]
    assert not any("untuned" in n for n in cautions(fewer, best, n_val=128, defaults=defaults)["sort"])
    # without the defaults, or the validation size, nothing is said about them
    assert not any("untuned" in n for v in cautions(rows, best, n_val=128).values() for n in v)
    assert not any("untuned" in n for v in cautions(rows, best, defaults=defaults).values() for n in v)
    # a method at random's level gets the random note only (its grid cannot be ranked at all)
    flat = [r for r in rows if r["method"] == "random"] + [
        {"method": "nce", "overrides": {"lr": lr, "temperature": 0.1}, "score": sc, "seeds": 1}
        for lr, sc in ((1e-3, 0.09), (2e-3, 0.08))
    ]
    b = select(flat, base)
    n = cautions(flat, b, n_val=128, defaults={"nce": default_point("nce", base)})["nce"]
    assert len(n) == 2 and "random's" in n[1] and not any("untuned" in x for x in n)


def test_a_suite_applying_a_selection_with_cautions_says_so(tmp_path, caplog) -> None:
    (tmp_path / "tuned.yaml").write_text(
        yaml.safe_dump(
            {
                "methods": {"nce": {"lr": 0.001}, "sort": {"lr": 0.002}, "xmodal": {"lr": 0.001}},
                "cautions": {"nce": ["lr 0.001 is the grid's lowest"], "xmodal": ["..."]},  # xmodal: not in the suite
            }
        )
    )
    suite = yaml.safe_load(Path(load_suite("smoke").path).read_text())
    suite["tuned"] = "tuned.yaml"
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(suite))
    with caplog.at_level("WARNING"):
        jobs = {c.method: c for c in load_suite(str(tmp_path / "s.yaml")).jobs()}
    assert jobs["nce"].lr == 0.001  # applied, not silently
    warned = [r.getMessage() for r in caplog.records if "cautions" in r.getMessage()]
    assert len(warned) == 1 and "of nce carry cautions" in warned[0] and "xmodal" not in warned[0]


def test_a_suite_applies_its_tuned_selection_and_set_wins(tmp_path) -> None:
    sel = tmp_path / "tuned.yaml"
    sel.write_text(
        yaml.safe_dump(
            {
                "methods": {
                    "nce": {"lr": 0.004, "temperature": 0.2},
                    "supervised": {"lr": 0.001, "weight_decay": 0.005},
                    "xmodal": {"lr": 0.001},
                }
            }
        )
    )
    suite = yaml.safe_load(Path(load_suite("smoke").path).read_text())
    suite["tuned"] = "tuned.yaml"
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(suite))
    jobs = {c.method: c for c in load_suite(str(path)).jobs()}
    assert jobs["nce"].lr == 0.004 and jobs["nce"].params["temperature"] == 0.2
    assert jobs["supervised"].lr == 0.001 and jobs["supervised"].weight_decay == 0.005
    assert jobs["sort"].lr == Config().lr  # not in the selection: the suite's recipe
    s = suite_from_options(str(path), sets=["lr=0.003", "nce.temperature=0.5"])
    jobs = {c.method: c for c in s.jobs()}
    assert jobs["nce"].lr == 0.003 and jobs["nce"].params["temperature"] == 0.5
    assert jobs["supervised"].lr == 0.003 and jobs["supervised"].weight_decay == 0.005
    # a Config field under one method's name: that method alone, over its tuned value
    jobs = {c.method: c for c in suite_from_options(str(path), sets=["nce.lr=0.0005"]).jobs()}
    assert jobs["nce"].lr == 0.0005 and jobs["nce"].params["temperature"] == 0.2
    assert jobs["supervised"].lr == 0.001 and jobs["sort"].lr == Config().lr
    with pytest.raises(ConfigError, match="nce.lr"):
        suite_from_options(str(path), sets=["nce.lr=fast"])
    for bad in ("nce.steps=999", "nce.backbone=nope", "nce.epochs=2", "nce.seed=7"):  # one budget, data, seed
        with pytest.raises(ConfigError, match="not of one method"):
            suite_from_options(str(path), sets=[bad])
    # precedence: the suite's per-method value < the tuned selection < --set (global or per method)
    suite["method_params"] = {**suite.get("method_params", {}), "nce": {"lr": 7e-4, "temperature": 0.3}}
    path.write_text(yaml.safe_dump(suite))
    jobs = {c.method: c for c in load_suite(str(path)).jobs()}
    assert jobs["nce"].lr == 0.004 and jobs["nce"].params["temperature"] == 0.2  # tuned wins over the suite
    jobs = {c.method: c for c in suite_from_options(str(path), sets=["lr=0.01"]).jobs()}
    assert jobs["nce"].lr == 0.01 and jobs["supervised"].lr == 0.01  # a global --set reaches every method
    suite["tuned"] = None
    path.write_text(yaml.safe_dump(suite))
    jobs = {c.method: c for c in load_suite(str(path)).jobs()}
    assert jobs["nce"].lr == 7e-4 and jobs["sort"].lr == Config().lr  # no selection: the suite's nce.lr
    tune_lrs = {p.cfg.lr for p in tuning_jobs(suite_from_options(str(path), methods="nce")) if p.method == "nce"}
    assert tune_lrs == {f * 7e-4 for f in LR_FACTORS}  # the grid is centred on that method's own rate
    suite["tuned"] = "tuned.yaml"
    suite["method_params"]["nce"] = {}
    path.write_text(yaml.safe_dump(suite))
    on = dict(yaml.safe_load(sel.read_text()), chosen_on={"dataset": "ucf101", "backbone": "tiny3d", "split": 1})
    sel.write_text(yaml.safe_dump(on))
    with pytest.raises(ConfigError, match="ucf101"):  # chosen on another dataset: refused
        load_suite(str(path)).jobs()
    assert load_suite(str(path), tuned=False).tuned == {}  # what `tune` starts from
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"methods": {"nce": {"no_such_knob": 1}}}))
    suite["tuned"] = "bad.yaml"
    path.write_text(yaml.safe_dump(suite))
    with pytest.raises(ConfigError, match="no_such_knob"):
        load_suite(str(path))
    suite["tuned"] = "missing.yaml"
    path.write_text(yaml.safe_dump(suite))
    with pytest.raises(ConfigError, match="vssl-bench tune"):
        load_suite(str(path))


def test_tune_end_to_end_writes_selection_and_grid(smoke_data_root, tmp_path) -> None:
    out, sel = tmp_path / "tune", tmp_path / "tuned.yaml"
    cmd = [
        sys.executable,
        "-m",
        "vssl_bench.cli",
        "tune",
        "--suite",
        "smoke",
        "--methods",
        "supervised",
        "--no-references",
        "--data-root",
        str(smoke_data_root),
        "--out",
        str(out),
        "--write",
        str(sel),
        "--set",
        "threads=1",
        "--set",
        "eval_clips=1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = yaml.safe_load(sel.read_text())
    assert set(doc["methods"]) == {"supervised"}
    assert doc["chosen_on"]["dataset"] == "synthetic" and "failed" not in doc
    assert doc["methods"]["supervised"]["lr"] in LEARNING_RATES
    grid = (out / "grid.md").read_text()
    assert grid.count("| supervised |") == 6 and grid.count("**yes**") == 1
    # a line per job as it ends, naming its grid point (a long grid can be followed in its log)
    done = [ln for ln in r.stdout.splitlines() if ln.startswith("done ")]
    assert len(done) == 6 and all("grid point: lr=" in ln and "validation split" in ln for ln in done), r.stdout
    assert len({ln.split("grid point: ")[1] for ln in done}) == 6
    rows = (out / "results.csv").read_text()
    r2 = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)  # resumable: nothing re-run
    assert r2.returncode == 0, r2.stdout + r2.stderr
    assert (out / "results.csv").read_text() == rows
    assert yaml.safe_load(sel.read_text())["methods"] == doc["methods"]
    # --dry-run reads the grid as it fills: each finished point with its validation scores
    r3 = subprocess.run(cmd + ["--dry-run"], capture_output=True, text=True, timeout=120, env=env)
    assert r3.returncode == 0, r3.stdout + r3.stderr
    listed = [ln for ln in r3.stdout.splitlines() if ln.strip().startswith("done ")]
    assert len(listed) == 6 and all("val linear" in ln and "score" in ln for ln in listed), r3.stdout
    assert all("own task" in ln and "(>6.2): " in ln for ln in listed), r3.stdout
    assert all(ln.endswith(": learned") or ": not learned (its interval's lower end: " in ln for ln in listed)
    best = doc["methods"]["supervised"]
    picked = [ln for ln in listed if f"lr={best['lr']:g}," in ln and f"weight_decay={best['weight_decay']:g} " in ln]
    assert len(picked) == 1, r3.stdout

    def score(line: str) -> float:
        return float(re.search(r"score\s+([\d.]+)", line).group(1))

    assert score(picked[0]) == max(map(score, listed))
    # a method whose grid is complete has its choice marked, the one the selection names
    assert [ln for ln in listed if ln.endswith("<- selected")] == picked, r3.stdout
    assert "6 of 6 jobs done; 1 of 1 methods' grids complete" in " ".join(r3.stdout.split())
    # one point unfinished: no choice is shown yet (it could still win)
    (next((out / "runs").glob("supervised__*")) / "metrics.json").unlink()
    r4 = subprocess.run(cmd + ["--dry-run"], capture_output=True, text=True, timeout=120, env=env)
    assert r4.returncode == 0, r4.stdout + r4.stderr
    assert not re.search(r"<- selected$", r4.stdout, re.M), r4.stdout
    assert re.search(r"^  (pending|partial) ", r4.stdout, re.M), r4.stdout
    assert "5 of 6 jobs done; 0 of 1 methods' grids complete" in " ".join(r4.stdout.split())
    assert "of job time left for 1 job(s) (~" in " ".join(r4.stdout.split()), r4.stdout  # from the 5 done


def test_a_drained_tune_writes_no_selection(run_cli, monkeypatch, smoke_data_root, tmp_path) -> None:
    """A grid a drain (SIGUSR1) left unfinished selects nothing: a point not run could win."""
    from vssl_bench import cli
    from vssl_bench.launch import NOT_STARTED
    from vssl_bench.runner import JobOutcome

    monkeypatch.setattr(cli, "run_matrix", lambda jobs, *a, **k: [JobOutcome(c.job_name(), NOT_STARTED) for c in jobs])
    sel = tmp_path / "tuned.yaml"
    args = ["--suite", "smoke", "--methods", "supervised", "--no-references", "--data-root", str(smoke_data_root)]
    code, out = run_cli("tune", *args, "--out", str(tmp_path / "tune"), "--write", str(sel))
    text = " ".join(out.split())
    assert code == cli.DRAINED and "6 tuning job(s) not started (SIGUSR1); no selection written." in text, out
    assert not sel.exists() and not (tmp_path / "tune" / "grid.md").exists()


def test_a_budget_axis_runs_random_once() -> None:
    """random does not train: the same result at every budget, so one job, not one per budget."""
    jobs = load_suite("budgets").jobs()
    per = {}
    for c in jobs:
        per.setdefault(c.method, set()).add(c.steps)
    budgets = load_suite("budgets").budgets
    assert len(budgets) >= 3
    assert per["random"] == {budgets[0]} and per["supervised"] == set(budgets)
    assert len(jobs) == 1 + (len(per) - 1) * len(budgets)


def test_a_budget_axis_runs_smaller_budgets_first() -> None:
    """Budget-major order: a run cut short leaves every method done at the smaller budgets."""
    jobs = load_suite("budgets").jobs()
    steps = [c.steps for c in jobs]
    assert steps == sorted(steps)
    assert [c.method for c in jobs if c.steps == 150] == load_suite("budgets").methods


def test_tune_refuses_a_budget_axis(run_cli) -> None:
    """One grid, one budget: a suite's budget list must be narrowed by the user, not silently."""
    code, out = run_cli("tune", "--suite", "budgets", "--dry-run")
    assert code == 2 and "pass --steps N" in out and "150, 600, 1200" in out and "Traceback" not in out
    code, out = run_cli("tune", "--suite", "budgets", "--steps", "150", "--dry-run")
    assert code == 0 and "150 steps" in out


def test_tensorboard_on_without_the_package_is_refused_before_any_job(run_cli, monkeypatch, tmp_path) -> None:
    from vssl_bench import tblog

    monkeypatch.setattr(tblog, "available", lambda: False)
    args = ["--suite", "smoke", "--methods", "supervised", "--set", "tensorboard=on", "--out", str(tmp_path)]
    for cmd in ("run", "tune"):
        code, out = run_cli(cmd, *args)
        assert code == 2 and "needs the tensorboard package" in out, (cmd, out)
    assert not any(tmp_path.iterdir())  # refused before any work


def test_report_leaves_validation_rows_out(tmp_path) -> None:
    """Rows of tuning jobs (holdout=val) in a results folder are not test results."""
    import pandas as pd

    from vssl_bench.report import latest_per_seed

    base = {
        "dataset": "synthetic",
        "backbone": "tiny3d",
        "method": "nce",
        "status": "done",
        "steps": 150,
        "finished_at": "",
        "config_key": "a",
    }
    df = pd.DataFrame(
        [
            dict(base, seed=0, holdout="test", knn_top1=0.1),
            dict(base, seed=0, holdout="val", knn_top1=0.9, config_key="b"),
        ]
    )
    out = latest_per_seed(df)
    assert list(out["knn_top1"]) == [0.1]
    assert any(n.startswith("VALIDATION ROWS") for n in out.attrs["notes"])


def test_a_tuned_selection_beside_the_suites_is_not_a_suite() -> None:
    """`vssl-bench tune` writes benchmarks/tuned.yaml beside the suites: it is not listed or
    loadable as one (it was, and failed to load: 'unknown key in suite tuned.yaml')."""
    from vssl_bench.suite import available_suites, suites_dir

    assert (suites_dir() / "tuned.yaml").is_file()
    suites = available_suites()
    assert "tuned" not in suites and {"quick", "full", "budgets"} <= set(suites)
    with pytest.raises(ConfigError, match="suite"):
        load_suite("tuned")
