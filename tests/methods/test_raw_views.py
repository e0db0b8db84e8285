"""The raw-clip fast path: training views built from uint8 frames and finished per batch
(``transforms.finish_batch``, in ``train.to_device``) equal the per-sample float path
(``Config.raw_views=False``) up to the uint8 rounding of resized pixels, for every method.
Also: the batched motion score of ``sort`` / ``shuffle``, the prefetch switch, and that
the loop trains the same weights whether the next batch is built in a thread or in line.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import write_lossless_video
from torch.utils.data import default_collate

from vssl_bench.config import Config, ConfigError
from vssl_bench.data import transforms
from vssl_bench.data.datasets import VideoSource
from vssl_bench.methods import METHODS
from vssl_bench.methods.base import params_from_dict, raw_clip
from vssl_bench.methods.shuffle import high_motion_clip, motion_energy, pick_high_motion
from vssl_bench.suite import load_suite
from vssl_bench.train import to_device, use_prefetch_thread

N_FRAMES, SIZE = 32, 32
CFG = dataclasses.replace(load_suite("quick").base, cache_decoded_mb=64)  # 8 frames at stride 2, 32x32


def _frames() -> np.ndarray:
    """uint8 (32, 32, 32, 3): a smooth coloured background and a square that moves only in
    the second half of the video (so motion energy differs between windows)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    base = np.stack([96 + 60 * np.sin(xx / 5), 110 + 50 * np.cos(yy / 7), 80 + 40 * np.sin((xx + yy) / 9)], -1)
    out = []
    for t in range(N_FRAMES):
        f = base + rng.normal(0, 6, base.shape)
        p = 4 + max(0, t - 16)
        f[8:18, p : p + 10] = (230, 40, 60)
        out.append(np.clip(f, 0, 255).astype(np.uint8))
    return np.stack(out)


@pytest.fixture(scope="module")
def video_path(tmp_path_factory):
    return str(write_lossless_video(tmp_path_factory.mktemp("raw") / "v.mkv", _frames()))


def _batch(cls, p, path: str, raw: bool) -> dict:
    items = [cls.views(VideoSource(path, 64, raw=raw), np.random.default_rng((7, k)), p, CFG) for k in range(4)]
    return default_collate(items)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_raw_views_equal_float_views_after_finishing(name, video_path) -> None:
    cls = METHODS[name]
    p = params_from_dict(cls, {})
    raw, ref = _batch(cls, p, video_path, True), _batch(cls, p, video_path, False)
    assert not any(k.endswith(transforms.COLOR_SUFFIX) for k in ref)  # float path: colour applied per clip
    a, b = to_device(raw, torch.device("cpu"), True), to_device(ref, torch.device("cpu"), True)
    assert sorted(a) == sorted(b), f"{name}: finished raw batch has keys {sorted(a)}, float batch {sorted(b)}"
    for k in b:
        assert a[k].shape == b[k].shape and a[k].dtype == b[k].dtype, k
        if a[k].is_floating_point():
            d = (a[k] - b[k]).abs()
            # <= 1 grey level of rounding per resized pixel (0.0175 normalised), x <= ~2 through colour jitter
            assert d.max() < 0.06 and d.mean() < 0.01, f"{name}[{k}]: max {d.max():.4f}, mean {d.mean():.5f}"
        else:
            assert torch.equal(a[k], b[k]), f"{name}[{k}] differs"


def test_raw_views_are_uint8_and_finish_channels_last(video_path) -> None:
    cls = METHODS["nce"]
    batch = _batch(cls, params_from_dict(cls, {}), video_path, True)
    assert batch["view0"].dtype == torch.uint8 and batch["view0@color"].shape == (4, transforms.COLOR_PARAMS)
    out = to_device(batch, torch.device("cpu"), True)
    assert "view0@color" not in out and out["view0"].dtype == torch.float32
    assert out["view0"].is_contiguous(memory_format=torch.channels_last_3d)
    assert to_device(out, torch.device("cpu"), True)["view0"] is not None  # finishing twice is harmless


