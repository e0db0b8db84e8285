"""The feature extractor's two speed-ups are the same function: BN folded into the
convolutions (``fold_batchnorm``), and evaluation clips kept uint8 and normalised per batch
(``datasets.eval_clip`` + ``transforms.finish_batch``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn as nn

from vssl_bench.config import Config
from vssl_bench.data import transforms
from vssl_bench.data.datasets import build_dataset, eval_clip
from vssl_bench.eval.features import BlockedTrunkEmbed, extract_features, fold_batchnorm, frozen_embed
from vssl_bench.models import build_backbone
from vssl_bench.suite import load_suite


def _trained_bn(net: nn.Module, x: torch.Tensor) -> nn.Module:
    """Running statistics and affine parameters far from their init, as after pretraining."""
    g = torch.Generator().manual_seed(0)
    net.train()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.3)
        for _ in range(3):
            net(x * 2 + 0.5)
    return net.eval()


@pytest.mark.parametrize(
    "name, shape", [("tiny3d", (4, 3, 8, 32, 32)), ("r3d_18", (2, 3, 4, 32, 32)), ("r2plus1d_18", (2, 3, 4, 32, 32))]
)
def test_fold_batchnorm_is_the_same_function(name, shape) -> None:
    torch.manual_seed(0)
    x = torch.randn(shape)
    net = _trained_bn(build_backbone(name), x)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        want, got = net(x), fold_batchnorm(net)(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    folded = fold_batchnorm(net)
    n_bn = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    left = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    assert left < n_bn and (name != "tiny3d" or left == 0)  # R(2+1)D keeps the BN after each Conv2Plus1D
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # the model is untouched
    assert not folded.training


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")
@pytest.mark.parametrize("batch", [1, 7, 40])
def test_blocked_trunk_embed_is_the_folded_backbone(batch) -> None:
    """tiny3d's frozen CPU inference in oneDNN's blocked layout: the folded backbone's
    features (bit for bit on the machine that measured it; 1e-6 relative asked here), from a
    channels-last or a contiguous batch; the other backbones keep the plain path."""
    x = torch.randn(batch, 3, 8, 32, 32)
    net = _trained_bn(build_backbone("tiny3d"), torch.randn(4, 3, 8, 32, 32)).to(memory_format=torch.channels_last_3d)
    folded = fold_batchnorm(net)
    blocked = BlockedTrunkEmbed.wrap(folded)
    assert isinstance(blocked, BlockedTrunkEmbed)
    with torch.no_grad():
        want = folded(x.contiguous(memory_format=torch.channels_last_3d))
        for layout in (torch.channels_last_3d, torch.contiguous_format):
            got = blocked(x.contiguous(memory_format=layout))
            assert got.shape == (batch, net.out_dim) and got.layout == torch.strided
            torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(got, net(x), rtol=1e-4, atol=1e-5)  # and the unfolded model, to rounding
    for name in ("r3d_18", "r2plus1d_18"):
        assert BlockedTrunkEmbed.wrap(fold_batchnorm(build_backbone(name))) is None
    with pytest.raises(ValueError, match="float32 CPU"):
        blocked(x.double())


def test_blocked_trunk_falls_back_where_onednn_fails_or_disagrees(monkeypatch) -> None:
    """On a platform whose oneDNN raises for these kernels, or answers differently on the
    probe clip, ``wrap`` returns None: the evaluation keeps the plain folded module."""
    folded = fold_batchnorm(_trained_bn(build_backbone("tiny3d"), torch.randn(2, 3, 8, 32, 32)))
    assert isinstance(BlockedTrunkEmbed.wrap(folded), BlockedTrunkEmbed)
    with monkeypatch.context() as m:
        m.setattr(BlockedTrunkEmbed, "__call__", lambda self, x: torch.zeros(x.shape[0], 256))
        assert BlockedTrunkEmbed.wrap(folded) is None
    with monkeypatch.context() as m:

        def broken(self, trunk, to_mkldnn):
            raise RuntimeError("mkldnn_convolution: unsupported on this platform")

        m.setattr(BlockedTrunkEmbed, "__init__", broken)
        assert BlockedTrunkEmbed.wrap(folded) is None


def test_frozen_embed_uses_the_blocked_trunk_for_tiny3d_only() -> None:
    from vssl_bench.runner import build_method

    cfg = Config(method="supervised", backbone="tiny3d")
    assert isinstance(frozen_embed(build_method(cfg, 4, torch.device("cpu"))), BlockedTrunkEmbed)
    cfg = Config(method="supervised", backbone="r3d_18")
    assert not isinstance(frozen_embed(build_method(cfg, 4, torch.device("cpu"))), BlockedTrunkEmbed)


def test_fold_batchnorm_keeps_channels_last() -> None:
    net = _trained_bn(build_backbone("tiny3d"), torch.randn(2, 3, 8, 32, 32)).to(memory_format=torch.channels_last_3d)
    conv = fold_batchnorm(net).features[0][0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last_3d)


@pytest.mark.parametrize("resize", [0, 40])
def test_raw_eval_clips_match_the_float_path(resize) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (8, 36, 48, 3), dtype=np.uint8)
    cfg = Config(size=32, resize=resize)
    want = eval_clip(frames, dataclasses.replace(cfg, raw_views=False))  # (C, T, 32, 32) float, normalised
    raw = eval_clip(frames, cfg)
    assert raw.dtype == torch.uint8 and raw.shape == want.shape
    got = transforms.finish_batch(raw[None], None, True)[0]
    # no resize: the same pixels, float rounding; resized: uint8 rounding (<= 1 grey level)
    tol = 1e-5 if not resize else 1.01 / 255 / min(transforms.STD)
    assert (got - want).abs().max() <= tol


def test_frozen_embed_features_match_the_plain_model(smoke_data_root) -> None:
    """End to end on the smoke data: the extractor's features (folded BN, raw clips) equal
    those of the method's own ``embed`` on float clips, to rounding."""
    from vssl_bench.runner import build_method
    from vssl_bench.suite import load_suite

    cfg = dataclasses.replace(
        load_suite("smoke").base, method="supervised", data_root=str(smoke_data_root), eval_clips=3
    )
    train, test = build_dataset(cfg)
    method = build_method(cfg, len(train.classes), torch.device("cpu"))
    _trained_bn(method.backbone, torch.randn(4, 3, 8, 32, 32))
    fast = extract_features(frozen_embed(method), test, cfg, torch.device("cpu"))
    plain = extract_features(method.embed, test, dataclasses.replace(cfg, raw_views=False), torch.device("cpu"))
    assert fast.clips.shape == plain.clips.shape and torch.equal(fast.labels, plain.labels)
    torch.testing.assert_close(fast.clips, plain.clips, rtol=1e-4, atol=1e-5)
    assert not method.training


