"""Tests of the embedded synthetic dataset generator (vssl_bench/data/synthetic.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from vssl_bench.data import synthetic
from vssl_bench.data.synthetic import CLASS_NAMES, CLASSES, generate, render_video

SMALL = {"size": 32, "frames": 16}


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


# ------------------------------------------------------------------ rendering


def test_render_shape_dtype_and_determinism() -> None:
    for name in CLASS_NAMES:
        a = render_video(name, _rng(3, 1), **SMALL)
        b = render_video(name, _rng(3, 1), **SMALL)
        assert a.shape == (16, 32, 32, 3) and a.dtype == np.uint8
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, render_video(name, _rng(3, 2), **SMALL))


def test_render_size_64() -> None:
    video = render_video("Shatter", _rng(0), size=64, frames=8)
    assert video.shape == (8, 64, 64, 3)


def test_different_classes_differ() -> None:
    videos = {n: render_video(n, _rng(7), **SMALL).astype(np.int16) for n in CLASS_NAMES}
    for i, a in enumerate(CLASS_NAMES):
        for b in CLASS_NAMES[i + 1 :]:
            assert np.abs(videos[a] - videos[b]).mean() > 1.0, (a, b)


def test_class_specs_consistent() -> None:
    assert len(CLASS_NAMES) == len(set(CLASS_NAMES)) >= 12
    by_name = {c.name: c for c in CLASSES}
    for c in CLASSES:
        assert re.fullmatch(r"[A-Za-z0-9]+", c.name), "UCF101-style names: no '_' or spaces"
        if c.time_asymmetric:
            assert c.reverse_of is None, f"the reverse of {c.name} must not be a class"
        else:
            assert c.reverse_of in by_name and by_name[c.reverse_of].reverse_of == c.name
    assert sum(c.time_asymmetric for c in CLASSES) >= 4
    appearances = {tuple(sorted(a.items())) for a in synthetic.CLASS_APPEARANCE.values()}
    assert len(appearances) == len(CLASSES), "biased appearance must identify the class"


@pytest.mark.parametrize("seed", [0, 1])
def test_reverse_pairs_are_exact_time_reversals(seed: int) -> None:
    for c in CLASSES:
        if c.reverse_of is None:
            continue
        a = render_video(c.name, _rng(seed, 5), **SMALL)
        b = render_video(c.reverse_of, _rng(seed, 5), **SMALL)
        np.testing.assert_array_equal(a, b[::-1])


def test_main_object_trajectories() -> None:
    for seed in range(5):
        centres = {n: synthetic._render_with_centre(n, _rng(seed), 32, 32, None)[1] for n in CLASS_NAMES}
        dx = {n: c[-1, 0] - c[0, 0] for n, c in centres.items()}
        dy = {n: c[-1, 1] - c[0, 1] for n, c in centres.items()}
        assert dx["MoveLeftSlow"] < -4 and dx["MoveRightSlow"] > 4
        assert dx["MoveLeftFast"] < -12 and dx["MoveRightFast"] > 12
        assert abs(dx["MoveLeftFast"]) > abs(dx["MoveLeftSlow"])  # camera drift < speed gap
        assert dy["MoveUp"] < -6 and dy["MoveDown"] > 6
        np.testing.assert_allclose(centres["MoveLeftSlow"], centres["MoveRightSlow"][::-1])


def _world_centre(name: str, seed: int) -> np.ndarray:
    return synthetic._scene(name, _rng(seed), 32, 32, None)[1]  # (T, 2)


def test_bounce_loses_energy() -> None:
    for seed in range(8):
        y = _world_centre("Bounce", seed)[:, 1]  # y grows downwards; floor = max(y)
        height = y.max() - y
        # Apex heights after the first floor contact must decrease.
        first = int(np.argmax(height < 1e-6))
        apexes = [
            height[i] for i in range(first + 1, len(y) - 1) if height[i] >= height[i - 1] and height[i] > height[i + 1]
        ]
        assert all(b < a for a, b in zip(apexes, apexes[1:])), (seed, apexes)
        assert height[first:].max() < height[: first + 1].max()


def test_slide_and_enter_decelerate_to_rest() -> None:
    for name in ("SlideToRest", "EnterAndStop"):
        for seed in range(5):
            c = _world_centre(name, seed)
            speed = np.linalg.norm(np.diff(c, axis=0), axis=1)  # (T-1,)
            moving = speed[speed > 1e-9][1:]  # skip the (partial-frame) push
            assert np.all(np.diff(moving) <= 1e-6), (name, seed)
            assert speed[-1] < 1e-6, "must end at rest"


def test_appearance_override() -> None:
    a = render_video("Grow", _rng(1), **SMALL, appearance={"shape": "square", "colour": "red"})
    b = render_video("Grow", _rng(1), **SMALL, appearance={"shape": "circle", "colour": "blue"})
    assert not np.array_equal(a, b)
    with pytest.raises(ValueError, match="valid"):
        render_video("Grow", _rng(1), **SMALL, appearance={"shape": "hexagon"})
    with pytest.raises(ValueError, match="valid"):
        render_video("NoSuchClass", _rng(1), **SMALL)


# ------------------------------------------------------------------ generation


def _read_lines(path: Path) -> list[str]:
    text = path.read_text()
    assert text.endswith("\n")
    return text.splitlines()


def _group(relpath: str) -> int:
    return int(re.search(r"_g(\d+)_c\d+\.mp4$", relpath).group(1))


def test_generate_layout_idempotent_and_decodable(tmp_path: Path) -> None:
    decord = pytest.importorskip("decord")
    root = generate(tmp_path / "ds", train_per_class=1, test_per_class=1, workers=1, **SMALL)
    assert (root / ".complete").exists()

    class_ind = _read_lines(root / "splits" / "classInd.txt")
    assert class_ind == [f"{k + 1} {n}" for k, n in enumerate(CLASS_NAMES)]
    train = _read_lines(root / "splits" / "trainlist01.txt")
    test = _read_lines(root / "splits" / "testlist01.txt")
    assert len(train) == len(test) == len(CLASSES)
    for line in train:
        m = re.fullmatch(r"(\w+)/v_\1_g(\d{2})_c(\d{2})\.mp4 (\d+)", line)
        assert m, line
        assert CLASS_NAMES[int(m.group(4)) - 1] == m.group(1)
        assert (root / line.split()[0]).is_file()
    for line in test:
        assert re.fullmatch(r"(\w+)/v_\1_g(\d{2})_c(\d{2})\.mp4", line), line
        assert (root / line).is_file()
    assert not {_group(x.split()[0]) for x in train} & {_group(x) for x in test}
    assert not (root / "splits" / "testlist_conflict01.txt").exists()

    meta = json.loads((root / "meta.json").read_text())
    assert meta["version"] == synthetic.SYNTHETIC_VERSION
    assert meta["params"]["frames"] == 16 and meta["params"]["seed"] == 0
    assert [c["name"] for c in meta["classes"]] == CLASS_NAMES
    assert meta["reverse_pairs"]["Grow"] == "Shrink" and meta["time_asymmetric"]["Bounce"] is True

    # Idempotent: a second call writes nothing.
    files = sorted(root.rglob("*"))
    mtimes = [p.stat().st_mtime_ns for p in files]
    assert generate(tmp_path / "ds", train_per_class=1, test_per_class=1, workers=1, **SMALL) == root
    assert [p.stat().st_mtime_ns for p in files] == mtimes

    # decord reads back what render_video produced (lossy, but close).
    errors = []
    for line in train[:6]:
        rel, label = line.split()
        k = int(label) - 1
        reader = decord.VideoReader(str(root / rel))
        assert len(reader) == 16
        decoded = reader.get_batch(list(range(16))).asnumpy()  # (T, H, W, 3)
        assert decoded.shape == (16, 32, 32, 3)
        original = render_video(CLASS_NAMES[k], np.random.default_rng([0, k, 0, 0]), **SMALL)
        errors.append(np.abs(decoded.astype(np.float64) - original).mean())
    assert np.mean(errors) < 12, errors


def test_encoding_is_byte_reproducible(tmp_path: Path) -> None:
    """The same frames give the same file, every time (x264's macroblock-tree rate control
    did not: 30 of 48 videos differed between two encodes, synthetic.X264_PARAMS)."""
    for k, name in enumerate(CLASS_NAMES):
        video = render_video(name, np.random.default_rng([0, k, 0, 0]), size=32, frames=32)
        files = []
        for j in range(3):
            synthetic.write_mp4(tmp_path / f"{j}.mp4", video)
            files.append((tmp_path / f"{j}.mp4").read_bytes())
        assert files[0] == files[1] == files[2], name


def test_generation_is_reproducible_and_digested(tmp_path: Path) -> None:
    """Two generations (1 process, then 2 workers in another order) write identical bytes;
    meta.json's content_sha256 is their digest, and changes with any video."""
    a = generate(tmp_path / "a", train_per_class=1, test_per_class=1, workers=1, **SMALL)
    b = generate(tmp_path / "b", train_per_class=1, test_per_class=1, workers=2, **SMALL)
    videos = sorted(p.relative_to(a).as_posix() for p in a.rglob("*.mp4"))
    assert len(videos) == 2 * len(CLASSES)
    assert all((a / v).read_bytes() == (b / v).read_bytes() for v in videos)
    digest = json.loads((a / "meta.json").read_text())["content_sha256"]
    assert digest == json.loads((b / "meta.json").read_text())["content_sha256"]
    assert digest == synthetic.content_digest(a, videos)
    with open(a / videos[0], "ab") as f:
        f.write(b"\0")
    assert synthetic.content_digest(a, videos) != digest


