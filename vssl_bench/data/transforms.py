"""Clip transforms, applied identically to every frame of a clip.

Video tensors are (C, T, H, W). Decoded frames arrive as uint8 (T, H, W, 3); call
:func:`to_tensor` first, which also gives the float range [0, 1]. :func:`normalize`
is the last step (Kinetics mean/std, as in PySlowFast / VideoMAE).

**Raw clips (the training fast path).** The crop, resize, flip and reshape operations
also take a *raw clip*: uint8 (C, T, H, W) pixels 0-255, as
:meth:`vssl_bench.data.datasets.VideoSource.raw` returns them (a view of the decoded
(T, H, W, 3) frames). A view builder that ends with :func:`normalize_or_defer` leaves a
raw clip as it is, and its colour augmentation as drawn parameters (:func:`augment_draws`);
:func:`finish_batch` then converts, colour-transforms and normalises the whole batch in a
few batched passes, on the training device, straight into the channels-last layout the
step wants. Per sample that is ~4 small uint8 ops instead of ~10 float ones; on a 2-core
CPU the views of a batch of 32 went from 6-32 ms to 3-13 ms (supervised 6.4 -> 3.4, nce
18 -> 7, sort 32 -> 12; ``benchmarks/loop_efficiency.py`` measures the whole loop).
The result equals the per-sample float path up to the uint8 rounding of the resized
pixels (at most 1 grey level, tested for every method).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

MEAN = (0.45, 0.45, 0.45)  # Kinetics statistics used by PySlowFast / VideoMAE
STD = (0.225, 0.225, 0.225)


def to_tensor(frames_thwc: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (T, H, W, C) -> float (C, T, H, W) in [0, 1]."""
    x = torch.as_tensor(np.ascontiguousarray(frames_thwc))
    return x.permute(3, 0, 1, 2).float().div_(255.0)  # (C, T, H, W)


_CONST: dict = {}


def _channel_const(name: str, values, dtype: torch.dtype, device) -> torch.Tensor:
    """(3, 1, 1, 1) constants built once per dtype/device (a fresh tensor per call costs
    more than the arithmetic on a 32x32 clip)."""
    key = (name, dtype, str(device))
    if key not in _CONST:
        _CONST[key] = torch.tensor(values, dtype=dtype, device=device).view(-1, 1, 1, 1)
    return _CONST[key]


def normalize(video: torch.Tensor) -> torch.Tensor:
    mean = _channel_const("mean", MEAN, video.dtype, video.device)
    inv_std = _channel_const("inv_std", tuple(1.0 / s for s in STD), video.dtype, video.device)
    return (video - mean).mul_(inv_std)


def denormalize(video: torch.Tensor) -> torch.Tensor:
    mean = _channel_const("mean", MEAN, video.dtype, video.device)
    std = _channel_const("std", STD, video.dtype, video.device)
    return video * std + mean


