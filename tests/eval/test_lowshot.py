"""Low-shot evaluation: reproducible class-balanced draws, known answers on hand-built banks."""

import numpy as np
import pytest
import torch

from vssl_bench.eval import lowshot_eval, lowshot_indices


def _labels(per_class=(12, 12, 12, 3)):
    return torch.tensor([c for c, n in enumerate(per_class) for _ in range(n)])  # (N,)


def test_draws_are_reproducible_and_class_balanced():
    y = _labels()
    a = lowshot_indices(y, 5, seed=3, draw=0)
    assert torch.equal(a, lowshot_indices(y, 5, seed=3, draw=0))  # same seed and draw: same videos
    assert not torch.equal(a, lowshot_indices(y, 5, seed=3, draw=1))  # another draw: other videos
    assert not torch.equal(a, lowshot_indices(y, 5, seed=4, draw=0))
    counts = torch.bincount(y[a], minlength=4).tolist()
    assert counts == [5, 5, 5, 3]  # 5 per class; the class with 3 videos gives all of them
    assert len(set(a.tolist())) == len(a)  # without replacement
    # the draw depends only on the labels and the seed, not on the features or a global RNG
    torch.manual_seed(123)
    np.random.seed(123)
    assert torch.equal(a, lowshot_indices(y.numpy(), 5, seed=3, draw=0))


def test_one_shot_picks_one_video_per_class():
    y = _labels((7, 7, 7))
    idx = lowshot_indices(y, 1, seed=0)
    assert sorted(y[idx].tolist()) == [0, 1, 2]


def test_separable_bank_scores_one_with_any_number_of_labels():
    # class c sits at 10 * e_c (+ small noise): one labelled video per class is enough
    g = torch.Generator().manual_seed(0)
    y, yt = _labels((20,) * 4), _labels((10,) * 4)
    x = 10 * torch.eye(4)[y] + 0.1 * torch.randn(len(y), 4, generator=g)  # (80, 4)
    xt = 10 * torch.eye(4)[yt] + 0.1 * torch.randn(len(yt), 4, generator=g)  # (40, 4)
    r = lowshot_eval(x, y, xt, yt, shots=(1, 5), draws=3, seed=0)
    for n in (1, 5):
        assert r[f"lowshot_{n}_linear"] == 1.0 and r[f"lowshot_{n}_knn"] == 1.0
        assert r[f"lowshot_{n}_linear_std"] == 0.0 and r[f"lowshot_{n}_knn_std"] == 0.0
        assert len(r["per_draw"][str(n)]["linear"]) == 3 and r["per_draw"][str(n)]["n_labelled"] == 4 * n


def test_uninformative_bank_scores_near_chance_and_std_is_over_draws():
    g = torch.Generator().manual_seed(1)
    y, yt = _labels((30,) * 4), _labels((50,) * 4)
    x, xt = torch.randn(len(y), 8, generator=g), torch.randn(len(yt), 8, generator=g)
    r = lowshot_eval(x, y, xt, yt, shots=(5,), draws=4, seed=0)
    assert 0.1 < r["lowshot_5_knn"] < 0.4 and 0.1 < r["lowshot_5_linear"] < 0.4  # chance 0.25
    assert r["lowshot_5_knn_std"] == pytest.approx(np.std(r["per_draw"]["5"]["knn"], ddof=1))


def test_bad_arguments():
    with pytest.raises(ValueError, match="shots"):
        lowshot_indices(_labels(), 0)
    with pytest.raises(ValueError, match="draws"):
        lowshot_eval(torch.zeros(4, 2), [0, 0, 1, 1], torch.zeros(2, 2), [0, 1], draws=0)