def test_finish_batch_without_colour_is_normalize() -> None:
    x = torch.randint(0, 256, (3, 3, 4, 8, 8), dtype=torch.uint8)
    ref = torch.stack([transforms.normalize(v.float() / 255) for v in x])
    out = transforms.finish_batch(x)
    assert torch.allclose(out, ref, atol=1e-5) and out.is_contiguous(memory_format=torch.channels_last_3d)
    neutral = torch.from_numpy(np.tile(np.r_[0.0, 0.0, 0, 1, 2, 3, 1.0, 1.0, 1.0, 0.0], (3, 1)))  # no jitter, no grey
    assert torch.allclose(transforms.finish_batch(x, neutral), ref, atol=1e-5)
    six = torch.randint(0, 256, (2, 4, 3, 2, 8, 8), dtype=torch.uint8)  # (B, n, C, L, H, W): sort's chunks
    ref6 = torch.stack([transforms.normalize(c.float() / 255) for c in six.flatten(0, 1)]).view(six.shape)
    assert torch.allclose(transforms.finish_batch(six), ref6, atol=1e-5)


def test_jitter_affines_batch_equals_one_clip_at_a_time() -> None:
    rng = np.random.default_rng(3)
    draws = np.stack([transforms.jitter_draws(rng) for _ in range(16)])
    mu = rng.uniform(0.2, 0.8, (16, 3))
    a, b = transforms.jitter_affines(draws, mu)
    for i in range(16):
        ai, bi = transforms.jitter_affines(draws[i : i + 1], mu[i : i + 1])
        np.testing.assert_allclose(a[i], ai[0], atol=1e-12)
        np.testing.assert_allclose(b[i], bi[0], atol=1e-12)


class FloatSource:
    """The frames of ``_frames()`` as a float-only source (no ``raw``)."""

    n_frames = N_FRAMES

    def clip(self, indices):
        return transforms.to_tensor(_frames()[np.asarray(indices) % N_FRAMES])


def test_high_motion_clip_picks_the_reference_window(video_path) -> None:
    rng = np.random.default_rng(0)
    src_raw = VideoSource(video_path, 64)
    picked = []
    for _ in range(20):
        windows = [np.sort(rng.choice(N_FRAMES, 8, replace=False)) for _ in range(4)]
        ref = pick_high_motion([motion_energy(FloatSource().clip(w)) for w in windows])
        a, b = high_motion_clip(src_raw, windows), high_motion_clip(FloatSource(), windows)
        assert a.dtype == torch.uint8 and torch.equal(a, raw_clip(src_raw, windows[ref]))
        assert torch.equal(b, FloatSource().clip(windows[ref]))
        picked.append(ref)
    assert len(set(picked)) > 1  # the windows really compete


def test_prefetch_choice_and_job_key() -> None:
    with pytest.raises(ConfigError, match="valid choices: auto, thread, off"):
        Config(prefetch="sometimes")
    assert Config(prefetch="thread").job_key() == Config().job_key()  # how batches are scheduled: not the result
    assert Config(raw_views=False).job_key() != Config().job_key()  # rounding differs: a different job
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert not use_prefetch_thread(Config(), cpu) and use_prefetch_thread(Config(), cuda)
    assert use_prefetch_thread(Config(prefetch="thread"), cpu) and not use_prefetch_thread(Config(prefetch="off"), cuda)
    assert not use_prefetch_thread(Config(prefetch="thread", num_workers=2), cpu)


@pytest.mark.parametrize("method", ["supervised", "nce"])
def test_prefetch_thread_and_in_line_train_the_same_weights(method, smoke_data_root, tmp_path) -> None:
    from vssl_bench.data.datasets import build_dataset
    from vssl_bench.runner import build_method
    from vssl_bench.train import pretrain

    weights = []
    for mode in ("thread", "off"):
        cfg = dataclasses.replace(
            load_suite("smoke").base,
            method=method,
            data_root=str(smoke_data_root),
            steps=3,
            checkpoint_every=100,
            device="cpu",
            threads=1,
            seed=0,
            prefetch=mode,
        )
        train, _ = build_dataset(cfg)
        torch.manual_seed(0)
        m = build_method(cfg, len(train.classes), torch.device("cpu"))
        pretrain(m, train, cfg, tmp_path / mode, torch.device("cpu"))
        weights.append(m.state_dict())
    for k, v in weights[0].items():
        assert torch.equal(v, weights[1][k]), k
