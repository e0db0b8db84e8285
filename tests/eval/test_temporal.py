"""Temporal sensitivity: an order-encoding bank scores 100 %, a time-blind one chance."""

import pytest
import torch

from vssl_bench.data.synthetic import CLASS_NAMES
from vssl_bench.eval import reversal_consistency, reversal_pairs, temporal_eval


def test_reversal_pairs_of_the_embedded_dataset():
    pairs = reversal_pairs(CLASS_NAMES)
    named = {(CLASS_NAMES[a], CLASS_NAMES[b]) for a, b in pairs}
    assert named == {
        ("MoveLeftSlow", "MoveRightSlow"),
        ("MoveLeftFast", "MoveRightFast"),
        ("MoveUp", "MoveDown"),
        ("Grow", "Shrink"),
        ("RotateCW", "RotateCCW"),
    }
    # indices follow the dataset's class list (whatever its order); other datasets: none
    shuffled = ["Shrink", "Bounce", "Grow"]
    assert reversal_pairs(shuffled) == [(0, 2)]
    assert reversal_pairs(["ApplyEyeMakeup", "Archery"]) == []


def _banks(order_encoding: bool, n_pairs=3, per_class=8, dim=6, seed=0):
    """Videos of pair p, index i: content f(p, i) shared by both classes of the pair (the
    reversed video of class a *is* a video of class b). An order-encoding representation
    adds +s / -s in one extra dimension for forward / backward motion; a time-blind one
    does not, so its features of a clip and of the reversed clip are identical."""
    g = torch.Generator().manual_seed(seed)

    def split(n):
        feats, labels, rev = [], [], []
        for p in range(n_pairs):
            for i in range(n):
                f = torch.randn(dim, generator=g) + 3 * torch.eye(dim)[p]  # (dim,)
                for cls, sign in ((2 * p, 1.0), (2 * p + 1, -1.0)):
                    s = 10.0 * sign if order_encoding else 0.0
                    feats.append(torch.cat([f, torch.tensor([s])]))
                    rev.append(torch.cat([f, torch.tensor([-s])]))
                    labels.append(cls)
        return torch.stack(feats), torch.tensor(labels), torch.stack(rev)  # (2*P*n, dim+1), (2*P*n,), ...

    x, y, _ = split(per_class)
    xt, yt, xr = split(per_class // 2)
    return x, y, xt, yt, xr, [(2 * p, 2 * p + 1) for p in range(n_pairs)]


def test_order_encoding_bank_scores_100_percent():
    r = temporal_eval(*_banks(order_encoding=True), k=5)
    assert r["temporal_pair_top1"] == 1.0 and r["temporal_pair_chance"] == 0.5
    assert r["temporal_reverse_to_partner"] == 1.0 and r["temporal_forward_knn"] == 1.0
    assert r["temporal_reverse_cosine"] < 0  # the reversed clip points the other way
    assert set(r["per_pair"]) == {"0-1", "2-3", "4-5"}


def test_time_blind_bank_scores_chance_exactly():
    # each feature occurs once in class a and once in class b: any classifier is right on
    # exactly one of the two, so every within-pair score is exactly 0.5
    r = temporal_eval(*_banks(order_encoding=False), k=5)
    assert r["temporal_pair_top1"] == 0.5
    assert r["temporal_reverse_to_partner"] == 0.5 and r["temporal_forward_knn"] == 0.5
    assert r["temporal_reverse_cosine"] == pytest.approx(1.0)


def test_consistency_checks_shapes_and_pairs():
    x, y, xt, yt, xr, pairs = _banks(True)
    with pytest.raises(ValueError, match="reversed_features"):
        reversal_consistency(x, y, xt, yt, xr[:-1], pairs)
    with pytest.raises(ValueError, match="no time-reversal pairs"):
        reversal_consistency(x, y, xt, yt, xr, [])
