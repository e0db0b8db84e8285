"""Video reading (vssl_bench/data/video.py): frame-exact decoding of lossless files written
by the test (pytorchvideo ``tests/utils.py::temp_encoded_video`` habit), corrupt files, the
decoded cache, and the real clips of ../shared/videos when they are present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vssl_bench.data.video import DecodedCache, VideoDecodeError, read_frames, video_info

T, H, W = 12, 24, 40  # non-square on purpose: catches (H, W) swaps


@pytest.fixture
def frames() -> np.ndarray:
    """Random pixels with a frame id in the first pixel: every frame differs."""
    x = np.random.default_rng(0).integers(0, 256, (T, H, W, 3), dtype=np.uint8)
    x[:, 0, 0, 0] = np.arange(T) * 10
    return x


def test_lossless_roundtrip_all_frames(lossless_video, frames) -> None:
    path = lossless_video(frames)
    out = read_frames(path)
    assert out.dtype == np.uint8 and out.shape == (T, H, W, 3)
    assert np.array_equal(out, frames)


@pytest.mark.parametrize("indices", [[0], [T - 1], [5, 5, 5], [7, 2, 9, 2, 0], list(range(T))[::-1], [3, 4, 5, 6], []])
def test_arbitrary_repeated_unsorted_indices(lossless_video, frames, indices) -> None:
    path = lossless_video(frames)
    out = read_frames(path, np.array(indices, dtype=np.int64))
    assert out.shape == (len(indices), H, W, 3)
    assert np.array_equal(out, frames[indices])
    assert np.array_equal(read_frames(path, indices), frames[indices])  # plain list too


def test_index_out_of_range_is_a_decode_error(lossless_video, frames) -> None:
    path = lossless_video(frames)
    for bad in ([T], [-1], [0, T + 5]):
        with pytest.raises(VideoDecodeError, match="out of range"):
            read_frames(path, bad)


def test_video_info(lossless_video, frames) -> None:
    info = video_info(lossless_video(frames))
    assert info == {"frames": T, "fps": pytest.approx(25.0), "height": H, "width": W}


def _h264_bytes(tmp_path) -> bytes:
    import av

    p = tmp_path / "ok.mp4"
    x = np.random.default_rng(1).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    with av.open(str(p), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for f in x:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return p.read_bytes()


@pytest.mark.parametrize("kind", ["truncated", "random", "empty", "missing"])
def test_corrupt_file_raises_decode_error(tmp_path, kind) -> None:
    p = tmp_path / f"{kind}.mp4"
    if kind == "truncated":
        b = _h264_bytes(tmp_path)
        p.write_bytes(b[: len(b) // 2])
    elif kind == "random":
        p.write_bytes(np.random.default_rng(2).bytes(5000))
    elif kind == "empty":
        p.write_bytes(b"")
    with pytest.raises(VideoDecodeError):
        video_info(p)
    with pytest.raises(VideoDecodeError):
        read_frames(p)
    with pytest.raises(VideoDecodeError):
        read_frames(p, [0, 1])


def test_unreadable_file_is_tried_once_per_process_and_quietly(tmp_path, capfd, monkeypatch) -> None:
    """A broken file is opened by decord once: later reads (every epoch's draws of it) raise
    the same error at once, without a decode attempt and without FFmpeg's log lines (it
    printed "moov atom not found" and an "ERROR opening" line at every draw)."""
    import decord

    from vssl_bench.data import video

    monkeypatch.setattr(video, "_FAILED", {}, raising=False)  # a fresh memory for this test
    opened = []
    real = decord.VideoReader
    monkeypatch.setattr(decord, "VideoReader", lambda *a, **k: (opened.append(a[0]), real(*a, **k))[1])
    b = _h264_bytes(tmp_path)
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(b[: len(b) // 3])  # the index (moov) is written last: a cut file has none
    cache = DecodedCache(max_bytes=2**20)
    errors = []
    for _ in range(3):
        with pytest.raises(VideoDecodeError) as e:
            cache.get(str(bad))
        errors.append(str(e.value))
    with pytest.raises(VideoDecodeError):
        read_frames(bad, [0])
    assert opened == [str(bad)] and len(set(errors)) == 1 and "cannot open" in errors[0]
    assert "Error reading" not in errors[0] and len(errors[0]) > len(f"cannot open {bad}: ")  # decord's reason
    err = capfd.readouterr().err
    assert "moov atom not found" not in err and "ERROR opening" not in err, err


def test_open_keeps_decords_reason_and_writes_other_output_back(tmp_path, capfd, monkeypatch) -> None:
    """decord's C++ "ERROR opening: <path>, <reason>" line (fd 2) becomes the error's reason
    instead of stderr noise; anything else written to fd 2 meanwhile is written back."""
    import os

    import decord

    from vssl_bench.data import video

    monkeypatch.setattr(video, "_FAILED", {}, raising=False)
    bad = tmp_path / "bad, name.mp4"  # a ", " in the path: the reason is what follows "<path>, "
    bad.write_bytes(b"not a video")

    class Reader:
        pass

    def fake_reader(path, **_):
        os.write(2, b"another thread's line\n")
        if path == str(bad):
            os.write(2, f"[12:00:00] /src/video/video_reader.cc:83: ERROR opening: {path}, Some reason\n".encode())
            raise RuntimeError(f"Error reading {path}...")
        return Reader()

    monkeypatch.setattr(decord, "VideoReader", fake_reader)
    with pytest.raises(VideoDecodeError, match=r"cannot open .*bad, name\.mp4: Some reason$"):
        video._open(bad)
    assert isinstance(video._open(tmp_path / "good.mp4"), Reader)
    err = capfd.readouterr().err
    assert err.count("another thread's line") == 2 and "ERROR opening" not in err, err


def test_decoded_cache_returns_identical_arrays(lossless_video, frames) -> None:
    path = str(lossless_video(frames))
    cache = DecodedCache(max_bytes=10 * frames.nbytes)
    a = cache.get(path)
    b = cache.get(path)
    assert np.array_equal(a, frames)
    assert b is a  # the second read is served from memory


def test_decoded_cache_respects_byte_budget(lossless_video, frames) -> None:
    paths = [str(lossless_video(frames[::-1] if i % 2 else frames, f"v{i}.mkv")) for i in range(4)]
    cache = DecodedCache(max_bytes=2 * frames.nbytes + 1)  # room for two videos
    for p in paths:
        arr = cache.get(p)
        assert cache._bytes <= cache.max_bytes
        assert cache._bytes == sum(v.nbytes for v in cache._d.values())
        assert arr.shape == frames.shape
    assert list(cache._d) == paths[2:]  # least recently used evicted first
    cache.get(paths[2])  # touch: paths[3] becomes the oldest
    cache.get(paths[0])
    assert list(cache._d) == [paths[2], paths[0]]
    assert np.array_equal(cache.get(paths[1]), frames[::-1])  # evicted ones re-decode correctly

    tiny = DecodedCache(max_bytes=frames.nbytes // 2)  # too small for any video: nothing kept
    assert np.array_equal(tiny.get(paths[0]), frames)
    assert tiny._bytes == 0 and not tiny._d


# ----------------------------------------------------------------- real clips (optional)
# /work/shared/videos beside the checkout /work/main: not part of the repository.
SHARED_VIDEOS = Path(__file__).resolve().parents[2] / ".." / "shared" / "videos"
REAL = {  # file: (frames, height, width) as listed in ../shared/videos/README.md
    "mmaction2_tests_data_test.avi": (164, 240, 320),
    "mmaction2_tests_data_test.mp4": (300, 256, 340),
    "mmaction2_demo_demo.mp4": (280, 256, 340),
    "mmaction2_demo_demo_spatiotemporal_det.mp4": (57, 256, 340),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_clip(name) -> None:
    path = SHARED_VIDEOS / name
    if not path.is_file():
        pytest.skip(f"{path} not present (real test clips live outside the repository)")
    n, h, w = REAL[name]
    info = video_info(path)
    assert (info["frames"], info["height"], info["width"]) == (n, h, w)
    idx = np.array([n - 1, 0, n // 2, 0, 1])
    out = read_frames(path, idx)
    assert out.shape == (5, h, w, 3) and out.dtype == np.uint8
    assert np.array_equal(out[1], out[3])  # repeated index gives the same frame
    assert out.std() > 1.0  # real content, not a black frame
    assert np.array_equal(read_frames(path, [1, 0]), out[[4, 1]])  # unsorted reads agree
    with pytest.raises(VideoDecodeError):
        read_frames(path, [n])


def test_ctrl_c_while_a_reader_is_freed_is_not_lost() -> None:
    """Ctrl-C that arrives while decord frees a reader (its ``__del__``) is raised once the
    reader is freed: raised inside ``__del__`` it was swallowed ("Exception ignored") and the
    run carried on as if never interrupted."""
    import os
    import signal
    import time

    from vssl_bench.data.video import Reader

    class Freed:  # stands in for decord's reader: Ctrl-C lands while it is being freed
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # Python runs the SIGINT handler here, inside __del__

    r = Reader.__new__(Reader)
    r.path, r._n, r._vr = "x.mp4", 1, Freed()
    with pytest.raises(KeyboardInterrupt):
        r.close()
    assert r._vr is None