def test_batchnorm_recomputed_on_clean_training_clips(smoke_data_root) -> None:
    """eval_bn=recompute: a copy of the model gets BatchNorm statistics of the training
    clips (garbage statistics are replaced; the model itself is untouched); pretrain keeps
    them."""
    import dataclasses

    from vssl_bench.data.datasets import build_dataset
    from vssl_bench.eval.features import frozen_embed, recompute_batchnorm
    from vssl_bench.methods import get_method
    from vssl_bench.methods.base import params_from_dict

    cfg = dataclasses.replace(
        load_suite("smoke").base, data_root=str(smoke_data_root), method="random", channels_last=False
    )
    train, _ = build_dataset(cfg)
    torch.manual_seed(0)
    cls = get_method("random")
    method = cls(build_backbone("tiny3d"), params_from_dict(cls, {}), cfg, 16)
    bn = method.backbone.features[0][1]
    with torch.no_grad():
        bn.running_mean.fill_(100.0)
        bn.running_var.fill_(1e-4)
    fresh = recompute_batchnorm(method, train, cfg, torch.device("cpu"))
    new = fresh.backbone.features[0][1]
    assert float(bn.running_mean[0]) == 100.0  # the job's own model is untouched
    assert new.running_mean.abs().max() < 10 and new.running_var.min() > 1e-3 and not new.training
    x = torch.randn(2, 3, cfg.clip_len, cfg.size, cfg.size)
    torch.testing.assert_close(frozen_embed(method, train, cfg)(x), frozen_embed(fresh)(x), rtol=1e-4, atol=1e-4)
    keep = dataclasses.replace(cfg, eval_bn="pretrain")
    torch.testing.assert_close(frozen_embed(method, train, keep)(x), frozen_embed(method)(x))
