"""Clip samplers, clip transforms, and the datasets' skip-and-count rule for unreadable
videos (vssl_bench/data/samplers.py, transforms.py, datasets.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vssl_bench.config import Config
from vssl_bench.data import samplers, transforms
from vssl_bench.data.datasets import EvalDataset, PretrainDataset, VideoEntry, VideoList

# ------------------------------------------------------------------------------ samplers


@pytest.mark.parametrize("n_frames,clip_len,stride", [(32, 16, 1), (32, 8, 2), (100, 16, 3), (16, 16, 1)])
def test_random_clip_in_bounds_and_contiguous(n_frames, clip_len, stride) -> None:
    rng = np.random.default_rng(0)
    span = samplers.clip_span(clip_len, stride)
    starts = set()
    for _ in range(200):
        idx = samplers.random_clip(n_frames, clip_len, stride, rng)
        assert idx.dtype == np.int64 and idx.shape == (clip_len,)
        assert idx.min() >= 0 and idx.max() < n_frames
        assert np.all(np.diff(idx) == stride)  # contiguous with the stride, no wrap-around
        starts.add(int(idx[0]))
    assert starts <= set(range(n_frames - span + 1))
    assert len(starts) == min(n_frames - span + 1, len(starts)) and (n_frames == span or len(starts) > 1)


def test_random_clip_reaches_both_ends() -> None:
    rng = np.random.default_rng(1)
    starts = {int(samplers.random_clip(20, 16, 1, rng)[0]) for _ in range(500)}
    assert starts == set(range(5))  # 0..n-span inclusive, uniformly


def test_center_clip_exact() -> None:
    np.testing.assert_array_equal(samplers.center_clip(32, 16), np.arange(8, 24))
    np.testing.assert_array_equal(samplers.center_clip(33, 16), np.arange(8, 24))  # floor
    np.testing.assert_array_equal(samplers.center_clip(32, 8, 2), np.arange(8, 23, 2))  # span 15
    np.testing.assert_array_equal(samplers.center_clip(16, 16), np.arange(16))


def test_uniform_clips_are_vcop_linspace_centres() -> None:
    n, clip_len, stride, k = 100, 16, 1, 10
    clips = samplers.uniform_clips(n, clip_len, stride, k)
    assert clips.shape == (k, clip_len) and clips.dtype == np.int64
    centres = np.linspace(clip_len / 2, n - clip_len / 2, k)  # VCOP retrieve_clips.py
    np.testing.assert_allclose(clips[:, 0] + clip_len / 2, centres, atol=0.5)
    assert clips[0, 0] == 0 and clips[-1, -1] == n - 1  # first and last clip touch the ends
    assert np.all(np.diff(clips, axis=1) == stride)
    assert clips.min() >= 0 and clips.max() < n
    # odd number of clips: the middle one is the centre clip
    np.testing.assert_array_equal(samplers.uniform_clips(32, 16, 1, 5)[2], samplers.center_clip(32, 16))


def test_uniform_clips_with_stride() -> None:
    clips = samplers.uniform_clips(64, 8, 2, 3)  # span 15
    assert np.all(np.diff(clips, axis=1) == 2)
    assert clips[0, 0] == 0 and clips[-1, -1] == 63 and clips.max() < 64


@pytest.mark.parametrize("fn", ["random", "center", "uniform"])
def test_short_videos_loop(fn) -> None:
    n, clip_len = 5, 16
    if fn == "random":
        idx = samplers.random_clip(n, clip_len, 1, np.random.default_rng(0))
    elif fn == "center":
        idx = samplers.center_clip(n, clip_len)
    else:
        idx = samplers.uniform_clips(n, clip_len, 1, 3)
        assert np.all(idx == idx[0])  # every clip is the one looped clip
        idx = idx[0]
    np.testing.assert_array_equal(idx, np.arange(clip_len) % n)  # the documented loop rule
    np.testing.assert_array_equal(samplers.clip_at(3, 6, 2, 7), np.array([3, 5, 0, 2, 4, 6]))


def test_sampler_rejects_bad_lengths() -> None:
    with pytest.raises(ValueError):
        samplers.clip_span(0, 1)
    with pytest.raises(ValueError):
        samplers.center_clip(32, 16, 0)


# ---------------------------------------------------------------------------- transforms


def _moving_square(t: int = 8, h: int = 32, w: int = 32) -> torch.Tensor:
    x = torch.zeros(3, t, h, w)
    for i in range(t):
        x[:, i, 8:16, 2 + 2 * i : 10 + 2 * i] = torch.tensor([1.0, 0.5, 0.2]).view(3, 1, 1)
    return x


def test_to_tensor_layout_and_range() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (4, 6, 10, 3), dtype=np.uint8)  # (T, H, W, C)
    x = transforms.to_tensor(frames)
    assert x.shape == (3, 4, 6, 10) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
    for t, r, c, ch in [(0, 0, 0, 0), (3, 5, 9, 2), (1, 2, 7, 1)]:
        assert x[ch, t, r, c].item() == pytest.approx(frames[t, r, c, ch] / 255.0)


def test_normalize_denormalize_round_trip() -> None:
    x = torch.rand(3, 4, 8, 8)
    y = transforms.normalize(x)
    torch.testing.assert_close(transforms.denormalize(y), x)
    c = torch.full((3, 1, 2, 2), 0.45)  # the mean maps to 0
    torch.testing.assert_close(transforms.normalize(c), torch.zeros_like(c))


@pytest.mark.parametrize("shape", [(32, 32), (24, 40), (240, 320), (37, 53)])
def test_random_resized_crop_size_and_same_box_every_frame(shape) -> None:
    h, w = shape
    base = torch.rand(3, 1, h, w)
    video = base.expand(3, 6, h, w).contiguous()  # identical frames
    for seed in range(5):
        out = transforms.random_resized_crop(video, 16, np.random.default_rng(seed))
        assert out.shape == (3, 6, 16, 16)
        for t in range(1, 6):  # the same box on every frame
            torch.testing.assert_close(out[:, t], out[:, 0])


def test_crop_is_the_same_box_on_a_moving_clip() -> None:
    """Crop a clip and crop each frame separately with the same rng state: identical."""
    video = _moving_square()
    out = transforms.random_resized_crop(video, 16, np.random.default_rng(3))
    for t in range(video.shape[1]):
        one = transforms.random_resized_crop(video[:, t : t + 1], 16, np.random.default_rng(3))
        torch.testing.assert_close(out[:, t : t + 1], one)


def test_center_crop_size() -> None:
    assert transforms.center_crop(torch.rand(3, 2, 24, 40), 16).shape == (3, 2, 16, 16)
    assert transforms.center_crop(torch.rand(3, 2, 10, 12), 16).shape == (3, 2, 16, 16)  # upsized first


def test_color_jitter_identical_across_frames_of_constant_clip() -> None:
    frame = torch.rand(3, 1, 16, 16)
    video = frame.expand(3, 8, 16, 16).contiguous()
    for seed in range(10):
        out = transforms.color_jitter(video, np.random.default_rng(seed))
        assert out.shape == video.shape and out.min() >= 0 and out.max() <= 1
        for t in range(1, 8):
            torch.testing.assert_close(out[:, t], out[:, 0])
    assert not torch.allclose(transforms.color_jitter(video, np.random.default_rng(0)), video)


def test_spatial_augment_shape() -> None:
    out = transforms.spatial_augment(_moving_square(), 16, np.random.default_rng(0))
    assert out.shape == (3, 8, 16, 16)


@pytest.mark.parametrize(
    "h,w,short,expect",
    [
        (240, 320, 32, (32, 43)),
        (256, 340, 112, (112, 149)),
        (37, 53, 16, (16, 23)),
        (53, 37, 16, (23, 16)),
        (33, 33, 16, (16, 16)),
        (32, 48, 32, (32, 48)),
    ],
)
def test_resize_short_keeps_aspect_ratio(h, w, short, expect) -> None:
    out = transforms.resize_short(torch.rand(3, 2, h, w), short)
    assert tuple(out.shape[-2:]) == expect
    assert min(out.shape[-2:]) == short
    assert abs(out.shape[-1] / out.shape[-2] - w / h) < 2 / short  # aspect within rounding


def test_eval_view_shape() -> None:
    out = transforms.eval_view(torch.rand(3, 4, 240, 320), 32, resize_to=40)
    assert out.shape == (3, 4, 32, 32)


# ------------------------------------------------------------ datasets: skip and count


@pytest.fixture
def video_list(tmp_path, lossless_video) -> VideoList:
    """Three readable lossless videos and one unreadable file (random bytes)."""
    rng = np.random.default_rng(0)
    entries = []
    for i in range(3):
        frames = rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
        entries.append(VideoEntry(str(lossless_video(frames, f"ok{i}.mkv")), i))
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(rng.bytes(4000))
    entries.insert(1, VideoEntry(str(bad), 3))
    return VideoList(entries, ["a", "b", "c", "d"], str(tmp_path), "handmade")


CFG = Config(clip_len=8, size=16, cache_decoded_mb=0)


def test_eval_dataset_flags_unreadable_video(video_list) -> None:
    ds = EvalDataset(video_list, CFG, n_clips=3)
    good = ds[0]
    assert good["ok"] is True and good["clips"].shape == (3, 3, 8, 16, 16)
    bad = ds[1]
    assert bad["ok"] is False and bad["label"] == 3 and bad["clips"].shape == (3, 3, 8, 16, 16)
    assert torch.count_nonzero(bad["clips"]) == 0
    assert good["unreadable"] == "" and "broken.mp4" in bad["unreadable"]  # the reason, for the main process


@pytest.mark.parametrize("cache_mb", [0, 64])
def test_pretrain_dataset_replaces_unreadable_video_and_counts(video_list, cache_mb) -> None:
    cfg = dataclasses.replace(CFG, cache_decoded_mb=cache_mb)

    def views(src, rng):
        idx = samplers.random_clip(src.n_frames, cfg.clip_len, 1, rng)
        return {"video": src.clip(idx)}

    ds = PretrainDataset(video_list, views, cfg, seed=0)
    s = ds[1]  # the broken file
    assert s["skipped"] >= 1
    assert s["index"] != 1 and s["label"] == video_list.entries[s["index"]].label
    assert s["video"].shape == (3, 8, 32, 32)
    ok = ds[0]
    assert ok["skipped"] == 0 and ok["index"] == 0
    assert "broken.mp4" in s["unreadable"] and ok["unreadable"] == ""
    # a batch through a DataLoader sums to the count the training loop reports
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    batch = next(iter(loader))
    assert int(batch["skipped"].sum()) >= 1


def test_unreadable_video_is_logged_once_by_the_consuming_process(video_list, caplog) -> None:
    """DataLoader workers logged each unreadable file themselves: once per worker, and again
    in the fresh workers of every evaluation loader. Samples now carry the reason and the
    process that consumes the batches logs each file once (``warn_unreadable``)."""
    import logging

    from vssl_bench.data import datasets

    def views(src, rng):
        return {"video": src.clip(samplers.random_clip(src.n_frames, CFG.clip_len, 1, rng))}

    caplog.set_level(logging.WARNING, logger="vssl_bench.data")
    datasets._WARNED.clear()
    reasons = []
    for workers in (0, 2):
        for epoch in range(2):
            ds = PretrainDataset(video_list, views, CFG, seed=0)
            ds.set_epoch(epoch)
            for batch in torch.utils.data.DataLoader(ds, batch_size=2, num_workers=workers):
                assert int(batch["skipped"].sum()) == sum(len(w.splitlines()) for w in batch["unreadable"])
                reasons += [w for w in batch["unreadable"] if w]
                datasets.warn_unreadable(batch)
                assert "unreadable" not in batch  # consumed: the method never sees it
        eval_ds = EvalDataset(video_list, CFG, n_clips=2)
        for batch in torch.utils.data.DataLoader(eval_ds, batch_size=2, num_workers=workers):
            reasons += [w for w in batch["unreadable"] if w]
            datasets.warn_unreadable(batch)
    assert len(reasons) >= 4 and all("broken.mp4" in r for r in reasons)  # every loader saw it
    logged = [r.getMessage() for r in caplog.records if "skipping unreadable video" in r.getMessage()]
    assert len(logged) == 1 and "broken.mp4" in logged[0], logged


def test_pretrain_dataset_all_unreadable_raises(tmp_path) -> None:
    from vssl_bench.data.video import VideoDecodeError

    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"not a video")
    vl = VideoList([VideoEntry(str(bad), 0)], ["a"])
    ds = PretrainDataset(vl, lambda src, rng: {}, CFG, seed=0)
    with pytest.raises(VideoDecodeError, match="consecutive unreadable"):
        ds[0]


def test_one_uniform_clip_is_the_centre_clip():
    for n, clip_len, stride in [(32, 8, 2), (32, 16, 1), (50, 8, 3), (40, 8, 3)]:
        np.testing.assert_array_equal(
            samplers.uniform_clips(n, clip_len, stride, 1)[0], samplers.center_clip(n, clip_len, stride)
        )


def test_uniform_clips_are_computed_once_and_read_only() -> None:
    a = samplers.uniform_clips(32, 8, 2, 5)
    assert samplers.uniform_clips(32, 8, 2, 5) is a  # cached per (frames, length, stride, clips)
    np.testing.assert_array_equal(a, samplers._uniform_clips(32, 8, 2, 5))
    with pytest.raises(ValueError):
        a[0, 0] = 99  # shared between videos: nobody may write into it
