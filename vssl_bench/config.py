"""Typed, flat configuration of one job, YAML suites and ``key=value`` overrides.

A *job* is one (method, dataset, backbone, seed) cell of a suite's matrix; its
:class:`Config` is fully resolved before anything runs and saved with every checkpoint
and result row (nanoGPT's configurator habit: one flat, typed namespace).

Method hyper-parameters live in each method's own ``Params`` dataclass (see
``vssl_bench.methods``); they travel in ``Config.params`` as a plain dict, validated
against that dataclass, so an unknown key is an error naming the valid ones.

Unknown keys anywhere (YAML or ``--set``) raise :class:`ConfigError`, whose message is
one line naming the valid choices; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml


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
    folder_test_ratio: float = 0.3  # `folder` dataset without list files: share of test videos per class (HMDB51's 70/30)
    synthetic_train_per_class: int = 48  # embedded dataset size (16 classes): 768 train videos
    synthetic_test_per_class: int = 16  # 256 test videos
    clip_len: int = 16  # frames per clip (the backbone's temporal extent)
    frame_stride: int = 1  # temporal sampling stride of a clip
    size: int = 32  # spatial crop fed to the backbone (112 for real data)
    resize: int = 0  # short side before cropping; 0 = keep (synthetic videos are already `size`)
    num_workers: int = 0  # DataLoader workers; decoded videos are cached per process
    prefetch: str = "auto"  # workers = 0: next batch built in a thread ("thread") or between steps ("off"); auto: thread on CUDA only
    hflip: str = "auto"  # horizontal flips in training views: auto = the dataset's rule (no flips where left/right is the class)
    raw_views: bool = True  # training and evaluation views from uint8 frames, normalised per batch (False: per-sample float, as before v0.2)
    cache_decoded_mb: int = 1024  # keep decoded videos in RAM up to this budget (0 = off)
    max_decode_failures: float = 0.05  # fail the job if more than this share of reads fail
    loader_timeout_s: float = 300.0  # DataLoader workers silent this long: the job stops, resumable (data.loader)
    job_stall_s: float = 1800.0  # `run --jobs N`: a job process without progress this long is stopped, resumable

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
    eval_bn: str = "recompute"  # frozen evaluation's BatchNorm statistics: re-estimated on clean training clips, or "pretrain"
    linear_epochs: int = 100
    linear_lr: float = 1e-2  # SEVERE linear eval: Adam lr 0.01
    linear_weight_decay: float = 1e-4
    pretext_eval_batches: int = 8  # held-out batches to measure the own task (8 x 32 = the embedded test split)
    # --- evaluations beyond linear / kNN / retrieval (vssl_bench/eval/, issue 6; SEVERE,
    # Thoker et al. ECCV 2022). Switches and their parameters are NOT part of job_key():
    # enabling one later runs only that evaluation on the finished job's checkpoint.
    evaluations: tuple[str, ...] = ()  # any of EVALUATIONS; off by default (suites switch them on)
    lowshot_shots: tuple = (1, 5, 10)  # labelled train videos per class (SEVERE's low-shot axis)
    lowshot_draws: int = 5  # seeded class-balanced draws per shot count (mean and std reported)
    finetune_steps: int = 100  # whole-network fine-tuning budget, same for every method
    finetune_lr: float = 1e-3  # AdamW, warm-up + cosine (half the pretraining lr: starts from trained weights)
    budget_fracs: tuple[float, ...] = (0.25, 0.5)  # weights snapshots at round(f * steps), evaluated after
    shift_dataset: str = ""  # "" = the embedded pair (synthetic <-> synthetic-biased); e.g. hmdb51
    shift_data_root: str | None = None  # data root of shift_dataset (None: the job's data_root)

    def __post_init__(self) -> None:
        """Check every field, whoever builds the config (YAML, ``--set``, Python): its type
        (ints given for floats become floats), its range, its choices; and normalise the
        evaluation switches (``--set evaluations=lowshot,temporal``, a YAML list, or a
        tuple). Any mistake is a one-line :class:`ConfigError`."""
        _check_types(self)
        _check_ranges(self)
        if self.prefetch not in PREFETCH:
            raise choice_error("prefetch", self.prefetch, PREFETCH)
        if self.hflip not in HFLIP:
            raise choice_error("hflip", self.hflip, HFLIP)
        if self.eval_bn not in EVAL_BN:
            raise choice_error("eval_bn", self.eval_bn, EVAL_BN)
        self.evaluations = tuple(_str_items(self.evaluations))
        for name in self.evaluations:
            if name not in EVALUATIONS:
                raise choice_error("evaluation", name, EVALUATIONS)
        self.budget_fracs = tuple(float(x) for x in _str_items(self.budget_fracs))
        self.lowshot_shots = tuple(int(x) for x in _str_items(self.lowshot_shots))
        if any(n < 1 for n in self.lowshot_shots) or self.lowshot_draws < 1:
            raise ConfigError(f"lowshot_shots and lowshot_draws must be >= 1, got {list(self.lowshot_shots)}, "
                              f"{self.lowshot_draws}")
        if any(not 0 < f < 1 for f in self.budget_fracs):
            raise ConfigError(f"budget_fracs must be in (0, 1), got {list(self.budget_fracs)}")

    # ------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["knn_ks"] = list(self.knn_ks)
        for k in EVAL_ONLY_FIELDS:  # tuples -> lists (YAML-safe; JSON, hence job_key, is unchanged)
            if isinstance(d[k], tuple):
                d[k] = list(d[k])
        return d

    def job_key(self) -> str:
        """Stable hash of everything that changes the result (not device/threads/workers)."""
        d = self.to_dict()
        for k in ("device", "num_workers", "threads", "cache_decoded_mb", "data_root", "checkpoint_every",
                  "compile", "prefetch", "loader_timeout_s", "job_stall_s", *EVAL_ONLY_FIELDS):
            d.pop(k, None)
        if self.dataset.startswith("synthetic"):  # new generator version, new data: new jobs, not skips
            from vssl_bench.data.synthetic import SYNTHETIC_VERSION

            d["synthetic_version"] = SYNTHETIC_VERSION
        blob = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:10]

    def job_name(self) -> str:
        return f"{self.method}__{self.dataset}__{self.backbone}__seed{self.seed}__{self.job_key()}"


PREFETCH = ("auto", "thread", "off")
HFLIP = ("auto", "on", "off")
EVAL_BN = ("recompute", "pretrain")  # eval.features: the frozen evaluation's BatchNorm statistics

# (field, lowest allowed value): the ranges every Config is checked against.
AT_LEAST = (("batch_size", 1), ("clip_len", 1), ("size", 8), ("eval_clips", 1), ("steps", 0), ("epochs", 0),
            ("knn_k", 1), ("frame_stride", 1), ("checkpoint_every", 1), ("num_workers", 0), ("threads", 0),
            ("linear_epochs", 1), ("grad_clip", 0), ("weight_decay", 0), ("resize", 0), ("cache_decoded_mb", 0),
            ("synthetic_train_per_class", 1), ("synthetic_test_per_class", 1), ("pretext_eval_batches", 0),
            ("loader_timeout_s", 0), ("finetune_steps", 1), ("split", 1),
            ("max_decode_failures", 0))  # failed attempts per read: a share, > 1 when draws fail repeatedly
POSITIVE = ("lr", "linear_lr", "finetune_lr", "knn_temperature", "job_stall_s")


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
        raise ConfigError("the budget is zero (steps 0, epochs 0): every method would be evaluated untrained; "
                          "give --steps N or --epochs E above 0")
    if not (cfg.device in ("auto", "cpu", "cuda") or cfg.device.startswith("cuda:")):
        raise choice_error("device", cfg.device, ["auto", "cpu", "cuda", "cuda:N"])

# Extra evaluations (vssl_bench/eval/); the prefix maps a suite's `evaluations:` block
# (`lowshot: {shots: [1, 5]}`) onto Config fields (`lowshot_shots`).
EVALUATIONS = ("lowshot", "temporal", "budgets", "finetune", "shift")
EVALUATION_PREFIX = {"lowshot": "lowshot_", "temporal": "temporal_", "budgets": "budget_",
                     "finetune": "finetune_", "shift": "shift_"}
# Fields that choose or parametrise those evaluations, kept out of Config.job_key().
EVAL_ONLY_FIELDS = ("evaluations", "lowshot_shots", "lowshot_draws", "finetune_steps", "finetune_lr",
                    "budget_fracs", "shift_dataset", "shift_data_root")


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


def evaluations_overrides(block: Any) -> dict[str, Any]:
    """A suite's ``evaluations:`` block -> Config overrides. Either a list of names, or a
    mapping ``name: true | false | {param: value}`` where ``param`` is the Config field
    without its prefix (``lowshot: {shots: [1, 5], draws: 3}`` -> ``lowshot_shots``...)."""
    if isinstance(block, (list, tuple, str)):
        return {"evaluations": tuple(_str_items(block))}
    if not isinstance(block, dict):
        raise ConfigError(f"suite key 'evaluations' must be a list or a mapping, got {block!r}")
    names, out = [], {}
    fields_ = _field_types()
    for name, val in block.items():
        if name not in EVALUATIONS:
            raise choice_error("evaluation", name, EVALUATIONS)
        if val is False or val is None:
            continue
        names.append(name)
        for param, v in (val if isinstance(val, dict) else {}).items():
            key = EVALUATION_PREFIX[name] + str(param)
            if key not in fields_:
                valid = [f[len(EVALUATION_PREFIX[name]):] for f in fields_ if f.startswith(EVALUATION_PREFIX[name])]
                raise ConfigError(f"unknown parameter {param!r} of evaluation {name!r}; valid: "
                                  f"{', '.join(valid) or '(none)'}")
            out[key] = v
    return {"evaluations": tuple(names), **out}


CONFIG_FIELDS: dict[str, Any] = {}


def _field_types() -> dict[str, Any]:
    if not CONFIG_FIELDS:
        CONFIG_FIELDS.update(get_type_hints(Config))
    return CONFIG_FIELDS


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
            if typ is tuple or typ_s == "tuple":
                return tuple(int(x) for x in raw.replace("[", "").replace("]", "").split(",") if x)
            if "None" in typ_s and raw.strip().lower() in ("none", "null", ""):
                return None
            return raw
        if typ is float and isinstance(raw, int) and not isinstance(raw, bool):
            return float(raw)
        if typ is tuple and isinstance(raw, list):
            return tuple(raw)
        if typ is int and isinstance(raw, float) and raw.is_integer():
            return int(raw)
        return raw
    except ValueError:
        raise ConfigError(f"invalid value {raw!r} for {key!r} (expected {getattr(typ, '__name__', typ_s)})") from None


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


@dataclass
class Suite:
    """A YAML matrix: methods x seeds (x one dataset and one backbone)."""

    name: str
    methods: list[str]
    seeds: list[int]
    base: Config
    method_params: dict[str, dict] = field(default_factory=dict)
    evaluations: dict[str, Any] = field(default_factory=dict)  # evaluation -> its params (also in base)
    slurm: dict[str, Any] = field(default_factory=dict)  # `run --launcher slurm` defaults (launch.SLURM_DEFAULTS)
    description: str = ""
    path: str | None = None

    def jobs(self) -> list[Config]:
        from vssl_bench.methods import resolve_params

        out = []
        for method in self.methods:
            params = resolve_params(method, self.method_params.get(method, {}))
            for seed in self.seeds:
                out.append(dataclasses.replace(self.base, method=method, seed=seed, params=params))
        return out


SUITE_KEYS = {"name", "description", "methods", "seeds", "dataset", "backbone", "config",
              "method_params", "evaluations", "slurm"}


def suites_dir() -> Path:
    """Suites shipped with the repository (benchmarks/*.yaml)."""
    return Path(__file__).resolve().parent.parent / "benchmarks"


def available_suites() -> dict[str, Path]:
    d = suites_dir()
    return {p.stem: p for p in sorted(d.glob("*.yaml"))} if d.is_dir() else {}


def load_suite(name_or_path: str) -> Suite:
    """Load a suite by name (``quick``) or by path (``benchmarks/quick.yaml``)."""
    p = Path(name_or_path)
    if not p.is_file():
        suites = available_suites()
        if name_or_path not in suites:
            raise choice_error("suite", name_or_path, list(suites) or ["(no suites found)"])
        p = suites[name_or_path]
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"suite {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"suite {p} must be a mapping")
    unknown = set(raw) - SUITE_KEYS
    if unknown:
        raise choice_error(f"key in suite {p.name}:", sorted(unknown)[0], sorted(SUITE_KEYS))
    where = f"suite {p.name}"
    for key in ("dataset", "backbone", "name", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"{where}: '{key}' must be a string, got {raw[key]!r}")
    for key in ("config", "method_params"):
        if raw.get(key) is not None and not isinstance(raw[key], dict):
            raise ConfigError(f"{where}: '{key}' must be a mapping of key: value, got {raw[key]!r}")
    top = {k: raw[k] for k in ("dataset", "backbone") if k in raw}
    try:
        base = apply_overrides(Config(), {**top, **(raw.get("config") or {})})
        if raw.get("evaluations") is not None:  # the suite-level switches (Config evaluation fields)
            base = apply_overrides(base, evaluations_overrides(raw["evaluations"]))
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    methods = raw.get("methods") or []
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        raise ConfigError(f"{where}: 'methods' must be a list of method names, got {raw.get('methods')!r}")
    if not methods:
        raise ConfigError(f"{where} lists no methods: give 'methods: [sort, mae, ...]' (see `vssl-bench list methods`)")
    seeds = raw.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in seeds)):
        raise ConfigError(f"{where}: 'seeds' must be a non-empty list of integers >= 0, got {raw.get('seeds')!r}")
    method_params = raw.get("method_params") or {}
    for m, v in method_params.items():
        if m not in methods:
            raise choice_error(f"method in {where}'s method_params:", m, methods)
        if v is not None and not isinstance(v, dict):
            raise ConfigError(f"{where}: method_params.{m} must be a mapping of parameter: value, got {v!r}")
    return Suite(
        name=str(raw.get("name", p.stem)),
        description=str(raw.get("description", "")),
        methods=list(methods),
        seeds=[int(s) for s in seeds],
        base=base,
        method_params={k: dict(v or {}) for k, v in method_params.items()},
        evaluations={n: {k[len(EVALUATION_PREFIX[n]):]: getattr(base, k) for k in EVAL_ONLY_FIELDS
                         if k.startswith(EVALUATION_PREFIX[n])} for n in base.evaluations},
        slurm=_slurm_mapping(raw.get("slurm"), p),
        path=str(p),
    )


def _slurm_mapping(raw: Any, p: Path) -> dict:
    """The suite's ``slurm:`` mapping (partition, time, gpus_per_job, cpus_per_job, signal_delay_s)."""
    from vssl_bench.launch import SLURM_KEYS

    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"'slurm' in suite {p.name} must be a mapping of {', '.join(SLURM_KEYS)}")
    unknown = sorted(set(raw) - set(SLURM_KEYS))
    if unknown:
        raise choice_error(f"key in the slurm: mapping of suite {p.name}:", unknown[0], SLURM_KEYS)
    return dict(raw)


def parse_list(raw: str | None, what: str, cast=str) -> list | None:
    if raw is None:
        return None
    items = [x.strip() for x in raw.split(",") if x.strip()]
    try:
        return [cast(x) for x in items]
    except ValueError:
        raise ConfigError(f"invalid {what} {raw!r}: expected a comma-separated list") from None


def save_config(cfg: Config, path: Path) -> None:
    from vssl_bench.utils import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
