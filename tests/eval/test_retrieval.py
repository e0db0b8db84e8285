"""Retrieval Recall@k vs explicit sorting and hand-built banks."""

import numpy as np
import pytest
import torch

from vssl_bench.eval import knn, retrieval_recall


def _slow_recall(gallery, y_gallery, query, y_query, ks):
    gallery = np.asarray(gallery, dtype=np.float64)
    query = np.asarray(query, dtype=np.float64)
    out = {}
    for k in ks:
        hits = 0
        for i in range(len(query)):
            dists = []
            for j in range(len(gallery)):
                norms = np.linalg.norm(query[i]) * np.linalg.norm(gallery[j])
                cos = query[i] @ gallery[j] / norms
                dists.append((1.0 - cos, j))
            nearest = [j for _, j in sorted(dists)][: min(k, len(gallery))]
            hits += int(any(y_gallery[j] == y_query[i] for j in nearest))
        out[k] = hits / len(query)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_explicit_sorting(seed):
    rng = np.random.default_rng(seed)
    gallery = rng.standard_normal((50, 6))
    y_gallery = rng.integers(0, 7, 50)
    query = rng.standard_normal((23, 6))  # 23: not a multiple of any batch size
    y_query = rng.integers(0, 7, 23)
    ks = (1, 5, 10, 20)
    expected = _slow_recall(gallery, y_gallery, query, y_query, ks)
    got = retrieval_recall(gallery, y_gallery, query, y_query, ks=ks)
    assert got == pytest.approx(expected)


def test_chunking_does_not_change_result(monkeypatch):
    rng = np.random.default_rng(5)
    gallery, query = rng.standard_normal((40, 4)), rng.standard_normal((17, 4))
    y_gallery, y_query = rng.integers(0, 4, 40), rng.integers(0, 4, 17)
    full = retrieval_recall(gallery, y_gallery, query, y_query)
    monkeypatch.setattr(knn, "_MAX_SIM_ELEMENTS", 120)  # 3 query rows per chunk
    assert retrieval_recall(gallery, y_gallery, query, y_query) == full


def test_hand_built_two_of_three_at_r1():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    y_gallery = np.array([0, 1, 2])
    # query 0 nearest gallery 0 (label 0, correct); query 1 nearest gallery 1 (correct);
    # query 2 nearest gallery 2 (label 2) but is labelled 1: wrong at R@1, and its
    # 2nd nearest is gallery 1 (angle 90 deg) before gallery 0 (180 deg): right at R@2.
    query = np.array([[2.0, 0.1], [0.1, 3.0], [-1.0, 0.2]])
    y_query = np.array([0, 1, 1])
    got = retrieval_recall(gallery, y_gallery, query, y_query, ks=(1, 2, 3))
    assert got == pytest.approx({1: 2 / 3, 2: 1.0, 3: 1.0})


def test_every_query_counts_no_drop_last():
    # One single query, a lone trailing video a drop_last loader would skip.
    gallery = np.eye(3)
    got = retrieval_recall(gallery, [0, 1, 2], np.array([[0.0, 0.0, 1.0]]), [2], ks=(1,))
    assert got == {1: 1.0}
    # 5 queries, 1 wrong: exactly 4/5 (denominator is the number of queries)
    query = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 0.1, 0], [0, 0.1, 1.0]])
    got = retrieval_recall(gallery, [0, 1, 2], query, [0, 1, 2, 0, 1], ks=(1,))
    assert got == {1: pytest.approx(4 / 5)}


def test_perfect_clusters_and_k_clipping():
    rng = np.random.default_rng(0)
    centers = np.eye(5) * 5
    y_gallery, y_query = np.repeat(np.arange(5), 4), np.repeat(np.arange(5), 3)
    gallery = centers[y_gallery] + 0.01 * rng.standard_normal((20, 5))
    query = centers[y_query] + 0.01 * rng.standard_normal((15, 5))
    got = retrieval_recall(torch.tensor(gallery), torch.tensor(y_gallery), query, y_query, ks=(1, 5, 50))
    assert got == {1: 1.0, 5: 1.0, 50: 1.0}


def test_bad_input():
    with pytest.raises(ValueError, match="feature dimension"):
        retrieval_recall(np.zeros((3, 2)) + 1, [0, 1, 2], np.ones((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="query_labels"):
        retrieval_recall(np.ones((3, 2)), [0, 1, 2], np.ones((2, 2)), [0, 1, 1])
    with pytest.raises(ValueError, match="ks"):
        retrieval_recall(np.ones((3, 2)), [0, 1, 2], np.ones((2, 2)), [0, 1], ks=(0,))
