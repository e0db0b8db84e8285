"""Parsers of the official split / annotation files of real datasets (nothing is downloaded).

Each parser turns the files a dataset ships with into ``(path, label)`` entries and the
class names, in the exact official formats (docs/protocols.md, "Datasets and their split
files"):

- UCF101 [1]: ``ucfTrainTestlist/classInd.txt`` (``1 ApplyEyeMakeup``, 1-based),
  ``trainlist0N.txt`` (``Class/v_x.avi <1-based label>``), ``testlist0N.txt`` (path only).
  Quirk: the folder ``HandstandPushups`` is written ``HandStandPushups`` in some lines, so
  folder names are matched case-insensitively as a fallback.
- HMDB51 [2]: ``testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt``, lines
  ``<video>.avi <id>`` with id 1 = train, 2 = test, 0 = unused (the 70/30 split; id-0
  videos belong to neither). Class order = class names sorted (the order mmaction2's and
  torchvision's HMDB51 loaders use).
- Kinetics [3]: CSV ``label,youtube_id,time_start,time_end,split``; clip files are named
  ``<youtube_id>_<start:06d>_<end:06d>.mp4`` (the ActivityNet crawler / CVDF layout), under
  ``<root>/<split>/<label>/`` or flat under ``<root>/<split>/``. Class order = labels of the
  training CSV sorted. Many YouTube clips have disappeared, so missing files are expected.
- Something-Something v2 [4]: ``something-something-v2-{train,validation}.json`` (lists of
  ``{"id", "label", "template", "placeholders"}``) and ``something-something-v2-labels.json``
  (``template -> "index"``; the template's ``[something]`` brackets are removed to look
  it up, as the official loader does).
- folder: ``<root>/<class>/<video>``; split by a seeded per-class ratio, or by
  ``trainlist.txt`` / ``testlist.txt`` in the UCF format when present.

References:
[1] Soomro, Zamir & Shah, "UCF101: A Dataset of 101 Human Actions Classes From Videos in
    the Wild", CRCV-TR-12-01, 2012.
[2] Kuehne et al., "HMDB: A Large Video Database for Human Motion Recognition", ICCV 2011.
[3] Kay et al., "The Kinetics Human Action Video Dataset", arXiv:1705.06950, 2017.
[4] Goyal et al., "The 'something something' video database for learning and evaluating
    visual common sense", ICCV 2017.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vssl_bench.config import ConfigError

VIDEO_EXTS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ogv")


@dataclass(frozen=True)
class VideoEntry:
    path: str
    label: int


def _lines(path: Path):
    """Non-empty stripped lines with 1-based line numbers (tolerates CRLF and BOM)."""
    text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    for ln, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line:
            yield ln, line


# ---------------------------------------------------------------------------- UCF101
def read_ucf_class_index(path: Path) -> list[str]:
    """``classInd.txt``: lines ``<1-based index> <ClassName>`` -> names by index."""
    if not Path(path).is_file():
        raise ConfigError(f"missing class index {path}")
    pairs = []
    for ln, line in _lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise ConfigError(f"{path}:{ln}: expected '<index> <ClassName>', got {line!r}")
        pairs.append((int(parts[0]), parts[1]))
    pairs.sort()
    if [i for i, _ in pairs] != list(range(1, len(pairs) + 1)):
        raise ConfigError(f"{path}: class indices must be 1..{len(pairs)}")
    return [name for _, name in pairs]


def read_ucf_list(path: Path, root: Path, classes: list[str]) -> list[VideoEntry]:
    """``trainlist0N.txt`` (``Class/v_x.avi <1-based label>``) or ``testlist0N.txt`` (path
    only; the label is the folder's class)."""
    if not Path(path).is_file():
        raise ConfigError(f"missing split file {path}")
    by_name = {c: i for i, c in enumerate(classes)}
    by_lower = {c.lower(): i for i, c in enumerate(classes)}
    out = []
    for ln, line in _lines(path):
        parts = line.split()
        rel = parts[0].replace("\\", "/")
        folder = rel.split("/")[0]
        if len(parts) >= 2:
            if not parts[1].lstrip("-").isdigit():
                raise ConfigError(f"{path}:{ln}: expected '<path> <1-based label>', got {line!r}")
            label = int(parts[1]) - 1  # 1-based in the official files
            if not 0 <= label < len(classes):
                raise ConfigError(f"{path}:{ln}: class index {parts[1]} outside 1..{len(classes)}")
        elif folder in by_name:
            label = by_name[folder]
        elif folder.lower() in by_lower:  # UCF101's testlist has 'HandStandPushups' vs 'HandstandPushups'
            label = by_lower[folder.lower()]
        else:
            raise ConfigError(f"{path}:{ln}: folder {folder!r} is not a class of the class index")
        out.append(VideoEntry(str(_fix_case(Path(root), rel)), label))
    return out


def _fix_case(root: Path, rel: str) -> Path:
    """``root/rel``, or the existing path whose folder differs only in case (UCF101 lists
    ``HandStandPushups/`` while the archive's folder is ``HandstandPushups/``)."""
    p = root / rel
    if p.exists() or "/" not in rel:
        return p
    folder, rest = rel.split("/", 1)
    if root.is_dir():
        for d in root.iterdir():
            if d.name.lower() == folder.lower() and (d / rest).exists():
                return d / rest
    return p


# ---------------------------------------------------------------------------- HMDB51
HMDB_TRAIN, HMDB_TEST, HMDB_UNUSED = 1, 2, 0


def read_hmdb_splits(
    split_dir: Path, videos_dir: Path, split: int
) -> tuple[list[VideoEntry], list[VideoEntry], list[str]]:
    """``<class>_test_split{split}.txt`` files -> (train, test, classes sorted by name)."""
    split_dir = Path(split_dir)
    suffix = f"_test_split{split}.txt"
    files = sorted(p for p in split_dir.glob(f"*{suffix}"))
    if not files:
        raise ConfigError(f"{split_dir} has no '*{suffix}' files (HMDB51 testTrainMulti_7030_splits)")
    classes = sorted(p.name[: -len(suffix)] for p in files)
    train, test = [], []
    for label, cls in enumerate(classes):
        path = split_dir / f"{cls}{suffix}"
        for ln, line in _lines(path):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise ConfigError(f"{path}:{ln}: expected '<video>.avi <0|1|2>', got {line!r}")
            kind = int(parts[1])
            entry = VideoEntry(str(Path(videos_dir) / cls / parts[0]), label)
            if kind == HMDB_TRAIN:
                train.append(entry)
            elif kind == HMDB_TEST:
                test.append(entry)
    return train, test, classes


# -------------------------------------------------------------------------- Kinetics
def kinetics_filename(youtube_id: str, start: float, end: float, ext: str = ".mp4") -> str:
    return f"{youtube_id}_{int(float(start)):06d}_{int(float(end)):06d}{ext}"


def _label_dir(label: str) -> list[str]:
    """Folder names used for a label by the common download scripts."""
    names = [label, label.replace(" ", "_"), label.replace('"', "").replace("'", "").replace(" ", "_")]
    return list(dict.fromkeys(names))


def read_kinetics_csv(
    path: Path, videos_dir: Path, classes: list[str] | None = None
) -> tuple[list[VideoEntry], list[str], list[str]]:
    """Kinetics CSV -> (entries found on disk, missing file names, classes).

    ``classes`` defaults to the sorted labels of this CSV (pass the training CSV's classes
    when reading the validation CSV). A clip is looked for as ``<videos_dir>/<label>/<name>``
    then ``<videos_dir>/<name>`` (.mp4, then .mkv / .webm as re-encoded by some mirrors).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"missing Kinetics annotation file {path}")
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    need = {"label", "youtube_id", "time_start", "time_end"}
    if rows and not need <= set(rows[0]):
        raise ConfigError(f"{path}: expected columns {','.join(sorted(need))}, got {','.join(rows[0])}")
    if classes is None:
        classes = sorted({r["label"] for r in rows})
    index = {c: i for i, c in enumerate(classes)}
    videos_dir = Path(videos_dir)
    flat = _listing(videos_dir)
    found, missing = [], []
    for ln, r in enumerate(rows, 2):
        if r["label"] not in index:
            raise ConfigError(f"{path}:{ln}: label {r['label']!r} is not a training class")
        try:
            stem = kinetics_filename(r["youtube_id"], r["time_start"], r["time_end"], "")
        except ValueError:
            raise ConfigError(f"{path}:{ln}: bad time_start/time_end {r['time_start']!r}, {r['time_end']!r}") from None
        hit = None
        for ext in (".mp4", ".mkv", ".webm"):
            for d in _label_dir(r["label"]):
                if (videos_dir / d / (stem + ext)).is_file():
                    hit = videos_dir / d / (stem + ext)
                    break
            if hit is None and stem + ext in flat:
                hit = videos_dir / (stem + ext)
            if hit is not None:
                break
        if hit is None:
            missing.append(str(videos_dir / (stem + ".mp4")))
        else:
            found.append(VideoEntry(str(hit), index[r["label"]]))
    return found, missing, classes


def _listing(d: Path) -> set[str]:
    return {p.name for p in d.iterdir() if p.is_file()} if d.is_dir() else set()


# ------------------------------------------------------------------------------ SSv2
def ssv2_template_key(template: str) -> str:
    """Label-file key of a template: ``"Putting [something] on [something]"`` ->
    ``"Putting something on something"``."""
    return template.replace("[", "").replace("]", "")


def read_ssv2(split_json: Path, labels_json: Path, videos_dir: Path) -> tuple[list[VideoEntry], list[str], list[str]]:
    """SSv2 JSON -> (entries found on disk, missing files, classes by index)."""
    for p in (split_json, labels_json):
        if not Path(p).is_file():
            raise ConfigError(f"missing Something-Something v2 file {p}")
    try:
        labels = json.loads(Path(labels_json).read_text())
        items = json.loads(Path(split_json).read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"invalid JSON in SSv2 annotations: {e}") from None
    index = {k: int(v) for k, v in labels.items()}
    classes = [""] * len(index)
    for name, i in index.items():
        if not 0 <= i < len(classes):
            raise ConfigError(f"{labels_json}: index {i} outside 0..{len(classes) - 1}")
        classes[i] = name
    videos_dir = Path(videos_dir)
    found, missing = [], []
    for k, item in enumerate(items):
        key = ssv2_template_key(item.get("template", ""))
        if key not in index:
            raise ConfigError(f"{split_json}[{k}]: template {item.get('template')!r} not in {Path(labels_json).name}")
        vid = str(item["id"])
        hit = next((videos_dir / (vid + e) for e in (".webm", ".mp4") if (videos_dir / (vid + e)).is_file()), None)
        if hit is None:
            missing.append(str(videos_dir / (vid + ".webm")))
        else:
            found.append(VideoEntry(str(hit), index[key]))
    return found, missing, classes


# ---------------------------------------------------------------------------- folder
def folder_classes(root: Path) -> list[str]:
    """Class sub-folders of ``root`` (hidden ones and ``splits`` ignored), sorted."""
    return sorted(
        d.name for d in Path(root).iterdir() if d.is_dir() and not d.name.startswith(".") and d.name != "splits"
    )


def folder_videos(root: Path, cls: str) -> list[Path]:
    return sorted(
        p
        for p in (Path(root) / cls).rglob("*")
        if p.is_file() and p.suffix.lower() in VIDEO_EXTS and not p.name.startswith(".")
    )


def folder_split(root: Path, test_ratio: float, seed: int) -> tuple[list[VideoEntry], list[VideoEntry], list[str]]:
    """Per-class seeded split: ``round(n * test_ratio)`` test videos per class (at least one
    of each kind when a class has two or more videos). Same root + ratio + seed, same split."""
    if not 0.0 < test_ratio < 1.0:
        raise ConfigError(f"folder_test_ratio must be in (0, 1), got {test_ratio}")
    classes = folder_classes(root)
    train, test = [], []
    for label, cls in enumerate(classes):
        vids = folder_videos(root, cls)
        order = np.random.default_rng((seed, label)).permutation(len(vids))
        n_test = int(round(len(vids) * test_ratio))
        if len(vids) >= 2:
            n_test = min(max(n_test, 1), len(vids) - 1)
        for rank, i in enumerate(order):
            (test if rank < n_test else train).append(VideoEntry(str(vids[i]), label))
    return train, test, classes
