"""Fine-tuning: the whole network trained with labels, starting from the SSL checkpoint.

The standard second protocol of video SSL papers (VCOP, Xu et al. CVPR 2019; CVRL, Qian
et al. CVPR 2021; VideoMAE, Tong et al. NeurIPS 2022 all report UCF101/HMDB51 fine-tuning)
and SEVERE's (Thoker et al., ECCV 2022) main protocol. Here it is a *fixed recipe and
budget for every method*, so the only difference between rows is the initialisation:

* a copy of the method's backbone (the job's own model is never modified) + a new linear
  head, i.e. exactly the ``supervised`` reference model (``methods/reference.py``), trained
  by the benchmark's one training loop (``train.pretrain``: AdamW, linear warm-up over
  ``warmup_frac`` then cosine to 0, grad clipping, bf16 on CUDA, checkpoint/resume in
  ``RunDir.finetune``: ``runs/<job>/finetune_s<steps>_lr<lr>/``, deleted once done);
* ``steps`` optimiser steps (default 100) at the suite's batch size and data order (seeded
  by the job's seed), lr ``lr`` (default 1e-3: half the pretraining lr, as the weights
  start trained; VideoMAE also fine-tunes at a lower lr than it pretrains);
  weight decay as pretraining; BatchNorm statistics are updated (it is fine-tuning);
* supervised-style augmentation: a random-start clip and the ``light_augment`` crop (scale
  0.6-1, no horizontal flip, which would swap left/right motion classes), as ``supervised``;
* test: top-1 of the centre clip and video level (softmax averaged over the ``eval_clips``
  uniform clips), model in eval mode, on the test split.

``random``'s fine-tuning row is training from scratch with the same recipe: the gap to it
is what the pretraining bought.
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
import tempfile
import time
from dataclasses import dataclass

import torch

from vssl_bench.config import Config
from vssl_bench.eval.base import EvalContext, Evaluation
from vssl_bench.eval.features import extract_features
from vssl_bench.eval.linear import video_level_accuracy
from vssl_bench.methods.reference import Supervised
from vssl_bench.rundir import RunDir
from vssl_bench.train import pretrain
from vssl_bench.utils import seed_everything


def finetune_eval(
    method,
    train,
    test,
    cfg: Config,
    device: torch.device,
    run_dir: RunDir | None = None,
    steps: int = 100,
    lr: float = 1e-3,
    progress=None,
) -> dict:
    """Fine-tune a copy of ``method.backbone`` with a new linear head; test top-1.

    Args:
        method: a trained (or untrained) method; its backbone is copied, never changed.
        train, test: ``VideoList`` splits (labels of ``train`` are used, ``test`` scored).
        cfg: the job's config (batch size, clips, seed, optimiser settings).
        run_dir: the job's folder, where the resumable fine-tuning checkpoint lives
            (``RunDir.finetune``, removed once done); a temporary folder if None.
        steps, lr: budget and peak lr.

    Returns:
        ``{"finetune_top1", "finetune_video_top1", "finetune_train_seconds", "steps"}``.
    """
    steps, lr = int(steps), float(lr)
    if steps < 1:
        raise ValueError(f"finetune steps must be >= 1, got {steps}")
    ft_cfg = dataclasses.replace(cfg, steps=steps, epochs=0.0, lr=lr, evaluations={})
    seed_everything(cfg.seed, cfg.deterministic)  # the head's init: same for every method of a seed
    model = Supervised(copy.deepcopy(method.backbone), Supervised.Params(), ft_cfg, len(train.classes)).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    tmp = None
    if run_dir is None:
        tmp = tempfile.mkdtemp(prefix="vssl-finetune-")
        work = RunDir(tmp)
    else:
        work = run_dir.finetune(steps, lr).make()  # a killed fine-tuning resumes from here
    try:
        t0 = time.perf_counter()
        state = pretrain(model, train, ft_cfg, work, device, progress)
        train_seconds = time.perf_counter() - t0
        model.eval()
        bank = extract_features(lambda x: model.head(model.backbone(x)), test, ft_cfg, device)  # clips: (N, K, C)
    except BaseException:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(work.path, ignore_errors=True)
    logits = bank.centre_features  # (N, C)
    top1 = float((logits.argmax(1) == bank.labels).float().mean())
    n, k, c = bank.clips.shape
    probs = bank.clips.reshape(n * k, c).softmax(dim=1)  # (N*K, C)
    video = video_level_accuracy(probs, torch.arange(n).repeat_interleave(k), bank.labels.repeat_interleave(k))
    return {
        "finetune_top1": top1,
        "finetune_video_top1": video,
        "finetune_train_seconds": train_seconds,
        "steps": int(state.step),
    }


class Finetune(Evaluation):
    """The whole network fine-tuned with labels, one recipe for every method (module docstring)."""

    name, prefix = "finetune", "finetune_"
    columns = ("finetune_top1", "finetune_video_top1", "finetune_train_seconds")
    summary = "the whole network fine-tuned with labels, same recipe for all (random = from scratch)"

    @dataclass
    class Params:
        steps: int = 100  # whole-network fine-tuning budget, same for every method
        lr: float = 1e-3  # AdamW, warm-up + cosine (half the pretraining lr: starts from trained weights)

        def validate(self):
            if self.steps < 1 or not self.lr > 0:
                raise ValueError(f"steps must be >= 1 and lr > 0, got {self.steps}, {self.lr}")

    def record(self, cfg) -> dict:
        return {
            "steps": self.p.steps,
            "lr": self.p.lr,
            "batch_size": cfg.batch_size,
            "weight_decay": cfg.weight_decay,
            "warmup_frac": cfg.warmup_frac,
            "grad_clip": cfg.grad_clip,
            "optimizer": "AdamW, warm-up + cosine",
            "augmentation": "random clip, crop scale 0.6-1, no flip",
            "eval_clips": cfg.eval_clips,
            "seed": cfg.seed,
        }

    def run(self, ctx: EvalContext) -> dict:
        return finetune_eval(
            ctx.method,
            ctx.train,
            ctx.test,
            ctx.cfg,
            ctx.device,
            ctx.run_dir,
            self.p.steps,
            self.p.lr,
            progress=ctx.progress,
        )
