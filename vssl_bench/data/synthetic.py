"""The embedded ``synthetic`` dataset: procedurally generated motion-pattern videos.

Why it exists
-------------
vssl-bench needs a dataset that ships with the code, runs on a CPU in minutes, and is read
back exactly like a real one (H.264 MP4 in the UCF101 layout, decoded with decord). This
module renders such videos from a seed, deterministically, in pure numpy and writes them
with PyAV.

What a class is
---------------
The class of a video is the *motion pattern of its main object*, never its appearance.
There are 16 classes (``CLASSES``):

* 10 time-reversible classes forming 5 **time-reversal pairs**: ``MoveLeftSlow`` /
  ``MoveRightSlow``, ``MoveLeftFast`` / ``MoveRightFast``, ``MoveUp`` / ``MoveDown``,
  ``Grow`` / ``Shrink``, ``RotateCW`` / ``RotateCCW``. The second member of each pair is
  *defined* as the first one played backwards (``render_video`` renders the first and
  reverses the frames), so the reverse pair is exactly a reverse pair, and a model must
  look at temporal order to tell them apart. Slow vs fast translations in the same
  direction (speed ranges 0.008-0.012 vs 0.017-0.025 frame widths per frame) add a fine
  speed distinction.
* 6 **time-asymmetric** classes whose reversal is physically implausible and is *not*
  another class: ``Bounce`` (gravity, bounces losing energy), ``SlideToRest`` (pushed,
  Coulomb friction until it stops), ``EnterAndStop`` (enters through a frame edge and
  brakes to rest), ``Shatter`` (breaks into four pieces that fly apart and slow down),
  ``Fill`` (a shape-shaped container fills up from a stream of falling drops) and
  ``SwingDamped`` (a pendulum whose amplitude decays). Reversed, these show energy being
  gained from nowhere, pieces assembling, drops rising out of a draining container.

This avoids a pitfall of time-reversal benchmarks: on a dataset made only of reversal
pairs, "is this clip played forwards?" is unanswerable, so the arrow-of-time pretext task
stays at chance. Here it is answerable on 6/16 of the videos and unanswerable (by
construction) on the other 10/16.

No trivial arrow-of-time cues: everything that is not the class's dynamics is
statistically time-symmetric. Pixel noise is i.i.d. per frame; the camera drifts at a
constant velocity whose direction is uniform on the circle (and whose path is centred on
the middle frame); distractors move with a stationary Ornstein-Uhlenbeck velocity and
reflect elastically off the borders (a stationary Gaussian process is time-reversible);
slow random spins have a symmetric distribution. (One cue is outside this module's
control: H.264 codes the first frame as an I-frame; at CRF 18 its quality difference is
small.)

Nuisances and difficulty
------------------------
Appearance is random and independent of the class in ``variant="default"``: shape (circle,
square, triangle, cross), colour (one of 8 saturated hues, jittered), an internal
rotation-asymmetric pattern (stripes, half split, off-centre dot; needed so rotation is
visible on a circle), background (flat muted colour, or half of the time a texture:
smooth noise, stripes or checker), 1-2 distractor objects, camera drift, noise level.
``variant="appearance-biased"`` gives the main object the shape+colour of its class
(``CLASS_APPEARANCE``) with probability 0.8 and a random one otherwise; its extra test list
``testlist_conflict01.txt`` holds videos whose shape+colour is that of another class, so
a representation that learned the appearance shortcut fails on it. Motion, clutter, camera
and noise of a video depend only on (seed, class, split, index), not on the variant, so
the default dataset's test set is the same videos with random appearance.

The second pitfall, masked reconstruction collapsing into background inpainting, is
addressed by giving the moving content a real share of the pixels: the main object spans
28-42 % of the frame side (Fill's container more), distractors 14-22 %, and the textured
backgrounds move with the camera. The third, "too easy", by 16 classes, fine speed
differences, clutter, occlusion by distractors, camera motion and noise.

Layout written by ``generate`` (UCF101 format)::

    <root>/<Class>/v_<Class>_g<GG>_c<CC>.mp4
    <root>/splits/classInd.txt          "1 MoveLeftSlow"   (1-based)
    <root>/splits/trainlist01.txt       "MoveLeftSlow/v_MoveLeftSlow_g01_c01.mp4 1"
    <root>/splits/testlist01.txt        "MoveLeftSlow/v_MoveLeftSlow_g13_c01.mp4"
    <root>/splits/testlist_conflict01.txt   (appearance-biased only; groups after test)
    <root>/meta.json, <root>/.complete  (.complete is created last)

Groups (``g``) hold ``CLIPS_PER_GROUP`` = 4 clips each; train groups come first, then test
groups, then conflict groups, so no group crosses splits. Groups are nominal: every video
is an independent sample.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np

SYNTHETIC_VERSION = "2"  # bump whenever rendered content or layout changes (cache key)
# v2: x264 without macroblock-tree rate control (X264_PARAMS): v1's files were not reproducible
VARIANTS = ("default", "appearance-biased")

FPS = 25  # UCF101 frame rate
CRF = 18  # x264 quality; 18 keeps 32x32 frames faithful (mean abs error measured ~6.5/255)
PRESET = "fast"
# mbtree=0: with x264's macroblock-tree rate control the same frames encoded twice gave
# different bytes and pixels (30 of 48 videos, up to 40 grey levels apart; measured with
# PyAV 18.1 in one process, threads=1, explicit pts or not); without it 0 of 48, every time,
# at 10 % fewer bytes and a mean abs error of 6.5 instead of 6.3 / 255. A dataset that is
# "deterministic from a seed" has to be so down to the bytes: meta.json stores their digest.
X264_PARAMS = "mbtree=0"
BIAS_PROB = 0.8  # P(main object has its class's shape+colour) in "appearance-biased"
CLIPS_PER_GROUP = 4  # UCF101 groups hold 4-7 clips
_GENERATOR_ID = "vssl-bench synthetic"


@dataclasses.dataclass(frozen=True)
class ClassSpec:
    """One class of the synthetic dataset.

    ``reverse_of`` names the class that is exactly this one played backwards (``None`` for
    time-asymmetric classes, whose reversal is no class at all).
    """

    name: str
    description: str
    time_asymmetric: bool
    reverse_of: str | None = None


CLASSES: list[ClassSpec] = [
    ClassSpec("MoveLeftSlow", "translates left at 0.008-0.012 frame widths/frame", False, "MoveRightSlow"),
    ClassSpec("MoveRightSlow", "translates right at 0.008-0.012 frame widths/frame", False, "MoveLeftSlow"),
    ClassSpec("MoveLeftFast", "translates left at 0.017-0.025 frame widths/frame", False, "MoveRightFast"),
    ClassSpec("MoveRightFast", "translates right at 0.017-0.025 frame widths/frame", False, "MoveLeftFast"),
    ClassSpec("MoveUp", "translates up at 0.010-0.022 frame heights/frame", False, "MoveDown"),
    ClassSpec("MoveDown", "translates down at 0.010-0.022 frame heights/frame", False, "MoveUp"),
    ClassSpec("Grow", "grows linearly from ~19 % to ~48 % of the frame side", False, "Shrink"),
    ClassSpec("Shrink", "shrinks linearly from ~48 % to ~19 % of the frame side", False, "Grow"),
    ClassSpec("RotateCW", "rotates clockwise at 4-8 degrees/frame", False, "RotateCCW"),
    ClassSpec("RotateCCW", "rotates counter-clockwise at 4-8 degrees/frame", False, "RotateCW"),
    ClassSpec("Bounce", "falls under gravity, bounces on the floor losing 30-55 % speed per bounce", True),
    ClassSpec("SlideToRest", "pushed in a random direction, decelerates by friction and stops", True),
    ClassSpec("EnterAndStop", "enters through a random frame edge, brakes and stops inside", True),
    ClassSpec("Shatter", "rests, then breaks into 4 pieces that fly apart, slow down and fall", True),
    ClassSpec("Fill", "a container of the object's shape fills up from falling drops", True),
    ClassSpec("SwingDamped", "hangs on a string and swings with decaying amplitude", True),
]
CLASS_NAMES: list[str] = [c.name for c in CLASSES]
_CLASS_INDEX: dict[str, int] = {n: i for i, n in enumerate(CLASS_NAMES)}
# Reverse-pair members rendered as the reversal of their partner.
_RENDER_AS_REVERSE: dict[str, str] = {
    "MoveRightSlow": "MoveLeftSlow",
    "MoveRightFast": "MoveLeftFast",
    "MoveDown": "MoveUp",
    "Shrink": "Grow",
    "RotateCCW": "RotateCW",
}

SHAPES = ("circle", "square", "triangle", "cross")
TEXTURES = ("stripes", "split", "dot")  # all rotation-asymmetric
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.15, 0.15),
    "orange": (0.95, 0.55, 0.10),
    "yellow": (0.95, 0.90, 0.15),
    "green": (0.20, 0.80, 0.25),
    "cyan": (0.15, 0.80, 0.90),
    "blue": (0.20, 0.30, 0.95),
    "purple": (0.60, 0.25, 0.85),
    "magenta": (0.95, 0.30, 0.70),
}
_PALETTE_NAMES = tuple(PALETTE)
# Class-correlated appearance of the biased variant: 16 distinct (shape, colour) pairs.
CLASS_APPEARANCE: dict[str, dict[str, str]] = {
    c.name: {"shape": SHAPES[k % 4], "colour": _PALETTE_NAMES[(k // 4 + 2 * (k % 4)) % 8]}
    for k, c in enumerate(CLASSES)
}

# Sizes as fractions of the frame side (radius = half the object's extent).
_R_MAIN = (0.14, 0.21)  # main object spans 28-42 % of the side
_R_DISTRACTOR = (0.07, 0.11)  # distractors span 14-22 %
_CAM_SPEED = 0.003  # max camera drift, frame sides per frame (~3 px over 32 frames at 32x32)
_NOISE_SIGMA = (0.008, 0.025)  # i.i.d. Gaussian pixel noise, in [0, 1] units


# --------------------------------------------------------------------------------------
# Rendering primitives (pure numpy). Arrays: (T,) per-frame params, (T, H, W) maps.
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Look:
    shape: str
    colour: np.ndarray  # (3,) float32 in [0, 1]
    pattern_colour: np.ndarray  # (3,)
    texture: str
    stripe_freq: float
    stripe_phase: float


@dataclasses.dataclass
class _Ctx:
    size: int
    frames: int
    X: np.ndarray  # (1, 1, W) pixel-centre x
    Y: np.ndarray  # (1, H, 1) pixel-centre y
    cam: np.ndarray  # (T, 2) camera offset in pixels: screen = world - cam


def _box(u: np.ndarray, v: np.ndarray, bx: float, by: float) -> np.ndarray:
    qx, qy = np.abs(u) - bx, np.abs(v) - by
    outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
    return outside + np.minimum(np.maximum(qx, qy), 0)


def _triangle(u: np.ndarray, v: np.ndarray, half_side: float) -> np.ndarray:
    # Signed distance to an equilateral triangle centred on its centroid (I. Quilez).
    k = math.sqrt(3.0)
    px = np.abs(u) - half_side
    py = v + half_side / k
    flip = px + k * py > 0
    px, py = np.where(flip, (px - k * py) / 2, px), np.where(flip, (-k * px - py) / 2, py)
    px = px - np.clip(px, -2 * half_side, 0)
    return -np.sqrt(px * px + py * py) * np.sign(py)


def _sdf(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance in units of the object radius; negative inside."""
    if shape == "circle":
        return np.sqrt(u * u + v * v) - 1.0
    if shape == "square":
        return _box(u, v, 0.82, 0.82)
    if shape == "triangle":
        return _triangle(u, v, 1.08)  # circumradius 1.25: area close to the others
    if shape == "cross":
        return np.minimum(_box(u, v, 1.0, 0.36), _box(u, v, 0.36, 1.0))
    raise ValueError(f"unknown shape {shape!r}; valid: {SHAPES}")


