"""Heads put on top of a backbone: projection MLP, classifiers, decoders, pair fusion."""

from __future__ import annotations

import torch
import torch.nn as nn

# How an order head joins the features of two clips of one video (sort, vcop, shuffle):
# "diff" f_j - f_i; "concat" [f_i, f_j] (OPN / VCOP's literal pairwise head); "concat_diff"
# [f_i, f_j, f_j - f_i]. Each video's appearance is random and the same in all its clips,
# so joined features let the head memorise the video; a difference cancels what the two
# clips share and keeps what changed between them (measured in results/README.md).
FUSIONS = ("diff", "concat", "concat_diff")


def fusion_dim(feature_dim: int, fusion: str) -> int:
    """Width of :func:`fuse_pair`'s output for ``feature_dim``-d features."""
    return {"diff": 1, "concat": 2, "concat_diff": 3}[fusion] * feature_dim


def fuse_pair(fi: torch.Tensor, fj: torch.Tensor, fusion: str) -> torch.Tensor:
    """(B, D), (B, D) -> (B, fusion_dim(D, fusion)), clip i before clip j in the input."""
    if fusion == "diff":
        return fj - fi
    if fusion == "concat":
        return torch.cat([fi, fj], dim=1)
    return torch.cat([fi, fj, fj - fi], dim=1)


def check_fusion(fusion: str) -> None:
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")


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
        nn.Conv3d(in_dim, hidden, 1),
        nn.Upsample(size=grid, mode="trilinear", align_corners=False),
        nn.Conv3d(hidden, hidden, 3, padding=1),
        nn.BatchNorm3d(hidden),
        nn.ReLU(inplace=True),
        nn.Conv3d(hidden, out_dim, 1),
    )
