"""The contrastive family's views keep their promises, on a hand-built video source.

The fake source's frame i is a uniform grey image of value ``5 i / 255``: crops, resizes,
flips and grayscale leave it unchanged, so the frame index of every frame of a view can
be read back exactly. Colour jitter (which would rescale the values) is replaced by the
identity where a method applies it.
"""

import numpy as np
import pytest
import torch

from vssl_bench.config import Config
from vssl_bench.data import samplers, transforms
from vssl_bench.losses import nt_xent
from vssl_bench.methods import METHODS
from vssl_bench.methods.base import params_from_dict
from vssl_bench.methods.contrastive import pair_labels
from vssl_bench.methods.contrastive_common import (
    MomentumQueue,
    contrast,
    cvrl_gap_probs,
    cvrl_starts,
    embedding_spread,
    instance_top1,
    near_far_starts,
    two_distinct_starts,
)
from vssl_bench.methods.triplet import mine_triplets
from vssl_bench.methods.xmodal import frame_differences

N_FRAMES, CLIP = 32, 16
CFG = Config(clip_len=CLIP, size=16)
MAX_START = N_FRAMES - CLIP  # 16


class IndexSource:
    """Frame i is uniform grey 5 i / 255 (3 x 24 x 24)."""

    n_frames = N_FRAMES

    def clip(self, indices):
        v = torch.as_tensor(np.asarray(indices) % self.n_frames, dtype=torch.float32) * 5 / 255
        return v.view(1, -1, 1, 1).expand(3, -1, 24, 24).clone()  # (C, T, H, W)


class RandomSource:
    n_frames = N_FRAMES

    def __init__(self, seed: int = 0):
        self.frames = torch.rand(3, N_FRAMES, 16, 16, generator=torch.Generator().manual_seed(seed))

    def clip(self, indices):
        return self.frames[:, torch.as_tensor(np.asarray(indices) % self.n_frames)].clone()


def frame_ids(view: torch.Tensor) -> np.ndarray:
    """Frame index of every frame of a normalised view built from IndexSource."""
    x = transforms.denormalize(view) * 255 / 5  # (C, T, H, W)
    assert torch.allclose(x, x.mean(dim=(0, 2, 3), keepdim=True).expand_as(x), atol=1e-3)
    ids = x.mean(dim=(0, 2, 3))
    assert torch.allclose(ids, ids.round(), atol=1e-3)
    return ids.round().long().numpy()


@pytest.fixture
def no_jitter(monkeypatch):
    """Colour jitter off (so frame ids survive): the float path's per-clip colour step, and
    xmodal's direct ``color_jitter`` call."""
    monkeypatch.setattr(transforms, "color_jitter", lambda x, rng, **kw: x)
    monkeypatch.setattr(transforms, "apply_color", lambda x, color: x)


def make_views(name, seed, **params):
    cls = METHODS[name]
    return cls.views(IndexSource(), np.random.default_rng(seed), params_from_dict(cls, params), CFG)


def start_of(view) -> int:
    ids = frame_ids(view)
    assert np.array_equal(ids, ids[0] + np.arange(CLIP)), f"not a contiguous window: {ids}"
    return int(ids[0])


# ---------------------------------------------------------------------------- views
@pytest.mark.usefixtures("no_jitter")
def test_nce_views_share_their_window():
    for seed in range(20):
        v = make_views("nce", seed)
        assert start_of(v["view0"]) == start_of(v["view1"])


@pytest.mark.usefixtures("no_jitter")
def test_nce_temporal_windows_differ():
    starts = [tuple(start_of(v) for v in make_views("nce-temporal", seed).values()) for seed in range(40)]
    assert all(len(s) == 2 and s[0] != s[1] for s in starts)
    assert len({abs(a - b) for a, b in starts}) > 5  # gaps spread over the video


@pytest.mark.usefixtures("no_jitter")
def test_nce_temporal_same_video_negatives():
    for seed in range(40):
        v = make_views("nce-temporal", seed, same_video_negatives=True)
        assert sorted(v) == ["neg_far", "view0", "view1"]
        a, p, n = (start_of(v[k]) for k in ("view0", "view1", "neg_far"))
        assert 1 <= abs(p - a) <= CLIP // 4
        assert abs(n - a) >= CLIP // 2


def test_nce_temporal_views_get_colour_augmentation(monkeypatch):
    """TCLR / rho-MoCo augment colour: without it two windows of a video match by colour."""
    seen = []
    real = transforms.apply_color
    monkeypatch.setattr(transforms, "apply_color", lambda x, color: seen.append(color.copy()) or real(x, color))
    for seed in range(20):
        make_views("nce-temporal", seed)
    assert len(seen) == 40 and sum(c[0] for c in seen) > 20  # jitter drawn per view, on with p = 0.8


