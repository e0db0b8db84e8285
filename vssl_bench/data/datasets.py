"""Datasets: the registry, split parsing, and the torch Datasets used for training/eval.

A dataset resolves to two :class:`VideoList` (train, test) of ``(path, label)`` entries
plus its class names. Samples are dicts with fixed keys (pytorchvideo habit):
``{"index", "label", "skipped", "unreadable", ...views}`` where views are (C, T, H, W)
tensors (float, or raw uint8 finished with their batch: ``transforms``).

Unreadable videos never crash a run: a failed read is counted in the sample's ``skipped``
field (summed by the training loop into the job's metrics), its reason travels in the
sample's ``unreadable`` field, and the video is replaced by another of the same split
(evaluation samples say ``ok=False`` instead). The process that consumes the batches logs
each file once (:func:`warn_unreadable`): DataLoader workers do not log, or every worker of
every loader would report the same file again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from vssl_bench.config import Config, ConfigError, choice_error, register_key_part
from vssl_bench.data import samplers, synthetic, transforms
from vssl_bench.data.splits import (  # noqa: F401
    VideoEntry,
    folder_classes,
    folder_split,
    read_hmdb_splits,
    read_kinetics_csv,
    read_ssv2,
    read_ucf_class_index,
    read_ucf_list,
)
from vssl_bench.data.video import Reader, VideoDecodeError, decoded_cache

log = logging.getLogger("vssl_bench.data")


@dataclass
class VideoList:
    entries: list[VideoEntry]
    classes: list[str]
    root: str = ""
    name: str = ""
    missing: list[str] = field(default_factory=list)  # files named by the split but absent (dropped)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def labels(self) -> np.ndarray:
        return np.array([e.label for e in self.entries], dtype=np.int64)


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    build: Callable[[Config], tuple[VideoList, VideoList]]
    embedded: bool = False
    # Does a horizontal flip keep a video's class? Not where left and right define classes
    # (the embedded data's move_left / move_right, SSv2's "from left to right"): there a
    # flipped clip is another class, and augmentations must not flip (Config.hflip).
    flip_keeps_class: bool = True


def flips_allowed(cfg: Config) -> bool:
    """May training views be flipped horizontally? ``Config.hflip``: ``auto`` follows the
    dataset (:attr:`DatasetSpec.flip_keeps_class`), ``on`` / ``off`` decide."""
    if cfg.hflip != "auto":
        return cfg.hflip == "on"
    spec = DATASETS.get(cfg.dataset)
    return spec.flip_keeps_class if spec is not None else True


def _synthetic_builder(variant: str, test_list: str = "testlist01.txt"):
    def build(cfg: Config) -> tuple[VideoList, VideoList]:
        root = synthetic_root(cfg, variant)
        if not (root / ".complete").exists():
            synthetic.generate(root, variant, **synthetic_kwargs(cfg))
        return ucf_style_lists(root, split_files=("trainlist01.txt", test_list), name=cfg.dataset)

    return build


def synthetic_kwargs(cfg: Config) -> dict:
    """Generator parameters for a job (size follows the crop size)."""
    return {
        "size": max(cfg.size, 32),
        "seed": 0,
        "train_per_class": cfg.synthetic_train_per_class,
        "test_per_class": cfg.synthetic_test_per_class,
    }


def synthetic_root(cfg: Config, variant: str) -> Path:
    base = Path(cfg.data_root).expanduser() if cfg.data_root else synthetic.default_cache_root()
    return synthetic.dataset_dir(base, variant, **synthetic_kwargs(cfg))


def ucf_style_lists(
    root: Path, split_files=("trainlist01.txt", "testlist01.txt"), name: str = ""
) -> tuple[VideoList, VideoList]:
    splits = root / "splits"
    classes = read_ucf_class_index(splits / "classInd.txt")
    train = read_ucf_list(splits / split_files[0], root, classes)
    test = read_ucf_list(splits / split_files[1], root, classes)
    return (VideoList(train, classes, str(root), name), VideoList(test, classes, str(root), name))


def _ucf101(cfg: Config) -> tuple[VideoList, VideoList]:
    root = require_root(cfg)
    splits = root / "ucfTrainTestlist"
    if not splits.is_dir():
        raise ConfigError(f"{root} has no ucfTrainTestlist/ folder (the official UCF101 split files)")
    _check_split(cfg)
    classes = read_ucf_class_index(splits / "classInd.txt")
    vids = root / "UCF-101" if (root / "UCF-101").is_dir() else root
    train = read_ucf_list(splits / f"trainlist0{cfg.split}.txt", vids, classes)
    test = read_ucf_list(splits / f"testlist0{cfg.split}.txt", vids, classes)
    return VideoList(train, classes, str(root), "ucf101"), VideoList(test, classes, str(root), "ucf101")


def _check_split(cfg: Config) -> None:
    if cfg.split not in (1, 2, 3):
        raise choice_error("split", cfg.split, [1, 2, 3])


def _hmdb51(cfg: Config) -> tuple[VideoList, VideoList]:
    """HMDB51: ``<root>/testTrainMulti_7030_splits/`` and the videos in ``<root>/<class>/``
    or ``<root>/hmdb51_org/<class>/`` (the official RAR extracts to one folder per class)."""
    root = require_root(cfg)
    splits = root / "testTrainMulti_7030_splits"
    if not splits.is_dir():
        raise ConfigError(f"{root} has no testTrainMulti_7030_splits/ folder (the official HMDB51 split files)")
    _check_split(cfg)
    vids = root / "hmdb51_org" if (root / "hmdb51_org").is_dir() else root
    train, test, classes = read_hmdb_splits(splits, vids, cfg.split)
    return VideoList(train, classes, str(root), "hmdb51"), VideoList(test, classes, str(root), "hmdb51")


def _first(paths: list[Path], what: str) -> Path:
    for p in paths:
        if p.exists():
            return p
    raise ConfigError(f"no {what}; looked for {', '.join(str(p) for p in paths)}")


def _kinetics(cfg: Config) -> tuple[VideoList, VideoList]:
    """Kinetics: CSVs ``{train,validate|val}.csv`` in ``<root>/annotations/`` or ``<root>/``;
    clips in ``<root>/{train,val|validate}/[<label>/]``. Clips named in the CSV but absent
    (deleted from YouTube) are dropped, counted in ``VideoList.missing`` and logged."""
    root = require_root(cfg)
    lists = []
    classes = None
    for split, names in (("train", ("train",)), ("val", ("validate", "val"))):
        csv_path = _first([root / d / f"{n}.csv" for d in ("annotations", ".") for n in names], f"Kinetics {split} CSV")
        vdir = next((root / n for n in names if (root / n).is_dir()), root / names[0])
        found, missing, classes = read_kinetics_csv(csv_path, vdir, classes)
        if missing:
            log.warning(
                "kinetics %s: %d of %d clips named in %s are missing (skipped; see `vssl-bench data check`)",
                split,
                len(missing),
                len(found) + len(missing),
                csv_path.name,
            )
        lists.append(VideoList(found, classes, str(root), "kinetics", missing))
    return lists[0], lists[1]


def _ssv2(cfg: Config) -> tuple[VideoList, VideoList]:
    """Something-Something v2: the three JSON files in ``<root>/`` or ``<root>/labels/``;
    videos ``<root>/videos/<id>.webm`` (or ``.mp4``; ``20bn-something-something-v2/`` also
    accepted). The validation set is the test split (the test labels were never released)."""
    root = require_root(cfg)
    ann = _first([root / "labels", root / "annotations", root], "SSv2 annotation folder")
    if (
        not (ann / "something-something-v2-labels.json").exists()
        and (root / "something-something-v2-labels.json").exists()
    ):
        ann = root
    vids = _first([root / "videos", root / "20bn-something-something-v2", root], "SSv2 videos folder")
    labels = ann / "something-something-v2-labels.json"
    out = []
    for split, fname in (
        ("train", "something-something-v2-train.json"),
        ("validation", "something-something-v2-validation.json"),
    ):
        found, missing, classes = read_ssv2(ann / fname, labels, vids)
        if missing:
            log.warning("ssv2 %s: %d of %d videos missing (skipped)", split, len(missing), len(found) + len(missing))
        out.append(VideoList(found, classes, str(root), "ssv2", missing))
    return out[0], out[1]


def _folder(cfg: Config) -> tuple[VideoList, VideoList]:
    """Any folder of videos, one sub-folder per class. Split by ``trainlist.txt`` /
    ``testlist.txt`` (UCF format; labels refer to ``classInd.txt`` if present, else to the
    sorted class folders, 1-based) when present in ``<root>/`` or ``<root>/splits/``;
    otherwise per class at random with ratio ``folder_test_ratio`` and seed ``split``
    (splits 1, 2, 3 are three different draws; the job seed does not change the split)."""
    root = require_root(cfg)
    lists = next((d for d in (root, root / "splits") if (d / "trainlist.txt").is_file()), None)
    if lists is not None:
        cind = lists / "classInd.txt"
        classes = read_ucf_class_index(cind) if cind.is_file() else folder_classes(root)
        if not (lists / "testlist.txt").is_file():
            raise ConfigError(f"{lists} has trainlist.txt but no testlist.txt")
        train = read_ucf_list(lists / "trainlist.txt", root, classes)
        test = read_ucf_list(lists / "testlist.txt", root, classes)
    else:
        train, test, classes = folder_split(root, cfg.folder_test_ratio, cfg.split)
    if not classes:
        raise ConfigError(f"{root} has no class sub-folders (expected <root>/<class>/<video>)")
    return VideoList(train, classes, str(root), "folder"), VideoList(test, classes, str(root), "folder")


def require_root(cfg: Config) -> Path:
    if not cfg.data_root:
        raise ConfigError(f"dataset {cfg.dataset!r} needs --data-root DIR (nothing is downloaded)")
    root = Path(cfg.data_root).expanduser()
    if not root.is_dir():
        raise ConfigError(f"data root {str(root)!r} does not exist or is not a folder")
    return root


DATASETS: dict[str, DatasetSpec] = {
    "synthetic": DatasetSpec(
        "synthetic",
        "embedded moving-shapes videos, motion-defined classes, random appearance",
        _synthetic_builder("default"),
        embedded=True,
        flip_keeps_class=False,
    ),
    "synthetic-biased": DatasetSpec(
        "synthetic-biased",
        "embedded, appearance correlated with the class (80 %), biased test set",
        _synthetic_builder("appearance-biased"),
        embedded=True,
        flip_keeps_class=False,
    ),
    "synthetic-conflict": DatasetSpec(
        "synthetic-conflict",
        "embedded, biased training set; test appearance belongs to another class",
        _synthetic_builder("appearance-biased", "testlist_conflict01.txt"),
        embedded=True,
        flip_keeps_class=False,
    ),
    "ucf101": DatasetSpec("ucf101", "UCF101 (--data-root with UCF-101/ and ucfTrainTestlist/)", _ucf101),
    "hmdb51": DatasetSpec(
        "hmdb51", "HMDB51 (--data-root with testTrainMulti_7030_splits/ and <class>/ or hmdb51_org/<class>/)", _hmdb51
    ),
    "kinetics": DatasetSpec(
        "kinetics", "Kinetics (--data-root with {train,validate}.csv and train/, val/ clips)", _kinetics
    ),
    "ssv2": DatasetSpec(
        "ssv2", "Something-Something v2 (--data-root with the 3 JSON files and videos/)", _ssv2, flip_keeps_class=False
    ),
    "folder": DatasetSpec(
        "folder", "any folder of videos, one sub-folder per class (seeded split or trainlist.txt/testlist.txt)", _folder
    ),
}


def _data_version(cfg: Config) -> dict:
    """The embedded generator's version joins the key of a job on embedded data: a new
    version is new data, so new jobs rather than skips of finished ones."""
    return {"synthetic_version": synthetic.SYNTHETIC_VERSION} if cfg.dataset.startswith("synthetic") else {}


register_key_part("data", _data_version)


def build_dataset(cfg: Config) -> tuple[VideoList, VideoList]:
    if cfg.dataset not in DATASETS:
        raise choice_error("dataset", cfg.dataset, list(DATASETS))
    train, test = DATASETS[cfg.dataset].build(cfg)
    if not train.entries and not test.entries:
        raise ConfigError(
            f"dataset {cfg.dataset!r} at {train.root or cfg.data_root}: no video found (expected "
            f"<class>/<video>.avi/.mp4/... files that its split lists)"
        )
    if not train.entries or not test.entries:
        raise ConfigError(f"dataset {cfg.dataset!r}: empty split (train {len(train)}, test {len(test)} videos)")
    if cfg.holdout == "val":
        train, test = validation_split(train, cfg.val_fraction)
    return train, test


VAL_SEED = 20261204  # the validation draw is the same for every job, method and seed


GROUP_RE = re.compile(r"_g(\d+)_c\d+$", re.IGNORECASE)  # UCF101's v_<Class>_g08_c01: group 8 = one actor / scene


def video_group(path: str) -> str | None:
    """The recording group in a UCF101-style name (``v_X_g08_c01.avi`` -> ``'08'``), else None."""
    m = GROUP_RE.search(Path(path).stem)
    return m.group(1) if m else None


def validation_split(train: VideoList, fraction: float) -> tuple[VideoList, VideoList]:
    """(rest, validation): about ``round(fraction * n_c)`` videos of each class c (at least
    one, never all) drawn from the training split with a fixed seed; the test split is never
    touched. Videos keep their labels and class list.

    The draw is by recording group: UCF101's ``_g08_c01`` names one recording (same actor
    and scene) cut into clips, and clips of one recording on both sides would make
    validation an easy near-duplicate match (UCF101's official splits split on groups too);
    a video whose name carries no group is a group of its own. Whole groups are taken in a
    fixed random order while they fit the class's share, then the group that brings the
    count closest to it, at least one and never every group. A class whose training videos
    are all one recording cannot be split without a leak: it stays whole in training (and
    is absent from validation), with a warning."""
    rng = np.random.default_rng(VAL_SEED)
    labels = train.labels
    val_idx: list[int] = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        if len(rows) < 2:
            continue
        k = min(len(rows) - 1, max(1, round(fraction * len(rows))))
        members: dict[str, list[int]] = {}
        for i in rows:
            members.setdefault(video_group(train.entries[i].path) or train.entries[i].path, []).append(int(i))
        if len(members) < 2:
            log.warning(
                "validation split: class %r has one recording group only; left out of validation (no leak-free split)",
                train.classes[int(c)] if int(c) < len(train.classes) else int(c),
            )
            continue
        names = sorted(members)
        order = [names[j] for j in rng.permutation(len(names))]
        chosen_g: list[str] = []
        n = 0
        for g in order:  # the groups that fit
            if len(chosen_g) == len(names) - 1:
                break
            if n + len(members[g]) <= k:
                chosen_g.append(g)
                n += len(members[g])
        rest_g = [g for g in order if g not in chosen_g]
        if n < k and len(chosen_g) < len(names) - 1:  # one more group if it brings the count closer to k
            best = min(rest_g, key=lambda g: abs(n + len(members[g]) - k))
            if abs(n + len(members[best]) - k) < abs(n - k) or n == 0:
                chosen_g.append(best)
        val_idx.extend(i for g in chosen_g for i in members[g])
    chosen = set(val_idx)
    rest = [e for i, e in enumerate(train.entries) if i not in chosen]
    val = [e for i, e in enumerate(train.entries) if i in chosen]
    if not val:
        raise ConfigError(f"dataset {train.name!r}: no class has 2 training videos, no validation split to carve")
    return (
        dataclasses.replace(train, entries=rest, name=f"{train.name} (train minus validation)"),
        dataclasses.replace(train, entries=val, name=f"{train.name} (validation)"),
    )


# ----------------------------------------------------------------------------- sources
class VideoSource:
    """One video as seen by a method's view builder: ``n_frames`` and ``clip(indices)``.

    Without the decoded cache it holds an open reader for its reads; use it as a context
    manager (or call :meth:`close`) so the reader is freed when the view is built, in this
    process (``data.video``: a reader must never outlive its read)."""

    def __init__(self, path: str, cache_mb: int, resize_to: int = 0, raw: bool = True):
        self.path = path
        self.resize_to = resize_to
        if not raw:  # no raw clips: views take the per-sample float path (``Config.raw_views``)
            self.raw = None
        cache = decoded_cache(cache_mb)
        self._all, self._vr = None, None
        if cache is not None:
            self._all = cache.get(path)  # (N, H, W, 3) uint8
            self.n_frames = int(self._all.shape[0])
        else:  # one reader for every read of this sample (no re-open, no frame-0 probe)
            self._vr = Reader(path)
            self.n_frames = len(self._vr)

    def close(self) -> None:
        if self._vr is not None:
            self._vr.close()

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, indices: np.ndarray) -> np.ndarray:
        """uint8 (T, H, W, 3) for frame ``indices``."""
        if self._all is not None:
            return self._all[np.asarray(indices) % self.n_frames]
        return self._vr.frames(np.asarray(indices) % self.n_frames)

    def clip(self, indices: np.ndarray) -> torch.Tensor:
        """float (C, T, H, W) in [0, 1], short side resized if configured."""
        x = transforms.to_tensor(self.read(indices))
        return transforms.resize_short(x, self.resize_to) if self.resize_to else x

    def raw(self, indices: np.ndarray) -> torch.Tensor:
        """The same frames as a raw clip: uint8 (C, T, H, W), a view of the decoded
        (T, H, W, 3) frames (no copy, no float conversion; see ``transforms`` on raw clips)."""
        x = torch.from_numpy(np.ascontiguousarray(self.read(indices))).permute(3, 0, 1, 2)
        return transforms.resize_short(x, self.resize_to) if self.resize_to else x


MAX_RESAMPLE = 20


class PretrainDataset(Dataset):
    """Training samples: a method's views of one video (built in DataLoader workers).

    Randomness comes from ``np.random.default_rng((seed, epoch, index))`` so a sample is
    the same whatever the number of workers, and resuming reproduces the stream.
    """

    def __init__(self, videos: VideoList, view_fn: Callable, cfg: Config, seed: int):
        self.videos, self.view_fn, self.cfg, self.seed = videos, view_fn, cfg, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.videos)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        skipped, why = 0, []
        i = index
        for attempt in range(MAX_RESAMPLE):
            entry = self.videos.entries[i]
            rng = np.random.default_rng((self.seed, self.epoch, i, attempt))
            try:
                with VideoSource(entry.path, self.cfg.cache_decoded_mb, self.cfg.resize, self.cfg.raw_views) as src:
                    views = self.view_fn(src, rng)
            except VideoDecodeError as e:
                skipped += 1
                why.append(unreadable_reason(e))
                i = int(rng.integers(0, len(self.videos)))
                continue
            return {"index": i, "label": entry.label, "skipped": skipped, UNREADABLE: "\n".join(why), **views}
        raise VideoDecodeError(f"{MAX_RESAMPLE} consecutive unreadable videos; is the dataset intact?")


class EvalDataset(Dataset):
    """Evaluation samples: ``n_clips`` uniform clips of one video (VCOP protocol),
    deterministic centre crop. Unreadable videos give ``ok=False`` and are dropped."""

    def __init__(self, videos: VideoList, cfg: Config, n_clips: int):
        self.videos, self.cfg, self.n_clips = videos, cfg, n_clips

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> dict:
        entry = self.videos.entries[index]
        cfg = self.cfg
        shape = (self.n_clips, 3, cfg.clip_len, cfg.size, cfg.size)
        try:
            with VideoSource(entry.path, cfg.cache_decoded_mb, cfg.resize) as src:
                idx = samplers.uniform_clips(src.n_frames, cfg.clip_len, cfg.frame_stride, self.n_clips)
                video = eval_clip(src.read(idx.reshape(-1)), cfg)  # (C, K*T, H, W)
            clips = video.reshape(3, self.n_clips, cfg.clip_len, cfg.size, cfg.size).transpose(0, 1)
            return {"index": index, "label": entry.label, "ok": True, UNREADABLE: "", "clips": clips.contiguous()}
        except VideoDecodeError as e:
            return {
                "index": index,
                "label": entry.label,
                "ok": False,
                UNREADABLE: unreadable_reason(e),
                "clips": placeholder_clips(shape, cfg),
            }


def placeholder_clips(shape: tuple[int, ...], cfg: Config) -> torch.Tensor:
    """Zeros standing in for an unreadable video's evaluation clips (dropped by the
    extractor via ``ok=False``), in :func:`eval_clip`'s dtype so batches still collate."""
    return torch.zeros(shape, dtype=torch.uint8 if cfg.raw_views else torch.float32)


