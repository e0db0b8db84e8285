"""Typed, flat configuration of one job: the ground floor of the package.

A *job* is one (method, dataset, backbone, seed, budget) cell of a suite's matrix; its
:class:`Config` is fully resolved before anything runs and saved with every checkpoint
and result row (nanoGPT's configurator habit: one flat, typed namespace).

This module imports nothing of the package. A Config checks its own fields whoever builds
it (YAML, ``--set``, Python): types, ranges, fixed choices. What needs a registry (the
method, dataset, backbone and evaluation names; a method's or an evaluation's parameters,
which travel here as plain dicts) is checked where jobs are resolved (``vssl_bench.suite``,
the runner), and what changes a job's result without being a field (the embedded data's
generator version, a method's measure version) is added to its key by the module that
knows it (:func:`register_key_part`).

Unknown keys anywhere (YAML or ``--set``) raise :class:`ConfigError`, whose message is
one line naming the valid choices; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, get_type_hints


class ConfigError(ValueError):
    """A user-facing configuration mistake (bad key, bad value, bad choice)."""


def choice_error(what: str, value: object, valid) -> ConfigError:
    """One-line error naming the valid choices."""
    return ConfigError(f"unknown {what} {value!r}; valid choices: {', '.join(map(str, valid))}")


@dataclass
class Config:
    """Everything that defines one job. Defaults target the embedded CPU benchmark."""

    # --- what runs -------------------------------------------------------------------
    method: str = "nce"
    dataset: str = "synthetic"  # see `vssl-bench list`
    backbone: str = "tiny3d"  # one backbone for every method of a suite
    seed: int = 0
    params: dict = field(default_factory=dict)  # method hyper-parameters (method's Params)

    # --- data ------------------------------------------------------------------------
    data_root: str | None = None  # None: the embedded dataset's cache dir
    split: int = 1  # official split number (UCF101 / HMDB51: 1-3)
    # What the evaluations hold out: the dataset's test split, or ("val") a validation split
    # carved from the training videos (val_fraction of each class, the same videos for every
    # job), the rest being the training set: what `vssl-bench tune` selects on, so that no
    # choice ever sees the test set.
    holdout: str = "test"
    val_fraction: float = 0.2
    folder_test_ratio: float = (
        0.3  # `folder` dataset without list files: share of test videos per class (HMDB51's 70/30)
    )
    synthetic_train_per_class: int = 48  # embedded dataset size (16 classes): 768 train videos
    synthetic_test_per_class: int = 16  # 256 test videos
    clip_len: int = 16  # frames per clip (the backbone's temporal extent)
    frame_stride: int = 1  # temporal sampling stride of a clip
    size: int = 32  # spatial crop fed to the backbone (112 for real data)
    resize: int = 0  # short side before cropping; 0 = keep (synthetic videos are already `size`)
    num_workers: int = 0  # DataLoader workers; decoded videos are cached per process
    # workers = 0: the next batch built in a thread ("thread") or between steps ("off"); auto: thread on CUDA only
    prefetch: str = "auto"
    hflip: str = (
        "auto"  # horizontal flips in training views: auto = the dataset's rule (no flips where left/right is the class)
    )
    # training and evaluation views from uint8 frames, normalised per batch (False: float views
    # normalised per sample, the slower path)
    raw_views: bool = True
    cache_decoded_mb: int = 1024  # keep decoded videos in RAM up to this budget (0 = off)
    max_decode_failures: float = 0.05  # fail the job if more than this share of reads fail
    loader_timeout_s: float = 300.0  # DataLoader workers silent this long: the job stops, resumable (data.loader)
    job_stall_s: float = 1800.0  # `run --jobs N`: a job process without progress this long is stopped, resumable
    tensorboard: str = "auto"  # TensorBoard event files beside curve.csv: auto = when the package is installed

    # --- budget: identical for every method of a suite (optimiser steps, never seconds)
    steps: int = 150
    epochs: float = 0.0  # if > 0, steps = ceil(epochs * n_train / batch_size)
    batch_size: int = 32  # videos per optimiser step (all views of a video count as one)

    # --- optimiser: AdamW with linear warm-up and cosine decay to 0 -------------------
    lr: float = 2e-3  # AdamW; cosine decay (a constant rate collapsed late in the prototype)
    weight_decay: float = 0.05  # AdamW default used by VideoMAE / MAE recipes
    warmup_frac: float = 0.05  # share of steps with linear warm-up
    grad_clip: float = 5.0  # max grad-norm; 0 = off
    checkpoint_every: int = 50  # optimiser steps between checkpoints (and one at the end)

    # --- device ------------------------------------------------------------------------
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    channels_last: bool = True  # channels_last_3d memory format (+25-40 % on CPU here)
    threads: int = 0  # torch intra-op threads on CPU; 0 = torch default
    deterministic: bool = False
    compile: bool = False  # torch.compile the backbone (meant for CUDA; first steps pay the compilation)

    # --- evaluation on frozen features (backbone in eval mode; BN stats from pretraining)
    eval_clips: int = 10  # uniform clips per video for retrieval / video-level linear (VCOP: 10)
    knn_k: int = 20  # reported kNN top-1 uses this k (solo-learn default)
    knn_ks: tuple = (1, 5, 20, 200)  # sweep, stored in metrics.json
    knn_temperature: float = 0.07
    eval_bn: str = (
        "recompute"  # frozen evaluation's BatchNorm statistics: re-estimated on clean training clips, or "pretrain"
    )
    linear_epochs: int = 100
    linear_lr: float = 1e-2  # SEVERE linear eval: Adam lr 0.01
    linear_weight_decay: float = 1e-4
    pretext_eval_batches: int = 8  # held-out training batches read for the own task (8 x 32 = the embedded test split)
    # Evaluations beyond linear / kNN / retrieval (the registry vssl_bench.eval.EVALUATIONS)
    # and their parameters: name -> {param: value}. Not part of job_key(): switching one on
    # later runs only that evaluation on the finished job's checkpoint.
    evaluations: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check every field, whoever builds the config (YAML, ``--set``, Python): its type
        (ints given for floats become floats), its range, its choices; and normalise the
        evaluation switches (``"lowshot,temporal"``, a list, or a mapping of parameters) to
        a mapping. Any mistake is a one-line :class:`ConfigError`."""
        self.evaluations = evaluation_switches(self.evaluations)
        _check_types(self)
        _check_ranges(self)
        for name, value, valid in (
            ("prefetch", self.prefetch, PREFETCH),
            ("hflip", self.hflip, HFLIP),
            ("eval_bn", self.eval_bn, EVAL_BN),
            ("holdout", self.holdout, HOLDOUT),
            ("tensorboard", self.tensorboard, TENSORBOARD),
        ):
            if value not in valid:
                raise choice_error(name, value, valid)

    # ------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain data (lists for tuples): what config.yaml and the provenance hold."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))

    def job_key(self) -> str:
        """Stable hash of everything that changes the result (not device, threads, workers,
        timeouts or the evaluations switched on) and of the registered key parts."""
        if missing := [k for k in KEY_PART_OWNERS if k not in _KEY_PARTS]:
            raise RuntimeError(
                f"key parts not registered ({', '.join(missing)}): import "
                f"{' and '.join(KEY_PART_OWNERS[k] for k in missing)} before naming a job"
            )
        d = self.to_dict()
        for k in NOT_IN_KEY:
            d.pop(k, None)
        for k, default in OMIT_AT_DEFAULT.items():  # fields added later: keys of older jobs unchanged
            if d.get(k) == default:
                d.pop(k, None)
        if self.holdout != "val":  # the validation carve does not exist on the test holdout
            d.pop("val_fraction", None)
        else:  # how the validation videos are drawn (2: whole recording groups where names have them)
            d["val_carve"] = VAL_CARVE
        for part in _KEY_PARTS.values():
            d.update(part(self))
        blob = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:10]

    def job_name(self) -> str:
        return f"{self.method}__{self.dataset}__{self.backbone}__seed{self.seed}__{self.job_key()}"


