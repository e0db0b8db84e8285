"""Render one sample per synthetic class into a PNG grid and time default-dataset generation.

Usage::

    python benchmarks/synthetic_grid.py [--out docs/synthetic_grid.png] [--size 32]
        [--variant default] [--no-timing]

Rows are classes (name on the left, ``*`` = time-asymmetric), columns frames 0, 8, 16,
24, 31. The timing part generates the default dataset (16 classes x (48 train + 16 test)
at 32x32x32) into a temporary folder with 2 workers and prints the wall time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vssl_bench.data import synthetic  # noqa: E402


def render_grid(out: Path, size: int = 32, frames: int = 32, seed: int = 0, variant: str = "default") -> None:
    cols = [0, 8, 16, 24, frames - 1]
    n = len(synthetic.CLASSES)
    fig, axes = plt.subplots(n, len(cols), figsize=(len(cols) * 1.1 + 1.6, n * 1.1))
    for k, spec in enumerate(synthetic.CLASSES):
        rng = np.random.default_rng([seed, k])
        appearance = synthetic.CLASS_APPEARANCE[spec.name] if variant == "appearance-biased" else None
        video = synthetic.render_video(spec.name, rng, size=size, frames=frames, appearance=appearance)  # (T, H, W, 3)
        for j, t in enumerate(cols):
            ax = axes[k, j]
            ax.imshow(video[t], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if k == 0:
                ax.set_title(f"t={t}", fontsize=8)
        label = spec.name + (" *" if spec.time_asymmetric else "")
        axes[k, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(
        f"synthetic v{synthetic.SYNTHETIC_VERSION} ({variant}, {size}x{size}); * = time-asymmetric", fontsize=9
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out}")


def time_generation(workers: int = 2) -> float:
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        root = synthetic.generate(Path(d) / "ds", "default", workers=workers)
        seconds = time.perf_counter() - t0
        n = sum(1 for _ in root.glob("*/*.mp4"))
        mb = sum(p.stat().st_size for p in root.glob("*/*.mp4")) / 1e6
    print(f"generated default dataset: {n} videos, {mb:.1f} MB, {seconds:.1f} s wall with {workers} workers")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/synthetic_grid.png"))
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--variant", default="default", choices=synthetic.VARIANTS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args()
    render_grid(args.out, size=args.size, variant=args.variant)
    if not args.no_timing:
        time_generation(args.workers)


if __name__ == "__main__":
    main()
