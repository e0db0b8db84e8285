"""Clip transforms, applied identically to every frame of a clip.

Video tensors are (C, T, H, W). Decoded frames arrive as uint8 (T, H, W, 3); call
:func:`to_tensor` first, which also gives the float range [0, 1]. :func:`normalize`
is the last step (Kinetics mean/std, as in PySlowFast / VideoMAE).
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
    x = F.interpolate(video.reshape(1, c * t, h, w), size=size, mode="bilinear", align_corners=False,
                      antialias=shrink)  # (1, C*T, h, w)
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
    return video[:, :, top:top + size, left:left + size]


def random_resized_crop(video: torch.Tensor, size: int, rng: np.random.Generator,
                        scale: tuple[float, float] = (0.3, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
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
            return resize(video[:, :, top:top + ch, left:left + cw], (size, size))
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


def color_jitter(video: torch.Tensor, rng: np.random.Generator, brightness: float = 0.4,
                 contrast: float = 0.4, saturation: float = 0.4, hue: float = 0.1) -> torch.Tensor:
    """SimCLR-style jitter with one draw per clip (temporally consistent, as in CVRL).

    Hue is shifted by rotating the chroma plane in YIQ space (cheap, exact for small angles).
    The four operations, applied in a random order, are all affine in the colour of a pixel
    (contrast pulls towards the clip's mean grey, which is an affine function of the
    channel means), so they are composed into one 3x3 matrix + offset and applied in one
    pass, then clamped to [0, 1]: the same result as applying them one after another.
    """
    a, b = np.eye(3), np.zeros(3)
    mu = None
    for op in rng.permutation(4):
        if op == 0 and brightness > 0:
            f = rng.uniform(1 - brightness, 1 + brightness)
            a, b = f * a, f * b
        elif op == 1 and contrast > 0:
            if mu is None:
                mu = video.mean(dim=(1, 2, 3)).double().numpy()  # (3,) channel means
            m = float((a @ mu + b).mean())  # mean of the current clip
            f = rng.uniform(1 - contrast, 1 + contrast)
            a, b = f * a, f * b + (1 - f) * m
        elif op == 2 and saturation > 0:
            f = rng.uniform(1 - saturation, 1 + saturation)
            s = f * np.eye(3) + (1 - f) * np.tile(GRAY, (3, 1))  # (x - gray) * f + gray
            a, b = s @ a, s @ b
        elif op == 3 and hue > 0:
            theta = rng.uniform(-hue, hue) * 2 * math.pi
            c, sn = math.cos(theta), math.sin(theta)
            m3 = YIQ_INV @ np.array([[1, 0, 0], [0, c, -sn], [0, sn, c]]) @ YIQ
            a, b = m3 @ a, m3 @ b
    return apply_color_matrix(video, a, b).clamp_(0, 1)


def spatial_augment(video: torch.Tensor, size: int, rng: np.random.Generator, *,
                    crop_scale: tuple[float, float] = (0.3, 1.0), flip_p: float = 0.5,
                    jitter_p: float = 0.8, gray_p: float = 0.2) -> torch.Tensor:
    """The SimCLR / CVRL view augmentation on a float [0, 1] clip: crop, flip, jitter, gray."""
    x = random_resized_crop(video, size, rng, scale=crop_scale)
    if rng.random() < flip_p:
        x = hflip(x)
    if rng.random() < jitter_p:
        x = color_jitter(x, rng)
    if rng.random() < gray_p:
        x = grayscale(x)
    return x


def eval_view(video: torch.Tensor, size: int, resize_to: int = 0) -> torch.Tensor:
    """Deterministic evaluation view: resize short side, centre crop, normalise."""
    if resize_to:
        video = resize_short(video, resize_to)
    return normalize(center_crop(video, size))
