"""Linear probe on cached, frozen features, and video-level accuracy.

The backbone is not involved here: features are extracted once (backbone frozen, in eval
mode, see docs/protocols.md, "Linear probe") and a single linear layer is trained on them with
cross-entropy. Training on a (N, D) cache is cheap: ~1 s for 1000 x 128 features on a CPU,
against 30-60 s per checkpoint for a cross-validated scikit-learn logistic regression.

Recipe (defaults of :func:`fit_linear_probe`), with where each number comes from:

* Features are standardised with the *train* mean and standard deviation (per dimension;
  a dimension with zero train std is only centred). The same statistics are applied to
  any feature passed to :meth:`LinearProbe.predict_proba`. This makes one learning rate
  work for backbones whose feature scales differ by orders of magnitude.
* Weights and bias start at zero (the problem is convex; zero init removes one source of
  randomness). ``seed`` only drives the mini-batch order, through a private
  ``torch.Generator``: the global RNG is neither read nor changed.
* AdamW, lr 1e-2: the Adam lr 0.01 of SEVERE's UCF101 linear evaluation (MME uses AdamW
  lr 1e-3 for 30 epochs on much larger features; lightly SGD lr 0.1 * bs / 256).
* weight decay 1e-4: small, only to keep logits finite on separable data (lightly's
  linear-eval default is 0; MME 0.05 is meant for fine-tuning-sized runs).
* 100 epochs, cosine decay of the lr to zero per step: longer than SEVERE's 10 epochs
  because steps on cached features are nearly free, and cosine as in lightly's 90-epoch
  linear eval, so the result depends little on the exact epoch count.
* batch size 256: lightly's reference batch for its lr scaling rule; every sample is
  used each epoch (no ``drop_last``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from vssl_bench.eval.knn import _check_banks, _to_features, _to_labels

# A train-feature dimension whose std is below this is treated as constant (only centred).
_MIN_STD = 1e-8


@dataclass
class LinearProbe:
    """A trained linear classifier on standardised features.

    Attributes:
        weight: (C, D) float tensor.
        bias: (C,) float tensor.
        mean: (D,) train feature mean used for standardisation.
        std: (D,) train feature std used for standardisation (1 where it was ~0).
    """

    weight: Tensor
    bias: Tensor
    mean: Tensor
    std: Tensor

    @property
    def num_classes(self) -> int:
        return int(self.weight.shape[0])

    def logits(self, features: Any) -> Tensor:
        """(N, D) features (tensor or array) -> (N, C) logits."""
        x = _to_features(features, "features")
        if x.shape[1] != self.weight.shape[1]:
            raise ValueError(
                f"features have dimension {x.shape[1]} but the probe was trained on dimension {self.weight.shape[1]}"
            )
        x = x.to(device=self.weight.device, dtype=self.weight.dtype)
        x = (x - self.mean) / self.std  # (N, D)
        return x @ self.weight.T + self.bias  # (N, C)

    @torch.no_grad()
    def predict_proba(self, features: Any) -> Tensor:
        """(N, D) features -> (N, C) softmax class probabilities."""
        return self.logits(features).softmax(dim=1)  # (N, C)

    @torch.no_grad()
    def accuracy(self, features: Any, labels: Any) -> float:
        """Top-1 accuracy on (N, D) features and (N,) integer labels."""
        logits = self.logits(features)  # (N, C)
        y = _to_labels(labels, "labels", logits.shape[0]).to(logits.device)
        return float((logits.argmax(dim=1) == y).float().mean())


def _check_hparams(epochs: int, lr: float, weight_decay: float, batch_size: int) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")


def fit_linear_probe(
    train_features: Any,
    train_labels: Any,
    num_classes: int | None = None,
    *,
    epochs: int = 100,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    batch_size: int = 256,
    seed: int = 0,
) -> LinearProbe:
    """Train a linear classifier on cached features (recipe in the module docstring).

    Args:
        train_features: (N, D) float tensor or array.
        train_labels: (N,) integer class indices.
        num_classes: C; default ``max(train_labels) + 1``. Pass the dataset's class count
            so that classes absent from the train split still get an output.
        epochs, lr, weight_decay, batch_size: AdamW with cosine decay, see module docstring.
        seed: seeds the mini-batch order; same inputs and seed give the same probe.

    Returns:
        A :class:`LinearProbe` on the device of ``train_features``.
    """
    _check_hparams(epochs, lr, weight_decay, batch_size)
    x = _to_features(train_features, "train_features")
    y = _to_labels(train_labels, "train_labels", x.shape[0]).to(x.device)
    max_label = int(y.max())
    if num_classes is None:
        num_classes = max_label + 1
    elif num_classes <= max_label:
        raise ValueError(f"num_classes={num_classes} but train_labels contain {max_label}")

    # Run with autograd even if the caller is inside torch.no_grad / inference_mode.
    with torch.inference_mode(False), torch.enable_grad():
        x = x.clone()
        mean = x.mean(dim=0)  # (D,)
        std = x.std(dim=0, unbiased=False)  # (D,)
        std = torch.where(std < _MIN_STD, torch.ones_like(std), std)
        x = (x - mean) / std  # (N, D)

        n, dim = x.shape
        weight = torch.zeros(num_classes, dim, dtype=x.dtype, device=x.device, requires_grad=True)
        bias = torch.zeros(num_classes, dtype=x.dtype, device=x.device, requires_grad=True)
        opt = torch.optim.AdamW([weight, bias], lr=lr, weight_decay=weight_decay)
        steps_per_epoch = math.ceil(n / batch_size)
        total_steps = epochs * steps_per_epoch
        generator = torch.Generator().manual_seed(seed)
        step = 0
        for _ in range(epochs):
            perm = torch.randperm(n, generator=generator).to(x.device)  # (N,)
            for start in range(0, n, batch_size):
                idx = perm[start : start + batch_size]  # (b,)
                # cosine decay from lr to 0 over all steps
                for group in opt.param_groups:
                    group["lr"] = 0.5 * lr * (1.0 + math.cos(math.pi * step / total_steps))
                logits = x[idx] @ weight.T + bias  # (b, C)
                loss = F.cross_entropy(logits, y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
    return LinearProbe(weight=weight.detach(), bias=bias.detach(), mean=mean, std=std)


def linear_probe(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    *,
    epochs: int = 100,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    batch_size: int = 256,
    seed: int = 0,
    num_classes: int | None = None,
) -> float:
    """Clip-level top-1 accuracy of a linear probe trained on cached features.

    Args:
        train_features: (N_train, D) float tensor or array.
        train_labels: (N_train,) integer class indices.
        test_features: (N_test, D) float tensor or array.
        test_labels: (N_test,) integer class indices.
        epochs, lr, weight_decay, batch_size, seed: see :func:`fit_linear_probe`.
        num_classes: C; default ``max(train_labels ∪ test_labels) + 1``.

    Returns:
        Top-1 accuracy on the test features. For video-level accuracy use
        :func:`fit_linear_probe`, :meth:`LinearProbe.predict_proba` and
        :func:`video_level_accuracy`.
    """
    train, y_train, test, y_test = _check_banks(train_features, train_labels, test_features, test_labels)
    if num_classes is None:
        num_classes = int(max(y_train.max(), y_test.max())) + 1
    elif num_classes <= int(y_test.max()):
        raise ValueError(f"num_classes={num_classes} but test_labels contain {int(y_test.max())}")
    probe = fit_linear_probe(
        train, y_train, num_classes, epochs=epochs, lr=lr, weight_decay=weight_decay, batch_size=batch_size, seed=seed
    )
    return probe.accuracy(test, y_test)


def video_level_accuracy(probs: Any, video_ids: Any, labels: Any) -> float:
    """Top-1 accuracy after averaging clip probabilities per video.

    docs/protocols.md, "Linear probe": report clip-level and video-level top-1, the latter
    averaging the softmax over the several clips of each video.

    Args:
        probs: (N_clips, C) class probabilities of each clip (e.g.
            :meth:`LinearProbe.predict_proba`), tensor or array.
        video_ids: (N_clips,) integer id of the video each clip comes from; clips of
            one video need not be contiguous.
        labels: (N_clips,) integer label of each clip; all clips of a video must share it.

    Returns:
        Fraction of videos whose mean probability vector's argmax equals their label
        (each video counts once, whatever its number of clips).
    """
    p = _to_features(probs, "probs")
    n = p.shape[0]
    vid = _to_labels(video_ids, "video_ids", n).to(p.device)
    y = _to_labels(labels, "labels", n).to(p.device)
    unique_ids, inverse = torch.unique(vid, return_inverse=True)  # (V,), (N,)
    n_videos = unique_ids.shape[0]
    sums = torch.zeros(n_videos, p.shape[1], dtype=p.dtype, device=p.device)
    sums.index_add_(0, inverse, p)  # (V, C)
    counts = torch.bincount(inverse, minlength=n_videos).to(p.dtype)  # (V,)
    mean_probs = sums / counts[:, None]  # (V, C)
    # the label of each video, checked to be the same for all of its clips
    video_label = torch.zeros(n_videos, dtype=torch.int64, device=p.device)
    video_label[inverse] = y
    if not bool(torch.all(video_label[inverse] == y)):
        raise ValueError("all clips of one video must have the same label")
    return float((mean_probs.argmax(dim=1) == video_label).float().mean())
