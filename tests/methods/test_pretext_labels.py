"""Label generation of the pretext tasks, checked against hand-computed cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from vssl_bench.config import Config, ConfigError
from vssl_bench.methods import get_method
from vssl_bench.methods.aot import BACKWARD, FORWARD, ArrowOfTime, aot_clip_indices, reverse_time
from vssl_bench.methods.base import params_from_dict
from vssl_bench.methods.oddoneout import OddOneOut, make_question, random_derangement_order, sum_of_differences
from vssl_bench.methods.rotation import Rotation, rotate
from vssl_bench.methods.shuffle import (NEGATIVE, POSITIVE, ShuffleLearn, make_tuple, motion_energy,
                                        pick_high_motion)
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
    cfg, p = Config(), params_from_dict(ArrowOfTime, {})
    seen = set()
    for seed in range(30):
        out = ArrowOfTime.views(FrameIdSource(), np.random.default_rng(seed), p, cfg)
        ids, y = frame_ids(out["video"]), int(out["direction"])
        assert 0 not in ids  # the H.264 I-frame is never sampled
        assert np.all(np.diff(ids) == (1 if y == FORWARD else -1))
        seen.add(y)
    assert seen == {FORWARD, BACKWARD}
    idx = aot_clip_indices(32, 16, 1, np.random.default_rng(0))
    assert idx.min() >= 1 and idx.max() <= 31


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


@pytest.mark.parametrize("name,bad", [("vcop", {"n_clips": 5}), ("oddoneout", {"element_len": 1}),
                                      ("shuffle", {"positive_frac": 1.0}), ("aot", {"skip_first": -1})])
def test_invalid_params_raise(name, bad):
    with pytest.raises(ConfigError):
        params_from_dict(get_method(name), bad)
