"""Domain shift: frozen features of a model pretrained on one dataset, probed on another.

SEVERE (Thoker et al., ECCV 2022) measures how video SSL rankings change when the
downstream domain differs from the pretraining one (Kinetics -> UCF101 / Something-Something
/ FineGym / EPIC-Kitchens). Here the backbone stays frozen (``eval()`` mode, BatchNorm
statistics of the pretraining dataset's clean clips under the default policy, as for every
frozen evaluation) and the linear probe and kNN
of the main protocol are trained *and* tested on the target dataset's own splits
(centre-clip features, same hyper-parameters). What changes is only what the features
were learned on.

Target (:func:`shift_target`):

* the ``dataset`` parameter empty: the embedded pair, ``synthetic`` <-> ``synthetic-biased``
  (appearance random vs appearance going with the class 80 % of the time;
  ``synthetic-conflict`` -> ``synthetic``). Pretraining on the biased variant and probing
  on the default one asks whether the method learned the appearance shortcut
  (``benchmarks/shift.yaml``); the other direction is the default suite with ``shift`` on.
* ``dataset`` set (e.g. ``hmdb51`` after ``ucf101``): that dataset, read from
  ``data_root`` (required for a real dataset; an embedded target without one uses the
  job's cache).
* a real source dataset without ``dataset``: no target, the evaluation is skipped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from vssl_bench.config import Config, ConfigError, choice_error
from vssl_bench.data.datasets import DATASETS, build_dataset
from vssl_bench.eval.base import EvalContext, Evaluation, probe_record
from vssl_bench.eval.features import centre_clip_probe

EMBEDDED_SHIFT = {"synthetic": "synthetic-biased", "synthetic-biased": "synthetic", "synthetic-conflict": "synthetic"}


def shift_target(cfg: Config, dataset: str = "", data_root: str | None = None) -> Config | None:
    """The config whose dataset the shifted probe uses (``dataset`` / ``data_root``: the
    evaluation's parameters), or None when there is none."""
    target = dataset or EMBEDDED_SHIFT.get(cfg.dataset)
    if target is None:
        return None
    if target not in DATASETS:
        raise choice_error("shift dataset", target, list(DATASETS))
    if data_root:
        root = data_root
    elif DATASETS[target].embedded:
        root = cfg.data_root if DATASETS[cfg.dataset].embedded else None  # the embedded cache
    else:
        raise ConfigError(f"shift dataset {target!r} needs shift.data_root DIR (nothing is downloaded)")
    return dataclasses.replace(cfg, dataset=target, data_root=root)


def shift_eval(embed, target_cfg: Config, device: torch.device) -> dict:
    """Linear probe + kNN on the target dataset's splits, with frozen ``embed``.

    Args:
        embed: the frozen representation ``(B, C, T, H, W) -> (B, D)`` (caller: ``eval()``).
        target_cfg: from :func:`shift_target` (dataset, data root; the probe's settings).
        device: where ``embed`` runs.

    Returns:
        ``{"shift_linear_top1", "shift_knn_top1", "shift_dataset", "n_train", "n_test"}``.
    """
    train, test = build_dataset(target_cfg)
    res = centre_clip_probe(embed, train, test, target_cfg, device)
    tr, te = res["train"], res["test"]
    return {
        "shift_linear_top1": res["linear_top1"],
        "shift_knn_top1": res["knn_top1"],
        "shift_dataset": target_cfg.dataset,
        "n_train": len(tr.labels),
        "n_test": len(te.labels),
        "failed_videos": tr.failed + te.failed,
    }


class Shift(Evaluation):
    """Frozen features probed on another dataset (module docstring)."""

    name, prefix = "shift", "shift_"
    columns = ("shift_dataset", "shift_linear_top1", "shift_knn_top1")
    summary = "frozen features probed on the other variant of the embedded data, or on another real dataset"

    @dataclass
    class Params:
        dataset: str = ""  # "" = the embedded pair (synthetic <-> synthetic-biased); e.g. hmdb51
        data_root: str | None = None  # the target's data root (None: the job's, for an embedded target)

    def record(self, cfg) -> dict:
        return {
            "dataset": self.p.dataset or EMBEDDED_SHIFT.get(cfg.dataset),
            "data_root": self.p.data_root,
            "features": "centre clip",
            **probe_record(cfg),
        }

    def run(self, ctx: EvalContext) -> dict:
        target = shift_target(ctx.cfg, self.p.dataset, self.p.data_root)
        if target is None:
            return {
                "note": f"skipped: no shift target for dataset {ctx.cfg.dataset!r} (set shift.dataset and "
                f"shift.data_root)"
            }
        return shift_eval(ctx.embed(), target, ctx.device)  # BatchNorm of the job's own data
