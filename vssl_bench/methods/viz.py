"""Pictures of what a generative method produces: inputs / reconstructions / samples.

``save_visualization(method, batch, path)`` writes a PNG for methods that implement
``visualize`` (mae, nextframe, gan); the others are a no-op.
``visualization_batch`` builds such a batch from a video list with the method's own views.
Rendering uses matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import default_collate

from vssl_bench.data.batches import to_device
from vssl_bench.data.datasets import PretrainDataset, warn_unreadable
from vssl_bench.data.transforms import denormalize


def frame_grid(rows: list[tuple[str, torch.Tensor]], path, title: str = "", n_frames: int = 8) -> Path:
    """One row per (label, video); video (C, T, H, W) normalised (Kinetics mean/std).
    Shows ``n_frames`` evenly spaced frames of each row. Writes a PNG, returns its path."""
    import matplotlib  # heavy, and only for a picture: imported when one is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # (see above)

    cols = max(min(n_frames, int(v.shape[1])) for _, v in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(cols * 0.9 + 1.2, len(rows) * 0.9 + 0.4), squeeze=False)
    for r, (label, v) in enumerate(rows):
        v = denormalize(v.detach().float().cpu()).clamp(0, 1)  # (C, T, H, W)
        t = v.shape[1]
        idx = np.linspace(0, t - 1, min(cols, t)).round().astype(int)
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            if c < len(idx):
                ax.imshow(v[:, idx[c]].permute(1, 2, 0).numpy(), interpolation="nearest")
            else:
                ax.axis("off")
            if r == 0 and c < len(idx):
                ax.set_title(f"t{idx[c]}", fontsize=6)
        axes[r, 0].set_ylabel(label, fontsize=6, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def visualization_batch(method, videos, cfg, n: int = 4, seed: int = 0) -> dict:
    """``n`` samples of ``videos`` (a VideoList) through the method's own ``views``, collated
    and made ready for the method on its device exactly as in training (``data.batches.to_device``:
    raw uint8 views are finished there)."""
    ds = PretrainDataset(videos, partial(type(method).views, p=method.p, cfg=cfg), cfg, seed)
    idx = np.random.default_rng(seed).choice(len(ds), size=min(n, len(ds)), replace=False)
    batch = default_collate([ds[int(i)] for i in idx])
    warn_unreadable(batch)
    return to_device(batch, next(method.parameters()).device, channels_last=False)


@torch.no_grad()
def save_visualization(method, batch: dict, path: Path) -> Path | None:
    """Call ``method.visualize`` in eval mode, drawing to ``path``; returns it, or None if the
    method draws nothing. The method's train/eval mode is restored afterwards."""
    path = Path(path)
    was_training = method.training
    method.eval()
    try:
        method.visualize(batch, path)
    finally:
        method.train(was_training)
    return path if path.exists() else None
