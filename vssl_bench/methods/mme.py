"""``mme``: masked motion encoding (Sun et al. CVPR 2023 [1]).

Same masking as ``mae`` (VideoMAE tube masking [2], ratio 0.9, 2-frame x 4x4-px cubes),
but the target of a masked cube is its **motion trajectory** rather than its pixels: [1]
argues that reconstructing appearance lets the model ignore motion, while reconstructing
"where this patch goes next" forces it to model dynamics ([1] §3: trajectories of the
patch's points over the following frames, position change plus a HOG shape-change term).

Target here (per cube at tubelet index i, grid patch j): the 4x4 block of frame ``2i`` at
patch j is tracked through the next ``traj_len`` frames by exhaustive block matching
(``vssl_bench.data.motion.track_blocks`` on the frames' intensity: SAD, search radius ``radius`` px per frame,
template updated each frame), giving ``traj_len`` cumulative integer displacements
(dx, dy) -> a ``2 * traj_len`` vector, predicted with an MSE over masked cubes only. The
clip is loaded ``traj_len`` frames longer than the network input so that the last cubes
have a future; only the first ``clip_len`` frames are seen by the network. Trajectories
are computed from the (cropped, resized, normalised) frames of the whole batch at the
start of ``loss``, on the training device, without gradients and in fp32: no flow
network, no labels, never the generator's ground truth. (They were computed per clip in
the data loader until 2026-11; the values are identical, see the tests.)

Deviations from [1], stated honestly: [1] tracks dense points with (pre-computed,
classical) optical flow and adds a HOG shape-change term; we track whole blocks with
integer block matching and predict position only (``traj_len`` default 4 frames vs
[1]'s trajectories spanning the tubelet's sampling stride). On the CNN backbone the
encoder cannot drop tokens, so masked pixels are replaced by a learned token
(SimMIM-style, as in ``mae``).

[1] X. Sun et al., "Masked Motion Encoding for Self-Supervised Video Representation
    Learning", CVPR 2023.
[2] Z. Tong et al., "VideoMAE", NeurIPS 2022.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vssl_bench.data.motion import track_blocks
from vssl_bench.losses.reconstruction import masked_mse
from vssl_bench.methods.base import Method, light_augment, train_clip
from vssl_bench.methods.mae import ENCODERS, cube_grid, encode_masked, mask_parameters, tube_mask, zero_fill_loss
from vssl_bench.models.heads import cube_decoder


def cube_trajectories(
    video: torch.Tensor, clip_len: int, tubelet: int, patch: int, traj_len: int, radius: int, penalty: float
) -> torch.Tensor:
    """video: (C, clip_len + traj_len, H, W) -> (clip_len/tubelet, H/patch, W/patch, 2*traj_len)
    cumulative (dx, dy) of each cube's first-frame block over the following ``traj_len`` frames."""
    return batch_trajectories(video[None], clip_len, tubelet, patch, traj_len, radius, penalty)[0]


