"""Triplet loss with squared Euclidean distances.

References:
    [1] Wang & Gupta, "Unsupervised Learning of Visual Representations using Videos",
        ICCV 2015 (triplets from tracked patches in video).
    [2] Schroff et al., "FaceNet", CVPR 2015 (the squared-distance form used here).
"""

from __future__ import annotations

from torch import Tensor


def triplet_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0) -> Tensor:
    """L = max(0, ||a - p||^2 - ||a - n||^2 + m), averaged over the batch.

    Unlike ``torch.nn.TripletMarginLoss`` (plain, non-squared p-norm distance) the
    distances here are squared, as in the lecture and FaceNet; it equals
    ``torch.nn.TripletMarginWithDistanceLoss`` with a squared-Euclidean distance function.

    Args:
        anchor: (B, D) embeddings.
        positive: (B, D) embeddings of the same identity/class as the anchor.
        negative: (B, D) embeddings of a different identity/class.
        margin: m >= 0; 1.0 as in the lecture and ``torch.nn.TripletMarginLoss``.

    Returns:
        Scalar tensor.
    """
    if anchor.ndim != 2 or anchor.shape != positive.shape or anchor.shape != negative.shape:
        raise ValueError(
            f"anchor, positive and negative must be 2-D (B, D) of the same shape, got "
            f"{tuple(anchor.shape)}, {tuple(positive.shape)} and {tuple(negative.shape)}"
        )
    if anchor.shape[0] == 0:
        raise ValueError("anchor, positive and negative must contain at least one triplet")
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    d_ap = (anchor - positive).pow(2).sum(dim=1)  # (B,)
    d_an = (anchor - negative).pow(2).sum(dim=1)  # (B,)
    return (d_ap - d_an + margin).clamp(min=0).mean()