# Fields that do not change a job's result (where and how fast it runs, what else is
# evaluated on it): left out of job_key().
NOT_IN_KEY = (
    "device",
    "num_workers",
    "threads",
    "cache_decoded_mb",
    "data_root",
    "checkpoint_every",
    "compile",
    "prefetch",
    "loader_timeout_s",
    "job_stall_s",
    "evaluations",
    "tensorboard",
)
# Fields that change a result but joined the Config after results were published: in the
# key only when set away from their default, so every earlier job keeps its key.
OMIT_AT_DEFAULT = {"holdout": "test", "val_fraction": 0.2}
VAL_CARVE = 2  # version of data.datasets.validation_split's draw: a changed draw is a new job
_KEY_PARTS: dict[str, Callable[[Config], dict]] = {}
# The key parts every job key needs, and the module that registers each: a process that
# has not imported one of them would name jobs differently, so it is refused instead.
KEY_PART_OWNERS = {"data": "vssl_bench.data.datasets", "methods": "vssl_bench.methods"}


def register_key_part(name: str, part: Callable[[Config], dict]) -> None:
    """``part(cfg) -> dict`` joins every job key: what changes a result without being a
    Config field (``data.datasets`` registers the embedded generator's version as
    ``data``, ``methods`` a method's measure version)."""
    _KEY_PARTS[name] = part


PREFETCH = ("auto", "thread", "off")
HFLIP = ("auto", "on", "off")
HOLDOUT = ("test", "val")
TENSORBOARD = ("auto", "on", "off")
EVAL_BN = ("recompute", "pretrain")  # eval.features: the frozen evaluation's BatchNorm statistics