def eval_clip(frames: np.ndarray, cfg: Config) -> torch.Tensor:
    """Decoded frames (T, H, W, 3) uint8 -> the deterministic evaluation view (C, T, S, S):
    short side resized to ``cfg.resize`` (if set), centre crop. With ``cfg.raw_views`` it
    stays uint8 and the feature extractor normalises whole batches
    (``transforms.finish_batch``); otherwise float, normalised here (``eval_view``)."""
    if not cfg.raw_views:
        return transforms.eval_view(transforms.to_tensor(frames), cfg.size, cfg.resize)
    video = torch.as_tensor(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)  # (C, T, H, W) uint8 view
    if cfg.resize:
        video = transforms.resize_short(video, cfg.resize)
    return transforms.center_crop(video, cfg.size)


UNREADABLE = "unreadable"  # sample field: why its video could not be read ("" when it was)
_WARNED: set[str] = set()


def unreadable_reason(err: Exception) -> str:
    """The sample's ``unreadable`` text for a failed read: the error on one line."""
    return " ".join(str(err).split())  # one line: several reasons are joined with newlines


def warn_unreadable(batch: dict) -> None:
    """Log the unreadable videos a collated batch reports, once per file and process, and
    remove the field (``batch[UNREADABLE]``: one string per sample, reasons one per line)."""
    for why in batch.pop(UNREADABLE, ()):
        for line in why.splitlines():
            if line not in _WARNED:
                _WARNED.add(line)
                log.warning("skipping unreadable video (%s)", line)