@torch.no_grad()
def batch_trajectories(
    videos: torch.Tensor, clip_len: int, tubelet: int, patch: int, traj_len: int, radius: int, penalty: float
) -> torch.Tensor:
    """:func:`cube_trajectories` of a batch (B, C, clip_len + traj_len, H, W) in one
    ``track_blocks`` call -> (B, clip_len/tubelet, H/patch, W/patch, 2*traj_len), float32.

    Each clip's values are exactly those of its own call (per-element ops and reductions
    over the same elements in the same order; tested), in fp32 whatever the autocast."""
    b, c, t, h, w = videos.shape
    if t < clip_len + traj_len:
        raise ValueError(f"need {clip_len + traj_len} frames, got {t}")
    starts = range(0, clip_len, tubelet)
    with torch.autocast(videos.device.type, enabled=False):
        luma = videos.float().contiguous().mean(dim=1, keepdim=True)  # (B, 1, T, H, W): intensity, as codecs match luma
        windows = torch.stack([luma[:, :, s : s + traj_len + 1].transpose(1, 2) for s in starts], dim=1)
        tr = track_blocks(windows.reshape(b * len(starts), traj_len + 1, 1, h, w), patch, radius, "sad", penalty)
    tr = tr.reshape(b, len(starts), traj_len, h // patch, w // patch, 2)  # (B, T', L, gh, gw, 2)
    return tr.permute(0, 1, 3, 4, 2, 5).reshape(b, len(starts), h // patch, w // patch, 2 * traj_len).float()


class MME(Method):
    """Masked motion encoding: predict block-matching trajectories of masked tubes."""

    name = "mme"
    family = "generative"
    uses_time = True  # the target is where each patch moves in the following frames
    summary = "masked motion encoding: tube masking (0.9), predict block-matching trajectories of masked cubes"
    reference = "Sun et al., Masked Motion Encoding for Self-Supervised Video Representation Learning, CVPR 2023"
    baseline_name = "assuming no motion anywhere"

    # `vssl-bench tune`: lr x 3 and this parameter x 2 (default first), the same effort for every method
    tune = {"mask_ratio": (0.9, 0.75)}  # as mae

    @dataclass
    class Params:
        mask_ratio: float = 0.9  # VideoMAE / MME default
        patch: int = 4  # as mae: 1/8 of a 32-px frame
        tubelet: int = 2  # as mae / VideoMAE
        traj_len: int = 4  # frames tracked after each cube's first frame
        radius: int = 2  # px per frame searched (fastest class ~0.8 px/frame at 32 px, x1.7 after crop)
        penalty: float = 0.02  # cost per px of |d|_1 (normalised units): ties / flat areas -> no motion
        decoder_dim: int = (
            64  # light decoder (MAE: decoder ~10 % of encoder FLOPs); 128 made the decoder cost 3x the tiny3d encoder
        )
        encoder: str = "sparse"  # as mae: masked cubes empty in a sparse CNN (SparK); "dense" = mask tokens
        decoder_context: bool = True  # as mae: the visible positions' mean feature beside every position

        def validate(self):
            if not 0 < self.mask_ratio < 1:
                raise ValueError(f"mask_ratio must be in (0, 1), got {self.mask_ratio}")
            if self.encoder not in ENCODERS:
                raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {self.encoder!r}")
            for k in ("patch", "tubelet", "traj_len", "radius", "decoder_dim"):
                if getattr(self, k) < 1:
                    raise ValueError(f"{k} must be >= 1, got {getattr(self, k)}")
            if self.penalty < 0:
                raise ValueError(f"penalty must be >= 0, got {self.penalty}")

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        self.grid = cube_grid(cfg, p.patch, p.tubelet)
        mask_parameters(self)
        self.decoder = cube_decoder(
            backbone.out_dim * (2 if p.decoder_context else 1), p.decoder_dim, self.grid, 2 * p.traj_len
        )

    @classmethod
    def views(cls, src, rng, p, cfg):
        """The clip with its ``traj_len`` following frames, (C, clip_len + traj_len, H, W):
        the targets are computed from it for the whole batch in :meth:`loss`, on the
        training device (per clip in the data loader they were most of mme's time)."""
        long = light_augment(train_clip(src, rng, cfg, clip_len=cfg.clip_len + p.traj_len), cfg.size, rng)
        g = cfg.size // p.patch
        return {"video": long, "mask": tube_mask(g, g, p.mask_ratio, rng)}

    def loss(self, batch):
        """``batch["video"]``: clips of ``clip_len`` frames, or ``clip_len + traj_len`` (the
        views) whose extra frames give the targets; ``batch["traj"]`` overrides them."""
        x, m = batch["video"], batch["mask"]  # (B, C, T[+L], H, W), (B, gh, gw)
        traj = batch.get("traj")  # (B, T', gh, gw, 2L)
        if traj is None:
            p, t = self.p, self.cfg.clip_len
            traj = batch_trajectories(x, t, p.tubelet, p.patch, p.traj_len, p.radius, p.penalty)
            cl = x.is_contiguous(memory_format=torch.channels_last_3d)  # keep the layout the step was given
            x = x[:, :, :t].contiguous(memory_format=torch.channels_last_3d if cl else torch.contiguous_format)
        b = x.shape[0]
        pred = self.decoder(encode_masked(self, x, m))  # (B, 2L, T', gh, gw)
        pred = pred.permute(0, 2, 3, 4, 1).reshape(b, -1, pred.shape[1])  # (B, N, 2L)
        target = traj.reshape(b, -1, traj.shape[-1]).to(pred.dtype)  # (B, N, 2L)
        mask = m[:, None].expand(b, self.grid[0], *m.shape[1:]).reshape(b, -1)  # (B, N)
        loss = masked_mse(pred, target, mask)
        zero = zero_fill_loss(target, mask)  # chance and the training-free baseline: no motion anywhere
        return {"loss": loss, "recon": loss.detach(), "baseline_loss": zero, "chance_loss": zero}