# (field, lowest allowed value): the ranges every Config is checked against.
AT_LEAST = (
    ("batch_size", 1),
    ("clip_len", 1),
    ("size", 8),
    ("eval_clips", 1),
    ("steps", 0),
    ("epochs", 0),
    ("knn_k", 1),
    ("frame_stride", 1),
    ("checkpoint_every", 1),
    ("num_workers", 0),
    ("threads", 0),
    ("linear_epochs", 1),
    ("grad_clip", 0),
    ("weight_decay", 0),
    ("resize", 0),
    ("cache_decoded_mb", 0),
    ("synthetic_train_per_class", 1),
    ("synthetic_test_per_class", 1),
    ("pretext_eval_batches", 0),
    ("loader_timeout_s", 0),
    ("split", 1),
    ("seed", 0),  # numpy seeds refuse negatives: the job would fail after its data was built
    ("max_decode_failures", 0),
)  # failed attempts per read: a share, > 1 when draws fail repeatedly
POSITIVE = ("lr", "linear_lr", "knn_temperature", "job_stall_s")


def _check_types(cfg: "Config") -> None:
    """Each field holds a value of its annotated type; an int for a float becomes a float."""
    for name, typ in _field_types().items():
        v = getattr(cfg, name)
        t = str(typ)
        if typ is bool:
            ok = isinstance(v, bool)
        elif typ is int:
            ok = isinstance(v, int) and not isinstance(v, bool)
        elif typ is float:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
            if ok:
                setattr(cfg, name, float(v))
        elif typ is str:
            ok = isinstance(v, str)
        elif t.startswith("str | None") or t == "typing.Optional[str]":
            ok = v is None or isinstance(v, str)
        elif typ is dict:
            ok = isinstance(v, dict)
        else:  # tuples: a list, a tuple or a "a,b" string (normalised where it is used)
            ok = isinstance(v, (tuple, list, str))
        if not ok:
            want = getattr(typ, "__name__", t)
            raise ConfigError(f"{name} must be {want}, got {v!r} ({type(v).__name__})")


def _check_ranges(cfg: "Config") -> None:
    for name, low in AT_LEAST:
        if getattr(cfg, name) < low:
            raise ConfigError(f"{name} must be >= {low}, got {getattr(cfg, name)}")
    for name in POSITIVE:
        if not getattr(cfg, name) > 0:
            raise ConfigError(f"{name} must be > 0, got {getattr(cfg, name)}")
    if not 0 <= cfg.warmup_frac < 1:
        raise ConfigError(f"warmup_frac must be in [0, 1), got {cfg.warmup_frac}")
    if not 0 < cfg.val_fraction < 1:
        raise ConfigError(f"val_fraction must be in (0, 1), got {cfg.val_fraction}")
    if not 0 < cfg.folder_test_ratio < 1:
        raise ConfigError(f"folder_test_ratio must be in (0, 1), got {cfg.folder_test_ratio}")
    ks = _str_items(cfg.knn_ks)
    try:
        ks = [int(k) for k in ks]
    except (TypeError, ValueError):
        raise ConfigError(f"knn_ks must be neighbour counts >= 1, got {cfg.knn_ks!r}") from None
    if not ks or min(ks) < 1:
        raise ConfigError(f"knn_ks must be neighbour counts >= 1, got {ks}")
    cfg.knn_ks = tuple(ks)
    if cfg.steps == 0 and not cfg.epochs > 0:  # every method would be evaluated untrained, under its own name
        raise ConfigError(
            "the budget is zero (steps 0, epochs 0): every method would be evaluated untrained; "
            "give --steps N or --epochs E above 0"
        )
    if not (cfg.device in ("auto", "cpu", "cuda") or cfg.device.startswith("cuda:")):
        raise choice_error("device", cfg.device, ["auto", "cpu", "cuda", "cuda:N"])


# Extra evaluations (vssl_bench/eval/); the prefix maps a suite's `evaluations:` block
# (`lowshot: {shots: [1, 5]}`) onto Config fields (`lowshot_shots`).
def _str_items(raw: Any) -> list:
    """``"a, b"`` / ``["a", "b"]`` / ``("a",)`` -> list of items (``none`` / ``""`` -> [])."""
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = raw.replace("[", "").replace("]", "")
        if raw.strip().lower() in ("", "none", "null"):
            return []
        return [x.strip().strip("'\"") for x in raw.split(",") if x.strip()]
    return list(raw)


