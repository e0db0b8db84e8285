"""InfoNCE (NT-Xent) loss between two batches of embeddings.

References:
    [1] van den Oord et al., "Representation Learning with Contrastive Predictive
        Coding", 2018 (InfoNCE).
    [2] Chen et al., "A Simple Framework for Contrastive Learning of Visual
        Representations" (SimCLR), ICML 2020; in video CVRL (Qian et al., CVPR 2021) and
        TCLR (Dave et al., 2022). Same computation as lightly ``loss/ntx_ent_loss.py`` and
        solo-learn ``losses/simclr.py`` restricted to cross-view negatives.

A pure function of its inputs: under data parallelism the caller gathers the other ranks'
rows first (``methods.contrastive_common``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def info_nce(z0: Tensor, z1: Tensor, temperature: float = 0.1) -> Tensor:
    """Asymmetric InfoNCE: row i of ``z1`` is the positive of row i of ``z0``.

    Both inputs are L2-normalised inside, the logits are the cosine similarities
    ``z0 @ z1.T / temperature`` (B, B), and the loss is the cross-entropy of each row with
    its diagonal entry as the target, averaged over the B rows. Every other row of ``z1``
    is a negative for row i of ``z0``; rows of ``z0`` are not negatives of each other.
    For the symmetric form call ``(info_nce(z0, z1) + info_nce(z1, z0)) / 2``.

    Args:
        z0: (B, D) embeddings of the first view.
        z1: (B, D) embeddings of the second view.
        temperature: softmax temperature > 0; 0.1 is the CVRL/MoCo-v2 range
            (SimCLR uses 0.1-0.5).

    Returns:
        Scalar tensor.
    """
    if z0.ndim != 2 or z1.ndim != 2:
        raise ValueError(f"z0 and z1 must be 2-D (B, D), got shapes {tuple(z0.shape)} and {tuple(z1.shape)}")
    if z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must have the same shape, got {tuple(z0.shape)} and {tuple(z1.shape)}")
    if z0.shape[0] == 0:
        raise ValueError("z0 and z1 must contain at least one row")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z0 = F.normalize(z0, dim=1)  # (B, D)
    z1 = F.normalize(z1, dim=1)  # (B, D)
    logits = z0 @ z1.T / temperature  # (B, B)
    target = torch.arange(z0.shape[0], device=z0.device)  # (B,)
    return F.cross_entropy(logits, target)
