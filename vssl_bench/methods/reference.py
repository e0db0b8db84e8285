"""Reference rows every suite carries: ``random`` (untrained) and ``supervised`` (labels).

They bracket the SSL methods: ``random`` is the floor any pretraining must beat,
``supervised`` the ceiling reachable with the same backbone, data and budget.
"""

from __future__ import annotations

import torch.nn as nn

from vssl_bench.methods.base import Method, classification, light_augment, train_clip


class RandomInit(Method):
    """The untrained backbone (seeded init; BatchNorm at its initial identity statistics)."""

    name = "random"
    family = "reference"
    uses_time = False
    summary = "untrained backbone (floor)"
    trains = False

    @classmethod
    def views(cls, src, rng, p, cfg):
        return {"video": light_augment(train_clip(src, rng, cfg, raw=True), cfg.size, rng)}

    def loss(self, batch):  # never trained; defined so the method is uniform
        z = self.backbone(batch["video"])
        return {"loss": z.pow(2).mean() * 0.0}


class Supervised(Method):
    """Cross-entropy on the action labels, same backbone, clips, augmentation and budget.

    Its ``pretext_accuracy`` is its classification accuracy on held-out clips.
    """

    name = "supervised"
    family = "reference"
    uses_time = True  # the labels are motion-defined
    summary = "cross-entropy with labels (ceiling)"
    # `vssl-bench tune`: lr x 3 and this x 2, as every method; no parameter of its own, so the
    # regularisation of its recipe (supervised training overfits first)
    tune = {"weight_decay": (0.05, 0.005)}

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        self.head = nn.Linear(backbone.out_dim, num_classes)

    @classmethod
    def views(cls, src, rng, p, cfg):
        return {"video": light_augment(train_clip(src, rng, cfg, raw=True), cfg.size, rng)}

    def loss(self, batch):
        logits = self.head(self.backbone(batch["video"]))  # (B, K)
        return classification(logits, batch["label"], 1.0 / self.num_classes)
