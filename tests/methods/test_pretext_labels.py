"""Label generation of the pretext tasks, checked against hand-computed cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from vssl_bench.config import Config, ConfigError
from vssl_bench.methods import get_method
from vssl_bench.methods.aot import BACKWARD, FORWARD, ArrowOfTime, aot_clip_indices, aot_segment_indices, reverse_time
from vssl_bench.methods.base import params_from_dict
from vssl_bench.methods.oddoneout import OddOneOut, make_question, random_derangement_order, sum_of_differences
from vssl_bench.methods.rotation import Rotation, rotate
from vssl_bench.methods.shuffle import NEGATIVE, POSITIVE, ShuffleLearn, make_tuple, motion_energy, pick_high_motion
from vssl_bench.methods.sort import class_to_permutation, order_classes, permutation_to_class
from vssl_bench.methods.speed import Speed, feasible_strides, stride_indices
from vssl_bench.methods.vcop import VCOP, all_permutations, index_to_permutation, permutation_to_index, tuple_starts


class FrameIdSource:
    """A fake video whose frame ``t`` is filled with the value ``t`` (so content = index)."""

    def __init__(self, n_frames: int = 32, size: int = 32):
        self.n_frames, self.size = n_frames, size

    def clip(self, indices) -> torch.Tensor:
        idx = torch.as_tensor(np.asarray(indices) % self.n_frames, dtype=torch.float32)
        return idx.view(1, -1, 1, 1).expand(3, -1, self.size, self.size).clone()  # (C, T, H, W)


def frame_ids(x: torch.Tensor) -> list[int]:
    """Recover frame ids from a normalised (C, T, H, W) FrameIdSource clip."""
    from vssl_bench.data.transforms import denormalize

    return [int(round(v)) for v in denormalize(x)[0, :, 0, 0].tolist()]


# ----------------------------------------------------------------- permutations (vcop, sort)
def test_vcop_permutation_class_round_trip():
    for n in (3, 4):
        assert len(all_permutations(n)) == math.factorial(n)
        for k in range(math.factorial(n)):
            assert permutation_to_index(index_to_permutation(k, n), n) == k
    # hand-computed: lexicographic order of permutations of 3
    assert permutation_to_index((0, 1, 2), 3) == 0
    assert permutation_to_index((0, 2, 1), 3) == 1
    assert permutation_to_index((2, 1, 0), 3) == 5
    assert index_to_permutation(3, 3) == (1, 2, 0)
    with pytest.raises(ValueError):
        permutation_to_index((0, 0, 1), 3)


def test_sort_merges_reverse_permutations():
    assert len(order_classes(4)) == 12
    for p in itertools.permutations(range(4)):
        k = permutation_to_class(p, 4)
        assert k == permutation_to_class(tuple(reversed(p)), 4)
        assert class_to_permutation(k, 4) in (p, tuple(reversed(p)))
    assert permutation_to_class((0, 1, 2, 3), 4) == permutation_to_class((3, 2, 1, 0), 4) == 0


def test_vcop_views_label_matches_clip_order():
    cfg = Config()
    p = params_from_dict(VCOP, {})
    out = VCOP.views(FrameIdSource(), np.random.default_rng(0), p, cfg)
    perm = index_to_permutation(int(out["order"]), p.n_clips)
    firsts = [frame_ids(c)[0] for c in out["clips"]]  # first frame of each shuffled clip
    # shuffled position i holds original clip perm[i]: un-shuffling must give increasing starts
    restored = [firsts[perm.index(j)] for j in range(p.n_clips)]
    assert restored == sorted(restored) and len(set(restored)) == p.n_clips


def test_vcop_tuple_starts():
    rng = np.random.default_rng(0)
    starts = tuple_starts(32, 3, 8, 4, rng)
    assert starts.tolist() == [0, 12, 24]  # 3 x 8 + 2 x 4 = 32 frames: one possible start
    assert tuple_starts(28, 3, 8, 4, rng).tolist() == [0, 10, 20]  # interval shrinks to 2
    assert tuple_starts(20, 3, 8, 4, rng).tolist() == [0, 6, 12]  # too short: overlapping, still ordered


# ----------------------------------------------------------------- shuffle & learn
def test_shuffle_tuples_hand_computed():
    assert make_tuple(POSITIVE, 0) == [1, 2, 3]  # (b, c, d)
    assert make_tuple(NEGATIVE, 0) == [1, 0, 3]  # (b, a, d)
    assert make_tuple(NEGATIVE, 1) == [1, 4, 3]  # (b, e, d)


def test_shuffle_picks_high_motion_window():
    still = torch.zeros(3, 5, 4, 4)
    moving = torch.zeros(3, 5, 4, 4)
    moving[:, 1::2] = 1.0  # flickers every frame: difference 1
    assert motion_energy(still) == 0.0
    assert motion_energy(moving) == pytest.approx(1.0)
    assert pick_high_motion([0.1, 0.7, 0.3]) == 1


def test_shuffle_views_label_matches_order():
    cfg, p = Config(), params_from_dict(ShuffleLearn, {})
    for seed in range(20):
        out = ShuffleLearn.views(FrameIdSource(), np.random.default_rng(seed), p, cfg)
        firsts = [frame_ids(c)[0] for c in out["triplet"]]
        monotone = firsts == sorted(firsts) or firsts == sorted(firsts, reverse=True)
        assert monotone == (int(out["ordered"]) == POSITIVE)


# ----------------------------------------------------------------- odd one out
def test_odd_one_out_label_points_to_shuffled_clip():
    n, t = 6, 4
    elements = torch.arange(n * t, dtype=torch.float32).view(n, 1, t, 1, 1).expand(n, 3, t, 2, 2).clone()
    q = make_question(elements, 4, [1, 0, 3, 2])
    for i in range(n):
        ids = q[i, 0, :, 0, 0].tolist()
        assert (ids == sorted(ids)) == (i != 4)
    assert q[4, 0, :, 0, 0].tolist() == [17.0, 16.0, 19.0, 18.0]
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert not np.array_equal(random_derangement_order(4, rng), np.arange(4))


def test_odd_one_out_views():
    cfg, p = Config(), params_from_dict(OddOneOut, {})
    for seed in range(10):
        out = OddOneOut.views(FrameIdSource(), np.random.default_rng(seed), p, cfg)
        unsorted = [i for i, e in enumerate(out["question"]) if frame_ids(e) != sorted(frame_ids(e))]
        assert unsorted == [int(out["odd"])]


def test_sum_of_differences_matches_loop():
    g = torch.randn(2, 4, 3)
    slow = sum(g[:, j] - g[:, i] for i in range(4) for j in range(i + 1, 4))
    torch.testing.assert_close(sum_of_differences(g), slow)
    # closed form: weight of element k is 2k - (N - 1)
    w = torch.tensor([-3.0, -1.0, 1.0, 3.0]).view(1, 4, 1)
    torch.testing.assert_close(sum_of_differences(g), (w * g).sum(1))


# ----------------------------------------------------------------- speed
def test_stride_indices_hand_computed():
    assert stride_indices(3, 4, 1).tolist() == [3, 4, 5, 6]
    assert stride_indices(3, 4, 2).tolist() == [3, 5, 7, 9]
    assert stride_indices(0, 4, 4).tolist() == [0, 4, 8, 12]
    assert stride_indices(1, 3, 8).tolist() == [1, 9, 17]
    assert feasible_strides(32, 8, (1, 2, 4, 8)) == [0, 1, 2]  # stride 8 needs 57 frames
    assert feasible_strides(64, 8, (1, 2, 4, 8)) == [0, 1, 2, 3]


def test_speed_views_use_the_labelled_stride():
    cfg = Config()
    p = params_from_dict(Speed, {"strides": "1,2,4,8", "clip_len": "4"})
    assert p.strides == (1, 2, 4, 8)
    seen = set()
    for seed in range(30):
        out = Speed.views(FrameIdSource(), np.random.default_rng(seed), p, cfg)
        for clip, y in zip(out["clips"], out["stride_class"].tolist()):
            ids = frame_ids(clip)
            assert np.all(np.diff(ids) == p.strides[y]), (ids, y)
            seen.add(y)
    assert seen == {0, 1, 2, 3}


def test_speed_params_validation():
    for bad in ({"strides": "1"}, {"strides": "2,1"}, {"strides": "1,1"}, {"strides": "0,2"}, {"clip_len": 1}):
        with pytest.raises(ConfigError):
            params_from_dict(Speed, bad)


# ----------------------------------------------------------------- arrow of time
def test_reversed_clip_is_really_reversed():
    x = torch.arange(5, dtype=torch.float32).view(1, 5, 1, 1).expand(3, 5, 2, 2)
    assert reverse_time(x)[0, :, 0, 0].tolist() == [4.0, 3.0, 2.0, 1.0, 0.0]
    assert torch.equal(reverse_time(reverse_time(x)), x)


def test_aot_views_direction_and_no_first_frame():
    cfg, p = Config(clip_len=8, frame_stride=2), params_from_dict(ArrowOfTime, {"segments": 1})
    seen = set()
    for seed in range(30):
        out = ArrowOfTime.views(FrameIdSource(), np.random.default_rng(seed), p, cfg)
        ids, y = frame_ids(out["video"]), int(out["direction"])
        assert len(ids) == 8 and 0 not in ids  # the H.264 I-frame is never sampled
        assert np.all(np.diff(ids) == (2 if y == FORWARD else -2))
        seen.add(y)
    assert seen == {FORWARD, BACKWARD}
    idx = aot_clip_indices(32, 16, 1, np.random.default_rng(0))
    assert idx.min() >= 1 and idx.max() <= 31


def test_aot_segment_indices_hand_computed():
    rng = np.random.default_rng(0)
    # quick suite: 2 x 8 frames at stride 2 fit exactly in frames 1..31 (the whole video but the I-frame)
    assert aot_segment_indices(32, 8, 2, 2, rng).tolist() == list(range(1, 32, 2))
    # 2 x 16 frames at stride 1 do not fit in 31 frames: spread evenly, overlapping by one frame
    assert aot_segment_indices(32, 16, 1, 2, rng).tolist() == list(range(1, 17)) + list(range(16, 32))
    one = aot_segment_indices(32, 8, 1, 1, np.random.default_rng(3), skip_first=0)  # one segment = one clip
    assert one.tolist() == aot_clip_indices(32, 8, 1, np.random.default_rng(3), skip_first=0).tolist()
    for seed in range(20):  # a long video: consecutive segments = one clip of K*L frames at a random start
        idx = aot_segment_indices(100, 8, 2, 3, np.random.default_rng(seed))
        assert len(idx) == 24 and idx.min() >= 1 and idx.max() <= 99 and np.all(np.diff(idx) == 2)


def test_aot_views_reverse_the_whole_footage():
    cfg, p = Config(clip_len=8, frame_stride=2), params_from_dict(ArrowOfTime, {})
    assert p.segments == 2
    seen = set()
    for seed in range(30):
        out = ArrowOfTime.views(FrameIdSource(), np.random.default_rng(seed), p, cfg)
        ids, y = frame_ids(out["video"]), int(out["direction"])
        assert out["video"].shape == (3, 16, cfg.size, cfg.size)
        # backward = the forward sequence reversed: segments swapped and each played backwards
        assert ids == (list(range(1, 32, 2)) if y == FORWARD else list(range(31, 0, -2)))
        seen.add(y)
    assert seen == {FORWARD, BACKWARD}


class _MeanBackbone(torch.nn.Module):
    """Stand-in backbone: the clip's mean value and its frame count, (B, 2)."""

    out_dim = 2

    def forward(self, x):
        return torch.stack([x.mean(dim=(1, 2, 3, 4)), torch.full((x.shape[0],), float(x.shape[2]))], 1)