def resize(video: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(C, T, H, W) -> (C, T, h, w), bilinear, antialiased when shrinking.

    The C x T planes are resized as the channels of one image (no permute, no copy of a
    cropped view: C and T of a crop stay mergeable), which is exactly the per-frame resize.
    """
    c, t, h, w = video.shape
    if (h, w) == tuple(size):
        return video
    shrink = size[0] < h or size[1] < w  # antialiasing only matters (and only costs) when shrinking
    if video.dtype == torch.uint8:  # raw clip: (T, C, H, W) is a channels-last view, torch's uint8 fast path
        x = F.interpolate(video.transpose(0, 1), size=size, mode="bilinear", align_corners=False, antialias=shrink)
        return x.transpose(0, 1)  # (C, T, h, w), rounded to uint8
    x = F.interpolate(
        video.reshape(1, c * t, h, w), size=size, mode="bilinear", align_corners=False, antialias=shrink
    )  # (1, C*T, h, w)
    return x.view(c, t, *size)


def resize_short(video: torch.Tensor, short: int) -> torch.Tensor:
    """Resize so the short side is ``short`` (keeps aspect ratio; handles any resolution)."""
    _, _, h, w = video.shape
    if short <= 0 or min(h, w) == short:
        return video
    s = short / min(h, w)
    return resize(video, (max(short, round(h * s)), max(short, round(w * s))))


def center_crop(video: torch.Tensor, size: int) -> torch.Tensor:
    _, _, h, w = video.shape
    if h < size or w < size:
        video = resize_short(video, size)
        _, _, h, w = video.shape
    top, left = (h - size) // 2, (w - size) // 2
    return video[:, :, top : top + size, left : left + size]


def random_resized_crop(
    video: torch.Tensor,
    size: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.3, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """Inception-style crop (same box on every frame) resized to ``size`` x ``size``.

    Scale range (0.3, 1) follows CVRL's video crop (less aggressive than SimCLR's 0.08).
    """
    _, _, h, w = video.shape
    area = h * w
    for _ in range(10):
        target = area * rng.uniform(*scale)
        log_r = rng.uniform(math.log(ratio[0]), math.log(ratio[1]))
        ar = math.exp(log_r)
        cw, ch = int(round(math.sqrt(target * ar))), int(round(math.sqrt(target / ar)))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(rng.integers(0, h - ch + 1))
            left = int(rng.integers(0, w - cw + 1))
            return resize(video[:, :, top : top + ch, left : left + cw], (size, size))
    return resize(center_crop(video, min(h, w)), (size, size))


def hflip(video: torch.Tensor) -> torch.Tensor:
    return video.flip(-1)


GRAY = np.array([0.299, 0.587, 0.114])  # ITU-R 601 luma, as torchvision's rgb_to_grayscale
YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
YIQ_INV = np.linalg.inv(YIQ)


def apply_color_matrix(video: torch.Tensor, a: np.ndarray, b: np.ndarray | None = None) -> torch.Tensor:
    """``a @ pixel + b`` for every pixel of a (3, T, H, W) clip, as one matrix product."""
    x = video.reshape(3, -1)  # (3, T*H*W)
    at = torch.as_tensor(a, dtype=video.dtype)
    if b is None:
        return (at @ x).view_as(video)
    return torch.addmm(torch.as_tensor(b, dtype=video.dtype).view(3, 1), at, x).view_as(video)


def grayscale(video: torch.Tensor) -> torch.Tensor:
    return apply_color_matrix(video, np.tile(GRAY, (3, 1)))  # every channel = luma


JITTER_OPS = 4  # brightness, contrast, saturation, hue
COLOR_PARAMS = 2 + JITTER_OPS + 4  # jitter on, gray on, op order (4), brightness, contrast, saturation, hue angle
NO_JITTER = np.array([0, 1, 2, 3, 1.0, 1.0, 1.0, 0.0])  # identity order, neutral factors (the unused draws of a clip)


def jitter_draws(
    rng: np.random.Generator, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4, hue: float = 0.1
) -> np.ndarray:
    """One clip's colour-jitter draws, in :func:`color_jitter`'s order: the operation order
    (a permutation of 4) then each factor (neutral when its strength is 0: no draw)."""
    order = rng.permutation(JITTER_OPS)
    f = [1.0, 1.0, 1.0, 0.0]  # brightness, contrast, saturation factors; hue angle (radians)
    for op in order:
        if op == 0 and brightness > 0:
            f[0] = rng.uniform(1 - brightness, 1 + brightness)
        elif op == 1 and contrast > 0:
            f[1] = rng.uniform(1 - contrast, 1 + contrast)
        elif op == 2 and saturation > 0:
            f[2] = rng.uniform(1 - saturation, 1 + saturation)
        elif op == 3 and hue > 0:
            f[3] = rng.uniform(-hue, hue) * 2 * math.pi
    return np.concatenate([order, f]).astype(np.float64)  # (8,)


def jitter_affines(draws: np.ndarray, mu: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The jitters of ``draws`` (B, 8) as colour maps ``pixel -> a @ pixel + b`` (clamp
    after): a (B, 3, 3), b (B, 3). ``mu`` (B, 3): each clip's channel means (needed when a
    contrast factor is not 1).

    The four operations are all affine in a pixel's colour (contrast pulls towards the
    clip's mean grey, an affine function of the channel means), so applying them one after
    another equals applying their composition once. Composed for the whole batch at once,
    one operation position at a time."""
    n = draws.shape[0]
    a, b = np.tile(np.eye(3), (n, 1, 1)), np.zeros((n, 3))
    order = draws[:, :JITTER_OPS].astype(int)
    fb, fc, fs, theta = draws[:, JITTER_OPS:].T
    sat = fs[:, None, None] * np.eye(3) + (1 - fs)[:, None, None] * np.tile(GRAY, (3, 1))  # (x - gray) * f + gray
    rot = np.zeros((n, 3, 3))
    rot[:, 0, 0], rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = (
        1,
        np.cos(theta),
        -np.sin(theta),
        np.sin(theta),
        np.cos(theta),
    )
    hue = YIQ_INV @ rot @ YIQ  # chroma rotation in YIQ, (B, 3, 3)
    mu = np.zeros((n, 3)) if mu is None else np.asarray(mu, dtype=np.float64).reshape(n, 3)
    for k in range(JITTER_OPS):
        op = order[:, k]
        s = op == 0
        a[s], b[s] = fb[s, None, None] * a[s], fb[s, None] * b[s]
        s = op == 1
        m = (np.einsum("bij,bj->bi", a[s], mu[s]) + b[s]).mean(axis=1)  # mean grey of the clip at this point
        a[s], b[s] = fc[s, None, None] * a[s], fc[s, None] * b[s] + ((1 - fc[s]) * m)[:, None]
        for code, mat in ((2, sat), (3, hue)):
            s = op == code
            a[s], b[s] = mat[s] @ a[s], np.einsum("bij,bj->bi", mat[s], b[s])
    return a, b


