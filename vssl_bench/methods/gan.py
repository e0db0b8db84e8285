"""``gan``: a small video GAN whose discriminator trunk is the benchmark's backbone [1].

Generator (VideoGAN [1]'s one-stream variant, scaled to 16x32x32): noise ``z`` (100-d, as
[1]) -> linear -> (4w, T/8, H/8, W/8) -> three ConvTranspose3d(4, stride 2, pad 1) with
BN + ReLU -> tanh, mapped to [0, 1] and normalised like real clips. Discriminator: the
backbone (pooled features) + a linear head -> one logit. The representation is the
discriminator backbone's pooled features ([1] §4.2 uses the discriminator as a feature
extractor for action recognition); the generator is discarded.

Stabilisation: hinge loss [2] (``d = relu(1 - D(x)) + relu(1 + D(G(z)))``,
``g = -D(G(z))``), spectral normalisation [3] on every generator layer (as SAGAN [2] does
for G), and optionally an R1 penalty [4] ``gamma/2 * E ||grad_x D(x_real)||^2`` on the
discriminator (``r1_gamma``; the backbone cannot take spectral norm without changing it).
Real and fake clips go through D in **one** batch so that the backbone's BatchNorm sees
the same statistics for both.

One optimiser, one scalar: the training loop owns a single AdamW over all parameters and
calls ``backward`` once on ``out["loss"]``. The two-player game is folded into that one
scalar::

    loss = d_loss(D(real), D(fake.detach()))  +  g_loss(D_frozen(fake))

- ``fake.detach()`` in the first term: d_loss's gradient reaches D only (D descends
  d_loss, as it should);
- ``D_frozen`` runs the same backbone and head through ``torch.func.functional_call`` with
  **detached** parameters (and cloned BN buffers, so running statistics are updated once):
  g_loss's gradient flows through D's operations into ``fake`` and G's parameters, but
  gives D's parameters nothing. G therefore descends g_loss (non-saturating hinge form),
  not ``-d_loss`` as a gradient-reversal layer would (that is the saturating minimax game,
  whose G gradient vanishes once D is confident).

So one ``backward`` gives every D parameter exactly dd_loss/dtheta_D and every G parameter
exactly dg_loss/dtheta_G; the logged "loss" (their sum) is not itself meaningful: read
``d_loss``, ``g_loss``, ``d_real`` and ``d_fake``. tests/methods/test_generative.py checks
that one SGD step on D's gradient lowers d_loss and one on G's gradient lowers g_loss.

Its own task (what the learnability gate reads before a row counts) is the discriminator's: ``acc`` is the
accuracy of picking the real clip of a (real, generated) pair by D's score (the area under
its ROC curve; chance 1/2), measured after training on held-out videos
(``pretext_accuracy``). Threshold-free, because in eval mode BatchNorm's running statistics
shift every logit (D's threshold-0 accuracy, ``d_acc``, is logged in training). It says D
tells unseen real clips from the generator's, not that it memorised its training clips (a D
that did scores its held-out real clips like generated ones, as in Karras et al. 2020,
"Training Generative Adversarial Networks with Limited Data"), nor that the generator is
good. Its training-free baseline (``baseline``) makes the same choice by one pixel statistic
of each clip (spread, motion, detail; the best of the three in the better direction, chosen
on each held-out batch: about 0.59 on a batch of 32 where they tell nothing apart). Since
no accuracy exceeds 1, the gate passes only while the generator's clips are not told from
real ones by such a statistic: it asks that the generator learned to make clips a pixel
statistic cannot reject *and* that D still tells them apart on unseen videos; a poor
generator fails it however well D ranks (an untrained D may rank every pair, in one
direction or the other, as well as a statistic).

Deviation: [1] has a two-stream (static background + moving foreground with mask)
generator and trains with Adam 2e-4, beta1 0.5 for many epochs; here the benchmark's one
optimiser and budget apply to both players (no separate learning rates), which is the
point of the comparison and also its handicap. ``uses_time`` is False: nothing in the
task forces D to use temporal order (a real clip played backwards is still a real-looking
clip for most classes); it may use motion realism, so it depends on time partly at most.

[1] C. Vondrick, H. Pirsiavash, A. Torralba, "Generating Videos with Scene Dynamics",
    NeurIPS 2016.
[2] J. H. Lim, J. C. Ye, "Geometric GAN", 2017; H. Zhang et al., "Self-Attention GANs"
    (SAGAN), ICML 2019 (hinge loss, spectral norm on G and D).
[3] T. Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018.
[4] L. Mescheder, A. Geiger, S. Nowozin, "Which Training Methods for GANs do actually
    Converge?", ICML 2018 (R1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call
from torch.nn.utils.parametrizations import spectral_norm

from vssl_bench.data import transforms
from vssl_bench.methods.base import Method, light_augment, train_clip
from vssl_bench.methods.viz import frame_grid


class VideoGenerator(nn.Module):
    """z (B, z_dim) -> clip (B, 3, T, H, W) in [-1, 1]; T, H, W divisible by 8."""

    def __init__(self, z_dim: int, width: int, clip_len: int, size: int, sn: bool = True):
        super().__init__()
        if clip_len % 8 or size % 8:
            raise ValueError(f"gan needs clip_len and size divisible by 8, got {clip_len}, {size}")
        wrap = spectral_norm if sn else (lambda m: m)
        self.start = (4 * width, clip_len // 8, size // 8, size // 8)
        self.fc = wrap(nn.Linear(z_dim, 4 * width * (clip_len // 8) * (size // 8) ** 2))
        chans = [4 * width, 2 * width, width]
        layers: list[nn.Module] = [nn.BatchNorm3d(chans[0]), nn.ReLU(inplace=True)]
        for cin, cout in zip(chans, chans[1:] + [3]):
            layers.append(wrap(nn.ConvTranspose3d(cin, cout, 4, 2, 1)))
            if cout != 3:
                layers += [nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(z.shape[0], *self.start)  # (B, 4w, T/8, H/8, W/8)
        return torch.tanh(self.net(x))  # (B, 3, T, H, W)


def pairwise_real_first(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """The share of (real, generated) pairs whose real clip D scores higher (a tie: half):
    the accuracy of picking the real one of two, the area under D's ROC curve. (Under bf16
    autocast close logits may tie: that pulls it towards 1/2, never away.)"""
    diff = d_real.detach().float()[:, None] - d_fake.detach().float()[None, :]
    return (diff > 0).float().mean() + 0.5 * (diff == 0).float().mean()


def pixel_statistics(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (3, B): per clip, the spread of its pixels, its mean absolute change
    between frames (motion) and between neighbouring pixels (detail): what tells a poor
    generator's clips (flat, static or blurred) from real ones without training anything."""
    x = x.detach().float()
    return torch.stack(
        [
            x.flatten(1).std(1),
            (x[:, :, 1:] - x[:, :, :-1]).abs().flatten(1).mean(1),
            (x[..., 1:] - x[..., :-1]).abs().flatten(1).mean(1),
        ]
    )


