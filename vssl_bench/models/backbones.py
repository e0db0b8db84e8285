"""Video backbones: (B, C, T, H, W) -> pooled features (B, D) or a feature map.

- ``tiny3d``: a 1.2 M-parameter 3D CNN for the embedded CPU benchmark. The stem
  downsamples space by 2 (full-resolution 3x3x3 convs cost 4x the time for nothing at
  32 px); measured here at batch 32, 16x32x32, channels-last-3d: ~205 clips/s training,
  ~1070 clips/s inference on 2 cores (vs 62 / 218 for the prototype's 0.72 M net).
- ``r3d_18``, ``r2plus1d_18``: torchvision's (Tran et al. CVPR 2018), random init (no
  weights are downloaded), the standard backbones of VCOP / TCLR / PRP on UCF101.

Every backbone exposes ``out_dim``, ``forward_features(x) -> (B, D, t, h, w)`` (the
last feature map, for dense heads) and ``forward(x) -> (B, D)`` (global average pool).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from vssl_bench.config import choice_error


class Backbone(nn.Module):
    out_dim: int

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # (B, D, t, h, w)
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x).mean(dim=(2, 3, 4))  # (B, D)

    def plain_trunk(self) -> nn.Sequential | None:
        """The one ``nn.Sequential`` that ``forward_features`` applies, when that is all it
        does (then frozen CPU inference may run it in oneDNN's blocked layout,
        ``eval.features.frozen_embed``); None otherwise."""
        return None


def _block(cin: int, cout: int, stride) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class Tiny3D(Backbone):
    """conv3d 32-64-128-256, BN + ReLU; strides (1,2,2) (2,2,2) (2,2,2) (2,1,1).

    A 16x32x32 clip gives a (256, 2, 4, 4) map. Works for T >= 1 (padding keeps size).
    """

    def __init__(self, widths=(32, 64, 128, 256), in_channels: int = 3):
        super().__init__()
        strides = [(1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 1, 1)]
        layers, cin = [], in_channels
        for w, s in zip(widths, strides):
            layers.append(_block(cin, w, s))
            cin = w
        self.features = nn.Sequential(*layers)
        self.out_dim = widths[-1]
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def plain_trunk(self) -> nn.Sequential:
        return self.features


class TorchvisionVideo(Backbone):
    """torchvision video ResNet trunk without its classifier (random init)."""

    def __init__(self, arch: str, in_channels: int = 3):
        super().__init__()
        from torchvision.models import video as tvv  # heavy; the CPU benchmark's tiny3d does not need it

        net = getattr(tvv, arch)(weights=None)
        if in_channels != 3:
            conv = net.stem[0]
            net.stem[0] = nn.Conv3d(
                in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=False
            )
        self.stem, self.layers = net.stem, nn.Sequential(net.layer1, net.layer2, net.layer3, net.layer4)
        self.out_dim = 512

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.stem(x))


BACKBONES: dict[str, tuple[str, Callable[..., Backbone]]] = {
    "tiny3d": ("1.2 M-param 3D CNN for CPUs (default, embedded data)", lambda **kw: Tiny3D(**kw)),
    "r3d_18": ("torchvision R3D-18, 33 M params (real data, GPU)", lambda **kw: TorchvisionVideo("r3d_18", **kw)),
    "r2plus1d_18": (
        "torchvision R(2+1)D-18, 31 M params (real data, GPU)",
        lambda **kw: TorchvisionVideo("r2plus1d_18", **kw),
    ),
}


def build_backbone(name: str, **kw) -> Backbone:
    if name not in BACKBONES:
        raise choice_error("backbone", name, list(BACKBONES))
    return BACKBONES[name][1](**kw)