def color_jitter(
    video: torch.Tensor,
    rng: np.random.Generator,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.4,
    hue: float = 0.1,
) -> torch.Tensor:
    """SimCLR-style jitter with one draw per clip (temporally consistent, as in CVRL).

    Hue is shifted by rotating the chroma plane in YIQ space (cheap, exact for small angles).
    The four operations, applied in a random order, are composed into one 3x3 matrix +
    offset (:func:`jitter_affines`) and applied in one pass, then clamped to [0, 1]: the
    same result as applying them one after another.
    """
    draws = jitter_draws(rng, brightness, contrast, saturation, hue)
    mu = video.mean(dim=(1, 2, 3)).double().numpy() if contrast > 0 else None  # (3,) channel means
    a, b = jitter_affines(draws[None], mu)
    return apply_color_matrix(video, a[0], b[0]).clamp_(0, 1)


def augment_draws(
    video: torch.Tensor,
    size: int,
    rng: np.random.Generator,
    *,
    crop_scale: tuple[float, float] = (0.3, 1.0),
    flip_p: float = 0.5,
    jitter_p: float = 0.8,
    gray_p: float = 0.2,
) -> tuple[torch.Tensor, np.ndarray]:
    """The SimCLR / CVRL view augmentation with the colour part left as drawn parameters:
    crop and flip applied (float or raw clip), then ``(clip, color)`` with ``color`` the
    (COLOR_PARAMS,) vector [jitter on, gray on, jitter draws] for :func:`apply_color` (one
    clip) or :func:`finish_batch` (a batch of raw clips)."""
    x = random_resized_crop(video, size, rng, scale=crop_scale)
    if rng.random() < flip_p:
        x = hflip(x)
    jitter = rng.random() < jitter_p
    draws = jitter_draws(rng) if jitter else NO_JITTER
    gray = rng.random() < gray_p
    return x, np.concatenate([[float(jitter), float(gray)], draws])


def apply_color(video: torch.Tensor, color: np.ndarray) -> torch.Tensor:
    """Colour part of :func:`augment_draws` on one float [0, 1] clip (jitter, clamp, gray)."""
    if color[0]:
        mu = video.mean(dim=(1, 2, 3)).double().numpy()
        a, b = jitter_affines(color[None, 2:], mu)
        video = apply_color_matrix(video, a[0], b[0]).clamp_(0, 1)
    if color[1]:
        video = grayscale(video)
    return video


