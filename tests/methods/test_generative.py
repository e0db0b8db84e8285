"""Generative family: masks, masked losses, block-matching trajectories, GAN shapes and
the one-loss two-player gradient trick."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vssl_bench.config import Config
from vssl_bench.data.motion import block_match, track_blocks
from vssl_bench.losses.reconstruction import masked_mse
from vssl_bench.methods.gan import GAN, VideoGenerator
from vssl_bench.methods.mae import MAE, tube_mask
from vssl_bench.methods.mme import MME, cube_trajectories
from vssl_bench.methods.nextframe import NextFrame
from vssl_bench.methods.viz import save_visualization
from vssl_bench.models.backbones import Tiny3D


def _cfg(**kw) -> Config:
    return dataclasses.replace(Config(), channels_last=False, **kw)


# ------------------------------------------------------------------------ masks, losses
@pytest.mark.parametrize("ratio,n_masked", [(0.9, 58), (0.75, 48), (0.5, 32)])
def test_tube_mask_shape_and_exact_ratio(ratio, n_masked):
    for seed in range(5):
        m = tube_mask(8, 8, ratio, np.random.default_rng(seed))
        assert m.shape == (8, 8) and m.dtype == torch.bool
        assert int(m.sum()) == n_masked  # round(ratio * 64), every draw


def test_masked_mse_ignores_visible_positions():
    torch.manual_seed(0)
    pred, target = torch.randn(2, 6, 5), torch.randn(2, 6, 5)
    mask = torch.tensor([[1, 0, 1, 0, 0, 1], [0, 0, 0, 1, 1, 0]], dtype=torch.bool)
    ref = sum(((pred[b, n] - target[b, n]) ** 2).mean() for b in range(2) for n in range(6) if mask[b, n]) / 5
    assert torch.allclose(masked_mse(pred, target, mask), ref)
    pred2 = pred.clone()
    pred2[~mask] = 1e3  # visible predictions changed: loss unchanged
    assert torch.allclose(masked_mse(pred2, target, mask), ref)
    pred3 = pred.clone()
    pred3[0, 0] += 1.0  # a masked one changed: loss changes
    assert not torch.allclose(masked_mse(pred3, target, mask), ref)


def test_mae_loss_blind_to_predictions_at_visible_cubes(monkeypatch):
    """Hand-built: predictions at visible cubes are set to garbage; the loss is unchanged."""
    cfg = _cfg()
    torch.manual_seed(0)
    m = MAE(Tiny3D(), MAE.Params(), cfg, 16).eval()
    x = torch.randn(2, 3, 16, 32, 32)
    mask = torch.stack([tube_mask(8, 8, 0.9, np.random.default_rng(s)) for s in range(2)])
    with torch.no_grad():
        pred = m._predict(x, mask)  # (B, N, P)
        base = m.loss({"video": x, "mask": mask})["loss"]
    visible = ~mask[:, None].expand(2, 8, 8, 8).reshape(2, -1)  # (B, N): same spatial mask every tubelet
    garbage = pred.clone()
    garbage[visible] = 1e4
    monkeypatch.setattr(m, "_predict", lambda *_: garbage)
    assert torch.allclose(m.loss({"video": x, "mask": mask})["loss"], base)
    hit = pred.clone()
    hit[~visible] += 1.0
    monkeypatch.setattr(m, "_predict", lambda *_: hit)
    assert not torch.allclose(m.loss({"video": x, "mask": mask})["loss"], base)


def test_mme_loss_blind_to_targets_at_visible_cubes():
    cfg = _cfg()
    torch.manual_seed(0)
    m = MME(Tiny3D(), MME.Params(), cfg, 16).eval()
    x = torch.randn(2, 3, 16, 32, 32)
    mask = torch.stack([tube_mask(8, 8, 0.9, np.random.default_rng(s)) for s in range(2)])
    traj = torch.randn(2, 8, 8, 8, 2 * m.p.traj_len)
    traj2 = traj.clone()
    for b in range(2):
        traj2[b][:, ~mask[b]] += 5.0  # visible tubes' trajectories changed
    with torch.no_grad():
        a = m.loss({"video": x, "mask": mask, "traj": traj})["loss"]
        c = m.loss({"video": x, "mask": mask, "traj": traj2})["loss"]
    assert torch.allclose(a, c)


def test_mme_views_shapes():
    class Src:
        n_frames = 32

        def clip(self, idx):
            return torch.rand(3, len(idx), 32, 32)

    cfg = _cfg()
    v = MME.views(Src(), np.random.default_rng(0), MME.Params(), cfg)
    assert v["video"].shape == (3, 16 + MME.Params().traj_len, 32, 32)  # + the frames the targets look at
    assert v["mask"].shape == (8, 8) and set(v) == {"video", "mask"}
    assert int(v["mask"].sum()) == 58


def _cube_trajectories_reference(video, clip_len, tubelet, patch, traj_len, radius, penalty):
    """The first ``mme.cube_trajectories`` (one clip per call, in the data loader)."""
    c, t, h, w = video.shape
    starts = range(0, clip_len, tubelet)
    luma = video.mean(dim=0, keepdim=True)
    windows = torch.stack([luma[:, s : s + traj_len + 1].permute(1, 0, 2, 3) for s in starts])
    tr = track_blocks(windows, patch, radius, "sad", penalty)
    return tr.permute(0, 2, 3, 1, 4).reshape(len(starts), h // patch, w // patch, 2 * traj_len).float()


def test_mme_batched_targets_equal_per_clip_targets_bit_for_bit():
    """Targets computed for the whole batch in ``loss`` (channels-last, as the training loop
    hands it over) equal those the data loader computed clip by clip; so does the loss."""
    from vssl_bench.methods.mme import batch_trajectories
    from vssl_bench.train import to_device

    cfg = _cfg()
    p = MME.Params()
    frames, _ = _square_video(cfg.clip_len + p.traj_len, 1, 0, start=(10, 0))
    g = torch.Generator().manual_seed(1)
    clips = [frames.permute(1, 0, 2, 3), torch.rand(3, cfg.clip_len + p.traj_len, 32, 32, generator=g)]
    clips += [torch.rand(3, cfg.clip_len + p.traj_len, 32, 32, generator=g).round()]  # flat areas: many ties
    ref = torch.stack(
        [
            _cube_trajectories_reference(v, cfg.clip_len, p.tubelet, p.patch, p.traj_len, p.radius, p.penalty)
            for v in clips
        ]
    )
    batch = torch.stack(clips)
    assert torch.equal(
        batch_trajectories(batch, cfg.clip_len, p.tubelet, p.patch, p.traj_len, p.radius, p.penalty), ref
    )
    cl = batch.contiguous(memory_format=torch.channels_last_3d)
    assert torch.equal(batch_trajectories(cl, cfg.clip_len, p.tubelet, p.patch, p.traj_len, p.radius, p.penalty), ref)
    torch.manual_seed(0)
    m = MME(Tiny3D(), p, cfg, 16).eval()
    mask = torch.stack([tube_mask(8, 8, 0.9, np.random.default_rng(s)) for s in range(3)])
    with torch.no_grad():
        given = m.loss(
            to_device(
                {"video": batch[:, :, : cfg.clip_len].contiguous(), "mask": mask, "traj": ref},
                torch.device("cpu"),
                True,
            )
        )
        computed = m.loss(to_device({"video": batch, "mask": mask}, torch.device("cpu"), True))
    assert torch.equal(given["loss"], computed["loss"])


# ------------------------------------------------------------------------ block matching
def _square_video(t: int, dx: int, dy: int, size: int = 32, side: int = 12, start=(6, 8), seed: int = 0):
    """A randomly textured square translating by (dx, dy) px per frame on a flat background.
    (T, 3, H, W); also returns the top-left corner at frame 0."""
    g = torch.Generator().manual_seed(seed)
    tex = torch.rand(3, side, side, generator=g)
    frames = torch.full((t, 3, size, size), 0.3)
    y0, x0 = start
    for k in range(t):
        y, x = y0 + k * dy, x0 + k * dx
        frames[k, :, y : y + side, x : x + side] = tex
    return frames, (y0, x0)


@pytest.mark.parametrize("dx,dy", [(1, 0), (-2, 1), (0, -1), (2, 2)])
def test_block_match_recovers_integer_translation(dx, dy):
    frames, (y0, x0) = _square_video(2, dx, dy, start=(8, 8))
    d = block_match(frames[:1], frames[1:], block=4, radius=2)  # (1, 8, 8, 2)
    # blocks fully inside the square at frame 0: square spans [8, 20) -> blocks 2..4
    inside = d[0, 2:5, 2:5].reshape(-1, 2)
    assert (inside == torch.tensor([dx, dy])).all()
    # far background blocks (flat, ambiguous) get zero motion by the tie rule
    assert (d[0, 7, 0] == 0).all()


@pytest.mark.parametrize("dx,dy", [(1, 0), (-1, 1), (2, -1)])
def test_track_blocks_trajectory_exact(dx, dy):
    t = 5
    frames, _ = _square_video(t, dx, dy, start=(10, 10))
    tr = track_blocks(frames[None], block=4, radius=2)  # (1, 4, 8, 8, 2)
    assert tr.shape == (1, t - 1, 8, 8, 2)
    expected = torch.tensor([[k * dx, k * dy] for k in range(1, t)])  # (T-1, 2)
    for gy in range(3, 5):  # blocks fully inside the square [10, 22) at frame 0: 3, 4
        for gx in range(3, 5):
            assert torch.equal(tr[0, :, gy, gx], expected)


def test_cube_trajectories_shape_and_values():
    frames, _ = _square_video(8, 1, 0, start=(10, 4))  # (T, C, H, W)
    video = frames.permute(1, 0, 2, 3)  # (C, T, H, W)
    tr = cube_trajectories(video, clip_len=4, tubelet=2, patch=4, traj_len=4, radius=2, penalty=0.0)
    assert tr.shape == (2, 8, 8, 8)
    # tubelet 0 starts at frame 0; the square spans x [4, 16), y [10, 22): block (3, 1) is inside
    assert torch.equal(tr[0, 3, 1], torch.tensor([1.0, 0, 2, 0, 3, 0, 4, 0]))


# ------------------------------------------------------------------------ nextframe
def test_nextframe_shapes_and_copy_baseline():
    cfg = _cfg()
    torch.manual_seed(0)
    m = NextFrame(Tiny3D(), NextFrame.Params(), cfg, 16)
    x = torch.randn(2, 3, 16, 32, 32)
    assert m.predict(x[:, :, :8]).shape == (2, 3, 8, 32, 32)
    out = m.loss({"video": x})
    assert set(out) >= {"loss", "recon", "baseline_loss"}
    out["loss"].backward()
    with pytest.raises(ValueError):
        NextFrame.Params(loss="huber").validate()


# ------------------------------------------------------------------------ gan
def test_generator_and_discriminator_shapes():
    g = VideoGenerator(z_dim=100, width=8, clip_len=16, size=32)
    x = g(torch.randn(3, 100))
    assert x.shape == (3, 3, 16, 32, 32) and x.abs().max() <= 1
    cfg = _cfg()
    m = GAN(Tiny3D(), GAN.Params(g_width=8), cfg, 16)
    assert m.generate(torch.randn(2, 100)).shape == (2, 3, 16, 32, 32)
    assert m.discriminate(torch.randn(2, 3, 16, 32, 32)).shape == (2,)
    assert m.discriminate(torch.randn(2, 3, 16, 32, 32), frozen=True).shape == (2,)
    with pytest.raises(ValueError):
        VideoGenerator(100, 8, clip_len=12, size=32)


def _gan_losses(m, batch):
    out = m.loss(batch)
    return out, float(out["d_loss"]), float(out["g_loss"])


@pytest.mark.parametrize("r1", [0.0, 1.0])
def test_gan_single_loss_gives_each_player_its_own_descent_direction(r1):
    cfg = _cfg(clip_len=8, size=16)
    torch.manual_seed(0)
    m = GAN(Tiny3D(widths=(8, 8, 16, 16)), GAN.Params(z_dim=8, g_width=4, r1_gamma=r1), cfg, 16)
    m.eval()  # BN in eval mode: the losses are deterministic functions of the weights
    batch = {"video": torch.randn(8, 3, 8, 16, 16), "z": torch.randn(8, 8)}
    g_params = set(map(id, m.generator.parameters()))
    d_params = [p for p in m.parameters() if id(p) not in g_params]
    out, d0, g0 = _gan_losses(m, batch)
    out["loss"].backward()
    grads_d = [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in d_params]
    assert any(gr.abs().sum() > 0 for gr in grads_d)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.generator.parameters() if p.requires_grad)
    lr = 1e-2
    with torch.no_grad():  # step D only, with the gradient of the single loss
        for p, gr in zip(d_params, grads_d):
            p -= lr * gr
    out1, d1, _ = _gan_losses(m, batch)
    if r1 == 0:
        assert d1 < d0, (d0, d1)
    else:  # D descends d_loss + R1
        assert d1 + 0.5 * r1 * float(out1["r1"]) < d0 + 0.5 * r1 * float(out["r1"])

    # fresh model: step G only with the gradient of the single loss -> g_loss drops
    torch.manual_seed(0)
    m = GAN(Tiny3D(widths=(8, 8, 16, 16)), GAN.Params(z_dim=8, g_width=4, r1_gamma=r1), cfg, 16).eval()
    out, _, g0 = _gan_losses(m, batch)
    out["loss"].backward()
    with torch.no_grad():
        for p in m.generator.parameters():
            if p.grad is not None:
                p -= lr * p.grad
    _, _, g1 = _gan_losses(m, batch)
    assert g1 < g0, (g0, g1)


def test_gan_own_task_is_picking_the_real_clip_of_a_pair():
    """gan's own task (the gate's): given a real and a generated clip, D scores the real one
    higher (chance 1/2, threshold-free); its training-free baseline makes the choice by one
    pixel statistic and is perfect when the generated clips are flat."""
    from vssl_bench.methods.gan import pairwise_real_first, pixel_baseline, pixel_statistics

    assert float(pairwise_real_first(torch.tensor([2.0, 3.0]), torch.tensor([1.0, 2.0]))) == 0.875  # a tie: half
    assert float(pairwise_real_first(torch.tensor([0.0, 1.0]), torch.tensor([5.0]))) == 0.0
    g = torch.Generator().manual_seed(0)
    real = torch.randn(64, 3, 4, 8, 8, generator=g)
    assert float(pixel_baseline(real, torch.zeros(64, 3, 4, 8, 8) + 0.3)) == 1.0  # flat clips: told by their spread
    same = float(pixel_baseline(real, torch.randn(64, 3, 4, 8, 8, generator=g)))  # the same distribution
    assert 0.5 <= same < 0.7, same
    # each statistic on its own: a frozen frame (the real clip's first, repeated) has no motion;
    # a blurred clip has less detail between neighbouring pixels
    s_real = pixel_statistics(real)  # (spread, motion, detail) x clip
    s_static = pixel_statistics(real[:, :, :1].expand_as(real).contiguous())
    assert (s_static[1] == 0).all() and float(pairwise_real_first(s_real[1], s_static[1])) == 1.0
    blur = (real + real.roll(1, -1) + real.roll(-1, -1)) / 3  # horizontal box blur
    assert float(pairwise_real_first(s_real[2], pixel_statistics(blur)[2])) == 1.0
    assert float(pixel_baseline(real, blur)) == 1.0
    cfg = _cfg(clip_len=8, size=16)
    torch.manual_seed(0)
    m = GAN(Tiny3D(widths=(8, 8, 16, 16)), GAN.Params(z_dim=8, g_width=4), cfg, 16).eval()
    batch = {"video": torch.randn(4, 3, 8, 16, 16), "z": torch.randn(4, 8)}
    out = m.loss(batch)
    assert float(out["chance"]) == 0.5 and 0.5 <= float(out["baseline"]) <= 1.0
    with torch.no_grad():  # eval mode: the same logits and clips again
        fake = m.generate(batch["z"])
        logits = m.discriminate(torch.cat([batch["video"], fake]))
    assert float(out["acc"]) == float(pairwise_real_first(logits[:4], logits[4:]))
    assert float(out["baseline"]) == float(pixel_baseline(batch["video"], fake))


def test_gan_d_gradient_equals_d_loss_gradient():
    """D's gradient from the single loss is exactly the gradient of d_loss alone."""
    cfg = _cfg(clip_len=8, size=16)
    torch.manual_seed(0)
    m = GAN(Tiny3D(widths=(8, 8, 16, 16)), GAN.Params(z_dim=8, g_width=4), cfg, 16).eval()
    batch = {"video": torch.randn(4, 3, 8, 16, 16), "z": torch.randn(4, 8)}
    m.loss(batch)["loss"].backward()
    full = [p.grad.clone() for p in m.d_head.parameters()]
    m.zero_grad()
    real = batch["video"]
    fake = m.generate(batch["z"]).detach()
    logits = m.discriminate(torch.cat([real, fake]))
    from vssl_bench.methods.gan import hinge_d_loss

    hinge_d_loss(logits[:4], logits[4:]).backward()
    for a, p in zip(full, m.d_head.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-6)


