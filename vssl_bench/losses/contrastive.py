"""Margin-based contrastive loss on pairs.

Reference:
    [1] Hadsell, Chopra & LeCun, "Dimensionality Reduction by Learning an Invariant
        Mapping", CVPR 2006, in the form of the course lecture
        (squared distance inside the hinge; see :func:`contrastive_loss`).
"""

from __future__ import annotations

from torch import Tensor


def contrastive_loss(x_i: Tensor, x_j: Tensor, y: Tensor, margin: float = 1.0) -> Tensor:
    """L = (1 - Y) * d^2 + Y * max(0, m - d^2), averaged over the batch.

    ``d^2 = ||x_i - x_j||^2`` is the squared Euclidean distance of each pair; ``Y = 0``
    marks a similar pair (pulled together), ``Y = 1`` a dissimilar pair (pushed until its
    squared distance reaches the margin).

    Note: this is the lecture's form, with the *squared* distance inside the hinge.
    Hadsell et al. (2006) write ``1/2 (1 - Y) d^2 + 1/2 Y max(0, m - d)^2``, with the
    plain distance inside the hinge, the hinge squared and factors 1/2; the two are not
    equal (e.g. d^2 = 0.25, m = 1: 0.75 here, 0.125 in Hadsell's form).

    Args:
        x_i: (B, D) embeddings of the first element of each pair.
        x_j: (B, D) embeddings of the second element.
        y: (B,) 0 for similar pairs, 1 for dissimilar pairs (bool, int or float).
        margin: m > 0, compared with the squared distance; 1.0 as in the lecture.

    Returns:
        Scalar tensor.
    """
    if x_i.ndim != 2 or x_i.shape != x_j.shape:
        raise ValueError(
            f"x_i and x_j must be 2-D (B, D) of the same shape, got {tuple(x_i.shape)} and {tuple(x_j.shape)}"
        )
    if y.ndim != 1 or y.shape[0] != x_i.shape[0]:
        raise ValueError(f"y must be 1-D (B,) with B={x_i.shape[0]}, got shape {tuple(y.shape)}")
    if x_i.shape[0] == 0:
        raise ValueError("x_i and x_j must contain at least one pair")
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    y = y.to(x_i.dtype)
    if not bool(((y == 0) | (y == 1)).all()):
        raise ValueError("y must contain only 0 (similar) and 1 (dissimilar)")
    d2 = (x_i - x_j).pow(2).sum(dim=1)  # (B,)
    loss = (1 - y) * d2 + y * (margin - d2).clamp(min=0)  # (B,)
    return loss.mean()
