"""Frozen-feature extraction (once per checkpoint, cached) and the standard evaluation.

**BatchNorm policy** (one for every method, ``Config.eval_bn``). Default ``recompute``:
before any frozen evaluation, a copy of the model gets BatchNorm statistics re-estimated
on clean training clips (the evaluation's own centre clips of up to ``BN_VIDEOS``
training videos, every batch's statistics averaged: PreciseBN, Wu & Johnson, "Rethinking
'Batch' in BatchNorm", 2021), then is frozen in ``eval()`` mode. Every method, ``random``
included, is then probed with statistics of the data it is evaluated on rather than of
its own pretraining inputs: a masked autoencoder's were those of 90 %-masked clips, a
contrastive method's those of heavily augmented views, ``random``'s the identity.
``pretrain`` keeps the statistics of the method's own pretraining (for ``random``: the
initial identity statistics). Either way statistics are never computed on test data and
never updated by a probe.

Per video we extract ``eval_clips`` uniformly spaced clips (VCOP's retrieval protocol),
centre-cropped. With an odd ``eval_clips`` the middle clip is the centre clip (to within
one frame when ``n_frames - span`` is odd); with an even one a centre clip is added.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval

from vssl_bench import distributed
from vssl_bench.config import Config
from vssl_bench.data import samplers, transforms
from vssl_bench.data.datasets import (
    UNREADABLE,
    EvalDataset,
    VideoList,
    VideoSource,
    eval_clip,
    placeholder_clips,
    unreadable_reason,
    warn_unreadable,
)
from vssl_bench.data.loader import data_loader
from vssl_bench.data.video import VideoDecodeError
from vssl_bench.eval.knn import knn_accuracy
from vssl_bench.eval.linear import fit_linear_probe
from vssl_bench.methods.base import Method
from vssl_bench.utils import heartbeat


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """An eval-mode copy of ``module`` in which every convolution directly followed by a
    BatchNorm inside an ``nn.Sequential`` absorbs it (weights scaled, bias shifted; the BN
    becomes ``Identity``). Frozen BN is a per-channel affine map, so this is the same
    function to float rounding (features agree to ~1e-6 relative), with one pass over the
    activations fewer per layer: tiny3d's and torchvision's R3D / R(2+1)D blocks are
    conv -> BN -> ReLU sequences. ``module`` itself is left untouched."""
    m = copy.deepcopy(module).eval()
    for seq in [x for x in m.modules() if isinstance(x, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if (
                isinstance(conv, (nn.Conv1d, nn.Conv2d, nn.Conv3d))
                and isinstance(bn, _BatchNorm)
                and bn.track_running_stats
                and bn.running_mean is not None
                and bn.num_features == conv.out_channels
            ):
                fused = fuse_conv_bn_eval(conv, bn)
                if fused.weight.dim() == 5 and conv.weight.is_contiguous(memory_format=torch.channels_last_3d):
                    fused = fused.to(memory_format=torch.channels_last_3d)
                seq[i], seq[i + 1] = fused, nn.Identity()
    return m


BN_VIDEOS = 2048  # training videos whose centre clips re-estimate BatchNorm (all of them on the embedded data)


@torch.no_grad()
def recompute_batchnorm(method, videos: VideoList, cfg: Config, device: torch.device):
    """A copy of ``method`` whose BatchNorm layers hold the statistics of clean training
    clips (module docstring): every BN layer reset, put in training mode with a cumulative
    average (``momentum=None``), ``embed`` run on the centre clips of up to
    :data:`BN_VIDEOS` evenly spaced training videos, then everything in ``eval()`` mode.
    ``method`` itself is untouched; a model without BatchNorm is returned as it is."""
    if not any(isinstance(m, _BatchNorm) for m in method.modules()):
        return method
    # rank 0 evaluates alone: its copy's BatchNorm must not wait for the other ranks
    model = distributed.local_batchnorm(copy.deepcopy(method)).eval()
    for bn in (m for m in model.modules() if isinstance(m, _BatchNorm)):
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    if len(videos) > BN_VIDEOS:
        keep = torch.linspace(0, len(videos) - 1, BN_VIDEOS).round().long().tolist()
        videos = dataclasses.replace(videos, entries=[videos.entries[i] for i in keep])
    loader = data_loader(
        CentreClipDataset(videos, cfg),
        batch_size=32,
        num_workers=cfg.num_workers,
        timeout_s=cfg.loader_timeout_s,
        pin_memory=device.type == "cuda",
    )
    for batch in loader:
        heartbeat("BatchNorm statistics")
        warn_unreadable(batch)
        ok = batch["ok"]
        if int(ok.sum()) < 2:  # BN needs two samples for a variance
            continue
        x = batch["clips"][ok].flatten(0, 1).to(device, non_blocking=True)  # (b, C, T, H, W)
        x = transforms.finish_batch(x, None, cfg.channels_last) if x.dtype == torch.uint8 else x
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda" and cfg.amp):
            model.embed(x)
    return model.eval()


def frozen_embed(
    method, videos: VideoList | None = None, cfg: Config | None = None, device: torch.device | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The representation the frozen-feature evaluations run: ``method.embed`` in eval
    mode, with BatchNorm statistics re-estimated on the training ``videos`` when
    ``cfg.eval_bn`` is ``recompute`` (:func:`recompute_batchnorm`; without ``videos`` and
    ``cfg``, the method's own). It is computed by a BN-folded copy of the backbone
    (:func:`fold_batchnorm`) when the method does not override ``embed``; on a CPU, a
    backbone that is one plain convolution trunk (tiny3d) runs it in oneDNN's blocked
    layout (:class:`BlockedTrunkEmbed`)."""
    method.eval()
    if cfg is not None and videos is not None and cfg.eval_bn == "recompute":
        method = recompute_batchnorm(method, videos, cfg, device or torch.device("cpu"))
    if type(method).embed is not Method.embed:
        return method.embed
    folded = fold_batchnorm(method.backbone)
    return BlockedTrunkEmbed.wrap(folded) or folded


