"""Budget curves: which steps are snapshotted, snapshots written by the loop's hook, and
each snapshot evaluated exactly like the final weights would be."""

import pytest
import torch
from brightness_data import make_brightness_folder, tiny_cfg

from vssl_bench.data.datasets import build_dataset
from vssl_bench.eval import budget_eval, snapshot_steps
from vssl_bench.eval.budgets import Budgets, frac_label
from vssl_bench.rundir import RunDir
from vssl_bench.runner import build_method


@pytest.fixture(scope="module")
def brightness_folder(tmp_path_factory):
    return make_brightness_folder(tmp_path_factory.mktemp("brightness"))


def test_snapshot_steps():
    assert snapshot_steps(150, (0.25, 0.5)) == [38, 75]  # round(37.5) = 38 (banker's rounding: 38 is even)
    assert snapshot_steps(4, (0.5, 0.25)) == [1, 2]  # sorted
    assert snapshot_steps(2, (0.1, 0.9, 0.5)) == [1]  # steps 0 and 2 (the final weights) are not snapshots
    assert snapshot_steps(100, (0.25, 0.25)) == [25]
    assert (frac_label(0.25), frac_label(0.5), frac_label(1 / 3)) == ("at25", "at50", "at33")


def test_snapshots_written_by_the_training_hook_only_at_their_steps(tmp_path):
    model = torch.nn.Linear(2, 2)
    run_dir = RunDir(tmp_path / "on").make()
    hook = Budgets(Budgets.Params()).train_hook(tiny_cfg(), run_dir)
    for step in range(1, 9):
        hook(model, step, 8)
    assert sorted(p.name for p in run_dir.path.iterdir()) == ["weights_step2.pt", "weights_step4.pt"]
    ck = torch.load(run_dir.snapshot(2), weights_only=False)
    assert ck["step"] == 2 and torch.equal(ck["model"]["weight"], model.weight)


def test_untrained_method_has_a_flat_curve(tmp_path):
    cfg = tiny_cfg(method="random", evaluations=("budgets",))
    method = build_method(cfg, 4, torch.device("cpu"))
    r = budget_eval(
        method, None, None, cfg, torch.device("cpu"), RunDir(tmp_path), 100, final={"linear_top1": 0.3, "knn_top1": 0.2}
    )
    assert r["budget_linear_top1_at25"] == r["budget_linear_top1_at50"] == 0.3
    assert r["budget_knn_top1_at25"] == r["budget_knn_top1_at50"] == 0.2
    assert [p["step"] for p in r["curve"]] == [25, 50, 100] and r["missing"] == []


def test_snapshot_evaluated_like_final_weights_and_missing_ones_reported(brightness_folder, tmp_path):
    from vssl_bench.eval import fit_linear_probe, frozen_embed, knn_accuracy
    from vssl_bench.eval.features import extract_centre_features

    cfg = tiny_cfg(method="supervised", dataset="folder", data_root=str(brightness_folder), evaluations=("budgets",))
    train, test = build_dataset(cfg)
    dev = torch.device("cpu")
    method = build_method(cfg, len(train.classes), dev)
    # the snapshot at 25 % holds other weights (another init) than the job's final model
    other = build_method(tiny_cfg(method="supervised", seed=5), len(train.classes), dev).eval()
    run_dir = RunDir(tmp_path)
    Budgets(Budgets.Params(fracs=(0.25, 0.5))).train_hook(cfg, run_dir)(other, 2, 8)  # round(0.25 * 8) = 2; not 4
    method.eval()
    before = {k: v.clone() for k, v in method.state_dict().items()}
    r = budget_eval(method, train, test, cfg, dev, run_dir, 8, (0.25, 0.5), final={"linear_top1": 0.9, "knn_top1": 0.8})
    embed = frozen_embed(other, train, cfg, dev)  # the snapshot, with the job's BatchNorm policy
    tr, te = extract_centre_features(embed, train, cfg, dev), extract_centre_features(embed, test, cfg, dev)
    probe = fit_linear_probe(
        tr.centre_features,
        tr.labels,
        2,
        epochs=cfg.linear_epochs,
        lr=cfg.linear_lr,
        weight_decay=cfg.linear_weight_decay,
        seed=cfg.seed,
    )
    assert r["budget_linear_top1_at25"] == probe.accuracy(te.centre_features, te.labels)
    assert r["budget_knn_top1_at25"] == knn_accuracy(
        tr.centre_features, tr.labels, te.centre_features, te.labels, k=cfg.knn_k
    )
    assert r["missing"] == [4] and "budget_linear_top1_at50" not in r  # never guessed
    assert r["curve"][-1] == {"frac": 1.0, "step": 8, "linear_top1": 0.9, "knn_top1": 0.8}
    assert all(torch.equal(before[k], v) for k, v in method.state_dict().items())  # loaded into a copy
    assert not method.training
