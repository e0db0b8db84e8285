"""NT-Xent: SimCLR's normalised temperature-scaled cross-entropy over both views.

References:
    [1] Chen et al., "A Simple Framework for Contrastive Learning of Visual
        Representations" (SimCLR), ICML 2020, Alg. 1: each of the 2N augmented examples
        has its other view as positive and the other 2(N - 1) examples as negatives.
    [2] He et al., "Momentum Contrast for Unsupervised Visual Representation Learning"
        (MoCo), CVPR 2020: a queue of earlier keys as further negatives (``negatives``).
    Same computation as lightly ``loss/ntx_ent_loss.py`` and solo-learn
    ``losses/simclr.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def nt_xent(z0: Tensor, z1: Tensor, temperature: float = 0.1, negatives: Tensor | None = None) -> Tensor:
    """Symmetric NT-Xent of two views: row i of ``z0`` and row i of ``z1`` are positives.

    All 2N rows are L2-normalised; each row's candidates are the 2N - 1 other rows (its
    positive and the 2N - 2 rows of the other videos, of *both* views [1]) plus the M rows
    of ``negatives`` (e.g. a MoCo queue [2], or each video's hard negatives); the loss is
    the cross-entropy of the positive among them, averaged over the 2N rows.

    Args:
        z0: (N, D) embeddings of the first view.
        z1: (N, D) embeddings of the second view.
        temperature: softmax temperature > 0 (SimCLR 0.1-0.5; CVRL 0.1).
        negatives: (M, D) extra negatives of every row, or None.

    Returns:
        Scalar tensor.
    """
    if z0.ndim != 2 or z0.shape != z1.shape or z0.shape[0] == 0:
        raise ValueError(f"z0 and z1 must be non-empty (N, D) of one shape, got {tuple(z0.shape)}, {tuple(z1.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    n = z0.shape[0]
    z = F.normalize(torch.cat([z0, z1], dim=0), dim=1)  # (2N, D)
    cand = z if negatives is None else torch.cat([z, F.normalize(negatives, dim=1)], dim=0)  # (2N + M, D)
    logits = z @ cand.T / temperature  # (2N, 2N + M)
    eye = torch.eye(2 * n, cand.shape[0], dtype=torch.bool, device=z.device)  # a row is not its own candidate
    logits = logits.masked_fill(eye, float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)  # (2N,) the other view's row
    return F.cross_entropy(logits, target)