def test_aot_fuses_segment_features_in_time_order():
    cfg = Config(clip_len=4, frame_stride=1)
    m = ArrowOfTime(_MeanBackbone(), params_from_dict(ArrowOfTime, {"segments": 3}), cfg, 16)
    with torch.no_grad():
        m.classifier.weight.copy_(torch.eye(2, 6))  # logit j = feature j of the concatenation
        m.classifier.weight[1].zero_()
        m.classifier.weight[1, 4] = 1.0  # logit 1 = mean of the last segment
        m.classifier.bias.zero_()
    video = torch.arange(12, dtype=torch.float32).view(1, 1, 12, 1, 1).expand(2, 3, 12, 2, 2).clone()
    video[1] = video[1] * 10
    logits = m.logits(video)  # segments hold frames 0-3, 4-7, 8-11
    torch.testing.assert_close(logits, torch.tensor([[1.5, 9.5], [15.0, 95.0]]))
    assert m.loss({"video": video, "direction": torch.tensor([1, 1])})["acc"] == 1.0


# ----------------------------------------------------------------- rotation
def test_rotation_is_a_true_rotation():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert rotate(x, 1).tolist() == [[2.0, 4.0], [1.0, 3.0]]  # 90 degrees counter-clockwise
    assert rotate(x, 2).tolist() == [[4.0, 3.0], [2.0, 1.0]]
    assert rotate(x, 3).tolist() == [[3.0, 1.0], [4.0, 2.0]]
    v = torch.randn(3, 4, 5, 5)  # (C, T, H, W)
    for k in range(4):
        torch.testing.assert_close(rotate(v, k), torch.rot90(v, k, dims=(-2, -1)))
    torch.testing.assert_close(rotate(rotate(v, 1), 3), v)


def test_rotation_views_and_flags():
    cfg = Config()
    out = Rotation.views(FrameIdSource(), np.random.default_rng(0), params_from_dict(Rotation, {}), cfg)
    assert out["video"].shape == (3, cfg.clip_len, cfg.size, cfg.size) and 0 <= int(out["rotation"]) < 4
    assert Rotation.uses_time is False
    for name in ("shuffle", "sort", "vcop", "oddoneout", "speed", "aot"):
        assert get_method(name).uses_time is True and get_method(name).family == "pretext"


@pytest.mark.parametrize(
    "name,bad",
    [
        ("vcop", {"n_clips": 5}),
        ("oddoneout", {"element_len": 1}),
        ("shuffle", {"positive_frac": 1.0}),
        ("aot", {"skip_first": -1}),
        ("aot", {"segments": 0}),
    ],
)
def test_invalid_params_raise(name, bad):
    with pytest.raises(ConfigError):
        params_from_dict(get_method(name), bad)
