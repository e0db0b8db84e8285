"""Masked reconstruction loss (VideoMAE / MAE): mean squared error over masked positions only."""

from __future__ import annotations

from torch import Tensor


def masked_mse(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean over *masked* positions of the per-position MSE.

    pred, target: (B, N, P) patch predictions / targets; mask: (B, N) bool or {0,1},
    1 = masked (to be reconstructed). Visible positions contribute nothing (MAE §3,
    VideoMAE §3.3: "the loss is computed only on masked tokens").
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    if mask.shape != pred.shape[:2]:
        raise ValueError(f"mask {tuple(mask.shape)} must be (B, N) = {tuple(pred.shape[:2])}")
    per_pos = (pred - target).pow(2).mean(dim=-1)  # (B, N)
    m = mask.to(per_pos.dtype)
    return (per_pos * m).sum() / m.sum().clamp_min(1.0)


def normalize_patches(patches: Tensor, eps: float = 1e-6) -> Tensor:
    """Per-patch normalised pixel targets (MAE ``norm_pix_loss``, VideoMAE's default).

    patches: (..., P, C) pixels of each patch per channel -> same shape, zero mean and
    unit variance over the patch's pixels, separately per channel.
    """
    mean = patches.mean(dim=-2, keepdim=True)
    var = patches.var(dim=-2, unbiased=True, keepdim=True)
    return (patches - mean) / (var + eps).sqrt()
