"""Heads put on top of a backbone: projection MLP, classifiers, decoders."""

from __future__ import annotations

import torch.nn as nn


def mlp(in_dim: int, hidden: int, out_dim: int, bn: bool = True) -> nn.Sequential:
    """Linear-BN-ReLU-Linear (SimCLR v1 projection head; OPN / VCOP pair heads)."""
    layers: list[nn.Module] = [nn.Linear(in_dim, hidden)]
    if bn:
        layers.append(nn.BatchNorm1d(hidden))
    layers += [nn.ReLU(inplace=True), nn.Linear(hidden, out_dim)]
    return nn.Sequential(*layers)