def data_fingerprint(train: VideoList, test: VideoList) -> dict:
    """What a result was computed on, for its provenance: the split's videos (relative path
    and label, both splits, hashed) and, for the embedded dataset, the digest of the files'
    bytes that the generator wrote into ``meta.json``. ``digest`` (16 hex digits) is the
    content digest where there is one, else the listing's: two results with different
    digests were not computed on the same data."""
    root = Path(train.root) if train.root else None
    h = hashlib.sha256()
    for split, vl in (("train", train), ("test", test)):
        for e in vl.entries:
            rel = os.path.relpath(e.path, root) if root else e.path
            h.update(f"{split}\t{rel}\t{e.label}\n".encode())
    out = {
        "name": train.name,
        "root": str(root) if root else "",
        "videos": len(train) + len(test),
        "listing_sha256": h.hexdigest(),
    }
    try:
        content = json.loads((root / "meta.json").read_text()).get("content_sha256") if root else None
    except (OSError, ValueError):
        content = None
    if content:
        out["content_sha256"] = content
    out["digest"] = (content or out["listing_sha256"])[:16]
    return out


def dataset_summary(name: str) -> str:
    spec = DATASETS[name]
    return spec.description


def replace_cfg(cfg: Config, **kw) -> Config:
    return dataclasses.replace(cfg, **kw)