class BlockedTrunkEmbed:
    """Frozen CPU inference of a folded backbone whose ``forward_features`` is one
    ``nn.Sequential`` of 3D convolutions and ReLUs (``Backbone.plain_trunk``), with the
    activations kept in oneDNN's blocked layout from the first convolution to the last
    (``torch.utils.mkldnn.to_mkldnn``: weights reordered once, no layout conversion between
    layers), then pooled as ``Backbone.forward`` pools. It takes contiguous (not
    channels-last) batches, whose conversion is ~10x cheaper (0.4 vs 4 ms for 80 clips).
    Measured here (tiny3d, 80 clips of 8x32x32, 2 threads): 4400-4600 vs 3900 clips/s for
    the channels-last path, with the same features bit for bit on this machine
    (``tests/eval/test_features.py`` checks them to 1e-6 relative). Anything else (a GPU,
    other layers, no oneDNN, or a oneDNN whose answer on a small probe clip differs from the
    plain module's) keeps the plain path."""

    ALLOWED = (nn.Conv3d, nn.ReLU, nn.Identity, nn.Sequential)

    def __init__(self, trunk: nn.Module, to_mkldnn: Callable):
        self.trunk = to_mkldnn(trunk)

    @classmethod
    def wrap(cls, folded: nn.Module) -> "BlockedTrunkEmbed | None":
        trunk_of = getattr(folded, "plain_trunk", None)
        trunk = trunk_of() if trunk_of is not None else None
        if trunk is None or not torch.backends.mkldnn.is_available():
            return None
        try:
            with warnings.catch_warnings():  # its modules are TorchScript ones: a deprecation notice on import
                warnings.simplefilter("ignore", FutureWarning)
                from torch.utils.mkldnn import to_mkldnn  # optional in torch builds; warns on import
        except ImportError:  # a torch without it: the plain path
            return None
        params = list(trunk.parameters())
        if not params or any(p.device.type != "cpu" or p.dtype != torch.float32 for p in params):
            return None
        if not all(isinstance(m, cls.ALLOWED) for m in trunk.modules()):
            return None
        convs = [m for m in trunk.modules() if isinstance(m, nn.Conv3d)]
        if not convs or any(m.padding_mode != "zeros" for m in convs):
            return None
        try:  # a platform whose oneDNN lacks these kernels (or computes them differently): plain path
            blocked = cls(trunk, to_mkldnn)
            probe = torch.randn(2, convs[0].in_channels, 4, 16, 16, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                want = folded(probe)
            if not torch.allclose(blocked(probe), want, rtol=1e-4, atol=1e-5):
                return None
        except (RuntimeError, ValueError, NotImplementedError):
            return None
        return blocked

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dtype != torch.float32:
            raise ValueError(f"blocked-layout inference takes float32 CPU clips, got {x.dtype} on {x.device}")
        with torch.no_grad():
            return self.trunk(x.to_mkldnn()).to_dense().mean(dim=(2, 3, 4))  # (B, D), as Backbone.forward


@dataclass
class FeatureBank:
    """Features of one split: ``clips`` (N, K, D), ``centre`` index into K, labels (N,)."""

    clips: torch.Tensor
    labels: torch.Tensor
    centre: int
    failed: int = 0  # unreadable videos left out

    @property
    def centre_features(self) -> torch.Tensor:
        return self.clips[:, self.centre]  # (N, D)

    @property
    def video_features(self) -> torch.Tensor:
        return self.clips.mean(dim=1)  # (N, D): average over the K clips (retrieval protocol)


@torch.no_grad()
def extract_features(
    embed, videos: VideoList, cfg: Config, device: torch.device, n_clips: int | None = None, batch_videos: int = 16
) -> FeatureBank:
    """Run ``embed`` (frozen, eval mode) on ``n_clips`` uniform clips of every video."""
    k = n_clips or cfg.eval_clips
    k_total = k if k % 2 == 1 else k + 1  # even: add an explicit centre clip at the end
    ds = EvalDataset(videos, cfg, k)
    loader = data_loader(
        ds,
        batch_size=batch_videos,
        num_workers=cfg.num_workers,
        timeout_s=cfg.loader_timeout_s,
        pin_memory=device.type == "cuda",
    )
    centre = None if k_total == k else (lambda idx: _centre_clips(videos, idx, cfg))  # even K: + centre clip
    clips, labels, failed = _embed_loader(embed, loader, videos, cfg, device, extra_clip=centre)
    return FeatureBank(clips, labels, centre=k // 2 if k % 2 else k, failed=failed)


def _embed_loader(embed, loader, videos: VideoList, cfg: Config, device: torch.device, extra_clip=None):
    """Embed every readable video of ``loader`` (batches of ``clips`` (b, K, C, T, H, W),
    ``ok``, ``label``, ``index``) -> features (N, K', D), labels (N,), unreadable count.
    ``extra_clip(indices) -> (b, C, T, H, W)`` appends one more clip per video (K' = K + 1)."""
    feats, labels, failed = [], [], 0
    channels_last = cfg.channels_last and not isinstance(embed, BlockedTrunkEmbed)  # it takes plain batches
    for batch in loader:
        heartbeat(f"features of {videos.name or 'a split'}")
        warn_unreadable(batch)
        ok = batch["ok"]
        failed += int((~ok).sum())
        if not ok.any():
            continue
        clips = batch["clips"][ok]  # (b, K, C, T, H, W)
        if extra_clip is not None:
            clips = torch.cat([clips, extra_clip(batch["index"][ok])[:, None]], dim=1)  # (b, K+1, C, T, H, W)
        b, k = clips.shape[:2]
        x = clips.flatten(0, 1).to(device, non_blocking=True)  # (b*K, C, T, H, W)
        if x.dtype == torch.uint8:  # raw clips (eval_clip): normalised here, a few passes per batch
            x = transforms.finish_batch(x, None, channels_last)
        elif channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda" and cfg.amp):
            f = embed(x)
        feats.append(f.float().cpu().view(b, k, -1))  # (b, K, D)
        labels.append(batch["label"][ok])
    if not feats:
        raise RuntimeError(f"no readable video in {videos.name or 'split'} ({len(videos)} listed)")
    return torch.cat(feats), torch.cat(labels).long(), failed


class CentreClipDataset(torch.utils.data.Dataset):
    """The centre clip of every video (``samplers.center_clip``, centre crop), optionally
    played backwards (``reverse=True``: frame order flipped, for the temporal evaluation).
    Unreadable videos give ``ok=False`` and are dropped, as in ``EvalDataset``."""

    def __init__(self, videos: VideoList, cfg: Config, reverse: bool = False):
        self.videos, self.cfg, self.reverse = videos, cfg, reverse

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> dict:
        label = self.videos.entries[index].label
        try:
            clip = _centre_clips(self.videos, torch.tensor([index]), self.cfg)[0]  # (C, T, H, W)
        except VideoDecodeError as e:
            shape = (1, 3, self.cfg.clip_len, self.cfg.size, self.cfg.size)
            return {
                "index": index,
                "label": label,
                "ok": False,
                UNREADABLE: unreadable_reason(e),
                "clips": placeholder_clips(shape, self.cfg),
            }
        if self.reverse:
            clip = clip.flip(1)  # (C, T, H, W), time reversed
        return {"index": index, "label": label, "ok": True, UNREADABLE: "", "clips": clip[None].contiguous()}


@torch.no_grad()
def extract_centre_features(
    embed, videos: VideoList, cfg: Config, device: torch.device, reverse: bool = False, batch_videos: int = 32
) -> FeatureBank:
    """Features of the centre clip of every video only (K = 1): the cheap path used by the
    budget, temporal and shift evaluations. ``embed`` must be frozen (caller: ``eval()``)."""
    loader = data_loader(
        CentreClipDataset(videos, cfg, reverse),
        batch_size=batch_videos,
        num_workers=cfg.num_workers,
        timeout_s=cfg.loader_timeout_s,
        pin_memory=device.type == "cuda",
    )
    clips, labels, failed = _embed_loader(embed, loader, videos, cfg, device)  # (N, 1, D)
    return FeatureBank(clips, labels, centre=0, failed=failed)


def centre_clip_probe(embed, train: VideoList, test: VideoList, cfg: Config, device: torch.device) -> dict:
    """The main protocol's linear probe and weighted kNN (``cfg``'s settings) on centre-clip
    features only: the cheap evaluation of the budget snapshots and of the shifted dataset.
    ``embed`` must be frozen (caller: ``eval()``). Returns ``{"linear_top1", "knn_top1",
    "train", "test"}`` (the two :class:`FeatureBank`)."""
    tr = extract_centre_features(embed, train, cfg, device)
    te = extract_centre_features(embed, test, cfg, device)
    probe = fit_linear_probe(
        tr.centre_features,
        tr.labels,
        num_classes=len(train.classes),
        epochs=cfg.linear_epochs,
        lr=cfg.linear_lr,
        weight_decay=cfg.linear_weight_decay,
        seed=cfg.seed,
    )
    return {
        "linear_top1": probe.accuracy(te.centre_features, te.labels),
        "knn_top1": knn_accuracy(
            tr.centre_features, tr.labels, te.centre_features, te.labels, k=cfg.knn_k, temperature=cfg.knn_temperature
        ),
        "train": tr,
        "test": te,
    }


def _centre_clips(videos: VideoList, indices: torch.Tensor, cfg: Config) -> torch.Tensor:
    out = []
    for i in indices.tolist():
        with VideoSource(videos.entries[i].path, cfg.cache_decoded_mb, cfg.resize) as src:
            idx = samplers.center_clip(src.n_frames, cfg.clip_len, cfg.frame_stride)
            out.append(eval_clip(src.read(idx), cfg))
    return torch.stack(out)  # (b, C, T, H, W)
