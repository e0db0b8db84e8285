"""Domain shift: where the probe's target comes from, and frozen linear + kNN on it."""

import pytest
import torch
from brightness_data import make_brightness_folder, tiny_cfg

from vssl_bench.config import Config, ConfigError, apply_overrides
from vssl_bench.eval import shift_eval, shift_target


@pytest.fixture(scope="module")
def brightness_folder(tmp_path_factory):
    return make_brightness_folder(tmp_path_factory.mktemp("brightness"))


def test_embedded_pair_in_both_directions_and_real_targets():
    assert shift_target(Config(dataset="synthetic")).dataset == "synthetic-biased"
    assert shift_target(Config(dataset="synthetic-biased")).dataset == "synthetic"
    assert shift_target(Config(dataset="synthetic-conflict")).dataset == "synthetic"
    # the embedded target lives in the job's cache root
    assert shift_target(Config(dataset="synthetic", data_root="/cache")).data_root == "/cache"
    # a real source without a configured target: nothing to do
    assert shift_target(Config(dataset="ucf101", data_root="/ucf")) is None
    t = shift_target(Config(dataset="ucf101", data_root="/ucf"), "hmdb51", "/hmdb")
    assert (t.dataset, t.data_root) == ("hmdb51", "/hmdb")
    # an embedded target after a real source: the default cache, never the real root
    assert shift_target(Config(dataset="ucf101", data_root="/ucf"), "synthetic").data_root is None
    with pytest.raises(ConfigError, match="shift.data_root"):
        shift_target(Config(dataset="ucf101", data_root="/ucf"), "hmdb51")
    with pytest.raises(ConfigError, match="valid choices: .*hmdb51"):
        shift_target(Config(), "hmdb52")


def test_evaluation_switches_are_not_part_of_the_job_key():
    base = Config(method="sort")
    changed = apply_overrides(
        base,
        {
            "evaluations": {
                "shift": {"dataset": "hmdb51", "data_root": "/x"},
                "lowshot": {"draws": 3, "shots": [2, 4]},
                "budgets": {"fracs": [0.1, 0.2]},
                "finetune": {"steps": 7, "lr": 0.1},
            }
        },
    )
    assert list(changed.evaluations) == ["shift", "lowshot", "budgets", "finetune"]
    assert changed.job_key() == base.job_key()


def _mean_colour(x):  # (B, C, T, H, W) -> (B, 3): a hand-built embed that sees brightness
    return x.mean(dim=(2, 3, 4))


def test_frozen_probe_on_the_target_dataset(brightness_folder):
    target = shift_target(tiny_cfg(dataset="synthetic"), "folder", str(brightness_folder))
    r = shift_eval(_mean_colour, target, torch.device("cpu"))
    assert r["shift_dataset"] == "folder" and r["n_train"] + r["n_test"] == 24
    assert r["shift_linear_top1"] == 1.0 and r["shift_knn_top1"] == 1.0  # brightness separates the classes
    # a representation that sees nothing: the probe can only predict the prior
    blind = shift_eval(lambda x: torch.zeros(x.shape[0], 4), target, torch.device("cpu"))
    assert blind["shift_linear_top1"] == pytest.approx(0.5, abs=0.2)


def test_model_stays_frozen(brightness_folder):
    from vssl_bench.runner import build_method

    cfg = tiny_cfg(method="random")
    method = build_method(cfg, 16, torch.device("cpu"))
    method.eval()
    before = {k: v.clone() for k, v in method.state_dict().items()}
    shift_eval(method.embed, shift_target(cfg, "folder", str(brightness_folder)), torch.device("cpu"))
    assert not method.training
    assert all(torch.equal(before[k], v) for k, v in method.state_dict().items())  # BN statistics included
