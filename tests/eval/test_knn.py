"""kNN classification vs a slow loop and hand-built feature banks."""

import math

import numpy as np
import pytest
import torch

from vssl_bench.eval import knn, knn_accuracy, knn_sweep


def _slow_knn(train, y_train, test, y_test, k, temperature):
    """Explicit loops over test points; float64 numpy."""
    train = np.asarray(train, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    test = test / np.linalg.norm(test, axis=1, keepdims=True)
    num_classes = int(max(max(y_train), max(y_test))) + 1
    k = min(k, len(train))
    correct = 0
    for i in range(len(test)):
        sims = [float(test[i] @ train[j]) for j in range(len(train))]
        order = sorted(range(len(train)), key=lambda j: -sims[j])[:k]
        votes = [0.0] * num_classes
        for j in order:
            votes[int(y_train[j])] += math.exp(sims[j] / temperature)
        pred = max(range(num_classes), key=lambda c: (votes[c], -c))
        correct += int(pred == int(y_test[i]))
    return correct / len(test)


def _random_bank(seed, n_train=60, n_test=25, dim=8, classes=5):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((n_train, dim)),
        rng.integers(0, classes, n_train),
        rng.standard_normal((n_test, dim)),
        rng.integers(0, classes, n_test),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 3, 10, 60])
@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_knn_matches_slow_loop(seed, k, temperature):
    tr, ytr, te, yte = _random_bank(seed)
    expected = _slow_knn(tr, ytr, te, yte, k, temperature)
    assert knn_accuracy(tr, ytr, te, yte, k=k, temperature=temperature) == pytest.approx(expected)


def test_sweep_matches_individual_and_slow_loop(monkeypatch):
    tr, ytr, te, yte = _random_bank(7, n_train=80, n_test=33)
    ks = (1, 5, 20, 200)
    sweep = knn_sweep(tr, ytr, te, yte, ks=ks)
    assert set(sweep) == set(ks)
    for k in ks:
        assert sweep[k] == pytest.approx(_slow_knn(tr, ytr, te, yte, k, 0.07))
        assert sweep[k] == knn_accuracy(tr, ytr, te, yte, k=k)
    # chunked over test rows: several chunks of 2 rows (2 * 80 elements) give the same
    monkeypatch.setattr(knn, "_MAX_SIM_ELEMENTS", 160)
    assert knn_sweep(tr, ytr, te, yte, ks=ks) == sweep


def test_torch_and_numpy_inputs_agree():
    tr, ytr, te, yte = _random_bank(3)
    a = knn_sweep(tr, ytr, te, yte, ks=(1, 5))
    b = knn_sweep(
        torch.tensor(tr, dtype=torch.float32),
        torch.tensor(ytr),
        torch.tensor(te, dtype=torch.float32),
        torch.tensor(yte),
        ks=(1, 5),
    )
    assert a == b


def test_perfect_clusters_give_one():
    rng = np.random.default_rng(0)
    classes, dim = 4, 16
    centers = np.eye(dim)[:classes] * 10.0
    ytr = np.repeat(np.arange(classes), 30)
    yte = np.repeat(np.arange(classes), 10)
    tr = centers[ytr] + 0.01 * rng.standard_normal((len(ytr), dim))
    te = centers[yte] + 0.01 * rng.standard_normal((len(yte), dim))
    assert knn_sweep(tr, ytr, te, yte, ks=(1, 5, 20)) == {1: 1.0, 5: 1.0, 20: 1.0}


def test_hand_built_k_sweep():
    # Train bank on the unit circle; the test point is at angle 0.
    # Nearest: one class-1 point at 0 rad, then two class-0 points at +-0.1 rad,
    # then three class-2 points far away at pi/2.
    angles = [0.0, 0.1, -0.1, math.pi / 2, math.pi / 2 + 0.01, math.pi / 2 - 0.01]
    tr = np.array([[math.cos(a), math.sin(a)] for a in angles])
    ytr = np.array([1, 0, 0, 2, 2, 2])
    te = np.array([[1.0, 0.0]])
    # k=1: class 1. k=3: two class-0 votes of exp(cos(0.1)/T) ~ 2 * 0.9 * exp(1/T) > exp(1/T).
    # k=6 with T large (votes ~ equal weights): class 2 has three votes -> wrong for label 0.
    assert knn_sweep(tr, ytr, te, np.array([1]), ks=(1, 3)) == {1: 1.0, 3: 0.0}
    assert knn_sweep(tr, ytr, te, np.array([0]), ks=(1, 3)) == {1: 0.0, 3: 1.0}
    assert knn_accuracy(tr, ytr, te, np.array([2]), k=6, temperature=100.0) == 1.0
    assert knn_accuracy(tr, ytr, te, np.array([0]), k=6, temperature=0.07) == 1.0


def test_k_larger_than_train_is_clipped():
    tr = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]])
    ytr = np.array([0, 1, 0])
    te = np.array([[1.0, 0.05]])
    sweep = knn_sweep(tr, ytr, te, np.array([0]), ks=(3, 1000))
    assert sweep == {3: 1.0, 1000: 1.0}


def test_num_classes_from_data_not_unique_test_labels():
    # Test labels are only {5}; train has classes 0..5. Class 5's neighbour votes must land
    # on index 5 (a remapping through unique(test_labels) would break this).
    tr = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    ytr = np.array([5, 0, 2])
    te = np.array([[1.0, 0.1], [0.9, -0.1]])
    yte = np.array([5, 5])
    assert knn_accuracy(tr, ytr, te, yte, k=1) == 1.0
    # A test label larger than any train label is allowed and simply never predicted.
    assert knn_accuracy(tr, ytr, te, np.array([5, 9]), k=1) == 0.5


@pytest.mark.parametrize("kwargs, match", [({"k": 0}, "k"), ({"temperature": 0.0}, "temperature")])
def test_bad_arguments(kwargs, match):
    tr, ytr, te, yte = _random_bank(0)
    with pytest.raises(ValueError, match=match):
        knn_accuracy(tr, ytr, te, yte, **kwargs)


def test_bad_shapes():
    tr, ytr, te, yte = _random_bank(0)
    with pytest.raises(ValueError, match="feature dimension"):
        knn_accuracy(tr, ytr, te[:, :3], yte)
    with pytest.raises(ValueError, match="train_labels"):
        knn_accuracy(tr, ytr[:-1], te, yte)
    with pytest.raises(ValueError, match="2-D"):
        knn_accuracy(tr[0], ytr, te, yte)
    with pytest.raises(ValueError, match="non-negative"):
        knn_accuracy(tr, -ytr - 1, te, yte)
