"""``vssl-bench data prepare``: re-encoded mirror trees, resumability, corrupt sources.

The source videos are the test's own lossless files (FFV1, tests/conftest.py) whose frame
``i`` is known: left half grey ``8 i``, right half ``255 - 8 i``; after the lossy H.264
re-encode and a resize each half must keep its grey level (within a few levels) in the
right frame order.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from conftest import write_lossless_mp4, write_lossless_video
from torch.utils.data import DataLoader

from vssl_bench.config import Config, ConfigError
from vssl_bench.data import prepare
from vssl_bench.data.datasets import PretrainDataset, VideoEntry, VideoList, build_dataset
from vssl_bench.data.loader import worker_init
from vssl_bench.data.prepare import MANIFEST, PART, prepare_dataset, target_size
from vssl_bench.data.samplers import random_clip
from vssl_bench.data.video import read_frames

LENGTHS = {"jump/j0.mkv": 20, "jump/j1.mkv": 24, "run/r0.mkv": 17, "run/r1.mkv": 22}
H, W, SHORT = 48, 64, 32  # -> 32 x 42 (64 * 32 / 48 = 42.7, rounded to an even 42)


def _halves(t: int, h: int = H, w: int = W) -> np.ndarray:
    f = np.zeros((t, h, w, 3), np.uint8)  # (T, H, W, 3)
    f[:, :, : w // 2] = (8 * np.arange(t, dtype=np.uint8))[:, None, None, None]
    f[:, :, w // 2 :] = (255 - 8 * np.arange(t, dtype=np.uint8))[:, None, None, None]
    return f


@pytest.fixture
def src(tmp_path):
    """folder dataset: 2 classes x 2 videos of known frames, one truncated MP4, a notes file."""
    root = tmp_path / "src"
    for rel, t in LENGTHS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_lossless_video(root / rel, _halves(t))
    good = write_lossless_mp4(tmp_path / "good.mp4", _halves(30))
    data = good.read_bytes()
    (root / "run" / "trunc.mp4").write_bytes(data[: len(data) // 2])  # no moov index: unreadable
    (root / "README.txt").write_text("notes travel with the tree\n")
    return root


def _cfg(root) -> Config:
    return Config(dataset="folder", data_root=str(root))


def _assert_prepared(out, rel: str, t: int) -> None:
    got = read_frames(out / rel)  # (T, 32, 42, 3)
    assert got.shape == (t, SHORT, 42, 3), rel
    left = got[:, :, :15].reshape(t, -1).mean(1)  # away from the edge blurred by the resize
    right = got[:, :, 27:].reshape(t, -1).mean(1)
    np.testing.assert_allclose(left, 8 * np.arange(t), atol=4)
    np.testing.assert_allclose(right, 255 - 8 * np.arange(t), atol=4)


@pytest.mark.parametrize(
    "h,w,short,expect",
    [
        (240, 320, 128, (128, 170)),
        (256, 340, 128, (128, 170)),
        (1080, 1920, 128, (128, 228)),
        (640, 360, 128, (228, 128)),
        (31, 41, 128, (30, 40)),
        (128, 171, 128, (128, 170)),
    ],
)
def test_target_size(h, w, short, expect) -> None:
    assert target_size(h, w, short) == expect


def test_prepare_mirror_tree_decodes_at_new_size(src, tmp_path) -> None:
    out = tmp_path / "prep"
    rep = prepare_dataset(_cfg(src), out, SHORT)
    assert (rep.total, rep.encoded, rep.up_to_date) == (5, 4, 0)
    assert [r for r, _ in rep.unreadable] == ["run/trunc.mp4"] and rep.ok
    assert rep.copied == ["README.txt"] and (out / "README.txt").read_text() == "notes travel with the tree\n"
    for rel, t in LENGTHS.items():
        _assert_prepared(out, rel, t)
    # the unreadable source is kept byte for byte: same file list, same seeded split
    assert (out / "run" / "trunc.mp4").read_bytes() == (src / "run" / "trunc.mp4").read_bytes()
    a, b = build_dataset(_cfg(src)), build_dataset(_cfg(out))
    for x, y in zip(a, b):
        assert [(os.path.relpath(e.path, src), e.label) for e in x.entries] == [
            (os.path.relpath(e.path, out), e.label) for e in y.entries
        ]
    assert not list(out.rglob("*" + PART))


def test_encoding_is_byte_reproducible(tmp_path) -> None:
    """Preparing the same source twice gives the same file (x264 settings are deterministic
    here; the embedded generator's were not until it turned macroblock-tree off)."""
    from vssl_bench.data.synthetic import CLASS_NAMES, render_video

    for k in (CLASS_NAMES.index("SwingDamped"), CLASS_NAMES.index("Shatter")):
        video = render_video(CLASS_NAMES[k], np.random.default_rng([0, k, 0, 0]), size=64, frames=32)
        write_lossless_video(tmp_path / f"src{k}.mkv", video)
        out = []
        for i in range(3):
            prepare.encode_video(str(tmp_path / f"src{k}.mkv"), str(tmp_path / f"{i}.mp4"), 32)
            out.append((tmp_path / f"{i}.mp4").read_bytes())
        assert out[0] == out[1] == out[2]


def test_second_run_skips_everything(src, tmp_path) -> None:
    out = tmp_path / "prep"
    prepare_dataset(_cfg(src), out, SHORT)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.mkv")}
    rep = prepare_dataset(_cfg(src), out, SHORT)
    assert (rep.encoded, rep.up_to_date, len(rep.unreadable)) == (0, 4, 1)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.mkv")} == mtimes
    # another short side is another preparation: everything is redone
    rep = prepare_dataset(_cfg(src), out, 16)
    assert rep.encoded == 4 and read_frames(out / "jump" / "j0.mkv").shape == (20, 16, 22, 3)


def test_interrupted_then_resumed(src, tmp_path, monkeypatch) -> None:
    out = tmp_path / "prep"
    real = prepare.encode_video
    calls = []

    def killed_on_third(s, d, short):
        calls.append(s)
        info = real(s, d, short)  # the temp file is fully written ...
        if len(calls) == 3:
            raise KeyboardInterrupt  # ... and the process dies before renaming it
        return info

    monkeypatch.setattr(prepare, "encode_video", killed_on_third)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(_cfg(src), out, SHORT)
    assert len(list(out.rglob("*" + PART))) == 1  # the stale temp file of the killed run
    assert (out / MANIFEST).is_file()  # the manifest was saved on the way out
    monkeypatch.setattr(prepare, "encode_video", real)
    rep = prepare_dataset(_cfg(src), out, SHORT)
    assert (rep.encoded, rep.up_to_date) == (2, 2)  # the two finished files are not redone
    assert not list(out.rglob("*" + PART))
    for rel, t in LENGTHS.items():
        _assert_prepared(out, rel, t)
    # a deleted output and a changed source are redone, the rest skipped
    (out / "jump" / "j0.mkv").unlink()
    write_lossless_video(src / "run" / "r0.mkv", _halves(12))
    rep = prepare_dataset(_cfg(src), out, SHORT)
    assert (rep.encoded, rep.up_to_date) == (2, 2)
    _assert_prepared(out, "jump/j0.mkv", 20)
    _assert_prepared(out, "run/r0.mkv", 12)


def test_rotated_and_odd_sized_sources(tmp_path) -> None:
    """A phone video stored landscape with a 90-degree display rotation comes out upright
    (decord applies the display matrix); an odd-sized source gets even sides."""
    root = tmp_path / "src"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    f = np.zeros((6, 96, 128, 3), np.uint8)  # (T, H, W, 3) as stored
    f[:, :16, :16] = 255  # white top-left corner of the stored frame
    write_lossless_mp4(root / "a" / "rot.mp4", f, rotation=90)
    write_lossless_video(root / "b" / "odd.mkv", _halves(5, 49, 67))
    shown = read_frames(root / "a" / "rot.mp4")
    assert shown.shape == (6, 128, 96, 3)  # displayed portrait
    assert shown[0, -8:, :8].mean() > 200  # counter-clockwise: the corner is now bottom-left
    rep = prepare_dataset(_cfg(root), tmp_path / "prep", 32)
    assert rep.encoded == 2
    got = read_frames(tmp_path / "prep" / "a" / "rot.mp4")
    assert got.shape == (6, 42, 32, 3) and got[0, -4:, :4].mean() > 200 and got[0, :4, -4:].mean() < 50
    assert read_frames(tmp_path / "prep" / "b" / "odd.mkv").shape == (5, 32, 44, 3)


def test_two_workers(src, tmp_path) -> None:
    rep = prepare_dataset(_cfg(src), tmp_path / "prep", SHORT, workers=2)
    assert (rep.encoded, len(rep.unreadable)) == (4, 1)
    _assert_prepared(tmp_path / "prep", "run/r1.mkv", 22)


def _view(src, rng):
    return {"video": src.clip(random_clip(src.n_frames, 8, 2, rng))}  # (C, 8, H, W)


def test_prepared_tree_through_dataloader_workers(src, tmp_path) -> None:
    """decord inside DataLoader workers (one reader per sample, one decoder thread, nothing
    shared): 2 workers give exactly the samples of 0 workers, the unreadable file included."""
    out = tmp_path / "prep"
    prepare_dataset(_cfg(src), out, SHORT)
    vl = VideoList([VideoEntry(str(p), 0) for p in sorted(out.rglob("*.m*"))], ["x"])
    assert len(vl) == 5
    ds = PretrainDataset(vl, _view, Config(cache_decoded_mb=0), seed=3)
    runs = []
    for workers in (0, 2):
        dl = DataLoader(ds, batch_size=5, num_workers=workers, worker_init_fn=worker_init)
        runs.append(next(iter(dl)))
    assert runs[0]["video"].shape == (5, 3, 8, SHORT, 42)
    assert int(runs[0]["skipped"].sum()) == 1  # trunc.mp4 replaced by another video and counted
    for k in ("index", "skipped", "video"):
        assert torch.equal(runs[0][k], runs[1][k]), k


def test_ucf101_layout_is_a_drop_in_root(tmp_path) -> None:
    """Official UCF101 layout: the split files are copied, every split's videos prepared."""
    root = tmp_path / "UCF101"
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 BandMarching\n")
    names = {
        s: (f"ApplyEyeMakeup/v_ApplyEyeMakeup_g0{s}_c01.avi", f"BandMarching/v_BandMarching_g0{s}_c01.avi")
        for s in (1, 2, 3)
    }
    for s in (1, 2, 3):
        (lists / f"trainlist0{s}.txt").write_text(f"{names[s][0]} 1\n{names[s][1]} 2\n")
        (lists / f"testlist0{s}.txt").write_text(f"{names[s % 3 + 1][0]}\n")
    for i, rel in enumerate(n for s in (1, 2, 3) for n in names[s]):
        (root / "UCF-101" / rel).parent.mkdir(parents=True, exist_ok=True)
        write_lossless_video(root / "UCF-101" / rel, _halves(10 + i))
    out = tmp_path / "UCF101-128"
    rep = prepare_dataset(Config(dataset="ucf101", data_root=str(root)), out, SHORT)
    assert (rep.total, rep.encoded) == (6, 6)  # splits 1-3 together
    assert sorted(rep.copied) == sorted(f"ucfTrainTestlist/{n}" for n in os.listdir(lists))
    for s in (1, 2, 3):
        a = build_dataset(Config(dataset="ucf101", data_root=str(root), split=s))
        b = build_dataset(Config(dataset="ucf101", data_root=str(out), split=s))
        for x, y in zip(a, b):
            assert [(os.path.relpath(e.path, root), e.label) for e in x.entries] == [
                (os.path.relpath(e.path, out), e.label) for e in y.entries
            ]
            assert all(read_frames(e.path).shape[1:] == (SHORT, 42, 3) for e in y.entries)


def test_bad_options(src, tmp_path) -> None:
    with pytest.raises(ConfigError, match="even"):
        prepare_dataset(_cfg(src), tmp_path / "p", 127)
    with pytest.raises(ConfigError, match="valid choices: ucf101"):
        prepare_dataset(Config(dataset="synthetic", data_root=str(src)), tmp_path / "p")
    with pytest.raises(ConfigError, match="must not be the data root"):
        prepare_dataset(_cfg(src), src)
    with pytest.raises(ConfigError, match="inside it"):
        prepare_dataset(_cfg(src), src / "prepared")


def test_cli_prepare_then_check_and_run(src, tmp_path, run_cli) -> None:
    out = tmp_path / "prep"
    code, text = run_cli(
        "data", "prepare", "--dataset", "folder", "--data-root", str(src), "--out", str(out), "--short-side", str(SHORT)
    )
    assert code == 0 and "4 encoded now" in text and "1 unreadable" in text and "run/trunc.mp4" in text
    code, text = run_cli("data", "check", "--dataset", "folder", "--data-root", str(out), "--set", "clip_len=8")
    assert code == 0 and "usable" in text and "42x32" in text
    code, text = run_cli(
        "run",
        "--suite",
        "smoke",
        "--methods",
        "random",
        "--no-references",
        "--dataset",
        "folder",
        "--data-root",
        str(out),
        "--out",
        str(tmp_path / "res"),
        "--set",
        "threads=1",
        "--set",
        "eval_clips=1",
        "--set",
        "resize=32",
        "--set",
        "size=32",
        "--set",
        "batch_size=2",
        "--set",
        "linear_epochs=2",
    )
    assert code == 0, text
    assert "1 run, 0 skipped, 0 failed" in text
    code, text = run_cli(
        "data", "prepare", "--dataset", "folder", "--data-root", str(src), "--out", str(out), "--short-side", "31"
    )
    assert code == 2 and "even" in text


def test_cli_nothing_prepared_exits_1(tmp_path, run_cli) -> None:
    root = tmp_path / "src"
    (root / "a").mkdir(parents=True)
    (root / "a" / "broken.mp4").write_bytes(b"\x00" * 64)
    code, text = run_cli(
        "data", "prepare", "--dataset", "folder", "--data-root", str(root), "--out", str(tmp_path / "prep")
    )
    assert code == 1 and "no video could be prepared" in text and "a/broken.mp4" in text