# ------------------------------------------------------------------------ pictures
@pytest.mark.parametrize("cls", [MAE, NextFrame, GAN])
def test_visualize_writes_png(cls, tmp_path):
    cfg = _cfg()
    torch.manual_seed(0)
    p = cls.Params(g_width=8) if cls is GAN else cls.Params()
    m = cls(Tiny3D(), p, cfg, 16)
    batch = {
        "video": torch.randn(2, 3, 16, 32, 32),
        "mask": torch.stack([tube_mask(8, 8, 0.9, np.random.default_rng(s)) for s in range(2)]),
    }
    path = save_visualization(m, batch, tmp_path / "reconstructions.png")
    assert path is not None and path.stat().st_size > 1000
    assert m.training  # mode restored


@pytest.mark.parametrize("name", ["mae", "nextframe", "gan"])  # the methods with a `visualize`
def test_pictures_from_the_real_views(name, smoke_data_root, tmp_path):
    """What `vssl-bench run` draws after training: the method's own views of real files
    (raw uint8 clips for most methods, finished as in training), not hand-made tensors.
    (nextframe's picture failed on raw clips, 'expected scalar type Byte', unnoticed.)"""
    import dataclasses

    from vssl_bench.data.datasets import build_dataset
    from vssl_bench.methods.viz import visualization_batch
    from vssl_bench.runner import build_method
    from vssl_bench.suite import load_suite

    cfg = dataclasses.replace(load_suite("smoke").base, method=name, data_root=str(smoke_data_root))
    train, test = build_dataset(cfg)
    m = build_method(cfg, len(train.classes), torch.device("cpu"))
    batch = visualization_batch(m, test, cfg)
    assert all(v.dtype != torch.uint8 for v in batch.values() if torch.is_tensor(v) and v.dim() >= 5)
    path = save_visualization(m, batch, tmp_path / "reconstructions.png")
    assert path is not None and path.stat().st_size > 1000


