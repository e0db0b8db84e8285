"""Shared fixtures: lossless test videos, the real clips of ../shared/videos, and the
embedded dataset generated once per test session for the end-to-end CLI tests."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# Real clips kept beside the repository (not part of it); tests using them skip when absent.
SHARED_VIDEOS = (REPO / ".." / "shared" / "videos").resolve()


def write_lossless_video(path: Path, frames: np.ndarray, fps: int = 25) -> Path:
    """Write uint8 (T, H, W, 3) RGB frames losslessly: FFV1 (bgr0, intra-only) in Matroska.

    FFV1 in RGB keeps every pixel (decord reads it back bit-exactly, checked by the tests);
    ``libx264rgb`` at qp 0 in MP4 works too. pytorchvideo's ``temp_encoded_video`` does the
    same with a lossless codec.
    """
    import av

    t, h, w, _ = frames.shape
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "bgr0"
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return Path(path)


def write_lossless_mp4(path: Path, frames: np.ndarray, rotation: int = 0, fps: int = 25) -> Path:
    """Lossless H.264 (``libx264rgb``, qp 0) in MP4, optionally with a display rotation
    (degrees). The index (moov) is written last, so a truncated copy has none, like a
    download cut short."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264rgb", rate=fps, options={"qp": "0"})
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "rgb24"
        if rotation:
            s.set_display_rotation(rotation)
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


@pytest.fixture
def lossless_video(tmp_path):
    """Factory: ``lossless_video(frames, name="v.mkv") -> Path`` in the test's tmp dir."""

    def make(frames: np.ndarray, name: str = "video.mkv") -> Path:
        return write_lossless_video(tmp_path / name, frames)

    return make


def smoke_config(data_root: Path, **overrides):
    """A Config on the smoke-size embedded data at ``data_root`` (:func:`smoke_data_root`:
    6 train + 3 test videos per class), short clips; ``overrides`` set any other field."""
    from vssl_bench.config import Config

    kw = dict(
        dataset="synthetic",
        data_root=str(data_root),
        synthetic_train_per_class=6,
        synthetic_test_per_class=3,
        clip_len=4,
        frame_stride=2,
    )
    return Config(**{**kw, **overrides})


@pytest.fixture(scope="session")
def smoke_data_root(tmp_path_factory) -> Path:
    """``--data-root`` holding the embedded ``synthetic`` dataset, generated once per session
    exactly where ``vssl-bench run --data-root`` looks for it, at the size the smoke suite
    uses (6 train + 3 test videos per class, a few seconds)."""
    from vssl_bench.config import Config
    from vssl_bench.data.datasets import build_dataset

    root = tmp_path_factory.mktemp("smoke_data")
    from vssl_bench.suite import load_suite

    smoke = load_suite("smoke").base
    build_dataset(
        Config(
            dataset="synthetic",
            data_root=str(root),
            synthetic_train_per_class=smoke.synthetic_train_per_class,
            synthetic_test_per_class=smoke.synthetic_test_per_class,
        )
    )
    return root


@pytest.fixture(autouse=True)
def _restore_stop_handlers():
    """``cli.main`` run in this process (``run_cli``) installs its SIGTERM / SIGHUP handlers
    process-wide: put back what pytest had, so that no test changes how the session stops."""
    sigs = [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    saved = {s: signal.getsignal(s) for s in sigs}
    yield
    for s, h in saved.items():
        if h is not None:  # None: set outside Python, cannot be restored from here
            signal.signal(s, h)


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """``run_cli(*args) -> (exit code, stdout + stderr)`` of ``vssl-bench ARGS`` in this
    process, through ``cli.main`` (its one-line errors and exit codes)."""

    def run(*args: str) -> tuple[int, str]:
        from vssl_bench import cli

        monkeypatch.setattr(sys, "argv", ["vssl-bench", *args])
        with pytest.raises(SystemExit) as e:
            cli.main()
        cap = capsys.readouterr()
        return e.value.code, cap.out + cap.err

    return run
