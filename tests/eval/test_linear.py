"""Linear probe on cached features and video-level accuracy."""

import time

import numpy as np
import pytest
import torch

from vssl_bench.eval import LinearProbe, fit_linear_probe, linear_probe, video_level_accuracy


def _clustered(seed, n, dim, classes, scale=3.0, offset=0.0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, dim, generator=torch.Generator().manual_seed(1234)) * scale
    y = torch.randint(0, classes, (n,), generator=g)
    x = centers[y] + torch.randn(n, dim, generator=g) + offset
    return x, y


def test_separable_data_reaches_one():
    # Linearly separable by construction: the label is the argmax of a fixed linear map,
    # with a margin (points too close to a decision boundary are dropped).
    rng = np.random.default_rng(0)
    w = rng.standard_normal((10, 4))
    x = rng.standard_normal((3000, 10))
    scores = x @ w
    top2 = np.sort(scores, axis=1)[:, -2:]
    keep = top2[:, 1] - top2[:, 0] > 0.5
    x, y = x[keep], scores[keep].argmax(1)
    n_train = len(x) * 2 // 3
    acc = linear_probe(x[:n_train], y[:n_train], x[n_train:], y[n_train:])
    assert acc >= 0.99
    # large offset and scale on the features: standardisation makes it irrelevant
    x2 = x * 1000.0 + 50.0
    assert linear_probe(x2[:n_train], y[:n_train], x2[n_train:], y[n_train:]) >= 0.99


def test_clustered_data_and_torch_numpy_equivalence():
    x, y = _clustered(0, 600, 32, 8)
    xt, yt = _clustered(1, 300, 32, 8)
    acc_t = linear_probe(x, y, xt, yt, epochs=20)
    acc_n = linear_probe(x.numpy(), y.numpy(), xt.numpy(), yt.numpy(), epochs=20)
    assert acc_t >= 0.99
    assert acc_t == acc_n


def test_random_labels_give_chance():
    g = torch.Generator().manual_seed(0)
    classes = 10
    x, y = torch.randn(1000, 64, generator=g), torch.randint(0, classes, (1000,), generator=g)
    xt, yt = torch.randn(4000, 64, generator=g), torch.randint(0, classes, (4000,), generator=g)
    acc = linear_probe(x, y, xt, yt)
    # chance = 0.1; binomial std over 4000 test points ~ 0.005
    assert abs(acc - 1 / classes) < 0.03


def test_deterministic_given_seed():
    x, y = _clustered(0, 300, 16, 5, scale=0.5)  # overlapping classes: not all 1.0
    xt, yt = _clustered(1, 200, 16, 5, scale=0.5)
    p1 = fit_linear_probe(x, y, epochs=5, batch_size=32, seed=3)
    p2 = fit_linear_probe(x, y, epochs=5, batch_size=32, seed=3)
    p3 = fit_linear_probe(x, y, epochs=5, batch_size=32, seed=4)
    assert torch.equal(p1.weight, p2.weight) and torch.equal(p1.bias, p2.bias)
    assert not torch.equal(p1.weight, p3.weight)
    a = linear_probe(x, y, xt, yt, epochs=5, batch_size=32, seed=3)
    assert a == linear_probe(x, y, xt, yt, epochs=5, batch_size=32, seed=3)
    assert a == p1.accuracy(xt, yt)


def test_global_rng_untouched_and_works_under_no_grad():
    x, y = _clustered(0, 100, 8, 3)
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    with torch.inference_mode():
        probe = fit_linear_probe(x, y, epochs=3)
    assert torch.equal(torch.rand(1), before)
    assert probe.accuracy(x, y) > 0.9


def test_probe_interface_and_num_classes():
    x, y = _clustered(0, 200, 8, 3)
    probe = fit_linear_probe(x, y, num_classes=7)
    assert isinstance(probe, LinearProbe)
    assert probe.num_classes == 7
    probs = probe.predict_proba(x[:11])
    assert probs.shape == (11, 7)
    torch.testing.assert_close(probs.sum(1), torch.ones(11))
    # classes absent from training are never predicted and get little probability
    assert probs.argmax(1).max() < 3
    assert probs[:, 3:].max() < 0.1
    with pytest.raises(ValueError, match="num_classes"):
        fit_linear_probe(x, y, num_classes=2)
    with pytest.raises(ValueError, match="dimension"):
        probe.predict_proba(x[:, :4])
    with pytest.raises(ValueError, match="epochs"):
        fit_linear_probe(x, y, epochs=0)
    with pytest.raises(ValueError, match="feature dimension"):
        linear_probe(x, y, x[:, :4], y)
    # num classes from train and test labels: a test-only label is allowed
    yt = y.clone()
    yt[0] = 5
    assert linear_probe(x, y, x, yt, epochs=10) == pytest.approx(199 / 200)


def test_speed_1000x128_16_classes():
    x, y = _clustered(0, 1000, 128, 16)
    xt, yt = _clustered(1, 1000, 128, 16)
    linear_probe(x[:50], y[:50], xt[:50], yt[:50], epochs=1)  # warm-up
    start = time.perf_counter()
    acc = linear_probe(x, y, xt, yt)
    elapsed = time.perf_counter() - start
    print(f"linear_probe 1000x128, 16 classes, 100 epochs: {elapsed:.3f} s, acc {acc:.3f}")
    assert acc >= 0.99
    assert elapsed < 20.0


def test_video_level_accuracy_hand_built():
    # video 10 (label 0): clips 0.6/0.4 and 0.3/0.7 -> mean 0.45/0.55 -> class 1: wrong,
    #   even though its first clip alone is right.
    # video 20 (label 1): clips 0.2/0.8, 0.9/0.1, 0.3/0.7 -> mean 0.467/0.533 -> right.
    # video 30 (label 0): single clip 0.9/0.1 -> right. Clips are interleaved.
    probs = torch.tensor([[0.6, 0.4], [0.2, 0.8], [0.9, 0.1], [0.3, 0.7], [0.9, 0.1], [0.3, 0.7]])
    video_ids = torch.tensor([10, 20, 30, 10, 20, 20])
    labels = torch.tensor([0, 1, 0, 0, 1, 1])
    assert video_level_accuracy(probs, video_ids, labels) == pytest.approx(2 / 3)
    assert video_level_accuracy(probs.numpy(), video_ids.numpy(), labels.numpy()) == pytest.approx(2 / 3)
    # clip-level would be 4/6: each video counts once
    with pytest.raises(ValueError, match="same label"):
        video_level_accuracy(probs, video_ids, torch.tensor([0, 1, 0, 1, 1, 1]))


def test_video_level_accuracy_vs_loop():
    rng = np.random.default_rng(0)
    n_videos, classes = 30, 5
    video_ids = rng.integers(0, n_videos, 200)
    video_label = rng.integers(0, classes, n_videos)
    labels = video_label[video_ids]
    logits = rng.standard_normal((200, classes))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    correct, seen = 0, sorted(set(video_ids.tolist()))
    for v in seen:
        rows = [i for i in range(200) if video_ids[i] == v]
        mean = sum(probs[i] for i in rows) / len(rows)
        correct += int(int(np.argmax(mean)) == video_label[v])
    assert video_level_accuracy(probs, video_ids, labels) == pytest.approx(correct / len(seen))