def _pattern(look: _Look, u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Internal pattern weight in [0, 1] (object-local coords, so it rotates with it)."""
    if look.texture == "stripes":
        return np.clip(0.5 + 1.5 * np.sin(2 * np.pi * look.stripe_freq * u + look.stripe_phase), 0, 1)
    if look.texture == "split":
        return np.clip(0.5 + u * r, 0, 1)
    if look.texture == "dot":
        return np.clip(0.5 - (np.sqrt((u - 0.45) ** 2 + v * v) - 0.38) * r, 0, 1)
    raise ValueError(f"unknown texture {look.texture!r}; valid: {TEXTURES}")


def _sprite(
    ctx: _Ctx,
    look: _Look,
    cx: np.ndarray,
    cy: np.ndarray,
    angle: np.ndarray,
    radius: np.ndarray,
    quadrant: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one object, world-coordinate params of shape (T,).

    ``quadrant``: keep only the quadrant of the object (in its local frame) starting at
    this angle (used for Shatter pieces; the 4 quadrants sum to the whole object).
    Returns alpha (T, H, W) and colour (T, H, W, 3).
    """
    sx = (cx - ctx.cam[:, 0])[:, None, None]  # (T, 1, 1) screen coords
    sy = (cy - ctx.cam[:, 1])[:, None, None]
    dx, dy = ctx.X - sx, ctx.Y - sy  # (T, H, W)
    ca, sa = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    r = radius[:, None, None]
    u = (ca * dx + sa * dy) / r  # object-local, unit = radius
    v = (-sa * dx + ca * dy) / r
    alpha = np.clip(0.5 - _sdf(look.shape, u, v) * r, 0, 1)  # 1-px anti-aliased edge
    if quadrant is not None:
        cq, sq = math.cos(quadrant), math.sin(quadrant)
        uq, vq = cq * u + sq * v, -sq * u + cq * v
        alpha = alpha * np.clip(0.5 + uq * r, 0, 1) * np.clip(0.5 + vq * r, 0, 1)
    m = _pattern(look, u, v, r)[..., None]  # (T, H, W, 1)
    colour = look.colour * (1 - m) + look.pattern_colour * m  # (T, H, W, 3)
    return alpha.astype(np.float32), colour.astype(np.float32)


def _disc(ctx: _Ctx, cx: np.ndarray, cy: np.ndarray, radius: float) -> np.ndarray:
    """Anti-aliased disc alpha (T, H, W) at world positions (T,)."""
    dx = ctx.X - (cx - ctx.cam[:, 0])[:, None, None]
    dy = ctx.Y - (cy - ctx.cam[:, 1])[:, None, None]
    return np.clip(0.5 - (np.sqrt(dx * dx + dy * dy) - radius), 0, 1).astype(np.float32)


def _segment(ctx: _Ctx, ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray, width: float) -> np.ndarray:
    """Anti-aliased line segment alpha (T, H, W) from world points a to b, each (T,)."""
    ax, ay = (ax - ctx.cam[:, 0])[:, None, None], (ay - ctx.cam[:, 1])[:, None, None]
    bx, by = (bx - ctx.cam[:, 0])[:, None, None], (by - ctx.cam[:, 1])[:, None, None]
    px, py = ctx.X - ax, ctx.Y - ay
    ex, ey = bx - ax, by - ay
    h = np.clip((px * ex + py * ey) / np.maximum(ex * ex + ey * ey, 1e-6), 0, 1)
    d = np.sqrt((px - h * ex) ** 2 + (py - h * ey) ** 2)
    return np.clip(0.5 + width / 2 - d, 0, 1).astype(np.float32)


def _random_look(rng: np.random.Generator) -> _Look:
    colour = np.array(PALETTE[_PALETTE_NAMES[rng.integers(len(PALETTE))]])
    colour = np.clip(colour + rng.uniform(-0.06, 0.06, 3), 0, 1)
    towards = 0.0 if rng.random() < 0.5 else 1.0  # pattern darker or lighter
    pattern = colour + (towards - colour) * 0.55
    return _Look(
        shape=SHAPES[rng.integers(len(SHAPES))],
        colour=colour.astype(np.float32),
        pattern_colour=pattern.astype(np.float32),
        texture=TEXTURES[rng.integers(len(TEXTURES))],
        stripe_freq=float(rng.uniform(0.9, 1.4)),
        stripe_phase=float(rng.uniform(0, 2 * np.pi)),
    )


def _apply_appearance(look: _Look, appearance: Mapping[str, Any], rng: np.random.Generator) -> _Look:
    """Override shape / colour / texture of a random look with the given ones."""
    unknown = set(appearance) - {"shape", "colour", "texture"}
    if unknown:
        raise ValueError(f"unknown appearance keys {sorted(unknown)}; valid: shape, colour, texture")
    look = dataclasses.replace(look)
    if "shape" in appearance:
        if appearance["shape"] not in SHAPES:
            raise ValueError(f"unknown shape {appearance['shape']!r}; valid: {SHAPES}")
        look.shape = appearance["shape"]
    if "texture" in appearance:
        if appearance["texture"] not in TEXTURES:
            raise ValueError(f"unknown texture {appearance['texture']!r}; valid: {TEXTURES}")
        look.texture = appearance["texture"]
    if "colour" in appearance:
        c = appearance["colour"]
        if isinstance(c, str):
            if c not in PALETTE:
                raise ValueError(f"unknown colour {c!r}; valid: {_PALETTE_NAMES} or an RGB triple")
            base = np.array(PALETTE[c]) + rng.uniform(-0.06, 0.06, 3)  # same jitter as random
        else:
            base = np.asarray(c, dtype=np.float64).reshape(3)
        base = np.clip(base, 0, 1)
        towards = 0.0 if float(look.pattern_colour.mean()) < float(look.colour.mean()) else 1.0
        look.colour = base.astype(np.float32)
        look.pattern_colour = (base + (towards - base) * 0.55).astype(np.float32)
    return look


# --------------------------------------------------------------------------------------
# Class dynamics. Each builder returns (layers, main centre (T, 2) in world coords);
# a layer is (alpha (T, H, W), colour (T, H, W, 3) or (3,)), composited in order.
# --------------------------------------------------------------------------------------

Layer = tuple[np.ndarray, np.ndarray]


def _spin(rng: np.random.Generator, T: int) -> np.ndarray:
    """Initial angle plus a slow symmetric random spin, (T,)."""
    return rng.uniform(0, 2 * np.pi) + rng.uniform(-0.015, 0.015) * np.arange(T)


def _translate(ctx: _Ctx, look: _Look, rng: np.random.Generator, direction: float, speed: tuple[float, float]):
    S, T = ctx.size, ctx.frames
    tc = np.arange(T) - (T - 1) / 2  # centred time: the trajectory is symmetric about the middle
    v = rng.uniform(*speed) * S
    a = direction + rng.uniform(-0.15, 0.15)
    along, across = rng.uniform(-0.1, 0.1) * S, rng.uniform(-0.2, 0.2) * S
    mid = np.array([S / 2, S / 2]) + along * np.array([math.cos(a), math.sin(a)])
    mid += across * np.array([-math.sin(a), math.cos(a)])
    cx, cy = mid[0] + v * math.cos(a) * tc, mid[1] + v * math.sin(a) * tc
    r = np.full(T, rng.uniform(*_R_MAIN) * S)
    layer = _sprite(ctx, look, cx, cy, _spin(rng, T), r)
    return [layer], np.stack([cx, cy], 1)


def _centre_with_drift(rng: np.random.Generator, S: int, T: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    tc = np.arange(T) - (T - 1) / 2
    c = S / 2 + rng.uniform(-spread, spread, 2) * S
    d = rng.uniform(-0.002, 0.002, 2) * S
    return c[0] + d[0] * tc, c[1] + d[1] * tc


def _grow(ctx: _Ctx, look: _Look, rng: np.random.Generator):
    S, T = ctx.size, ctx.frames
    cx, cy = _centre_with_drift(rng, S, T, 0.12)
    r0, r1 = rng.uniform(0.08, 0.11) * S, rng.uniform(0.22, 0.26) * S
    r = np.linspace(r0, r1, T)
    return [_sprite(ctx, look, cx, cy, _spin(rng, T), r)], np.stack([cx, cy], 1)


def _rotate_cw(ctx: _Ctx, look: _Look, rng: np.random.Generator):
    S, T = ctx.size, ctx.frames
    cx, cy = _centre_with_drift(rng, S, T, 0.15)
    omega = rng.uniform(0.07, 0.14)  # rad/frame; increasing angle = clockwise on screen (y down)
    angle = rng.uniform(0, 2 * np.pi) + omega * np.arange(T)
    r = np.full(T, rng.uniform(*_R_MAIN) * S)
    return [_sprite(ctx, look, cx, cy, angle, r)], np.stack([cx, cy], 1)


def _bounce(ctx: _Ctx, look: _Look, rng: np.random.Generator):
    S, T = ctx.size, ctx.frames
    rad = rng.uniform(*_R_MAIN) * S
    floor = 0.96 * S - rad  # centre height when touching the floor
    g = rng.uniform(0.010, 0.016) * S  # px/frame^2
    e = rng.uniform(0.45, 0.7)  # coefficient of restitution: energy lost at each bounce
    x, y = rng.uniform(0.3, 0.7) * S, rng.uniform(0.12, 0.3) * S
    vx, vy = rng.uniform(-0.006, 0.006) * S, rng.uniform(-0.01, 0.005) * S
    t_start = rng.uniform(-4, 1.5)  # the drop may have started before frame 0
    sub = 8
    dt = 1.0 / sub
    xs, ys = np.empty(T), np.empty(T)
    t = t_start  # frames before t_start hold the release point
    resting = False
    for i in range(T):
        while t < i:
            if not resting:
                vy += g * dt
                y += vy * dt
                x += vx * dt
                if y >= floor:
                    y, vy = floor, -e * vy
                    vx *= 0.8  # friction at contact
                    if abs(vy) < 0.5 * g:  # too slow to leave the floor again
                        resting, vy = True, 0.0
            t += dt
        xs[i], ys[i] = x, y
    angle = rng.uniform(0, 2 * np.pi) + np.cumsum(np.r_[0, np.diff(xs)]) / rad  # rolling
    r = np.full(T, rad)
    return [_sprite(ctx, look, xs, ys, angle, r)], np.stack([xs, ys], 1)


def _brake(T: int, t0: float, t1: float) -> np.ndarray:
    """Fraction of the distance covered under constant deceleration from t0 to rest at t1, (T,)."""
    s = np.clip((np.arange(T) - t0) / (t1 - t0), 0, 1)
    return 1 - (1 - s) ** 2  # velocity decreases linearly to 0


def _slide_to_rest(ctx: _Ctx, look: _Look, rng: np.random.Generator):
    S, T = ctx.size, ctx.frames
    rad = rng.uniform(*_R_MAIN) * S
    for _ in range(100):  # rejection sample start/end inside the frame
        start = rng.uniform(0.2, 0.8, 2) * S
        a = rng.uniform(0, 2 * np.pi)
        dist = rng.uniform(0.25, 0.45) * S
        end = start + dist * np.array([math.cos(a), math.sin(a)])
        if np.all((end > 0.2 * S) & (end < 0.8 * S)):
            break
    t1 = rng.uniform(0.45, 0.8) * (T - 1)
    f = _brake(T, rng.uniform(-0.1, 0.05) * T, t1)
    cx, cy = start[0] + f * (end[0] - start[0]), start[1] + f * (end[1] - start[1])
    roll = rng.choice([-1.0, 1.0]) * f * dist / rad
    angle = rng.uniform(0, 2 * np.pi) + roll
    return [_sprite(ctx, look, cx, cy, angle, np.full(T, rad))], np.stack([cx, cy], 1)


def _enter_and_stop(ctx: _Ctx, look: _Look, rng: np.random.Generator):
    S, T = ctx.size, ctx.frames
    rad = rng.uniform(*_R_MAIN) * S
    edge = rng.integers(4)  # 0 left, 1 right, 2 top, 3 bottom
    depth = rng.uniform(0.35, 0.6) * S  # final centre distance from the entry edge
    lateral = rng.uniform(0.3, 0.7) * S
    outside = -1.3 * rad  # fully out of frame
    if edge == 0:
        start, end = (outside, lateral), (depth, lateral)
    elif edge == 1:
        start, end = (S - outside, lateral), (S - depth, lateral)
    elif edge == 2:
        start, end = (lateral, outside), (lateral, depth)
    else:
        start, end = (lateral, S - outside), (lateral, S - depth)
    t0 = rng.uniform(0, 0.15) * T
    f = _brake(T, t0, t0 + rng.uniform(0.35, 0.55) * T)
    cx, cy = start[0] + f * (end[0] - start[0]), start[1] + f * (end[1] - start[1])
    angle = rng.uniform(0, 2 * np.pi) + rng.choice([-1.0, 1.0]) * rng.uniform(0, 0.6) * f
    return [_sprite(ctx, look, cx, cy, angle, np.full(T, rad))], np.stack([cx, cy], 1)


def _shatter(ctx: _Ctx, look: _Look, rng: np.random.Generator):
    S, T = ctx.size, ctx.frames
    rad = rng.uniform(*_R_MAIN) * S
    c = rng.uniform(0.35, 0.6, 2) * S
    a0 = rng.uniform(0, 2 * np.pi)
    phi = rng.uniform(0, 2 * np.pi)  # orientation of the cracks in the object frame
    t_break = rng.uniform(0.3, 0.5) * T
    g = 0.004 * S
    drag = 0.9  # velocity kept per frame
    layers: list[Layer] = []
    for k in range(4):
        q = phi + k * np.pi / 2  # quadrant start angle, object frame
        d = a0 + q + np.pi / 4  # flight direction, world frame
        speed = rng.uniform(0.025, 0.045) * S
        vel = speed * np.array([math.cos(d), math.sin(d)])
        spin = rng.uniform(-0.15, 0.15)
        pos, ang = np.zeros((T, 2)), np.full(T, a0)
        p, v, a = np.zeros(2), vel.copy(), a0
        for i in range(T):
            if i >= t_break:
                p = p + v
                v = v * drag + np.array([0.0, g])
                a += spin
                spin *= drag
            pos[i], ang[i] = p, a
        layers.append(_sprite(ctx, look, c[0] + pos[:, 0], c[1] + pos[:, 1], ang, np.full(T, rad), quadrant=q))
    centre = np.tile(c, (T, 1))
    return layers, centre


def _fill(ctx: _Ctx, look: _Look, rng: np.random.Generator):
    S, T = ctx.size, ctx.frames
    rad = rng.uniform(0.3, 0.38) * S
    cx = np.full(T, rng.uniform(0.42, 0.58) * S)
    cy = np.full(T, 0.95 * S - rad)
    angle = np.full(T, rng.uniform(-0.15, 0.15))
    if look.shape == "triangle":
        angle = angle + np.pi  # flat side down (the SDF's apex points down in y-down coords)
    r = np.full(T, rad)
    alpha, colour = _sprite(ctx, look, cx, cy, angle, r)  # (T, H, W) full shape
    # Outline of the container: |signed distance| < width.
    sx, sy = cx[0] - ctx.cam[:, 0], cy[0] - ctx.cam[:, 1]
    ca, sa = math.cos(angle[0]), math.sin(angle[0])
    dx, dy = ctx.X - sx[:, None, None], ctx.Y - sy[:, None, None]
    sd = _sdf(look.shape, (ca * dx + sa * dy) / rad, (-sa * dx + ca * dy) / rad) * rad
    width = max(1.0, S / 32)
    outline = np.clip(0.5 + width / 2 - np.abs(sd + width / 2), 0, 1).astype(np.float32)
    # Liquid level rises from the bottom to f_max of the height between t0 and t1.
    t0 = rng.uniform(0, 0.15) * T
    t1 = t0 + rng.uniform(0.6, 0.85) * T
    f_max = rng.uniform(0.7, 0.95)
    frac = np.clip((np.arange(T) - t0) / (t1 - t0), 0, 1) * f_max  # (T,)
    bottom, top = cy[0] + 0.95 * rad, cy[0] - 0.95 * rad
    level = bottom - frac * (bottom - top)  # world y of the surface, (T,)
    surface = (level - ctx.cam[:, 1])[:, None, None]
    liquid = alpha * np.clip(0.5 + (ctx.Y - surface), 0, 1)
    # Drops fall from above the frame into the liquid while it fills.
    g = 0.012 * S
    drop_r = max(0.9, 0.035 * S)
    x_drop = cx[0] + rng.uniform(-0.25, 0.25) * rad
    period = rng.uniform(2.0, 3.5)
    drops = np.zeros_like(alpha)
    ts = t0 - 6.0
    while ts < t1 - 2:
        tt = np.arange(T) - ts
        y = -drop_r + 0.02 * S * tt + 0.5 * g * tt**2  # from the top edge
        visible = (tt >= 0) & (y < level)
        if visible.any():
            drops = np.maximum(drops, _disc(ctx, np.full(T, x_drop), y, drop_r) * visible[:, None, None])
        ts += period
    line_colour = look.pattern_colour
    layers = [(outline, line_colour), (liquid, colour), (drops, look.colour)]
    return layers, np.stack([cx, level], 1)


def _swing_damped(ctx: _Ctx, look: _Look, rng: np.random.Generator):
    S, T = ctx.size, ctx.frames
    rad = rng.uniform(0.12, 0.17) * S
    px, py = rng.uniform(0.4, 0.6) * S, rng.uniform(-0.1, 0.05) * S
    length = rng.uniform(0.5, 0.62) * S
    theta0 = rng.uniform(0.5, 0.8)  # rad
    omega = 2 * np.pi / rng.uniform(11, 16)  # period in frames
    gamma = rng.uniform(0.045, 0.08)  # amplitude decay per frame
    t = np.arange(T)
    theta = theta0 * np.exp(-gamma * t) * np.cos(omega * t + rng.uniform(0, 2 * np.pi))
    cx, cy = px + length * np.sin(theta), py + length * np.cos(theta)
    angle = rng.uniform(0, 2 * np.pi) - theta
    string = _segment(ctx, np.full(T, px), np.full(T, py), cx, cy, width=max(1.0, S / 32))
    body = _sprite(ctx, look, cx, cy, angle, np.full(T, rad))
    return [(string, look.pattern_colour), body], np.stack([cx, cy], 1)


_BUILDERS: dict[str, Callable[[_Ctx, _Look, np.random.Generator], tuple[list[Layer], np.ndarray]]] = {
    "MoveLeftSlow": lambda c, lk, r: _translate(c, lk, r, np.pi, (0.008, 0.012)),
    "MoveLeftFast": lambda c, lk, r: _translate(c, lk, r, np.pi, (0.017, 0.025)),
    "MoveUp": lambda c, lk, r: _translate(c, lk, r, -np.pi / 2, (0.010, 0.022)),
    "Grow": _grow,
    "RotateCW": _rotate_cw,
    "Bounce": _bounce,
    "SlideToRest": _slide_to_rest,
    "EnterAndStop": _enter_and_stop,
    "Shatter": _shatter,
    "Fill": _fill,
    "SwingDamped": _swing_damped,
}
assert set(_BUILDERS) | set(_RENDER_AS_REVERSE) == set(CLASS_NAMES)


def _distractors(ctx: _Ctx, rng: np.random.Generator) -> list[Layer]:
    """1-2 small objects with a stationary OU velocity, reflected at the borders (time-symmetric)."""
    S, T = ctx.size, ctx.frames
    layers = []
    for _ in range(int(rng.integers(1, 3))):
        look = _random_look(rng)
        rad = rng.uniform(*_R_DISTRACTOR) * S
        rho, sigma = 0.9, 0.012 * S  # AR(1) velocity: stationary std sigma
        v = np.empty((T, 2))
        v[0] = rng.normal(0, sigma, 2)
        eps = rng.normal(0, sigma * math.sqrt(1 - rho**2), (T, 2))
        for i in range(1, T):
            v[i] = rho * v[i - 1] + eps[i]
        p = rng.uniform(rad, S - rad, 2) + np.cumsum(v, 0) - v[0]
        lo, hi = rad * 0.5, S - rad * 0.5
        L = hi - lo
        p = (p - lo) % (2 * L)
        p = np.where(p > L, 2 * L - p, p) + lo  # elastic reflection off the borders
        angle = rng.uniform(0, 2 * np.pi) + rng.uniform(-0.05, 0.05) * np.arange(T)
        layers.append(_sprite(ctx, look, p[:, 0], p[:, 1], angle, np.full(T, rad)))
    return layers


def _muted(rng: np.random.Generator) -> np.ndarray:
    return np.clip(rng.uniform(0.12, 0.85) + rng.uniform(-0.08, 0.08, 3), 0, 1)


def _background(ctx: _Ctx, rng: np.random.Generator, avoid: np.ndarray) -> np.ndarray:
    """Flat or (half of the time) textured background that moves with the camera, (T, H, W, 3)."""
    S, T = ctx.size, ctx.frames
    for _ in range(50):  # keep the main object's colour distinguishable from the background
        c1 = _muted(rng)
        c2 = np.clip(c1 + rng.uniform(-0.25, 0.25, 3), 0, 1)
        if np.linalg.norm((c1 + c2) / 2 - avoid) > 0.4:
            break
    kind = "flat" if rng.random() < 0.5 else ["noise", "stripes", "checker"][rng.integers(3)]
    if kind == "flat":
        return np.broadcast_to(c1.astype(np.float32), (T, S, S, 3))
    xw = ctx.X + ctx.cam[:, 0, None, None]  # (T, 1, W) world coords
    yw = ctx.Y + ctx.cam[:, 1, None, None]  # (T, H, 1)
    if kind == "noise":
        p = np.zeros((T, S, S))
        for _ in range(6):  # sum of random plane waves: smooth, stationary "noise"
            f = rng.uniform(1.5, 4.0) / S
            a = rng.uniform(0, 2 * np.pi)
            p = p + np.cos(2 * np.pi * f * (math.cos(a) * xw + math.sin(a) * yw) + rng.uniform(0, 2 * np.pi))
        p = np.clip(0.5 + 0.35 * p / math.sqrt(3), 0, 1)
    elif kind == "stripes":
        f, a = rng.uniform(2, 5) / S, rng.uniform(0, np.pi)
        p = 0.5 + 0.5 * np.sin(2 * np.pi * f * (math.cos(a) * xw + math.sin(a) * yw) + rng.uniform(0, 2 * np.pi))
    else:
        f, a = rng.uniform(2, 4) / S, rng.uniform(0, np.pi / 2)
        u, v = math.cos(a) * xw + math.sin(a) * yw, -math.sin(a) * xw + math.cos(a) * yw
        p = np.clip(0.5 + 2 * np.sin(2 * np.pi * f * u) * np.sin(2 * np.pi * f * v), 0, 1)
    p = np.broadcast_to(p, (T, S, S))[..., None]
    return (c1 * (1 - p) + c2 * p).astype(np.float32)


def _scene(
    class_name: str, rng: np.random.Generator, size: int, frames: int, appearance: Mapping[str, Any] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Render the *forward* class ``class_name`` (must have a builder).

    Returns video (T, H, W, 3) uint8, the main object's world-space centre (T, 2) (for
    Fill: the liquid surface) and the camera offset (T, 2); screen = world - camera.
    """
    # Independent streams, so that e.g. an appearance override or a background resample
    # leaves motion, clutter, camera and noise unchanged.
    r_look, r_motion, r_clutter, r_cam, r_bg, r_noise = rng.spawn(6)
    look = _random_look(r_look)
    if appearance:
        look = _apply_appearance(look, appearance, r_look)
    S, T = size, frames
    phi, speed = r_cam.uniform(0, 2 * np.pi), r_cam.uniform(0, _CAM_SPEED) * S
    tc = np.arange(T) - (T - 1) / 2
    cam = np.stack([speed * math.cos(phi) * tc, speed * math.sin(phi) * tc], 1)  # (T, 2)
    c = np.arange(S, dtype=np.float32) + 0.5
    ctx = _Ctx(size=S, frames=T, X=c[None, None, :], Y=c[None, :, None], cam=cam)

    main_layers, centre = _BUILDERS[class_name](ctx, look, r_motion)
    clutter = _distractors(ctx, r_clutter)
    n_behind = int(r_clutter.integers(0, len(clutter) + 1))  # distractors may occlude the object
    video = _background(ctx, r_bg, look.colour).copy()  # (T, H, W, 3) float32
    for alpha, colour in clutter[:n_behind] + main_layers + clutter[n_behind:]:
        a = alpha[..., None]  # (T, H, W, 1)
        video = video * (1 - a) + colour * a
    sigma = r_noise.uniform(*_NOISE_SIGMA)
    video = video + r_noise.normal(0, sigma, video.shape).astype(np.float32)  # i.i.d. per frame
    video = np.clip(np.rint(video * 255), 0, 255).astype(np.uint8)
    return video, centre, cam


def _check_class(class_name: str) -> None:
    if class_name not in _CLASS_INDEX:
        raise ValueError(f"unknown synthetic class {class_name!r}; valid: {CLASS_NAMES}")


def _render_with_centre(
    class_name: str, rng: np.random.Generator, size: int, frames: int, appearance: Mapping[str, Any] | None
) -> tuple[np.ndarray, np.ndarray]:
    _check_class(class_name)
    if size < 8 or size % 2:
        raise ValueError(f"size must be an even integer >= 8 (H.264 yuv420p), got {size}")
    if frames < 2:
        raise ValueError(f"frames must be >= 2, got {frames}")
    """Video (T, H, W, 3) uint8 and the main object's screen-space centre (T, 2)."""
    base = _RENDER_AS_REVERSE.get(class_name)
    video, centre, cam = _scene(base or class_name, rng, size, frames, appearance)
    screen = centre - cam
    if base is None:
        return video, screen
    return np.ascontiguousarray(video[::-1]), screen[::-1].copy()  # exact time reversal


def render_video(
    class_name: str, rng: np.random.Generator, *, size: int = 32, frames: int = 32, appearance: dict | None = None
) -> np.ndarray:
    """Render one video of ``class_name``, deterministic given ``rng``'s state.

    ``appearance`` optionally fixes the main object's ``shape`` (one of ``SHAPES``),
    ``colour`` (a ``PALETTE`` name or an RGB triple in [0, 1]) and ``texture``
    (one of ``TEXTURES``); anything not given is random. Pure numpy, no I/O.

    Returns (T, H, W, 3) uint8 RGB with T = frames, H = W = size.
    """
    return _render_with_centre(class_name, rng, size, frames, appearance)[0]


# --------------------------------------------------------------------------------------
# Encoding and dataset generation
# --------------------------------------------------------------------------------------


def write_mp4(path: str | os.PathLike, frames_thwc_uint8: np.ndarray, fps: int = FPS, crf: int = CRF) -> None:
    """Write (T, H, W, 3) uint8 RGB frames as H.264 (libx264, yuv420p) MP4 with PyAV."""
    import av  # here: rendering needs only numpy, and the pool's workers import this module

    video = np.asarray(frames_thwc_uint8)
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
        raise ValueError(f"expected (T, H, W, 3) uint8 frames, got {video.shape} {video.dtype}")
    T, H, W, _ = video.shape
    if H % 2 or W % 2:
        raise ValueError(f"H.264 yuv420p needs even height and width, got {H}x{W}")
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = W, H
        stream.pix_fmt = "yuv420p"
        # threads=1: generation parallelises over videos instead. X264_PARAMS: byte-reproducible.
        stream.codec_context.options = {"crf": str(crf), "preset": PRESET, "threads": "1", "x264-params": X264_PARAMS}
        for frame in video:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def default_cache_root() -> Path:
    """``$VSSL_BENCH_DATA``, else ``$XDG_CACHE_HOME/vssl-bench``, else ``~/.cache/vssl-bench``."""
    if os.environ.get("VSSL_BENCH_DATA"):
        return Path(os.environ["VSSL_BENCH_DATA"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "vssl-bench"
    return Path.home() / ".cache" / "vssl-bench"


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown synthetic variant {variant!r}; valid choices: {', '.join(VARIANTS)}")


def dataset_dir(
    cache_root: Path,
    variant: str = "default",
    size: int = 32,
    frames: int = 32,
    seed: int = 0,
    *,
    train_per_class: int = 48,
    test_per_class: int = 16,
) -> Path:
    """Folder for one parametrisation, e.g. ``synthetic-default-v2-s32-f32-seed0``.

    Non-default video counts are appended (``-n100x20``) so they never share a folder.
    """
    _check_variant(variant)
    name = f"synthetic-{variant}-v{SYNTHETIC_VERSION}-s{size}-f{frames}-seed{seed}"
    if (train_per_class, test_per_class) != (48, 16):
        name += f"-n{train_per_class}x{test_per_class}"
    return Path(cache_root) / name


_SPLIT_CODES = {"train": 0, "test": 1, "conflict": 2}


def _video_relpath(class_name: str, group: int, clip: int) -> str:
    return f"{class_name}/v_{class_name}_g{group:02d}_c{clip:02d}.mp4"


def _jobs(variant: str, train: int, test: int, seed: int) -> dict[str, list[tuple[str, int, int, int, dict | None]]]:
    """Per split: (relpath, class index, split code, index, appearance) for every video."""
    n_train_groups = math.ceil(train / CLIPS_PER_GROUP)
    n_test_groups = math.ceil(test / CLIPS_PER_GROUP)
    splits = {"train": (train, 0), "test": (test, n_train_groups)}
    if variant == "appearance-biased":
        splits["conflict"] = (test, n_train_groups + n_test_groups)
    out: dict[str, list] = {}
    for split, (n, first_group) in splits.items():
        code = _SPLIT_CODES[split]
        rows = []
        for k, name in enumerate(CLASS_NAMES):
            for i in range(n):
                group, clip = first_group + i // CLIPS_PER_GROUP + 1, i % CLIPS_PER_GROUP + 1
                # A separate stream decides the appearance, so motion etc. do not depend on the variant.
                bias_rng = np.random.default_rng([seed, k, code, i, 1])
                appearance = None
                if split == "conflict":
                    other = (k + int(bias_rng.integers(1, len(CLASSES)))) % len(CLASSES)
                    appearance = CLASS_APPEARANCE[CLASS_NAMES[other]]
                elif variant == "appearance-biased" and bias_rng.random() < BIAS_PROB:
                    appearance = CLASS_APPEARANCE[name]
                rows.append((_video_relpath(name, group, clip), k, code, i, appearance))
        out[split] = rows
    return out


def _work(args: tuple[str, str, int, int, int, dict | None, int, int, int]) -> str:
    root, relpath, k, code, i, appearance, size, frames, seed = args
    rng = np.random.default_rng([seed, k, code, i])  # content depends on (seed, class, split, index) only
    video = render_video(CLASS_NAMES[k], rng, size=size, frames=frames, appearance=appearance)
    write_mp4(Path(root) / relpath, video)
    return relpath


def content_digest(root: Path, relpaths: list[str]) -> str:
    """SHA-256 over the videos' relative paths and bytes, in sorted order: equal digests,
    equal dataset. Stored in ``meta.json`` and in every result's provenance."""
    h = hashlib.sha256()
    for rel in sorted(relpaths):
        h.update(rel.encode() + b"\0")
        h.update(hashlib.sha256((Path(root) / rel).read_bytes()).digest())
    return h.hexdigest()


def _params(variant: str, train: int, test: int, size: int, frames: int, seed: int) -> dict[str, Any]:
    return {
        "variant": variant,
        "train_per_class": train,
        "test_per_class": test,
        "size": size,
        "frames": frames,
        "seed": seed,
        "fps": FPS,
        "crf": CRF,
        "preset": PRESET,
        "x264_params": X264_PARAMS,
        "bias_prob": BIAS_PROB if variant == "appearance-biased" else None,
        "clips_per_group": CLIPS_PER_GROUP,
    }


def _is_complete(root: Path, params: dict[str, Any]) -> bool:
    if not (root / ".complete").exists():
        return False
    try:
        meta = json.loads((root / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    return meta.get("version") == SYNTHETIC_VERSION and meta.get("params") == params


def _check_replaceable(root: Path) -> None:
    """Refuse to overwrite a folder that is neither empty nor a dataset written here."""
    if not root.exists() or (root.is_dir() and not any(root.iterdir())):
        return
    try:
        ours = json.loads((root / "meta.json").read_text()).get("generator") == _GENERATOR_ID
    except (OSError, ValueError):
        ours = False
    if not ours:
        raise ValueError(f"{root} exists and is not a synthetic dataset written by vssl-bench; not overwriting it")


def _remove_stale(root: Path) -> None:
    """Remove an incomplete/outdated dataset (checked by ``_check_replaceable``)."""
    _check_replaceable(root)
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    elif root.exists():
        shutil.rmtree(root)


def generate(
    root: Path,
    variant: str = "default",
    *,
    train_per_class: int = 48,
    test_per_class: int = 16,
    size: int = 32,
    frames: int = 32,
    seed: int = 0,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Generate the synthetic dataset at ``root`` (UCF101 layout) and return ``root``.

    Idempotent: returns at once if ``root/.complete`` exists and ``meta.json`` matches the
    parameters. Everything is written into a temporary sibling folder that is renamed into
    place, and ``.complete`` is created last, so a killed generation is never mistaken for
    a finished one (an incomplete or outdated dataset is deleted and redone).
    ``progress(n_done, n_total)`` is called after each video.
    """
    _check_variant(variant)
    for name, value, low in (
        ("train_per_class", train_per_class, 1),
        ("test_per_class", test_per_class, 1),
        ("size", size, 8),
        ("frames", frames, 2),
        ("workers", workers, 0),
    ):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if size % 2:
        raise ValueError(f"size must be even (H.264 yuv420p), got {size}")
    root = Path(root)
    params = _params(variant, train_per_class, test_per_class, size, frames, seed)
    if _is_complete(root, params):
        return root

    if workers > 1 and getattr(multiprocessing.current_process(), "_inheriting", False):
        # A spawned child re-running an unguarded script's top level: it would wait forever
        # for the lock its parent holds while the parent waits for it (multiprocessing
        # itself raises here, but only once a pool is started, i.e. after the lock).
        raise RuntimeError(
            "vssl_bench generates its data in worker processes (spawn): call it from a script "
            "whose entry point is protected by `if __name__ == '__main__':`, or pass workers=0"
        )

    from vssl_bench.utils import file_lock  # here: the pool's spawned workers import this module, not torch

    root.parent.mkdir(parents=True, exist_ok=True)
    # Two jobs needing the same data (``run --jobs 2``): one generates, the other waits and
    # reuses it. (Unlocked, the second finished its own copy by deleting the first's folder
    # while the first job was reading it.)
    with file_lock(root.parent / f".{root.name}.lock", timeout_s=3600):  # a generation takes seconds to minutes
        if _is_complete(root, params):
            return root
        return _generate_unlocked(root, params, workers, progress)


def _generate_unlocked(
    root: Path, params: dict[str, Any], workers: int, progress: Callable[[int, int], None] | None
) -> Path:
    """``generate``'s work, under its lock, for the parameters ``_params`` made."""
    variant, size, frames, seed = params["variant"], params["size"], params["frames"], params["seed"]
    try:  # here, once: else each worker fails on its first video, with a traceback
        import av  # noqa: F401  # here: only generating needs it, and PyAV is heavy to import
    except ImportError as e:
        from vssl_bench.config import ConfigError  # here: the pool's spawned workers import this module, not torch

        raise ConfigError(
            f"writing the embedded videos needs PyAV, which cannot be imported ({e}; `pip install av`, which "
            f"`make` does); or point VSSL_BENCH_DATA at a folder that already holds {root.name}"
        ) from None
    _check_replaceable(root)  # fail before rendering, not after
    jobs = _jobs(variant, params["train_per_class"], params["test_per_class"], seed)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}"
    for stale in root.parent.glob(f".{root.name}.tmp-*"):  # left by a generation killed half-way (no
        shutil.rmtree(stale, ignore_errors=True)  # `finally` after SIGKILL); we hold the lock: nobody writes them
    (tmp / "splits").mkdir(parents=True)
    for name in CLASS_NAMES:
        (tmp / name).mkdir()

    work = [
        (str(tmp), rel, k, code, i, app, size, frames, seed) for rows in jobs.values() for rel, k, code, i, app in rows
    ]
    total, t0 = len(work), time.perf_counter()
    try:
        if workers <= 1:
            for n, args in enumerate(work, 1):
                _work(args)
                if progress:
                    progress(n, total)
        else:
            # spawn: safe even if the caller has started threads (torch, decord). An executor,
            # not a Pool: a worker that dies (out of memory, an unguarded script's re-import)
            # breaks it with an error instead of being replaced forever while we wait.
            try:
                with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                    for n, _ in enumerate(pool.map(_work, work, chunksize=8), 1):
                        if progress:
                            progress(n, total)
            except BrokenProcessPool as e:
                raise RuntimeError(
                    f"a data-generation worker process died ({e}). If this is a script, protect "
                    "its entry point with `if __name__ == '__main__':` (the workers are spawned "
                    "and re-import it); otherwise try workers=0"
                ) from None
        seconds = time.perf_counter() - t0

        splits = tmp / "splits"
        (splits / "classInd.txt").write_text("".join(f"{k + 1} {n}\n" for k, n in enumerate(CLASS_NAMES)))
        (splits / "trainlist01.txt").write_text("".join(f"{r[0]} {r[1] + 1}\n" for r in jobs["train"]))
        (splits / "testlist01.txt").write_text("".join(f"{r[0]}\n" for r in jobs["test"]))
        if "conflict" in jobs:
            (splits / "testlist_conflict01.txt").write_text("".join(f"{r[0]}\n" for r in jobs["conflict"]))
        meta = {
            "generator": _GENERATOR_ID,
            "version": SYNTHETIC_VERSION,
            "params": params,
            "classes": [dataclasses.asdict(c) for c in CLASSES],
            "reverse_pairs": {c.name: c.reverse_of for c in CLASSES if c.reverse_of},
            "time_asymmetric": {c.name: c.time_asymmetric for c in CLASSES},
            "class_appearance": CLASS_APPEARANCE if variant == "appearance-biased" else None,
            "split_files": sorted(p.name for p in splits.iterdir()),
            "counts": {split: len(rows) for split, rows in jobs.items()},
            "content_sha256": content_digest(tmp, [r[0] for rows in jobs.values() for r in rows]),
            "generation_seconds": round(seconds, 2),
            "workers": workers,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")

        _remove_stale(root)
        try:
            os.replace(tmp, root)
        except OSError:
            # Another process finished the same dataset first; accept it if complete.
            if _is_complete(root, params):
                shutil.rmtree(tmp, ignore_errors=True)
                return root
            raise
        (root / ".complete").write_text(f"{SYNTHETIC_VERSION}\n")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root
