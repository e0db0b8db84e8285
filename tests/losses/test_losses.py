"""Losses vs slow loops, known answers and torch built-ins."""

import math

import pytest
import torch
import torch.nn.functional as F

from vssl_bench.losses import contrastive_loss, info_nce, triplet_loss


def _randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ----------------------------------------------------------------- info_nce


def test_info_nce_identical_one_hot_pairs_is_zero():
    z = torch.eye(8)
    assert info_nce(z, z, temperature=0.01).item() == pytest.approx(0.0, abs=1e-6)
    # with temperature 1 the loss is log(1 + (B-1) e^{-1}) -- known closed form
    assert info_nce(z, z, temperature=1.0).item() == pytest.approx(math.log(math.e / (math.e + 7)) * -1, rel=1e-5)


@pytest.mark.parametrize("temperature", [0.07, 0.1, 0.5])
def test_info_nce_vs_slow_loop(temperature):
    z0, z1 = _randn(6, 5, seed=1), _randn(6, 5, seed=2)
    total = 0.0
    for i in range(6):
        a = z0[i] / z0[i].norm()
        sims = [float(a @ (z1[j] / z1[j].norm())) / temperature for j in range(6)]
        log_denominator = math.log(sum(math.exp(s) for s in sims))
        total += -(sims[i] - log_denominator)
    expected = total / 6
    assert info_nce(z0, z1, temperature).item() == pytest.approx(expected, rel=1e-10)


def test_info_nce_vs_cross_entropy_and_scale_invariance():
    z0, z1 = _randn(16, 32, seed=3), _randn(16, 32, seed=4)
    logits = F.normalize(z0, dim=1) @ F.normalize(z1, dim=1).T / 0.1
    expected = F.cross_entropy(logits, torch.arange(16))
    torch.testing.assert_close(info_nce(z0, z1), expected)
    # L2-normalised inside: scaling rows does not change the loss
    torch.testing.assert_close(info_nce(3.0 * z0, z1 * 0.01), expected)
    # asymmetric
    assert not torch.allclose(info_nce(z0, z1), info_nce(z1, z0))


def test_info_nce_gradients_and_validation():
    z0 = _randn(4, 3, seed=5).requires_grad_()
    z1 = _randn(4, 3, seed=6).requires_grad_()
    info_nce(z0, z1).backward()
    assert torch.isfinite(z0.grad).all() and z0.grad.abs().sum() > 0
    assert torch.isfinite(z1.grad).all() and z1.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="same shape"):
        info_nce(torch.ones(4, 3), torch.ones(5, 3))
    with pytest.raises(ValueError, match="2-D"):
        info_nce(torch.ones(4), torch.ones(4))
    with pytest.raises(ValueError, match="temperature"):
        info_nce(torch.ones(4, 3), torch.ones(4, 3), temperature=0.0)


# ----------------------------------------------------------- contrastive_loss


def test_contrastive_hand_computed():
    origin = torch.zeros(1, 2)
    # similar pair at squared distance 4 -> 4
    assert contrastive_loss(origin, torch.tensor([[2.0, 0.0]]), torch.tensor([0])).item() == 4.0
    # dissimilar pair at squared distance 0.25, margin 1 -> 0.75
    loss = contrastive_loss(origin, torch.tensor([[0.5, 0.0]]), torch.tensor([1]), margin=1.0)
    assert loss.item() == pytest.approx(0.75)
    # dissimilar pair beyond the margin -> 0
    assert contrastive_loss(origin, torch.tensor([[3.0, 0.0]]), torch.tensor([1])).item() == 0.0
    # the three together: mean
    x_i = torch.zeros(3, 2)
    x_j = torch.tensor([[2.0, 0.0], [0.5, 0.0], [3.0, 0.0]])
    y = torch.tensor([0.0, 1.0, 1.0])
    assert contrastive_loss(x_i, x_j, y).item() == pytest.approx((4 + 0.75 + 0) / 3)


@pytest.mark.parametrize("margin", [0.5, 1.0, 8.0])
def test_contrastive_vs_slow_loop(margin):
    x_i, x_j = _randn(10, 4, seed=7), _randn(10, 4, seed=8)
    y = torch.tensor([0, 1] * 5)
    total = 0.0
    for b in range(10):
        d2 = sum(float(x_i[b, d] - x_j[b, d]) ** 2 for d in range(4))
        total += d2 if y[b] == 0 else max(0.0, margin - d2)
    assert contrastive_loss(x_i, x_j, y, margin).item() == pytest.approx(total / 10, rel=1e-10)
    # bool labels behave like 0/1
    assert contrastive_loss(x_i, x_j, y.bool(), margin).item() == pytest.approx(total / 10)


def test_contrastive_gradients_and_validation():
    x_i = _randn(6, 3, seed=9).requires_grad_()
    x_j = _randn(6, 3, seed=10)
    contrastive_loss(x_i, x_j, torch.tensor([0, 0, 0, 1, 1, 1]), margin=100.0).backward()
    assert torch.isfinite(x_i.grad).all() and x_i.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="same shape"):
        contrastive_loss(torch.ones(3, 2), torch.ones(3, 3), torch.zeros(3))
    with pytest.raises(ValueError, match="y must be 1-D"):
        contrastive_loss(torch.ones(3, 2), torch.ones(3, 2), torch.zeros(4))
    with pytest.raises(ValueError, match="only 0"):
        contrastive_loss(torch.ones(3, 2), torch.ones(3, 2), torch.tensor([0, 1, 2]))


