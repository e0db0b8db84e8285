"""Masked ("sparse") encoding of a CNN backbone for masked modelling, SparK-style [1].

A dense CNN fed a clip whose masked cubes hold a mask token (SimMIM / MaskFeat style)
spends its capacity on the mask tokens, and its BatchNorm statistics become those of 90 %
masked inputs; VideoMAE's transformer encoder [3] sees the visible tokens only. SparK [1]
and ConvNeXt V2 [2] give a CNN the same property with *sparse convolution*, which a dense
implementation emulates exactly: masked positions are zero at the input and are set back
to zero after every convolution, so nothing computed at a masked position reaches a
visible one; and BatchNorm normalises with statistics of the visible positions only
("sparse BN", [1] §3.2). :func:`sparse_features` runs any backbone made of ``Conv3d`` and
``BatchNorm3d`` layers (tiny3d, torchvision's R3D / R(2+1)D, residual blocks included:
both branches of a sum are masked) that way, through forward hooks, for one call.

A feature position counts as visible when any input patch it covers is (the mask is
max-pooled to coarser maps, copied to finer ones; the tube mask is the same in every
frame). The masked method then fills the empty positions of the last map with a learned
mask embedding before its decoder ([1]'s "densifying").

[1] K. Tian et al., "Designing BERT for Convolutional Networks: Sparse and Hierarchical
    Masked Modeling" (SparK), ICLR 2023.
[2] S. Woo et al., "ConvNeXt V2: Co-designing and Scaling ConvNets with Masked
    Autoencoders", CVPR 2023 (FCMAE: sparse convolution in the encoder).
[3] Z. Tong et al., "VideoMAE", NeurIPS 2022.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from vssl_bench import distributed


def visible_at(visible: Tensor, size: tuple[int, int]) -> Tensor:
    """(B, gh, gw) visible patches (bool) -> (B, 1, 1, h, w) float 0/1 at a map's resolution:
    max-pooled to a coarser map (visible if any covered patch is), nearest to a finer one."""
    v = visible[:, None].float()  # (B, 1, gh, gw)
    if size[0] < v.shape[-2] or size[1] < v.shape[-1]:
        v = F.adaptive_max_pool2d(v, size)
    elif tuple(size) != tuple(v.shape[-2:]):
        v = F.interpolate(v, size=size, mode="nearest")
    return v[:, :, None]  # (B, 1, 1, h, w)


def _masked_batchnorm(bn: nn.modules.batchnorm._BatchNorm, x: Tensor, w: Tensor) -> Tensor:
    """BatchNorm of (B, C, T, H, W) ``x`` whose statistics count the positions where ``w``
    (broadcastable 0/1) is 1; the output is zero elsewhere. Running statistics are updated
    in training, as BatchNorm does (unbiased variance, ``bn.momentum``)."""
    if bn.training:
        w = w.to(x.dtype)
        if distributed.is_initialized() and distributed.world_size() > 1:
            # global statistics, as the BatchNorm it replaces (DDP's global BN): summed moments
            n = w.expand(x.shape[0], 1, *x.shape[2:]).sum().reshape(1)  # visible positions per channel
            sums = torch.cat([(x * w).sum(dim=(0, 2, 3, 4)), (x * x * w).sum(dim=(0, 2, 3, 4)), n])  # (2C + 1,)
            sums = distributed.all_reduce_sum_with_grad(sums)
            c = x.shape[1]
            n = sums[-1].clamp_min(1.0)
            mean = sums[:c] / n  # (C,)
            var = (sums[c : 2 * c] / n - mean.pow(2)).clamp_min(0.0)  # (C,), biased
        else:  # one process: the two-pass variance (better rounding; the numbers of every earlier run)
            n = (w.expand(x.shape[0], 1, *x.shape[2:]).sum()).clamp_min(1.0)  # visible positions per channel
            mean = (x * w).sum(dim=(0, 2, 3, 4)) / n  # (C,)
            var = ((x - mean.view(1, -1, 1, 1, 1)).pow(2) * w).sum(dim=(0, 2, 3, 4)) / n  # (C,), biased
        if bn.track_running_stats:
            with torch.no_grad():
                bn.num_batches_tracked += 1
                m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
                bn.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                bn.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1).clamp_min(1.0), alpha=m)
    else:
        mean, var = bn.running_mean, bn.running_var
    y = (x - mean.view(1, -1, 1, 1, 1)) * torch.rsqrt(var.view(1, -1, 1, 1, 1) + bn.eps)
    if bn.affine:
        y = y * bn.weight.view(1, -1, 1, 1, 1) + bn.bias.view(1, -1, 1, 1, 1)
    return y * w


@contextlib.contextmanager
def _sparse(backbone: nn.Module, visible: Tensor):
    hooks, patched = [], []

    def after_conv(_mod, _inp, out: Tensor) -> Tensor:
        return out * visible_at(visible, out.shape[-2:]).to(out.dtype)

    try:
        for mod in backbone.modules():
            if isinstance(mod, nn.Conv3d):
                hooks.append(mod.register_forward_hook(after_conv))
            elif isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.forward = lambda x, bn=mod: _masked_batchnorm(bn, x, visible_at(visible, x.shape[-2:]))
                patched.append(mod)
        yield
    finally:
        for h in hooks:
            h.remove()
        for mod in patched:
            del mod.forward  # back to the class's forward


def sparse_features(backbone: nn.Module, x: Tensor, visible: Tensor, patch: int) -> Tensor:
    """``backbone.forward_features`` of ``x`` (B, C, T, H, W) as a sparse CNN on the
    visible ``patch`` x ``patch`` patches (``visible``: (B, H/patch, W/patch) bool, the
    same in every frame): the input is zero on masked patches, every convolution's output
    is zeroed where no visible patch reaches, BatchNorm uses visible positions only.
    Returns the last map (B, D, t, h, w), zero at positions with no visible input."""
    if x.shape[-2] != visible.shape[-2] * patch or x.shape[-1] != visible.shape[-1] * patch:
        raise ValueError(
            f"a {tuple(x.shape[-2:])} frame is not a {tuple(visible.shape[-2:])} grid of {patch}-px patches"
        )
    x = x * visible_at(visible, x.shape[-2:]).to(x.dtype)
    with _sparse(backbone, visible):
        return backbone.forward_features(x)