def test_concurrent_generations_share_one_dataset(tmp_path: Path) -> None:
    """Two processes asking for the same dataset at once (``run --jobs 2`` on a fresh
    cache): one generates, the other waits for it; neither deletes what the other reads."""
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from vssl_bench.data.synthetic import generate; "
        "r = generate(Path(sys.argv[1]), train_per_class=2, test_per_class=1, workers=1, size=32, frames=16); "
        "files = [l.split()[0] for f in ('trainlist01.txt', 'testlist01.txt') for l in "
        "(r / 'splits' / f).read_text().splitlines()]\n"
        "import time; t = time.monotonic()\n"
        "while time.monotonic() - t < 2:  # reading, as a job would, while the other process finishes\n"
        "    assert all((r / x).stat().st_size > 0 for x in files)\n"
        "print(len(files))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "ds")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert [o.strip() for o, _ in outs] == [str(3 * len(CLASSES))] * 2
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    assert meta["generation_seconds"] > 0 and (tmp_path / "ds" / ".complete").exists()
    assert not list(tmp_path.glob(".ds.tmp-*"))  # no leftover copy


def test_unguarded_script_fails_with_advice_instead_of_hanging(tmp_path: Path) -> None:
    """A script calling ``generate(workers=2)`` at its top level, with no ``__main__``
    guard: each spawned worker re-imports the script and would wait for the lock its parent
    holds (the generation hung forever, 0 % CPU). It must end, with the fix in the message."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "from vssl_bench.data.synthetic import generate\n"
        f"generate({str(tmp_path / 'ds')!r}, train_per_class=1, test_per_class=1, size=16, frames=4, "
        "workers=2)\nprint('generated')\n"
    )
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode != 0 and "generated" not in r.stdout
    assert "if __name__ == '__main__':" in r.stderr.splitlines()[-1]
    assert not (tmp_path / "ds").exists() and not list(tmp_path.glob(".ds.tmp-*"))
    guarded = tmp_path / "guarded.py"
    guarded.write_text(
        "from vssl_bench.data.synthetic import generate\nif __name__ == '__main__':\n    "
        + script.read_text().splitlines()[1]
        + "\n    print('generated')\n"
    )
    r = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "generated", r.stderr
    assert (tmp_path / "ds" / ".complete").exists()


def test_generate_biased_writes_conflict_list(tmp_path: Path) -> None:
    root = generate(tmp_path / "b", "appearance-biased", train_per_class=1, test_per_class=1, workers=2, **SMALL)
    conflict = _read_lines(root / "splits" / "testlist_conflict01.txt")
    test = _read_lines(root / "splits" / "testlist01.txt")
    train = [x.split()[0] for x in _read_lines(root / "splits" / "trainlist01.txt")]
    assert len(conflict) == len(CLASSES)
    assert all((root / x).is_file() for x in conflict)
    groups = [{_group(x) for x in split} for split in (train, test, conflict)]
    assert not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    assert json.loads((root / "meta.json").read_text())["class_appearance"] == synthetic.CLASS_APPEARANCE


def test_biased_appearance_assignment() -> None:
    jobs = synthetic._jobs("appearance-biased", 50, 10, seed=0)
    own = [app == synthetic.CLASS_APPEARANCE[CLASS_NAMES[k]] for _, k, _, _, app in jobs["train"]]
    assert 0.7 < np.mean(own) < 0.9
    for _, k, _, _, app in jobs["conflict"]:
        assert app is not None and app != synthetic.CLASS_APPEARANCE[CLASS_NAMES[k]]
    assert all(app is None for *_, app in synthetic._jobs("default", 5, 5, seed=0)["train"])


def test_incomplete_dataset_is_redone(tmp_path: Path) -> None:
    root = generate(tmp_path / "ds", train_per_class=1, test_per_class=1, workers=1, **SMALL)
    (root / ".complete").unlink()
    (root / "Grow" / "v_Grow_g01_c01.mp4").unlink()
    generate(root, train_per_class=1, test_per_class=1, workers=1, **SMALL)
    assert (root / ".complete").exists() and (root / "Grow" / "v_Grow_g01_c01.mp4").is_file()

    foreign = tmp_path / "not_ours"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a synthetic dataset"):
        generate(foreign, train_per_class=1, test_per_class=1, workers=1, **SMALL)
    assert (foreign / "precious.txt").exists()


def test_copy_left_by_a_killed_generation_is_removed(tmp_path: Path) -> None:
    """A generation SIGKILLed half-way leaves its temporary copy (its ``finally`` never
    runs); the next generation of that dataset, holding the lock, removes it."""
    stale = tmp_path / ".ds.tmp-999999"
    (stale / "Grow").mkdir(parents=True)
    (stale / "Grow" / "half_written.mp4").write_bytes(b"\x00" * 100)
    other = tmp_path / ".other.tmp-999999"  # another dataset's: not ours to touch
    other.mkdir()
    generate(tmp_path / "ds", train_per_class=1, test_per_class=1, workers=1, **SMALL)
    assert not stale.exists() and other.exists() and (tmp_path / "ds" / ".complete").exists()


def test_bad_variant_lists_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="default.*appearance-biased"):
        generate(tmp_path / "x", "nope")
    with pytest.raises(ValueError, match="valid choices"):
        synthetic.dataset_dir(tmp_path, "nope")
    assert not (tmp_path / "x").exists()


def test_dataset_dir_and_cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = synthetic.dataset_dir(tmp_path, "default", 32, 32, 0)
    assert d == tmp_path / f"synthetic-default-v{synthetic.SYNTHETIC_VERSION}-s32-f32-seed0"
    assert synthetic.dataset_dir(tmp_path, "appearance-biased", 64, 16, 3, train_per_class=10) != d
    monkeypatch.setenv("VSSL_BENCH_DATA", str(tmp_path / "data"))
    assert synthetic.default_cache_root() == tmp_path / "data"
    monkeypatch.delenv("VSSL_BENCH_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert synthetic.default_cache_root() == tmp_path / "cache" / "vssl-bench"


def test_generation_without_pyav_is_one_clear_error(tmp_path, monkeypatch) -> None:
    """No PyAV: one error naming it before any worker starts (it was a traceback from each
    worker's first video); an existing dataset is still used without it."""
    import sys

    from vssl_bench.config import ConfigError

    kw = dict(train_per_class=1, test_per_class=1, size=16, frames=4, workers=0)
    done = synthetic.generate(tmp_path / "done", **kw)  # with PyAV
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` raises ImportError
    with pytest.raises(ConfigError, match="PyAV"):
        synthetic.generate(tmp_path / "d", **{**kw, "workers": 2})
    assert not (tmp_path / "d").exists()
    assert synthetic.generate(tmp_path / "done", **kw) == done