def pixel_baseline(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The training-free solution of D's task: pick the real clip of a pair by one pixel
    statistic (:func:`pixel_statistics`), the best of them with the better direction chosen
    on this batch (optimistic, as a baseline should be)."""
    sr, sf = pixel_statistics(real), pixel_statistics(fake)
    auc = torch.stack([pairwise_real_first(a, b) for a, b in zip(sr, sf)])
    return torch.maximum(auc, 1 - auc).max()


def hinge_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """(B,), (B,) logits -> scalar: E relu(1 - D(x)) + E relu(1 + D(G(z)))."""
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


def hinge_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """(B,) logits of generated clips -> scalar -E D(G(z))."""
    return -d_fake.mean()


class GAN(Method):
    """VideoGAN-style generator vs backbone discriminator, folded into one loss."""

    name = "gan"
    family = "generative"
    uses_time = False  # real-vs-generated does not require temporal order ("partly")
    summary = "video GAN: generator from noise vs backbone discriminator (hinge, SN on G, R1)"
    reference = "Vondrick et al., Generating Videos with Scene Dynamics, NeurIPS 2016"
    baseline_name = "picking the real clip by its spread, motion or detail, whichever separates best"

    # `vssl-bench tune`: lr x 3 and this parameter x 2 (default first), the same effort for every method
    tune = {"spectral_norm": (True, False)}  # the generator's stabiliser: on in SAGAN, off in VideoGAN

    @dataclass
    class Params:
        z_dim: int = 100  # VideoGAN [1]
        g_width: int = 64  # generator channels 256-128-64 (VideoGAN: 512-256-128-64 at 64x64)
        spectral_norm: bool = True  # SN on G [3] (SAGAN [2] applies it to G as well as D)
        r1_gamma: float = 0.0  # R1 weight on D [4]; 0 = off (doubles D's cost on CPU)

        def validate(self):
            if self.z_dim < 1 or self.g_width < 1:
                raise ValueError(f"z_dim and g_width must be >= 1, got {self.z_dim}, {self.g_width}")
            if self.r1_gamma < 0:
                raise ValueError(f"r1_gamma must be >= 0, got {self.r1_gamma}")

    def __init__(self, backbone, p, cfg, num_classes):
        super().__init__(backbone, p, cfg, num_classes)
        self.generator = VideoGenerator(p.z_dim, p.g_width, cfg.clip_len, cfg.size, p.spectral_norm)
        self.d_head = nn.Linear(backbone.out_dim, 1)

    @classmethod
    def views(cls, src, rng, p, cfg):
        return {"video": light_augment(train_clip(src, rng, cfg, raw=True), cfg.size, rng)}

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, z_dim) -> normalised clip (B, 3, T, H, W), same scale as real inputs."""
        x01 = (self.generator(z) + 1) / 2  # (B, 3, T, H, W) in [0, 1]
        mean = torch.tensor(transforms.MEAN, dtype=x01.dtype, device=x01.device).view(1, -1, 1, 1, 1)
        std = torch.tensor(transforms.STD, dtype=x01.dtype, device=x01.device).view(1, -1, 1, 1, 1)
        return (x01 - mean) / std

    def discriminate(self, x: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        """x (B, 3, T, H, W) -> logits (B,). ``frozen``: D's parameters detached and BN
        buffers cloned, so gradients reach the input only (the generator's term)."""
        if not frozen:
            return self.d_head(self.backbone(x)).squeeze(1)
        bb = {n: t.detach() for n, t in self.backbone.named_parameters()}
        bb.update({n: t.clone() for n, t in self.backbone.named_buffers()})
        head = {n: t.detach() for n, t in self.d_head.named_parameters()}
        feat = functional_call(self.backbone, bb, (x,))  # (B, D)
        return functional_call(self.d_head, head, (feat,)).squeeze(1)

    def loss(self, batch):
        real = batch["video"]  # (B, C, T, H, W)
        b = real.shape[0]
        z = batch.get("z")
        if z is None:
            z = torch.randn(b, self.p.z_dim, device=real.device)
        fake = self.generate(z).to(real.dtype)
        if real.is_contiguous(memory_format=torch.channels_last_3d):
            fake = fake.contiguous(memory_format=torch.channels_last_3d)
        use_r1 = self.p.r1_gamma > 0 and torch.is_grad_enabled()
        real_in = real.detach().requires_grad_(use_r1)
        logits = self.discriminate(torch.cat([real_in, fake.detach()]))  # (2B,): D's own term
        d_real, d_fake = logits[:b], logits[b:]
        d_loss = hinge_d_loss(d_real, d_fake)
        g_logits = self.discriminate(torch.cat([real.detach(), fake]), frozen=True)[b:]  # (B,): G's term
        g_loss = hinge_g_loss(g_logits)
        out = {
            "d_loss": d_loss.detach(),
            "g_loss": g_loss.detach(),
            "d_real": d_real.mean().detach(),
            "d_fake": d_fake.mean().detach(),
            "d_acc": ((d_real > 0).float().mean() + (d_fake < 0).float().mean()) / 2,  # at D's threshold 0
            # its own task, measured on held-out clips after training like every method's: given
            # a real clip and a generated one, which is real? (D scores the real one higher;
            # chance 1/2). Threshold-free: in eval mode BatchNorm's running statistics shift
            # every logit, which moves d_acc's threshold but not D's ranking
            "acc": pairwise_real_first(d_real, d_fake),
            "chance": torch.tensor(0.5, device=real.device),
            "baseline": pixel_baseline(real, fake),
        }
        total = d_loss + g_loss
        if use_r1:
            (grad,) = torch.autograd.grad(d_real.sum(), real_in, create_graph=True)
            r1 = grad.pow(2).flatten(1).sum(1).mean()
            total = total + 0.5 * self.p.r1_gamma * r1
            out["r1"] = r1.detach()
        out["loss"] = total
        return out

    @torch.no_grad()
    def visualize(self, batch, path):
        real = batch["video"][:4].float()
        g = torch.Generator(device="cpu").manual_seed(0)
        z = torch.randn(real.shape[0], self.p.z_dim, generator=g).to(real.device)
        fake = self.generate(z).float()
        rows = [(f"real {i}", real[i]) for i in range(real.shape[0])]
        rows += [(f"generated {i}", fake[i]) for i in range(fake.shape[0])]
        frame_grid(rows, path, title="gan: real clips (top) vs generated clips from fixed noise (bottom)")
