"""What every method is: a family, a ``uses_time`` flag, views, a loss and an embedding.

A method is a small ``nn.Module`` (no 900-line base class; the loop lives in
``train.py``):

- ``views(src, rng, p, cfg) -> dict[str, Tensor]`` (classmethod) builds the method's
  inputs from one video; it runs in DataLoader workers, so it may only use its arguments.
  A view is a normalised float clip, or (the fast path, :func:`raw_clip`) a raw uint8
  clip that the training loop normalises with its whole batch (``transforms.finish_batch``;
  a raw view ``k`` may carry colour augmentation as ``k + transforms.COLOR_SUFFIX``);
  either way ``loss`` receives normalised float clips;
- ``loss(batch) -> dict`` returns ``"loss"`` plus anything worth logging. A method whose
  own task is a classification also returns ``"acc"`` (its own task accuracy) and
  ``"chance"`` (that accuracy's chance level), and where it is cheap ``"baseline"`` (the
  accuracy of a training-free solution of the same task on the same batch); a method that
  reconstructs returns ``"chance_loss"`` (predicting the mean) and ``"baseline_loss"``
  (the best training-free predictor of the target). They are measured on held-out videos
  after training (``pretext_accuracy``, ``pretext_chance``, ``pretext_baseline``,
  ``pretext_chance_loss``, ``pretext_baseline_loss``): the report's learnability gate
  reads them. A method that embeds clips may return ``"spread"`` (mean squared distance
  of its unit embeddings, ``contrastive_common.embedding_spread``; ``pretext_spread``):
  the gate names a collapse as the reason a method did not learn;
- ``embed(video) -> (B, D)`` is the frozen representation every evaluation uses (the
  backbone's pooled features unless a method says otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vssl_bench.config import Config, build_params
from vssl_bench.data import samplers, transforms
from vssl_bench.models.backbones import Backbone
from vssl_bench.taxonomy import FAMILIES  # noqa: F401 (re-exported: the families a method may declare)


class Method(nn.Module):
    name: ClassVar[str]
    family: ClassVar[str]
    uses_time: ClassVar[bool]  # does the task depend on temporal order?
    time_blind_control: ClassVar[bool] = False  # a control that cannot use time (answers "does time help?")
    augmentation: ClassVar[str] = ""  # contrastive positives: view / temporal / spatio-temporal / cross-modal / ...
    summary: ClassVar[str]
    reference: ClassVar[str] = ""
    # its own task's training-free baseline ("baseline" / "baseline_loss"), in a few words:
    # the gate's note names it beside its value (tests/methods/test_smoke.py: set where returned)
    baseline_name: ClassVar[str] = ""
    trains: ClassVar[bool] = True  # False: evaluated at initialisation (the `random` row)
    # the held-out own task is posed over galleries of this many clips (None: the training
    # batch), loader batches joined, reading the same clips as pretext_eval_batches training
    # batches: a task posed within a batch ("which clip of the batch is my positive") has
    # the batch as its gallery (train.heldout_pretext)
    heldout_batch: ClassVar[int | None] = None
    # raised when how the method's rows are *measured* changes (not its training): joins the
    # job key when > 0, so jobs finished under the old measure run again instead of being
    # skipped (Config.job_key); 0 leaves every key as it was
    measure_version: ClassVar[int] = 0
    # `vssl-bench tune`'s method-specific axis: {parameter (or Config field): (default, alternative)}
    tune: ClassVar[dict[str, tuple]] = {}
    ddp_find_unused_parameters: ClassVar[bool] = False  # True if some steps leave parameters out (DDP)

    @dataclass
    class Params:
        """Method hyper-parameters (none by default)."""

    def __init__(self, backbone: Backbone, p: "Method.Params", cfg: Config, num_classes: int):
        super().__init__()
        self.backbone, self.p, self.cfg, self.num_classes = backbone, p, cfg, num_classes

    @classmethod
    def views(cls, src, rng: np.random.Generator, p, cfg: Config) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def embed(self, video: torch.Tensor) -> torch.Tensor:
        return self.backbone(video)  # (B, D)

    def visualize(self, batch: dict, path) -> None:  # optional: a picture of what it learned
        return None


def classification(logits: torch.Tensor, y: torch.Tensor, chance: float, **extra) -> dict[str, torch.Tensor]:
    """A classification task's loss dict: cross-entropy, ``acc``, its ``chance`` level and
    any ``extra`` entries (e.g. ``baseline``)."""
    return {
        "loss": F.cross_entropy(logits, y),
        "acc": (logits.argmax(1) == y).float().mean(),
        "chance": torch.tensor(float(chance), device=logits.device),
        **extra,
    }


# ------------------------------------------------------------------- shared view helpers
def raw_clip(src, indices: np.ndarray) -> torch.Tensor:
    """Frames ``indices`` of ``src`` for a view that only crops, resizes, flips, reorders
    and normalises them: a raw uint8 clip when the source offers one (``VideoSource.raw``,
    normalised later with the whole batch), else the source's float clip."""
    raw = getattr(src, "raw", None)
    return raw(indices) if raw is not None else src.clip(indices)


def train_clip(
    src,
    rng: np.random.Generator,
    cfg: Config,
    clip_len: int | None = None,
    stride: int | None = None,
    raw: bool = False,
) -> torch.Tensor:
    """A random-start clip (C, T, H, W), not yet cropped or normalised: float [0, 1], or
    with ``raw`` a :func:`raw_clip` (for views that never compute on the pixels)."""
    idx = samplers.random_clip(src.n_frames, clip_len or cfg.clip_len, stride or cfg.frame_stride, rng)
    return raw_clip(src, idx) if raw else src.clip(idx)


def light_augment(video: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    """Mild spatial jitter shared by non-contrastive methods: a crop (scale 0.6-1, same box
    on every frame) resized to ``size``, then normalise (a raw clip: with its batch). No
    horizontal flip: a flipped ``move_left`` clip is a ``move_right`` clip, so flips would
    corrupt motion labels."""
    x = transforms.random_resized_crop(video, size, rng, scale=(0.6, 1.0))
    return transforms.normalize_or_defer(x)


def params_from_dict(method_cls: type[Method], raw: dict) -> Method.Params:
    """Build and validate ``method_cls.Params`` from a dict; unknown keys are an error."""
    return build_params(f"method {method_cls.name!r}", method_cls.Params, raw)
