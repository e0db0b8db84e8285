"""Real-dataset support: official split formats, the ``folder`` dataset, ``data check``.

Split files are hand-written here in the exact official formats (docs/protocols.md);
videos are the test's own small lossless files (tests/conftest.py) or the real clips of
../shared/videos (skipped when absent).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import SHARED_VIDEOS, write_lossless_mp4, write_lossless_video

from vssl_bench.config import Config, ConfigError
from vssl_bench.data import splits
from vssl_bench.data.check import CACHE_NAME, check_dataset
from vssl_bench.data.datasets import DATASETS, PretrainDataset, VideoEntry, VideoList, VideoSource, build_dataset
from vssl_bench.data.samplers import random_clip

REAL = {
    "mmaction2_tests_data_test.avi": 164,
    "mmaction2_tests_data_test.mp4": 300,
    "mmaction2_demo_demo.mp4": 280,
    "mmaction2_demo_demo_spatiotemporal_det.mp4": 57,
}


def _frames(t: int, seed: int = 0, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, size, size, 3), dtype=np.uint8)


# ------------------------------------------------------------------------- UCF101
def test_ucf_class_index_is_one_based_and_testlist_has_no_labels(tmp_path):
    (tmp_path / "classInd.txt").write_text("2 BandMarching\r\n1 ApplyEyeMakeup\r\n3 HandstandPushups\r\n")
    (tmp_path / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nBandMarching/v_BandMarching_g09_c02.avi 2\n"
        "HandstandPushups/v_HandStandPushups_g08_c01.avi 3\n"
    )
    # the official testlist writes this class folder 'HandStandPushups' (case differs from classInd)
    (tmp_path / "testlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\nHandStandPushups/v_HandStandPushups_g01_c01.avi\n\n"
    )
    vids = tmp_path / "UCF-101"
    (vids / "HandstandPushups").mkdir(parents=True)
    (vids / "HandstandPushups" / "v_HandStandPushups_g01_c01.avi").write_bytes(b"")
    classes = splits.read_ucf_class_index(tmp_path / "classInd.txt")
    assert classes == ["ApplyEyeMakeup", "BandMarching", "HandstandPushups"]
    train = splits.read_ucf_list(tmp_path / "trainlist01.txt", vids, classes)
    assert [e.label for e in train] == [0, 1, 2]
    test = splits.read_ucf_list(tmp_path / "testlist01.txt", vids, classes)
    assert [e.label for e in test] == [0, 2]
    assert test[1].path == str(vids / "HandstandPushups" / "v_HandStandPushups_g01_c01.avi")  # case fixed


def test_ucf_bad_files_raise_config_error(tmp_path):
    (tmp_path / "classInd.txt").write_text("0 A\n1 B\n")
    with pytest.raises(ConfigError, match="1..2"):
        splits.read_ucf_class_index(tmp_path / "classInd.txt")
    (tmp_path / "t.txt").write_text("A/x.avi 5\n")
    with pytest.raises(ConfigError, match="outside 1..2"):
        splits.read_ucf_list(tmp_path / "t.txt", tmp_path, ["A", "B"])


# ------------------------------------------------------------------------- HMDB51
def _hmdb(root):
    s = root / "testTrainMulti_7030_splits"
    s.mkdir(parents=True)
    # official lines end with a space; 1 = train, 2 = test, 0 = unused
    (s / "wave_test_split1.txt").write_text("w_a.avi 1 \nw_b.avi 2 \nw_c.avi 0 \n")
    (s / "brush_hair_test_split1.txt").write_text("b_a.avi 2 \nb_b.avi 1 \nb_c.avi 1 \n")
    (s / "brush_hair_test_split2.txt").write_text("b_a.avi 1 \n")
    return s


def test_hmdb_ids_and_sorted_classes(tmp_path):
    s = _hmdb(tmp_path)
    train, test, classes = splits.read_hmdb_splits(s, tmp_path / "hmdb51_org", 1)
    assert classes == ["brush_hair", "wave"]
    assert [(e.path.split("/")[-2:], e.label) for e in train] == [
        (["brush_hair", "b_b.avi"], 0),
        (["brush_hair", "b_c.avi"], 0),
        (["wave", "w_a.avi"], 1),
    ]
    assert [e.path.split("/")[-1] for e in test] == ["b_a.avi", "w_b.avi"]
    assert not any("w_c" in e.path for e in train + test)  # id 0: unused
    (s / "wave_test_split1.txt").write_text("w_a.avi 3\n")
    with pytest.raises(ConfigError, match="0|1|2"):
        splits.read_hmdb_splits(s, tmp_path, 1)


def test_hmdb51_dataset_layout(tmp_path):
    _hmdb(tmp_path)
    (tmp_path / "hmdb51_org" / "wave").mkdir(parents=True)
    train, test = DATASETS["hmdb51"].build(Config(dataset="hmdb51", data_root=str(tmp_path)))
    assert train.entries[0].path.startswith(str(tmp_path / "hmdb51_org"))
    with pytest.raises(ConfigError, match="split"):
        DATASETS["hmdb51"].build(Config(dataset="hmdb51", data_root=str(tmp_path), split=4))


# ----------------------------------------------------------------- Kinetics / SSv2
def test_kinetics_csv_layouts_and_missing_files(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "train.csv").write_text(
        "label,youtube_id,time_start,time_end,split\n"
        'abseiling,--07WQ2iBlw,1,11,train\n"air drumming",-0Dp5-3bPcU,30,40,train\n'
        "abseiling,gone0000000,5,15,train\n"
    )
    (tmp_path / "annotations" / "validate.csv").write_text(
        "label,youtube_id,time_start,time_end,split\nair drumming,val0000000a,0,10,val\n"
    )
    (tmp_path / "train" / "abseiling").mkdir(parents=True)
    (tmp_path / "train" / "abseiling" / "--07WQ2iBlw_000001_000011.mp4").write_bytes(b"x")
    (tmp_path / "train" / "-0Dp5-3bPcU_000030_000040.mp4").write_bytes(b"x")  # flat layout
    (tmp_path / "val" / "air_drumming").mkdir(parents=True)
    (tmp_path / "val" / "air_drumming" / "val0000000a_000000_000010.mp4").write_bytes(b"x")
    train, test = DATASETS["kinetics"].build(Config(dataset="kinetics", data_root=str(tmp_path)))
    assert train.classes == ["abseiling", "air drumming"]
    assert [e.label for e in train.entries] == [0, 1] and [e.label for e in test.entries] == [1]
    assert len(train.missing) == 1 and train.missing[0].endswith("gone0000000_000005_000015.mp4")


def test_ssv2_templates_without_brackets(tmp_path):
    labels = {"Holding something next to something": "1", "Pushing something from left to right": "0"}
    (tmp_path / "something-something-v2-labels.json").write_text(json.dumps(labels))
    items = [
        {
            "id": "78687",
            "label": "holding potato next to vicks",
            "template": "Holding [something] next to [something]",
            "placeholders": ["potato", "vicks"],
        },
        {
            "id": "42326",
            "label": "pushing cup from left to right",
            "template": "Pushing [something] from left to right",
            "placeholders": ["cup"],
        },
    ]
    (tmp_path / "something-something-v2-train.json").write_text(json.dumps(items))
    (tmp_path / "something-something-v2-validation.json").write_text(json.dumps(items[:1]))
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "78687.webm").write_bytes(b"x")
    train, test = DATASETS["ssv2"].build(Config(dataset="ssv2", data_root=str(tmp_path)))
    assert train.classes == ["Pushing something from left to right", "Holding something next to something"]
    assert [e.label for e in train.entries] == [1] and len(train.missing) == 1
    assert train.missing[0].endswith("42326.webm")


# ------------------------------------------------------------------- folder + check
@pytest.fixture
def folder_root(tmp_path):
    """3 classes x 3 lossless 20-frame videos, 32x32."""
    root = tmp_path / "vids"
    for c, cls in enumerate(["jump", "run", "walk"]):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            write_lossless_video(root / cls / f"{cls}{i}.mkv", _frames(20, 10 * c + i))
    return root


def test_folder_seeded_split(folder_root):
    cfg = Config(dataset="folder", data_root=str(folder_root), folder_test_ratio=0.34)
    train, test = build_dataset(cfg)
    assert train.classes == ["jump", "run", "walk"]
    assert len(train) == 6 and len(test) == 3
    assert sorted(e.label for e in test.entries) == [0, 1, 2]  # stratified
    again = build_dataset(cfg)[1]
    assert [e.path for e in again.entries] == [e.path for e in test.entries]  # seeded
    other = [build_dataset(Config(dataset="folder", data_root=str(folder_root), split=s))[1] for s in (2, 3, 4)]
    assert any([e.path for e in o.entries] != [e.path for e in test.entries] for o in other)
    with pytest.raises(ConfigError, match="folder_test_ratio"):
        build_dataset(Config(dataset="folder", data_root=str(folder_root), folder_test_ratio=1.0))


def test_data_fingerprint_of_a_folder_is_its_split(folder_root, tmp_path):
    """Without a generator's content digest, the provenance digest is the split's listing
    (relative paths + labels): a copy elsewhere gives the same, another split does not."""
    import shutil

    from vssl_bench.data.datasets import data_fingerprint

    fp = data_fingerprint(*build_dataset(Config(dataset="folder", data_root=str(folder_root))))
    assert "content_sha256" not in fp and fp["digest"] == fp["listing_sha256"][:16] and fp["videos"] == 9
    copy = shutil.copytree(folder_root, tmp_path / "elsewhere")
    assert data_fingerprint(*build_dataset(Config(dataset="folder", data_root=str(copy))))["digest"] == fp["digest"]
    other = data_fingerprint(*build_dataset(Config(dataset="folder", data_root=str(folder_root), split=2)))
    assert other["digest"] != fp["digest"]


def test_folder_list_files(folder_root):
    (folder_root / "trainlist.txt").write_text("jump/jump0.mkv 1\nrun/run0.mkv 2\nwalk/walk0.mkv 3\n")
    (folder_root / "testlist.txt").write_text("walk/walk1.mkv\n")
    train, test = build_dataset(Config(dataset="folder", data_root=str(folder_root)))
    assert [e.label for e in train.entries] == [0, 1, 2] and [e.label for e in test.entries] == [2]
    # decoded exactly (lossless) through the training-time reader
    src = VideoSource(test.entries[0].path, cache_mb=0)
    assert src.n_frames == 20
    np.testing.assert_array_equal(src.read(np.arange(4)), _frames(20, 21)[:4])


def test_check_counts_corrupt_and_short(folder_root):
    good = write_lossless_mp4(folder_root / "run" / "good.mp4", _frames(30, 7))
    data = good.read_bytes()
    (folder_root / "run" / "trunc.mp4").write_bytes(data[: len(data) // 2])  # no index: unreadable
    write_lossless_video(folder_root / "walk" / "short.mkv", _frames(5, 9))
    cfg = Config(dataset="folder", data_root=str(folder_root), folder_test_ratio=0.3)
    rep = check_dataset(cfg)
    assert rep.usable, rep.fatal
    bad = [r for r in rep.records if r.status == "unreadable"]
    assert [r.path.split("/")[-1] for r in bad] == ["trunc.mp4"]
    assert [r.frames for r in rep.short] == [5]
    assert any("short" in p for p in rep.problems) and any("unreadable" in p for p in rep.problems)
    assert rep.summary()["frames_max"] == 30
    # second check is answered from the cache keyed by path + size + mtime
    assert (folder_root / CACHE_NAME).is_file()
    assert check_dataset(cfg).cached == len(rep.records)
    # the training dataset skips (and counts) the corrupt file instead of crashing
    vl = VideoList([VideoEntry(str(folder_root / "run" / "trunc.mp4"), 1), VideoEntry(str(good), 1)], ["a", "b"])
    ds = PretrainDataset(
        vl, lambda src, rng: {"x": src.clip(random_clip(src.n_frames, 4, 1, rng))}, Config(cache_decoded_mb=0), seed=0
    )
    s = ds[0]
    assert s["skipped"] >= 1 and s["index"] == 1 and s["x"].shape == (3, 4, 32, 32)


def test_check_exit_codes(folder_root, run_cli):
    code, out = run_cli("data", "check", "--dataset", "folder", "--data-root", str(folder_root))
    assert code == 0 and "usable" in out
    # a class whose only videos are corrupt has no train video: unusable
    (folder_root / "zzz").mkdir()
    (folder_root / "zzz" / "broken.mp4").write_bytes(b"\x00" * 100)
    code, out = run_cli("data", "check", "--dataset", "folder", "--data-root", str(folder_root))
    assert code == 1 and "class(es) without a readable train video: zzz" in out
    code, out = run_cli("data", "check", "--dataset", "folder", "--data-root", str(folder_root / "nope"))
    assert code == 2 and "does not exist" in out


@pytest.mark.skipif(not SHARED_VIDEOS.is_dir(), reason="../shared/videos absent")
def test_real_clips_as_folder_dataset(tmp_path):
    root = tmp_path / "real"
    for i, name in enumerate(REAL):
        (root / f"class{i % 2}").mkdir(parents=True, exist_ok=True)
        shutil.copy(SHARED_VIDEOS / name, root / f"class{i % 2}" / name)
    cfg = Config(dataset="folder", data_root=str(root), folder_test_ratio=0.5)
    rep = check_dataset(cfg)
    assert rep.usable and {r.path.split("/")[-1]: r.frames for r in rep.records} == REAL
    assert [r.frames for r in rep.short] == []  # 16-frame clips fit every clip
    for r in rep.records:
        src = VideoSource(r.path, cache_mb=0, resize_to=128)
        assert src.n_frames == REAL[r.path.split("/")[-1]]
        clip = src.clip(np.arange(src.n_frames - 16, src.n_frames))  # the last frames decode too
        assert clip.shape[:2] == (3, 16) and min(clip.shape[2:]) == 128
