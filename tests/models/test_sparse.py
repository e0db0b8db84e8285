"""The sparse (masked) encoding of a CNN: nothing of a masked patch reaches the output,
BatchNorm counts visible positions only, and the backbone is itself again afterwards."""

from __future__ import annotations

import pytest
import torch

from vssl_bench.models import build_backbone
from vssl_bench.models.sparse import _masked_batchnorm, sparse_features, visible_at


def _visible(b: int, g: int, seed: int) -> torch.Tensor:
    v = torch.rand(b, g, g, generator=torch.Generator().manual_seed(seed)) < 0.3
    v[:, 0, 0] = True  # at least one visible patch each
    return v


@pytest.mark.parametrize("name", ["tiny3d", "r3d_18"])
def test_masked_patches_do_not_leak(name) -> None:
    torch.manual_seed(0)
    net = build_backbone(name).train()
    x = torch.randn(2, 3, 4, 32, 32)
    vis = _visible(2, 8, 1)  # 4-px patches
    noise = torch.randn_like(x) * (1 - visible_at(vis, (32, 32)))  # changes masked pixels only
    f1 = sparse_features(net, x, vis, 4)
    f2 = sparse_features(net, x + 5 * noise, vis, 4)
    torch.testing.assert_close(f1, f2)
    empty = 1 - visible_at(vis, f1.shape[-2:])
    assert float((f1.detach() * empty).abs().max()) == 0.0  # positions no visible patch reaches stay empty


def test_backbone_is_dense_again_after_the_call() -> None:
    torch.manual_seed(0)
    net = build_backbone("tiny3d").eval()
    x = torch.randn(2, 3, 4, 32, 32)
    before = net(x)
    sparse_features(net, x, _visible(2, 8, 2), 4)
    torch.testing.assert_close(net(x), before)
    assert not any(m._forward_hooks for m in net.modules())


def test_masked_batchnorm_counts_visible_positions_only() -> None:
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm3d(4).train()
    ref = torch.nn.BatchNorm3d(4).train()
    x = torch.randn(3, 4, 2, 5, 5)
    w = torch.ones(3, 1, 1, 5, 5)
    torch.testing.assert_close(_masked_batchnorm(bn, x, w), ref(x))  # all visible: plain BatchNorm
    torch.testing.assert_close(bn.running_var, ref.running_var)
    w[:, :, :, :, 2:] = 0
    y = _masked_batchnorm(torch.nn.BatchNorm3d(4).train(), x, w)
    vis = y[:, :, :, :, :2]
    torch.testing.assert_close(vis.mean(dim=(0, 2, 3, 4)), torch.zeros(4), atol=1e-5, rtol=0)  # normalised on visible
    assert float(y.detach()[:, :, :, :, 2:].abs().max()) == 0.0