def _blocks_at_reference(frames, y, x, block):
    """The first ``motion._blocks_at``: separate row / column indices, clamped to the frame."""
    n, c, hp, wp = frames.shape
    s = y.shape[1:]
    ar = torch.arange(block)
    yy = (y.reshape(n, -1, 1, 1) + ar.view(1, 1, -1, 1)).clamp(0, hp - 1)
    xx = (x.reshape(n, -1, 1, 1) + ar.view(1, 1, 1, -1)).clamp(0, wp - 1)
    flat = (yy * wp + xx).reshape(n, 1, -1)
    g = frames.reshape(n, c, hp * wp).gather(2, flat.expand(n, c, flat.shape[-1]))
    g = g.reshape(n, c, -1, block, block).permute(0, 2, 1, 3, 4)
    return g.reshape(n, *s, c, block, block)


def test_track_blocks_equals_the_clamped_reference_bit_for_bit(monkeypatch):
    """The flat-index gather (fast path of mme's views) returns exactly what the first,
    clamped version did, on noise and on moving content, for several radii and lengths."""
    from vssl_bench.data import motion

    g = torch.Generator().manual_seed(0)
    cases = [torch.rand(3, 6, 1, 16, 24, generator=g), _square_video(6, 2, -1, start=(6, 6))[0][None]]
    for frames in cases:
        for block, radius in ((4, 2), (4, 1), (8, 3)):
            fast = track_blocks(frames, block, radius, "sad", 0.02)
            with monkeypatch.context() as m:
                m.setattr(motion, "_blocks_at", _blocks_at_reference)
                ref = track_blocks(frames, block, radius, "sad", 0.02)
            assert torch.equal(fast, ref)
    y = torch.tensor([[0, 3]])
    x = torch.tensor([[1, 2]])
    f = torch.rand(1, 2, 8, 9, generator=g)
    assert torch.equal(motion._blocks_at(f, y, x, 4), _blocks_at_reference(f, y, x, 4))
