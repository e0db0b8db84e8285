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


def cube_decoder(in_dim: int, hidden: int, grid: tuple[int, int, int], out_dim: int) -> nn.Sequential:
    """Light dense decoder for masked modelling on a CNN (mae, mme): the backbone's last
    map (B, in_dim, t, h, w) -> (B, out_dim, *grid), one prediction per cube of the grid
    (1x1x1 conv, trilinear upsampling to the cube grid, one 3x3x3 conv, a 1x1x1 conv)."""
    return nn.Sequential(
        nn.Conv3d(in_dim, hidden, 1), nn.Upsample(size=grid, mode="trilinear", align_corners=False),
        nn.Conv3d(hidden, hidden, 3, padding=1), nn.BatchNorm3d(hidden), nn.ReLU(inplace=True),
        nn.Conv3d(hidden, out_dim, 1),
    )