def spatial_augment(
    video: torch.Tensor,
    size: int,
    rng: np.random.Generator,
    *,
    crop_scale: tuple[float, float] = (0.3, 1.0),
    flip_p: float = 0.5,
    jitter_p: float = 0.8,
    gray_p: float = 0.2,
) -> torch.Tensor:
    """The SimCLR / CVRL view augmentation on a float [0, 1] clip: crop, flip, jitter, gray."""
    x, color = augment_draws(video, size, rng, crop_scale=crop_scale, flip_p=flip_p, jitter_p=jitter_p, gray_p=gray_p)
    return apply_color(x, color)


def eval_view(video: torch.Tensor, size: int, resize_to: int = 0) -> torch.Tensor:
    """Deterministic evaluation view: resize short side, centre crop, normalise."""
    if resize_to:
        video = resize_short(video, resize_to)
    return normalize(center_crop(video, size))


# --------------------------------------------------------------------------- raw clips
COLOR_SUFFIX = "@color"  # batch key of a raw view's colour parameters: "view0" -> "view0@color"


def normalize_or_defer(video: torch.Tensor) -> torch.Tensor:
    """End of a per-sample view: a float clip is normalised now; a raw (uint8) clip is
    returned as it is and normalised with its whole batch by :func:`finish_batch`."""
    return video if video.dtype == torch.uint8 else normalize(video)


def _color_affines(color: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per clip: the jitter map (a1, b1), applied to [0, 1] pixels and clamped, then the
    grey + normalisation map (a2, b2). color (B, COLOR_PARAMS), mu (B, 3) channel means."""
    n = color.shape[0]
    a1, b1 = jitter_affines(color[:, 2:], mu)
    off = color[:, 0] == 0  # no jitter: identity
    a1[off], b1[off] = np.eye(3), 0.0
    inv_std = np.diag(1.0 / np.asarray(STD))
    a2 = np.tile(inv_std, (n, 1, 1))
    a2[color[:, 1] != 0] = inv_std @ np.tile(GRAY, (3, 1))
    b2 = np.tile(-np.asarray(MEAN) / np.asarray(STD), (n, 1))
    return a1, b1, a2, b2


def finish_batch(x: torch.Tensor, color: torch.Tensor | None = None, channels_last: bool = True) -> torch.Tensor:
    """A batch of raw clips (B, ..., 3, T, H, W) uint8 -> normalised float32, on x's device.

    ``color`` (B, COLOR_PARAMS), from :func:`augment_draws`, adds each clip's colour
    jitter and grayscale, exactly as :func:`apply_color` does on a float clip (the jitter's
    contrast uses the mean of the clip as it is here). 5-D batches come out channels-last
    when ``channels_last``. A few batched passes instead of ~10 small ops per clip.
    """
    fmt = torch.channels_last_3d if channels_last and x.dim() == 5 else torch.contiguous_format
    if color is None:
        scale = _channel_const("inv_255std", tuple(1.0 / (255.0 * s) for s in STD), torch.float32, x.device)
        shift = _channel_const("mean_std", tuple(m / s for m, s in zip(MEAN, STD)), torch.float32, x.device)
        return x.float().mul_(scale).sub_(shift).contiguous(memory_format=fmt)
    if x.dim() != 5:
        raise ValueError(f"colour parameters need a (B, 3, T, H, W) batch, got {tuple(x.shape)}")
    b = x.shape[0]
    px = x.reshape(b, 3, -1).float()  # (B, 3, T*H*W), 0-255
    mu = (px.mean(dim=2) / 255.0).double().cpu().numpy()  # (B, 3) channel means in [0, 1]
    a1, b1, a2, b2 = (
        torch.as_tensor(v, dtype=torch.float32, device=x.device)
        for v in _color_affines(color.double().cpu().numpy(), mu)
    )
    y = torch.baddbmm(b1[:, :, None], a1 / 255.0, px).clamp_(0, 1)  # jitter on [0, 1] pixels
    z = torch.baddbmm(b2[:, :, None], a2, y)  # grey + normalisation
    return z.view(x.shape).contiguous(memory_format=fmt)
