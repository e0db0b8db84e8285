"""Configuration (vssl_bench/config.py): suites, overrides, errors that name the valid
choices, and the job key that decides whether a finished job is skipped."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from vssl_bench.config import Config, ConfigError, apply_overrides, parse_set_options
from vssl_bench.methods import METHODS, resolve_params
from vssl_bench.suite import available_suites, load_suite

SUITES = sorted(available_suites())


def test_suites_found() -> None:
    assert {"quick", "smoke"} <= set(SUITES)


@pytest.mark.parametrize("name", SUITES)
def test_every_suite_loads_and_its_methods_exist(name) -> None:
    s = load_suite(name)
    assert s.methods and s.seeds
    for m in s.methods:
        assert m in METHODS, f"suite {name} names unknown method {m!r}"
    for m in s.method_params:
        assert m in s.methods, f"suite {name}: method_params for {m!r}, which the suite does not run"
    jobs = s.jobs()  # validates every method's parameters
    trained = [m for m in s.methods if METHODS[m].trains]  # a method that does not train runs at one budget
    assert len(jobs) == len(s.seeds) * (len(trained) * max(1, len(s.budgets)) + len(s.methods) - len(trained))
    assert len({j.job_name() for j in jobs}) == len(jobs)
    assert load_suite(str(available_suites()[name])).methods == s.methods  # by path too


def test_unknown_suite_names_valid_ones() -> None:
    with pytest.raises(ConfigError, match="quick"):
        load_suite("no-such-suite")


def test_unknown_suite_key_is_an_error(tmp_path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("methods: [sort]\nstepz: 3\n")
    with pytest.raises(ConfigError, match="stepz.*methods"):
        load_suite(str(p))
    p.write_text("methods: [sort]\nconfig:\n  bach_size: 3\n")
    with pytest.raises(ConfigError) as e:
        load_suite(str(p))
    assert "bach_size" in str(e.value) and "batch_size" in str(e.value)
    assert "\n" not in str(e.value)  # one line


def test_unknown_config_key_names_valid_keys() -> None:
    with pytest.raises(ConfigError) as e:
        apply_overrides(Config(), {"lrr": "0.1"})
    msg = str(e.value)
    assert "lrr" in msg and "lr" in msg and "batch_size" in msg and "\n" not in msg
    with pytest.raises(ConfigError):
        apply_overrides(Config(), {"params": "{}"})  # params travel per method, not here


def test_unknown_method_param_names_valid_ones() -> None:
    with pytest.raises(ConfigError) as e:
        resolve_params("sort", {"n_chunkz": 3})
    assert "n_chunks" in str(e.value)
    with pytest.raises(ConfigError):
        resolve_params("sort", {"n_chunks": 9})  # Params.validate -> ConfigError
    assert resolve_params("sort", {"n_chunks": "3"})["n_chunks"] == 3  # coerced from a string


def test_set_parsing_and_coercion() -> None:
    d = parse_set_options(["lr=0.1", "mae.mask_ratio=0.75", " steps = 7 ", "data_root=/a=b", "amp=false"])
    assert d == {"lr": "0.1", "mae.mask_ratio": "0.75", "steps": "7", "data_root": "/a=b", "amp": "false"}
    assert parse_set_options(None) == {} and parse_set_options([]) == {}
    with pytest.raises(ConfigError, match="key=value"):
        parse_set_options(["lr"])
    cfg = apply_overrides(
        Config(), {"lr": "0.1", "steps": "7", "amp": "false", "data_root": "none", "knn_ks": "1,5", "device": "cpu"}
    )
    assert (cfg.lr, cfg.steps, cfg.amp, cfg.data_root, cfg.knn_ks, cfg.device) == (0.1, 7, False, None, (1, 5), "cpu")
    assert isinstance(cfg.lr, float) and isinstance(cfg.steps, int)
    for key, bad in (("steps", "many"), ("lr", "fast"), ("amp", "maybe")):
        with pytest.raises(ConfigError, match=key):
            apply_overrides(Config(), {key: bad})


def test_job_key_stable_and_sensitive_to_what_changes_results() -> None:
    base = Config(method="sort", params=resolve_params("sort", {}))
    key = base.job_key()
    assert key == Config(method="sort", params=resolve_params("sort", {})).job_key()
    # stable across processes (no hash randomisation, no object ids)
    code = (
        "from vssl_bench.config import Config; from vssl_bench.methods import resolve_params; "
        "print(Config(method='sort', params=resolve_params('sort', {})).job_key())"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == key
    )
    r = dataclasses.replace
    for changed in (
        r(base, steps=base.steps + 1),
        r(base, batch_size=16),
        r(base, epochs=1.0),
        r(base, seed=1),
        r(base, lr=1e-3),
        r(base, params={**base.params, "n_chunks": 3}),
    ):
        assert changed.job_key() != key
    for same in (
        r(base, device="cpu"),
        r(base, device="cuda"),
        r(base, threads=1),
        r(base, num_workers=4),
        r(base, cache_decoded_mb=0),
        r(base, checkpoint_every=7),
        r(base, data_root="/elsewhere"),
    ):
        assert same.job_key() == key
    assert key in base.job_name() and base.job_name().startswith("sort__synthetic__tiny3d__seed0__")
    # the embedded data's generator version is part of it: data regenerated by a newer
    # generator gives new jobs, never a skip onto results computed on the old videos
    import vssl_bench.data.synthetic as synthetic

    real, ucf = synthetic.SYNTHETIC_VERSION, r(base, dataset="ucf101").job_key()
    try:
        synthetic.SYNTHETIC_VERSION = real + "-next"
        assert base.job_key() != key
        assert r(base, dataset="ucf101").job_key() == ucf  # a real dataset: not the generator's business
    finally:
        synthetic.SYNTHETIC_VERSION = real


def test_a_budget_in_one_unit_replaces_the_suites_in_the_other() -> None:
    """A job trains ``epochs`` whenever it is above 0: ``--steps`` on a suite budgeted in
    epochs (ucf101.yaml: 300) must train those steps, not 300 epochs under a steps label;
    and ``--set epochs`` on a suite budgeted in steps trains epochs."""
    from vssl_bench.suite import suite_from_options

    for kw in ({"steps": "1000"}, {"sets": ["steps=1000"]}):
        jobs = suite_from_options("ucf101", **kw).jobs()
        assert {(c.steps, c.epochs) for c in jobs if c.method != "random"} == {(1000, 0.0)}, kw
    jobs = suite_from_options("quick", sets=["epochs=2"]).jobs()
    assert {(c.steps, c.epochs) for c in jobs if c.method != "random"} == {(0, 2.0)}
    jobs = suite_from_options("budgets", epochs=1.0).jobs()  # a steps axis gives way to one epochs budget
    assert {(c.steps, c.epochs) for c in jobs if c.method != "random"} == {(0, 1.0)}
    for kw in (
        {"steps": "150", "epochs": 2.0},
        {"epochs": 2.0, "sets": ["steps=150"]},
        {"sets": ["steps=1", "epochs=1"]},
    ):
        with pytest.raises(ConfigError, match="steps and epochs both given"):
            suite_from_options("quick", **kw)
    # 0 means "not this unit": said beside the other, it is no conflict
    jobs = suite_from_options("quick", steps="150", sets=["epochs=0"]).jobs()
    assert {(c.steps, c.epochs) for c in jobs if c.method != "random"} == {(150, 0.0)}
    jobs = suite_from_options("quick", epochs=2.0, sets=["steps=0"]).jobs()
    assert {(c.steps, c.epochs) for c in jobs if c.method != "random"} == {(0, 2.0)}


@pytest.mark.parametrize("steps", [[150, 600.7], [True], [150, None], "150,,600", "abc", [-1]])
def test_a_suites_budget_list_refuses_what_is_not_a_step_count(steps, tmp_path) -> None:
    import yaml

    raw = yaml.safe_load((available_suites()["smoke"]).read_text())
    raw["config"]["steps"] = steps
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="steps must be an integer or a list of integers"):
        load_suite(str(path))