@pytest.mark.usefixtures("no_jitter")
def test_nce_motion_negatives_are_the_first_view_with_time_corrupted():
    for seed in range(20):
        v = make_views("nce-motion", seed, hard_negatives="reverse,shuffle,freeze")
        ids = frame_ids(v["view0"])
        assert np.array_equal(frame_ids(v["neg_reverse"]), ids[::-1])
        shuffled = frame_ids(v["neg_shuffle"])
        assert sorted(shuffled) == sorted(ids) and not np.array_equal(shuffled, ids)
        assert (frame_ids(v["neg_freeze"]) == ids[CLIP // 2]).all()
        assert 0 <= start_of(v["view1"]) - start_of(v["view0"]) <= MAX_START  # CVRL windows, as nce-st


def test_nce_motion_raw_negatives_share_the_first_views_colours():
    from vssl_bench.data.datasets import VideoSource  # noqa: F401 (raw path: uint8 views + colour draws)

    class RawIndexSource(IndexSource):
        def raw(self, indices):
            return (self.clip(indices) * 255).round().to(torch.uint8)

    cls = METHODS["nce-motion"]
    v = cls.views(RawIndexSource(), np.random.default_rng(0), params_from_dict(cls, {}), CFG)
    assert v["view0"].dtype == torch.uint8 and v["neg_reverse"].dtype == torch.uint8
    for k in ("neg_reverse", "neg_shuffle"):
        assert torch.equal(v[k + transforms.COLOR_SUFFIX], v["view0" + transforms.COLOR_SUFFIX])


@pytest.mark.parametrize(
    "dataset,hflip,expect",
    [("synthetic", "auto", False), ("ucf101", "auto", True), ("synthetic", "on", True), ("ucf101", "off", False)],
)
def test_flips_follow_the_dataset_rule(dataset, hflip, expect, monkeypatch):
    """No horizontal flip where left/right is the class (the embedded data), whatever flip_p."""
    flips = []
    monkeypatch.setattr(transforms, "hflip", lambda x: flips.append(1) or x.flip(-1))
    cls = METHODS["nce"]
    cfg = Config(clip_len=CLIP, size=16, dataset=dataset, hflip=hflip)
    for seed in range(30):
        cls.views(IndexSource(), np.random.default_rng(seed), params_from_dict(cls, {"flip_p": 0.5}), cfg)
    assert bool(flips) == expect


def test_window_samplers_edge_cases():
    rng = np.random.default_rng(0)
    assert two_distinct_starts(CLIP, CLIP, 1, rng) == (0, 0)  # one window only
    for _ in range(50):
        a, p, n = near_far_starts(20, CLIP, 1, rng, pos_max_gap=1, neg_min_gap=100)  # gap capped at 4
        assert abs(p - a) == 1 and abs(n - a) == 4


@pytest.mark.usefixtures("no_jitter")
def test_nce_static_frames_all_identical():
    for seed in range(20):
        v = make_views("nce-static", seed)
        ids0, ids1 = frame_ids(v["view0"]), frame_ids(v["view1"])
        assert len(ids0) == CLIP and (ids0 == ids0[0]).all() and (ids1 == ids0[0]).all()
        assert v["view0"].shape == (3, CLIP, CFG.size, CFG.size)


def test_cvrl_gap_distribution_decreasing():
    p = cvrl_gap_probs(MAX_START)
    assert p.shape == (MAX_START + 1,) and p.sum() == pytest.approx(1.0)
    assert (np.diff(p) < 0).all() and p[-1] > 0  # strictly decreasing, every gap possible (c >= T)
    rng = np.random.default_rng(0)
    gaps = np.array([b - a for a, b in (cvrl_starts(N_FRAMES, CLIP, 1, rng) for _ in range(20000))])
    assert gaps.min() >= 0 and gaps.max() <= MAX_START
    hist = np.bincount(gaps, minlength=MAX_START + 1) / len(gaps)
    np.testing.assert_allclose(hist, p, atol=0.01)
    coarse = np.add.reduceat(hist, [0, 4, 8, 12, 16])  # 4-frame bins: noise-free monotonicity
    assert (np.diff(coarse) < 0).all()
    assert hist[:4].sum() > 2 * hist[8:12].sum()


@pytest.mark.usefixtures("no_jitter")
def test_nce_st_views_follow_cvrl_sampler():
    gaps = []
    for seed in range(300):
        v = make_views("nce-st", seed)
        a, b = start_of(v["view0"]), start_of(v["view1"])
        assert 0 <= b - a <= MAX_START
        gaps.append(b - a)
    p = cvrl_gap_probs(MAX_START)
    expected_mean = float((np.arange(MAX_START + 1) * p).sum())  # 5.33 (uniform: 8)
    assert abs(np.mean(gaps) - expected_mean) < 1.0


def test_xmodal_motion_view_is_frame_difference():
    src, p = (
        RandomSource(),
        params_from_dict(METHODS["xmodal"], {"crop_min_scale": 1.0, "jitter_p": 0.0, "gray_p": 0.0}),
    )
    cfg = Config(clip_len=CLIP, size=16)
    for seed in range(5):
        v = METHODS["xmodal"].views(src, np.random.default_rng(seed), p, cfg)
        idx = samplers.random_clip(N_FRAMES, CLIP + 1, 1, np.random.default_rng(seed))  # replay
        raw = src.clip(idx)  # (C, T+1, H, W); a full-frame crop at 16 px is the identity
        torch.testing.assert_close(v["rgb"], transforms.normalize(raw[:, :-1]))
        expected = (raw[:, 1:] - raw[:, :-1]) / 0.225
        torch.testing.assert_close(v["motion"], expected)
        torch.testing.assert_close(frame_differences(raw), expected)
        assert v["motion"].shape == v["rgb"].shape == (3, CLIP, 16, 16)


def test_xmodal_training_free_baseline_solves_its_task():
    """xmodal's own task (each RGB clip's motion view among the batch's) is solved without
    training by differencing the RGB clip itself: the baseline the gate holds it to. It is
    near 1 on aligned views, colour jitter and grayscale included, and at chance-level on
    views paired with other clips' motion."""
    from vssl_bench.methods.xmodal import difference_top1

    p = params_from_dict(METHODS["xmodal"], {})  # jitter p 0.8, grayscale p 0.2, crops
    cfg = Config(clip_len=CLIP, size=16)
    views = [METHODS["xmodal"].views(RandomSource(seed=s), np.random.default_rng(s), p, cfg) for s in range(16)]
    rgb = torch.stack([v["rgb"] for v in views])
    motion = torch.stack([v["motion"] for v in views])
    assert float(difference_top1(rgb, motion)) >= 0.9
    assert float(difference_top1(rgb, motion.roll(1, dims=0))) <= 0.25


def test_xmodal_has_two_encoders_of_one_architecture():
    from vssl_bench.models import build_backbone

    cls = METHODS["xmodal"]
    m = cls(build_backbone("tiny3d"), params_from_dict(cls, {}), Config(), 16)
    assert type(m.motion_backbone) is type(m.backbone) and m.motion_backbone is not m.backbone
    x = torch.randn(2, 3, 4, 16, 16)
    m.eval()
    torch.testing.assert_close(m.embed(x), m.backbone(x))  # the RGB encoder is evaluated


# ------------------------------------------------------------------ pairs and triplets
def test_pair_labels():
    i, j, y = pair_labels(4)
    assert len(y) == 16 and int((y == 0).sum()) == 4
    assert torch.equal(y == 0, i == j)


def test_contrastive_pairs_weighted_half_half():
    # loss = mean over similar pairs / 2 + mean over dissimilar pairs / 2
    from vssl_bench.losses import contrastive_loss

    z0, z1 = torch.randn(5, 3), torch.randn(5, 3)
    i, j, y = pair_labels(5)
    sim = y == 0
    half = 0.5 * (
        contrastive_loss(z0[i[sim]], z1[j[sim]], y[sim]) + contrastive_loss(z0[i[~sim]], z1[j[~sim]], y[~sim])
    )
    slow_sim = np.mean([float((z0[k] - z1[k]).pow(2).sum()) for k in range(5)])
    slow_dis = np.mean(
        [max(0.0, 1 - float((z0[a] - z1[b]).pow(2).sum())) for a in range(5) for b in range(5) if a != b]
    )
    assert float(half) == pytest.approx(0.5 * (slow_sim + slow_dis), rel=1e-5)


def test_mine_triplets_by_hand():
    # video 0: rows 0 and 2, video 1: rows 1 and 3; points on a line
    z = torch.tensor([[0.0], [1.0], [2.0], [3.0], [0.5], [10.0]])
    video = torch.tensor([0, 1, 0, 1, 2, 2])
    pos, neg = mine_triplets(z, video, "batch-hard")
    assert pos.tolist() == [2, 3, 0, 1, 5, 4]
    assert neg.tolist() == [4, 4, 1, 2, 0, 3]  # the closest row of another video
    pos, neg = mine_triplets(z, video, "semi-hard")
    # row 0: d_ap^2 = 4; negatives 0.25 (4), 1 (1), 9 (3), 100 (5): closest farther than 4 -> 3
    assert neg[0] == 3
    # row 4 (0.5): positive at 10 (d^2 = 90.25); no negative farther -> farthest negative (3)
    assert neg[4] == 3


def test_contrast_is_nt_xent_over_both_views_and_extra_negatives():
    g = torch.Generator().manual_seed(0)
    z0, z1, zn, zq = (torch.randn(k, 6, generator=g) for k in (4, 4, 3, 5))
    torch.testing.assert_close(contrast(z0, z1, 0.1), nt_xent(z0, z1, 0.1))
    torch.testing.assert_close(contrast(z0, z1, 0.1, zn, zq), nt_xent(z0, z1, 0.1, torch.cat([zn, zq])))


def test_instance_top1_known_answers():
    z = torch.eye(4)
    out = instance_top1(z, z)  # every clip's nearest other clip is its other view
    assert float(out["acc"]) == 1.0 and float(out["chance"]) == pytest.approx(1 / 7)
    out = instance_top1(z, torch.roll(z, 1, 0), negatives=torch.zeros(3, 4))  # views of other videos coincide
    assert float(out["acc"]) == 0.0 and float(out["chance"]) == pytest.approx(1 / 10)


def test_embedding_spread_known_answers():
    # one point (any scale): 0; orthonormal rows: 2 (cos 0); +e and -e: 4 (cos -1)
    one_point = torch.ones(5, 3) * torch.arange(1.0, 6.0)[:, None]
    assert float(embedding_spread(one_point)) == pytest.approx(0.0, abs=1e-6)
    assert float(embedding_spread(torch.eye(4))) == pytest.approx(2.0)
    assert float(embedding_spread(torch.tensor([[1.0, 0.0], [-2.0, 0.0]]))) == pytest.approx(4.0)
    assert float(embedding_spread(torch.zeros(4, 3))) == pytest.approx(0.0)  # f(x) = 0: FaceNet's collapse
    z = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    u = torch.nn.functional.normalize(z, dim=1)
    by_hand = torch.cdist(u, u).pow(2).sum() / (6 * 5)  # the 30 ordered pairs of different rows
    assert float(embedding_spread(z)) == pytest.approx(float(by_hand), abs=1e-5)
    assert "spread" in instance_top1(z[:3], z[3:])  # every instance-matching method reports it
    near = torch.ones(64, 8) + 0.05 * torch.randn(64, 8, generator=torch.Generator().manual_seed(1))  # ~0.005
    u = torch.nn.functional.normalize(near, dim=1)
    exact = float(torch.cdist(u, u).pow(2).sum() / (64 * 63))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # kept in float32: bf16 would round ~0.01 near 0
        assert float(embedding_spread(near)) == pytest.approx(exact, rel=1e-2)


def test_momentum_queue_is_first_in_first_out_and_checkpointed():
    torch.manual_seed(0)
    lin, proj = torch.nn.Linear(3, 4), torch.nn.Identity()
    q = MomentumQueue(lin, proj, size=5, dim=4, momentum=0.5)
    assert q.negatives() is None
    keys = [torch.full((2, 4), float(i)) for i in range(4)]
    for k in keys[:2]:
        q.enqueue(k)
    assert q.negatives().shape == (4, 4)
    for k in keys[2:]:
        q.enqueue(k)
    assert sorted(q.negatives()[:, 0].tolist()) == [1.0, 2.0, 2.0, 3.0, 3.0]  # the oldest key (0) went first
    q2 = MomentumQueue(lin, proj, size=5, dim=4, momentum=0.5)
    q2.load_state_dict(q.state_dict())
    torch.testing.assert_close(q2.negatives(), q.negatives())
    with torch.no_grad():
        lin.weight.add_(1.0)
    before = q.key_backbone.weight.clone()
    q.keys(lin, proj, torch.randn(2, 3))
    torch.testing.assert_close(q.key_backbone.weight, 0.5 * before + 0.5 * lin.weight)  # moving average


@pytest.mark.parametrize(
    "name,bad",
    [
        ("contrastive", {"margin": 0.0}),
        ("contrastive", {"margin": 5.0}),
        ("triplet", {"mining": "hardest"}),
        ("triplet", {"margin": -1.0}),
        ("nce-temporal", {"temperature": 0.0}),
        ("nce-temporal", {"pos_max_gap": 8, "neg_min_gap": 4}),
        ("nce-st", {"flip_p": 2.0}),
        ("nce-static", {"crop_min_scale": 0.0}),
        ("xmodal", {"jitter_p": -0.1}),
        ("nce", {"queue": -1}),
        ("nce", {"momentum": 1.0}),
        ("nce-motion", {"hard_negatives": "backwards"}),
        ("nce-motion", {"hard_negatives": ""}),
    ],
)
def test_params_validation(name, bad):
    from vssl_bench.config import ConfigError

    with pytest.raises(ConfigError):
        params_from_dict(METHODS[name], bad)
    with pytest.raises(ValueError):
        METHODS[name].Params(**bad).validate()


@pytest.mark.usefixtures("no_jitter")
@pytest.mark.parametrize("name", ["contrastive", "triplet"])
def test_pair_methods_views_are_two_windows_of_one_video(name, monkeypatch):
    flips = []
    monkeypatch.setattr(transforms, "hflip", lambda x: flips.append(1) or x.flip(-1))
    for seed in range(30):
        v = make_views(name, seed)
        assert 0 <= start_of(v["view1"]) - start_of(v["view0"]) <= MAX_START  # CVRL-sampled windows
    assert not flips  # no horizontal flip by default


def test_a_methods_heldout_batch_is_its_gallery(smoke_data_root):
    """``heldout_pretext`` poses xmodal's own task over its ``heldout_batch`` (256, at most
    every held-out clip: 48 here) and a gallery given to it over that many, joining loader
    batches of the training size: the same clips and views as one batch of the gallery's
    size. A method without one (nce) reads ``pretext_eval_batches`` training batches, as
    before. xmodal's chance is one over the gallery."""
    from conftest import smoke_config

    from vssl_bench.data.datasets import build_dataset
    from vssl_bench.runner import build_method
    from vssl_bench.train import heldout_pretext

    def setup(name: str, batch_size: int = 8):
        cfg = smoke_config(smoke_data_root, method=name, batch_size=batch_size, pretext_eval_batches=2, threads=1)
        train, test = build_dataset(cfg)
        return cfg, test, build_method(cfg, len(train.classes), torch.device("cpu"))

    cpu = torch.device("cpu")
    cfg, test, xm = setup("xmodal")
    assert METHODS["xmodal"].heldout_batch == 256 > len(test) == 48
    r = heldout_pretext(xm, test, cfg, cpu)  # every held-out clip at once: 6 loader batches joined
    assert r["pretext_chance"] == pytest.approx(1 / 48) and r["pretext_samples"] == 48
    cfg48 = setup("xmodal", batch_size=48)[0]
    one = heldout_pretext(xm, test, cfg48, cpu)  # one loader batch of 48, the same model
    assert one["pretext_samples"] == 48
    for k in ("pretext_accuracy", "pretext_baseline", "pretext_loss_heldout"):
        assert r[k] == pytest.approx(one[k], rel=1e-5), k  # joined batches are that one batch
    r = heldout_pretext(xm, test, cfg, cpu, gallery=8)  # the training batch: 2 galleries of 8
    assert r["pretext_chance"] == pytest.approx(1 / 8) and r["pretext_samples"] == 16
    cfg, test, nce = setup("nce")
    r = heldout_pretext(nce, test, cfg, cpu)  # two training batches of 8 (chance: 1 of 2 x 8 - 1 views)
    assert r["pretext_chance"] == pytest.approx(1 / 15) and r["pretext_samples"] == 16


def test_a_measure_version_renames_only_that_methods_jobs(monkeypatch):
    """``Method.measure_version`` joins the job key when > 0 (xmodal: 1, its held-out
    gallery), so its jobs measured the old way run again; every other method's job keeps
    its name: the committed full suite's seed-0 rows are still found as finished."""
    import csv
    from pathlib import Path

    from vssl_bench.methods.xmodal import XModal
    from vssl_bench.suite import load_suite

    rows = Path(__file__).resolve().parents[2] / "results" / "results.csv"
    with open(rows, newline="") as f:
        committed = {r["job_id"] for r in csv.DictReader(f)}
    jobs = [c for c in load_suite("full").jobs() if c.seed == 0]
    others = [c.job_name() for c in jobs if c.method != "xmodal"]
    assert len(others) == 20 and all(n in committed for n in others), sorted(set(others) - committed)
    (xm,) = [c for c in jobs if c.method == "xmodal"]
    measured_on_32 = "xmodal__synthetic__tiny3d__seed0__2b80a6e6e7"  # committed, before the gallery
    assert measured_on_32 in committed and xm.job_name() != measured_on_32
    monkeypatch.setattr(XModal, "measure_version", 0)
    assert xm.job_name() == measured_on_32  # the version is the only difference
    assert [m for m, cls in METHODS.items() if cls.measure_version] == []
