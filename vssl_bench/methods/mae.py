"""``mae``: masked video modelling with tube masking (VideoMAE [1]) on any backbone.

The clip is cut into ``tubelet x patch x patch`` cubes (VideoMAE: 2x16x16 at 224 px; we
keep the same 2-frame tubelet and 1/8 of the image side, 4x4 px at 32 px). A **tube mask**
([1] §3.3) hides the same spatial patches in every frame, ratio 0.9 by default ([1]'s
default; higher than images because video is redundant in time). The network predicts
the **per-patch normalised pixels** ([1]; MAE's ``norm_pix_loss``) of the masked cubes
and the loss is computed **only on masked cubes**.

A CNN cannot drop the masked tokens as VideoMAE's encoder does, so by default it encodes
the clip as a **sparse CNN** (``encoder = "sparse"``, SparK [4], ConvNeXt V2 [5];
``models.sparse``): masked cubes are empty at the input and after every convolution, and
BatchNorm counts visible positions only; the last map's empty positions get a learned
mask embedding, and a light decoder (1x1x1 conv, trilinear upsampling to the patch grid,
one 3x3x3 conv, a linear map to the cube's pixels) predicts every cube.
``encoder = "dense"`` is the SimMIM [2] / MaskFeat [3] treatment: masked pixels replaced
by a learned mask token and the whole clip encoded densely, 90 % mask tokens included
(its BatchNorm statistics are then those of mostly-masked clips). The backbone's pooled
features are the representation (the decoder is discarded).

MAE-style methods are known to need long schedules (VideoMAE pretrains 800-2400 epochs):
on the short CPU budget of the quick suite they may stay near or below ``random``; the
README states the budget measured.

[1] Z. Tong et al., "VideoMAE: Masked Autoencoders are Data-Efficient Learners for
    Self-Supervised Video Pre-Training", NeurIPS 2022.
[2] Z. Xie et al., "SimMIM: A Simple Framework for Masked Image Modeling", CVPR 2022.
[3] C. Wei et al., "Masked Feature Prediction for Self-Supervised Visual Pre-Training",
    CVPR 2022.
[4] K. Tian et al., "Designing BERT for Convolutional Networks: Sparse and Hierarchical
    Masked Modeling" (SparK), ICLR 2023.
[5] S. Woo et al., "ConvNeXt V2: Co-designing and Scaling ConvNets with Masked
    Autoencoders", CVPR 2023.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vssl_bench.losses.reconstruction import masked_mse, normalize_patches
from vssl_bench.methods.base import Method, light_augment, train_clip
from vssl_bench.methods.viz import frame_grid
from vssl_bench.models.heads import cube_decoder
from vssl_bench.models.sparse import sparse_features, visible_at

ENCODERS = ("sparse", "dense")


def mask_parameters(method: Method, in_channels: int = 3) -> None:
    """The learned filler of masked cubes: a mask embedding of the last map (sparse
    encoder) or a mask token of the input pixels (dense encoder)."""
    if method.p.encoder == "sparse":
        method.mask_embedding = nn.Parameter(torch.zeros(1, method.backbone.out_dim, 1, 1, 1))
    else:
        method.mask_token = nn.Parameter(torch.zeros(1, in_channels, 1, 1, 1))


def encode_masked(method: Method, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """The decoder's input for the normalised clip ``x`` (B, C, T, H, W) under the tube mask
    ``m`` (B, gh, gw), True = masked: the backbone's last map (B, D, t, h, w) for the
    method's encoder, and, with ``decoder_context``, the mean of its visible positions
    beside every position (B, 2D, t, h, w). MAE's transformer decoder lets every masked
    token attend to all visible ones; a light CNN decoder sees a few neighbours only, and
    at 90 % masking most masked cubes have no visible neighbour: without the clip's mean
    feature they cannot know even its colours (measured in results/README.md)."""
    if method.p.encoder == "sparse":
        f = sparse_features(method.backbone, x, ~m.bool(), method.p.patch)  # empty where nothing is visible
        seen = visible_at(~m.bool(), f.shape[-2:]).to(f.dtype)  # (B, 1, 1, h, w)
        f = f + method.mask_embedding.to(f.dtype) * (1 - seen)  # densify ([4])
    else:
        pix = F.interpolate(m[:, None].float(), scale_factor=method.p.patch, mode="nearest")  # (B, 1, H, W)
        pix = pix[:, :, None]  # (B, 1, 1, H, W): same mask on every frame (tube)
        f = method.backbone.forward_features(x * (1 - pix) + method.mask_token.to(x.dtype) * pix)
        seen = torch.ones_like(f[:, :1])
    if not method.p.decoder_context:
        return f
    w = seen.expand(-1, 1, *f.shape[2:])  # (B, 1, t, h, w)
    mean = (f * w).sum(dim=(2, 3, 4), keepdim=True) / w.sum(dim=(2, 3, 4), keepdim=True).clamp_min(1)  # (B, D, 1, 1, 1)
    return torch.cat([f, mean.expand_as(f)], dim=1)  # (B, 2D, t, h, w)


def tube_mask(grid_h: int, grid_w: int, ratio: float, rng: np.random.Generator) -> torch.Tensor:
    """Exactly ``round(ratio * grid_h * grid_w)`` masked spatial patches (True = masked);
    the same mask is applied to every tubelet in time (tube masking)."""
    n = grid_h * grid_w
    k = int(round(ratio * n))
    m = np.zeros(n, dtype=bool)
    m[rng.permutation(n)[:k]] = True
    return torch.from_numpy(m.reshape(grid_h, grid_w))


def cube_grid(cfg, patch: int, tubelet: int) -> tuple[int, int, int]:
    """(T', H', W') grid of ``tubelet x patch x patch`` cubes of a clip; a ValueError if the clip
    does not divide into cubes."""
    if cfg.size % patch or cfg.clip_len % tubelet:
        raise ValueError(
            f"size {cfg.size} / clip_len {cfg.clip_len} must be divisible by patch {patch} / tubelet {tubelet}"
        )
    return (cfg.clip_len // tubelet, cfg.size // patch, cfg.size // patch)


def patchify(video: torch.Tensor, tubelet: int, patch: int) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, T/t, H/p, W/p, t*p*p, C): the pixels of each cube."""
    b, c, t, h, w = video.shape
    x = video.reshape(b, c, t // tubelet, tubelet, h // patch, patch, w // patch, patch)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # (B, T', H', W', t, p, p, C)
    return x.reshape(b, t // tubelet, h // patch, w // patch, tubelet * patch * patch, c)


@torch.no_grad()
def trivial_fill_loss(target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The training-free baseline of masked reconstruction: the better of two fillers of
    the masked cubes, zero (the mean of per-cube normalised targets) and the mean of the
    clip's visible cubes (its colours). target: (B, N, P), mask: (B, N), True = masked."""
    vis = (~mask.bool()).to(target.dtype)[..., None]  # (B, N, 1)
    mean = (target * vis).sum(1, keepdim=True) / vis.sum(1, keepdim=True).clamp_min(1)  # (B, 1, P)
    t = target.float()
    return torch.minimum(masked_mse(mean.expand_as(t).float(), t, mask), masked_mse(torch.zeros_like(t), t, mask))


@torch.no_grad()
def zero_fill_loss(target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Chance for masked reconstruction: every masked cube predicted as zero (the mean of
    normalised targets)."""
    return masked_mse(torch.zeros_like(target, dtype=torch.float32), target.float(), mask)


class MAE(Method):
    """VideoMAE-style tube masking on a CNN (SimMIM-style mask token)."""

    name = "mae"
    family = "generative"
    uses_time = False  # reconstructing masked tubes does not need the order of frames ("partly")
    summary = "masked autoencoding: tube masking (0.9), normalised pixels of masked cubes"
    reference = "Tong et al., VideoMAE, NeurIPS 2022; Xie et al., SimMIM, CVPR 2022"
    baseline_name = "filling the masked cubes with the better of zero and the visible cubes' mean"

    # `vssl-bench tune`: lr x 3 and this parameter x 2 (default first), the same effort for every method
    tune = {"mask_ratio": (0.9, 0.75)}  # VideoMAE 0.9 on 16x224^2 clips; 0.75 (image MAE) leaves more to see at 32 px

    @dataclass
    class Params:
        mask_ratio: float = 0.9  # VideoMAE default
        patch: int = 4  # pixels; 1/8 of a 32-px frame (VideoMAE: 16 of 224 = 1/14)
        tubelet: int = 2  # frames per cube (VideoMAE: 2)
        decoder_dim: int = (
            64  # light decoder (MAE: decoder ~10 % of encoder FLOPs); 128 made the decoder cost 3x the tiny3d encoder
        )
        norm_pix: bool = True  # VideoMAE / MAE norm_pix_loss
        encoder: str = "sparse"  # masked cubes empty in a sparse CNN (SparK); "dense" = mask tokens (SimMIM)
        decoder_context: bool = True  # the visible positions' mean feature beside every position (encode_masked)

        def validate(self):
            if not 0 < self.mask_ratio < 1:
                raise ValueError(f"mask_ratio must be in (0, 1), got {self.mask_ratio}")
            if self.encoder not in ENCODERS:
                raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {self.encoder!r}")

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        self.grid = cube_grid(cfg, p.patch, p.tubelet)
        mask_parameters(self)
        self.decoder = cube_decoder(
            backbone.out_dim * (2 if p.decoder_context else 1),
            p.decoder_dim,
            self.grid,
            3 * p.tubelet * p.patch * p.patch,
        )

    @classmethod
    def views(cls, src, rng, p, cfg):
        video = light_augment(train_clip(src, rng, cfg, raw=True), cfg.size, rng)
        g = cfg.size // p.patch
        return {"video": video, "mask": tube_mask(g, g, p.mask_ratio, rng)}

    def _predict(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T, H, W) normalised clip, m: (B, gh, gw) tube mask -> (B, N, C*t*p*p)
        predictions for every cube (channel-major), N = T' * gh * gw."""
        b = x.shape[0]
        pred = self.decoder(encode_masked(self, x, m))  # (B, t*p*p*C, T', gh, gw)
        return pred.permute(0, 2, 3, 4, 1).reshape(b, -1, pred.shape[1])  # (B, N, P)

    def loss(self, batch):
        x, m = batch["video"], batch["mask"]  # (B, C, T, H, W), (B, gh, gw)
        b = x.shape[0]
        p = self.p
        pred = self._predict(x, m)  # (B, N, P)
        target = patchify(x, p.tubelet, p.patch)  # (B, T', gh, gw, t*p*p, C)
        if p.norm_pix:
            target = normalize_patches(target)
        target = target.permute(0, 1, 2, 3, 5, 4).reshape(b, -1, pred.shape[-1])  # (B, N, P), channel-major
        mask = m[:, None].expand(b, self.grid[0], *m.shape[1:]).reshape(b, -1)  # (B, N)
        loss = masked_mse(pred, target.to(pred.dtype), mask)
        return {
            "loss": loss,
            "recon": loss.detach(),
            "baseline_loss": trivial_fill_loss(target, mask),
            "chance_loss": zero_fill_loss(target, mask),
        }

    @torch.no_grad()
    def visualize(self, batch, path):
        """Rows per sample: masked input, original, reconstruction (predicted cubes pasted
        into the masked tubes, visible cubes copied). With ``norm_pix`` the prediction is
        de-normalised with the true cube's mean/std, as VideoMAE's visualisation does."""
        x, m = batch["video"][:4].float(), batch["mask"][:4]
        b, c, t, h, w = x.shape
        p = self.p
        pred = self._predict(x, m).float()  # (B, N, C*t*p*p)
        tg, gh, gw = self.grid
        pred = pred.reshape(b, tg, gh, gw, c, p.tubelet * p.patch * p.patch).transpose(-1, -2)  # (B,T',gh,gw,tpp,C)
        true = patchify(x, p.tubelet, p.patch)  # (B, T', gh, gw, tpp, C)
        if p.norm_pix:
            mean = true.mean(dim=-2, keepdim=True)
            std = (true.var(dim=-2, unbiased=True, keepdim=True) + 1e-6).sqrt()
            pred = pred * std + mean
        mk = m[:, None, :, :, None, None].to(pred.dtype)  # (B, 1, gh, gw, 1, 1)
        recon = pred * mk + true * (1 - mk)
        recon = recon.reshape(b, tg, gh, gw, p.tubelet, p.patch, p.patch, c)
        recon = recon.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(b, c, t, h, w)  # (B, C, T, H, W)
        pix = F.interpolate(m[:, None].float(), scale_factor=p.patch, mode="nearest")[:, :, None]
        grey = torch.zeros_like(x)  # normalised 0 = mean grey
        rows = []
        for i in range(b):
            rows += [
                (f"{i}: masked", x[i] * (1 - pix[i]) + grey[i] * pix[i]),
                (f"{i}: original", x[i]),
                (f"{i}: recon", recon[i]),
            ]
        frame_grid(rows, path, title=f"mae: tube mask {p.mask_ratio:.2f}, masked cubes predicted")