def evaluation_switches(raw: Any) -> dict[str, dict]:
    """``"a, b"`` / ``["a", "b"]`` / ``{"a": True, "b": {"p": 1}, "c": False}`` -> ``{"a": {},
    "b": {"p": 1}}``: the evaluations switched on and the parameters given to each (names
    and parameters are checked against the registry where jobs are resolved)."""
    if isinstance(raw, dict):
        out = {}
        for name, val in raw.items():
            if val is False or val is None:
                continue
            if val is not True and not isinstance(val, dict):
                raise ConfigError(f"evaluation {name!r} takes true, false or a mapping of its parameters, got {val!r}")
            out[str(name)] = {} if val is True else dict(val)
        return out
    if isinstance(raw, (str, list, tuple)) or raw is None:
        return {str(name): {} for name in _str_items(raw)}
    raise ConfigError(f"evaluations must be a list of names or a mapping, got {raw!r}")


def build_params(owner: str, P: type, raw: dict | None):
    """``P(**raw)``, a Params dataclass of ``owner`` (a method, an evaluation), each value
    coerced to its field's type (strings from the command line), then ``P.validate()`` if
    it has one; an unknown key or a bad value is a one-line :class:`ConfigError`."""
    fields_ = {f.name: f for f in dataclasses.fields(P)}
    hints = get_type_hints(P)
    kw = {}
    for k, v in (raw or {}).items():
        if k not in fields_:
            valid = sorted(fields_) or [f"({owner} has no parameters)"]
            raise ConfigError(f"unknown parameter {k!r} of {owner}; valid: {', '.join(valid)}")
        kw[k] = parse_value(f"{owner}.{k}", v, hints.get(k, str))
    p = P(**kw)
    check = getattr(p, "validate", None)
    if check is not None:
        try:
            check()
        except ValueError as e:
            raise ConfigError(f"{owner}: {e}") from None
    return p


CONFIG_FIELDS: dict[str, Any] = {}


def _field_types() -> dict[str, Any]:
    if not CONFIG_FIELDS:
        CONFIG_FIELDS.update(get_type_hints(Config))
    return CONFIG_FIELDS


def _tuple_item(typ_s: str):
    """The element type of a ``tuple[...]`` annotation (``tuple`` alone: int)."""
    return float if "float" in typ_s else str if "str" in typ_s else int


def parse_value(key: str, raw: Any, typ: Any) -> Any:
    """Coerce a string (from the command line) or YAML value to the field's type."""
    typ_s = str(typ)
    try:
        if isinstance(raw, str):
            if typ is bool or typ_s == "bool":
                low = raw.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(raw)
            if typ is int or typ_s == "int":
                return int(raw)
            if typ is float or typ_s == "float":
                return float(raw)
            if typ is tuple or typ_s.startswith("tuple"):
                item = _tuple_item(typ_s)
                body = raw.replace("[", "").replace("]", "").strip()
                parts = [x.strip() for x in body.split(",")] if body else []
                if "" in parts:  # "150,,600" or "1,5,": an item left out by mistake
                    raise ValueError(raw)
                return tuple(item(x) for x in parts)
            if "None" in typ_s and raw.strip().lower() in ("none", "null", ""):
                return None
            return raw
        if typ is float and isinstance(raw, int) and not isinstance(raw, bool):
            return float(raw)
        if (typ is tuple or typ_s.startswith("tuple")) and isinstance(raw, (list, tuple)):
            item = _tuple_item(typ_s)
            return tuple(item(x) for x in raw)
        if typ is int and isinstance(raw, float) and raw.is_integer():
            return int(raw)
        return raw
    except ValueError:
        want = getattr(typ, "__name__", typ_s)
        if typ is tuple or typ_s.startswith("tuple"):
            item = _tuple_item(typ_s).__name__
            want = f"a comma-separated list of {item} values, e.g. {'1,5,10' if item == 'int' else '0.1,0.2'}"
        raise ConfigError(f"invalid value {raw!r} for {key!r} (expected {want})") from None


def apply_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """Return a copy of ``cfg`` with Config fields replaced; unknown keys are an error."""
    types = _field_types()
    changes = {}
    for key, raw in overrides.items():
        if key not in types or key == "params":
            raise choice_error("config key", key, sorted(k for k in types if k != "params"))
        changes[key] = parse_value(key, raw, types[key])
    return dataclasses.replace(cfg, **changes)


def parse_set_options(items: list[str] | None) -> dict[str, str]:
    """``["lr=0.1", "mae.mask_ratio=0.75"]`` -> dict. Malformed items are an error."""
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def parse_list(raw: str | None, what: str, cast=str) -> list | None:
    if raw is None:
        return None
    items = [x.strip() for x in raw.split(",")] if raw.strip() else []
    if "" in items:  # "0,,1" or "sort,": an item left out by mistake
        raise ConfigError(f"invalid {what} {raw!r}: an empty item (expected a comma-separated list, e.g. a,b)")
    try:
        return [cast(x) for x in items]
    except ValueError:
        raise ConfigError(f"invalid {what} {raw!r}: expected a comma-separated list") from None
