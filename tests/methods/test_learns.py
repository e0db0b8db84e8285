"""Every method learns its own task on a small fixed problem within a few dozen steps.

The problem: in-memory 16 x 16 videos (no decoding) of one square on a background whose
colours are random per video (so appearance tells videos apart, as on the embedded data),
with a vertical gradient (an "up" for rotation), sliding to rest in a random direction
(motion that decelerates is not the same backwards, for the arrow of time; speed and
order are visible in it). Each method trains on 64 such videos for ``STEPS`` steps, then its own
task is measured on 64 others in eval mode: a classification must beat its chance level
by a clear margin, a reconstruction must beat predicting the mean (the report's gate, on
the embedded data, also asks both to beat a training-free solution of the task). A head that
cannot compare two clips (concatenated pairs memorise each video's appearance) fails
here; the difference head passes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from vssl_bench.config import Config
from vssl_bench.methods import METHODS
from vssl_bench.methods.base import params_from_dict
from vssl_bench.models import build_backbone
from vssl_bench.train import build_optimizer

STEPS, BATCH, N_TRAIN, N_TEST = 40, 16, 64, 48
CFG = Config(clip_len=8, frame_stride=2, size=16, channels_last=False, lr=2e-3, batch_size=BATCH)
ACC_MARGIN = 0.10  # held-out accuracy must exceed chance by 10 points
LOSS_RATIO = 0.95  # held-out loss must be 5 % below chance's (predicting the mean) and the untrained model's
GAIN = 0.05  # ... and accuracy 5 points above the untrained model's, or its held-out loss 5 % below
# (instance matching is easy for an untrained network here: its accuracy may move little while its loss falls)


class SlidingSquare:
    """A (3, 16, 16) video of 32 frames: a 6-px square sliding to rest from the centre in
    a random direction, random colours, a background brighter at the top."""

    n_frames, size = 32, 16

    def __init__(self, k: int):
        rng = np.random.default_rng((123, k))
        self.bg, self.fg = rng.uniform(0.0, 0.5, 3), rng.uniform(0.5, 1.0, 3)
        angle = rng.uniform(0, 2 * np.pi)
        self.v = 0.6 * np.array([np.sin(angle), np.cos(angle)])  # (dy, dx) px / frame at t = 0
        self.label = int((angle + np.pi / 4) // (np.pi / 2)) % 4  # direction quadrant (supervised's labels)

    def clip(self, indices) -> torch.Tensor:
        t = np.asarray(indices) % self.n_frames
        pos = 5.0 + self.v[None] * 12 * (1 - np.exp(-t[:, None] / 12))  # (T, 2): slides to rest
        grad = np.linspace(1.0, 0.5, self.size)[None, :, None, None]  # brighter at the top
        x = np.broadcast_to(self.bg[None, None, None, :] * grad, (len(t), self.size, self.size, 3)).copy()
        for i, (py, px) in enumerate(np.clip(np.round(pos), 0, self.size - 6).astype(int)):
            x[i, py : py + 6, px : px + 6] = self.fg
        return torch.from_numpy(x).permute(3, 0, 1, 2).float()  # (C, T, H, W)


def _batch(cls, p, ks, rng) -> dict:
    samples = []
    for k in ks:
        v = SlidingSquare(int(k))
        samples.append({"index": int(k), "label": v.label, "skipped": 0, **cls.views(v, rng, p, CFG)})
    return default_collate(samples)


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# gan: its discriminator's real-vs-generated choice; here its direction only (an untrained D
# ranks the toy generator's clips backwards, and a pixel statistic tells them apart as well:
# the report's gate asks D to beat that statistic on the embedded data)
GATED = sorted(n for n, c in METHODS.items() if c.trains)
# Methods that do not learn their own task in a few dozen steps, with the reason (a finding
# the report's gate also makes on the embedded data; strict: the day one learns, it fails).
DOES_NOT_LEARN_FAST = {
    "mme": "with 10 % of the patches visible, its block-matching trajectories of the masked ones are not "
    "predicted better than 'no motion' in a few dozen steps (nor at the suite's budget on the embedded "
    "data: results/README.md)"
}


def _heldout(method, cls, p) -> dict[str, float]:
    """The method's own task on the held-out videos, eval mode, fixed views."""
    method.eval()
    seen: dict[str, list[float]] = {}
    with torch.no_grad():
        for i in range(N_TEST // BATCH):
            ks = N_TRAIN + np.arange(i * BATCH, (i + 1) * BATCH)  # held-out videos
            for k, v in method.loss(_batch(cls, p, ks, np.random.default_rng(1000 + i))).items():
                seen.setdefault(k, []).append(float(v))
    method.train()
    return {k: float(np.mean(v)) for k, v in seen.items()}


def _train(method, cls, p, opt) -> None:
    """``STEPS`` optimiser steps on the training videos (fixed data order)."""
    rng = np.random.default_rng(0)
    method.train()
    for _ in range(STEPS):
        out = method.loss(_batch(cls, p, rng.choice(N_TRAIN, BATCH, replace=False), rng))
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason=DOES_NOT_LEARN_FAST[n], strict=True))
        if n in DOES_NOT_LEARN_FAST
        else n
        for n in GATED
    ],
)
def test_method_learns_its_own_task(name) -> None:
    cls = METHODS[name]
    torch.manual_seed(0)
    p = params_from_dict(cls, {})
    method = cls(build_backbone("tiny3d"), p, CFG, 4)
    opt = build_optimizer(method, CFG)
    untrained = _heldout(method, cls, p)  # what the architecture does before learning anything
    _train(method, cls, p, opt)
    got = _heldout(method, cls, p)
    if "acc" in got:
        assert "chance" in got, f"{name} reports an accuracy without its chance level"
        assert got["acc"] > got["chance"] + ACC_MARGIN, f"{name}: held-out {got}"
        assert got["acc"] > untrained["acc"] + GAIN or got["loss"] < LOSS_RATIO * untrained["loss"], (
            f"{name}: held-out {got}, untrained {untrained}"
        )
    else:
        assert "chance_loss" in got, f"{name} reports neither an accuracy nor a chance loss"
        assert got["loss"] < LOSS_RATIO * got["chance_loss"], f"{name}: held-out {got}"
        assert got["loss"] < LOSS_RATIO * untrained["loss"], f"{name}: held-out {got}, untrained {untrained}"


