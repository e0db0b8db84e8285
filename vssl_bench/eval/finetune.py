"""Fine-tuning: the whole network trained with labels, starting from the SSL checkpoint.

The standard second protocol of video SSL papers (VCOP, Xu et al. CVPR 2019; CVRL, Qian
et al. CVPR 2021; VideoMAE, Tong et al. NeurIPS 2022 all report UCF101/HMDB51 fine-tuning)
and SEVERE's (Thoker et al., ECCV 2022) main protocol. Here it is a *fixed recipe and
budget for every method*, so the only difference between rows is the initialisation:

* a copy of the method's backbone (the job's own model is never modified) + a new linear
  head, i.e. exactly the ``supervised`` reference model (``methods/reference.py``), trained
  by the benchmark's one training loop (``train.pretrain``: AdamW, linear warm-up over
  ``warmup_frac`` then cosine to 0, grad clipping, bf16 on CUDA, checkpoint/resume in
  ``runs/<job>/finetune_s<steps>_lr<lr>/``, deleted once done);
* ``finetune_steps`` optimiser steps (default 100) at the suite's batch size and data order
  (seeded by the job's seed), lr ``finetune_lr`` (default 1e-3: half the pretraining lr,
  as the weights start trained; VideoMAE also fine-tunes at a lower lr than it pretrains);
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
from pathlib import Path

import torch

from vssl_bench.config import Config


def finetune_eval(method, train, test, cfg: Config, device: torch.device, run_dir: Path | None = None,
                  steps: int | None = None, lr: float | None = None, progress=None) -> dict:
    """Fine-tune a copy of ``method.backbone`` with a new linear head; test top-1.

    Args:
        method: a trained (or untrained) method; its backbone is copied, never changed.
        train, test: ``VideoList`` splits (labels of ``train`` are used, ``test`` scored).
        cfg: the job's config (batch size, clips, seed, optimiser settings).
        run_dir: where the resumable fine-tuning checkpoint lives (``<run_dir>/finetune_s*``,
            removed once done); a temporary folder if None.
        steps, lr: budget and peak lr; default ``cfg.finetune_steps`` / ``cfg.finetune_lr``.

    Returns:
        ``{"finetune_top1", "finetune_video_top1", "finetune_train_seconds", "steps"}``.
    """
    from vssl_bench.eval.features import extract_features
    from vssl_bench.eval.linear import video_level_accuracy
    from vssl_bench.methods.reference import Supervised
    from vssl_bench.train import pretrain
    from vssl_bench.utils import seed_everything

    steps = cfg.finetune_steps if steps is None else int(steps)
    lr = cfg.finetune_lr if lr is None else float(lr)
    if steps < 1:
        raise ValueError(f"finetune_steps must be >= 1, got {steps}")
    ft_cfg = dataclasses.replace(cfg, steps=steps, epochs=0.0, lr=lr, evaluations=())
    seed_everything(cfg.seed, cfg.deterministic)  # the head's init: same for every method of a seed
    model = Supervised(copy.deepcopy(method.backbone), Supervised.Params(), ft_cfg, len(train.classes)).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    tmp = None
    if run_dir is None:
        tmp = tempfile.mkdtemp(prefix="vssl-finetune-")
        work = Path(tmp)
    else:
        work = Path(run_dir) / f"finetune_s{steps}_lr{lr:g}"  # a killed fine-tuning resumes from here
    work.mkdir(parents=True, exist_ok=True)
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
    shutil.rmtree(work, ignore_errors=True)
    logits = bank.centre_features  # (N, C)
    top1 = float((logits.argmax(1) == bank.labels).float().mean())
    n, k, c = bank.clips.shape
    probs = bank.clips.reshape(n * k, c).softmax(dim=1)  # (N*K, C)
    video = video_level_accuracy(probs, torch.arange(n).repeat_interleave(k), bank.labels.repeat_interleave(k))
    return {"finetune_top1": top1, "finetune_video_top1": video, "finetune_train_seconds": train_seconds,
            "steps": int(state.step)}
