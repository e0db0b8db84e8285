"""A collated batch, finished for the step: on its device, normalised, in the step's layout.

Raw (uint8) views are converted, colour-augmented and normalised here, once per batch
(``transforms.finish_batch``), on the training device; float clips are made channels-last.
With CPU DataLoader workers the batch is finished inside the worker (:func:`collate_finished`),
so the training process only steps.
"""

from __future__ import annotations

import torch
from torch.utils.data import default_collate

from vssl_bench.data import transforms


def to_device(batch: dict, device: torch.device, channels_last: bool) -> dict:
    """A collated batch on ``device``, ready for ``Method.loss``: raw (uint8) clips are
    finished there (float, colour augmentation, normalised: ``transforms.finish_batch``;
    their ``@color`` parameters are consumed), 5-D float clips made channels-last."""
    out = {}
    for k, v in batch.items():
        if k.endswith(transforms.COLOR_SUFFIX):
            continue
        if torch.is_tensor(v):
            v = v.to(device, non_blocking=True)
            if v.dtype == torch.uint8 and v.dim() >= 5:  # (B, ..., 3, T, H, W) raw clips
                color = batch.get(k + transforms.COLOR_SUFFIX)
                v = transforms.finish_batch(v, None if color is None else color.to(device), channels_last)
            elif channels_last and v.dim() == 5 and v.is_floating_point():
                v = v.contiguous(memory_format=torch.channels_last_3d)
        out[k] = v
    return out


def collate_finished(samples: list[dict], channels_last: bool) -> dict:
    """The collate of CPU training with workers: the batch is also finished there
    (``to_device``: float, colour, normalised, channels-last), so the training process
    only steps (on a GPU it is finished on the device instead). The training loop's own
    ``to_device`` then changes nothing."""
    return to_device(default_collate(samples), torch.device("cpu"), channels_last)