@pytest.mark.parametrize("mining", ["semi-hard", "batch-hard"])
def test_triplet_mining_and_collapse(mining) -> None:
    """The default mining (semi-hard) keeps the embeddings apart; batch-hard from a random
    initialisation collapses them onto one point, as it did on the embedded data (loss
    pinned at the margin): the reason the default is semi-hard (vssl_bench/methods/triplet.py).
    A collapsed model's loss is exactly the margin and its embeddings' mean pairwise squared
    distance ~0 (two random unit vectors: ~2)."""
    cls = METHODS["triplet"]
    torch.manual_seed(0)
    p = params_from_dict(cls, {"mining": mining})
    method = cls(build_backbone("tiny3d"), p, CFG, 4)
    opt = build_optimizer(method, CFG)
    _train(method, cls, p, opt)
    got = _heldout(method, cls, p)
    spread = got["spread"]  # what the report reads (pretext_spread), mean over the held-out batches
    if mining == "semi-hard":
        assert params_from_dict(cls, {}).mining == "semi-hard"
        assert got["loss"] < 0.8 * p.margin and spread > 0.5, f"collapsed: held-out {got}, spread {spread:.3f}"
    else:
        assert abs(got["loss"] - p.margin) < 0.02 and spread < 0.1, f"no collapse: held-out {got}, spread {spread:.3f}"
