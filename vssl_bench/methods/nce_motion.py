"""``nce-motion``: InfoNCE with **motion-forcing** hard negatives.

The views of ``nce-st`` (two CVRL windows of one video, each with its own crop and colour
augmentation) plus, for every video, copies of its first view whose *time* is corrupted
and whose pixels are not: its frames **reversed**, **shuffled** (a random non-identity
order) or **frozen** (the middle frame repeated). Each copy keeps the first view's crop
and colours, so appearance cannot tell it from the positive; it is a negative of every
anchor, and for its own video the hardest one. Instance discrimination then needs the
temporal structure of the clip, which the motion-defined classes of the embedded data
are made of, and which ``nce``'s two views of one window can ignore (they share their
appearance, so appearance alone solves them).

The idea of making same-appearance clips with other temporal structure into negatives
comes from the lecture's temporal-augmentation part: TCLR [1] contrasts non-overlapping
clips of one video (its local-local loss: a clip's own video, another time, is a
negative); Background Erasing [2] mixes a static frame of the video into its clips so
that the static background cannot be what the representation keeps; temporal
transformations (shuffled, reversed, speed-changed clips) that a network must tell from
the original are [3]'s pretext task. Here they are negatives of the InfoNCE loss.

Defaults: ``hard_negatives = "reverse,shuffle"`` (two corrupted copies per video; the
frozen copy, an easier negative, is available); everything else as ``nce`` (NT-Xent over
both views, temperature 0.1, 128-d projection, optional MoCo queue). A step embeds 4
clips per video instead of 2.

[1] I. Dave, R. Gupta, M. N. Rizve, M. Shah, "TCLR: Temporal Contrastive Learning for
    Video Representation", CVIU 2022.
[2] J. Wang et al., "Removing the Background by Adding the Background: Towards Background
    Robust Self-supervised Video Representation Learning", CVPR 2021.
[3] S. Jenni, G. Meishvili, P. Favaro, "Video Representation Learning by Recognizing
    Temporal Transformations", ECCV 2020.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vssl_bench.data import samplers, transforms
from vssl_bench.methods.base import raw_clip
from vssl_bench.methods.contrastive_common import cvrl_starts, strong_views
from vssl_bench.methods.nce import NCE
from vssl_bench.methods.oddoneout import random_derangement_order

CORRUPTIONS = ("reverse", "shuffle", "freeze")


def corrupt_time(clip: torch.Tensor, kind: str, rng) -> torch.Tensor:
    """(C, T, H, W) -> the same frames with their time corrupted (``CORRUPTIONS``)."""
    t = clip.shape[1]
    if kind == "reverse":
        return clip.flip(1)
    if kind == "shuffle":
        return clip[:, torch.from_numpy(random_derangement_order(t, rng))]
    return clip[:, [t // 2]].expand(-1, t, -1, -1)  # freeze


class NCEMotion(NCE):
    """InfoNCE whose hard negatives are the anchor's own clip reversed / shuffled / frozen."""

    name = "nce-motion"
    family = "contrastive"
    uses_time = True
    augmentation = "motion-forcing"
    summary = "InfoNCE, spatio-temporal views + the clip reversed / shuffled as hard negatives"
    reference = "Dave et al. TCLR, CVIU 2022; Wang et al. CVPR 2021; Jenni et al. ECCV 2020"

    @dataclass
    class Params(NCE.Params):
        hard_negatives: str = "reverse,shuffle"  # comma-separated subset of reverse, shuffle, freeze

        def validate(self):
            NCE.Params.validate(self)
            kinds = self.kinds()
            if not kinds or any(k not in CORRUPTIONS for k in kinds):
                raise ValueError(
                    f"hard_negatives must be a comma-separated subset of {', '.join(CORRUPTIONS)}, "
                    f"got {self.hard_negatives!r}"
                )

        def kinds(self) -> list[str]:
            return [k.strip() for k in self.hard_negatives.split(",") if k.strip()]

    @classmethod
    def views(cls, src, rng, p, cfg):
        n, t, s = src.n_frames, cfg.clip_len, cfg.frame_stride
        clips = [raw_clip(src, samplers.clip_at(st, t, s, n)) for st in cvrl_starts(n, t, s, rng)]
        out = strong_views(clips, cfg.size, rng, p, cfg)
        color = out.get("view0" + transforms.COLOR_SUFFIX)  # raw clips: the negatives share view0's colours
        for kind in p.kinds():
            out[f"neg_{kind}"] = corrupt_time(out["view0"], kind, rng).contiguous()
            if color is not None:
                out[f"neg_{kind}{transforms.COLOR_SUFFIX}"] = color.clone()
        return out