# --------------------------------------------------------------- triplet_loss


@pytest.mark.parametrize("margin", [0.0, 1.0, 5.0])
def test_triplet_vs_slow_loop(margin):
    a, p, n = _randn(12, 5, seed=11), _randn(12, 5, seed=12), _randn(12, 5, seed=13)
    total = 0.0
    for b in range(12):
        d_ap = sum(float(a[b, d] - p[b, d]) ** 2 for d in range(5))
        d_an = sum(float(a[b, d] - n[b, d]) ** 2 for d in range(5))
        total += max(0.0, d_ap - d_an + margin)
    assert triplet_loss(a, p, n, margin).item() == pytest.approx(total / 12, rel=1e-10)


def test_triplet_vs_torch_with_squared_distance():
    # torch.nn.TripletMarginLoss uses the plain (non-squared) distance, so it is not the
    # same loss; TripletMarginWithDistanceLoss with a squared-Euclidean distance is.
    a, p, n = _randn(32, 8, seed=14), _randn(32, 8, seed=15), _randn(32, 8, seed=16)
    reference = torch.nn.TripletMarginWithDistanceLoss(
        distance_function=lambda x, y: (x - y).pow(2).sum(-1), margin=1.0
    )
    torch.testing.assert_close(triplet_loss(a, p, n, margin=1.0), reference(a, p, n))
    # and the plain TripletMarginLoss differs on the same inputs
    plain = torch.nn.TripletMarginLoss(margin=1.0, p=2)(a, p, n)
    assert not torch.allclose(triplet_loss(a, p, n), plain)


def test_triplet_known_answers_gradients_and_validation():
    a = torch.zeros(1, 2)
    p = torch.tensor([[1.0, 0.0]])  # d_ap^2 = 1
    n = torch.tensor([[0.0, 3.0]])  # d_an^2 = 9
    assert triplet_loss(a, p, n, margin=1.0).item() == 0.0
    assert triplet_loss(a, n, p, margin=1.0).item() == 9.0  # 9 - 1 + 1
    a = _randn(5, 3, seed=17).requires_grad_()
    triplet_loss(a, _randn(5, 3, seed=18), _randn(5, 3, seed=19), margin=10.0).backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="same shape"):
        triplet_loss(torch.ones(3, 2), torch.ones(3, 2), torch.ones(2, 2))
    with pytest.raises(ValueError, match="margin"):
        triplet_loss(torch.ones(3, 2), torch.ones(3, 2), torch.ones(3, 2), margin=-1.0)


# ----------------------------------------------------------------- nt_xent


def _nt_xent_slow(z0, z1, t, negatives=None):
    """SimCLR Alg. 1, one row at a time: positive = the other view, candidates = all other rows."""
    z = [v / v.norm() for v in torch.cat([z0, z1])]
    extra = [] if negatives is None else [v / v.norm() for v in negatives]
    n, total = z0.shape[0], 0.0
    for i in range(2 * n):
        pos = (i + n) % (2 * n)
        sims = {j: float(z[i] @ z[j]) / t for j in range(2 * n) if j != i}
        denom = sum(math.exp(s) for s in sims.values()) + sum(math.exp(float(z[i] @ e) / t) for e in extra)
        total += -(sims[pos] - math.log(denom))
    return total / (2 * n)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_vs_slow_loop(temperature):
    from vssl_bench.losses import nt_xent

    z0, z1, neg = _randn(5, 4, seed=7), _randn(5, 4, seed=8), _randn(3, 4, seed=9)
    assert nt_xent(z0, z1, temperature).item() == pytest.approx(_nt_xent_slow(z0, z1, temperature), rel=1e-10)
    assert nt_xent(z0, z1, temperature, neg).item() == pytest.approx(_nt_xent_slow(z0, z1, temperature, neg), rel=1e-10)


def test_nt_xent_known_answers():
    """Identical one-hot pairs: at temperature 1 each row sees its positive at similarity 1
    and 2N - 2 others at 0, so the loss is log(e + 2N - 2) - 1; it is symmetric in the views."""
    from vssl_bench.losses import nt_xent

    z = torch.eye(4, dtype=torch.float64)
    assert nt_xent(z, z, temperature=1.0).item() == pytest.approx(math.log(math.e + 6) - 1, rel=1e-12)
    assert nt_xent(z, z, temperature=0.01).item() == pytest.approx(0.0, abs=1e-12)
    z0, z1 = _randn(6, 3, seed=10), _randn(6, 3, seed=11)
    torch.testing.assert_close(nt_xent(z0, z1), nt_xent(z1, z0))
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(z0, z1, temperature=0)
    with pytest.raises(ValueError, match="one shape"):
        nt_xent(z0, z1[:3])
