"""Suites: YAML matrices of jobs, and the ``run`` / ``status`` options that change them.

A suite (``benchmarks/*.yaml``) names its methods, seeds, dataset, backbone, the Config
fields every job shares (``config:``), each method's parameters (``method_params:``), the
evaluations switched on with their parameters (``evaluations:``) and SLURM defaults
(``slurm:``), and optionally ``tuned:``, the per-method selection written by ``vssl-bench
tune`` (applied on top; what ``--set`` names wins). ``config: {steps: [150, 600]}`` is a
budget axis: each budget is a job of its own, with its own full schedule and key.
:meth:`Suite.jobs` resolves the matrix into one Config per (budget, method, seed), every
name and parameter checked against the registries (methods, evaluations, datasets,
backbones) with a one-line error naming the valid choices.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vssl_bench.config import (
    Config,
    ConfigError,
    apply_overrides,
    choice_error,
    parse_list,
    parse_set_options,
    parse_value,
)
from vssl_bench.data.datasets import DATASETS
from vssl_bench.eval import OPTIONAL, resolve_evaluations
from vssl_bench.launch import SLURM_KEYS
from vssl_bench.methods import METHODS, get_method, resolve_params
from vssl_bench.models.backbones import BACKBONES
from vssl_bench.taxonomy import REFERENCES
from vssl_bench.utils import resolve_device


@dataclass
class Suite:
    """A matrix: methods x budgets x seeds, on one dataset and one backbone."""

    name: str
    methods: list[str]
    seeds: list[int]
    base: Config  # what every job shares (base.evaluations: the evaluations switched on)
    method_params: dict[str, dict] = field(default_factory=dict)
    budgets: list[int] = field(default_factory=list)  # optimiser steps; empty: base.steps (or base.epochs)
    slurm: dict[str, Any] = field(default_factory=dict)  # `run --launcher slurm` defaults (launch.SLURM_DEFAULTS)
    tuned: dict[str, dict] = field(default_factory=dict)  # method -> overrides chosen by `vssl-bench tune`
    tuned_on: dict[str, Any] = field(default_factory=dict)  # what that selection was chosen on (dataset, ...)
    description: str = ""
    path: str | None = None

    def jobs(self) -> list[Config]:
        """One resolved Config per (budget, method, seed), in that order (smaller budgets first)."""
        evaluations = resolve_evaluations(self.base.evaluations)
        budgets = self.budgets or [self.base.steps]
        out = []
        config_fields = {f.name for f in dataclasses.fields(Config)}
        differ = {k: (v, getattr(self.base, k)) for k, v in self.tuned_on.items() if getattr(self.base, k) != v}
        if self.tuned and differ:  # e.g. chosen on split 1, whose training videos are split 2's test videos
            what = ", ".join(f"{k} {a!r} (this suite: {b!r})" for k, (a, b) in differ.items())
            raise ConfigError(
                f"the suite's tuned selection was chosen on {what}; tune again on this setting "
                f"(`vssl-bench tune`) or drop `tuned:`"
            )
        per_method = []
        for method in self.methods:
            tuned = self.tuned.get(method, {})
            mine, own = split_method_settings(method, self.method_params.get(method, {}))
            # the suite's own per-method settings < the tuned selection < --set (which drops
            # the tuned value of what it names, suite_from_options)
            cfg_tuned = {**mine, **{k: v for k, v in tuned.items() if k in config_fields}}
            params = resolve_params(method, {**own, **{k: v for k, v in tuned.items() if k not in config_fields}})
            base = apply_overrides(self.base, cfg_tuned) if cfg_tuned else self.base
            per_method.append((method, params, base))
        # budget-major: a run cut short (a session, a wall-clock limit) leaves every method at
        # the smaller budgets done, a comparable block, rather than a few methods at all of them
        for i, steps in enumerate(budgets):
            for method, params, base in per_method:
                # a method that does not train (random) gives the same result at every budget: one job
                if i > 0 and not get_method(method).trains:
                    continue
                for seed in self.seeds:
                    out.append(
                        dataclasses.replace(
                            base, method=method, seed=seed, params=params, steps=steps, evaluations=evaluations
                        )
                    )
        return out

    def budget_text(self) -> str:
        if self.base.epochs and not self.budgets:
            return f"{self.base.epochs:g} epochs"
        return " / ".join(str(b) for b in (self.budgets or [self.base.steps])) + " steps"


# Config fields one method may set for itself (`--set nce.lr=1e-3`, `method_params: {nce:
# {lr: ...}}`): its optimiser recipe, what the tuning grid varies. Budget, data, backbone,
# clip shape and evaluation stay the suite's, identical for every method.
PER_METHOD_FIELDS = ("lr", "weight_decay", "warmup_frac", "grad_clip")


def split_method_settings(method: str, settings: dict) -> tuple[dict, dict]:
    """(Config fields, method parameters) of one method's settings. A name that is both
    (a method parameter called like a Config field, e.g. ``vcop.clip_len``) is the method's
    parameter. A Config field outside :data:`PER_METHOD_FIELDS` (and the method's declared
    ``tune`` parameter) is refused: one method may not change the suite's budget or data."""
    cls = get_method(method)
    own = {f.name for f in dataclasses.fields(cls.Params)}
    config_fields = {f.name for f in dataclasses.fields(Config)}
    allowed = set(PER_METHOD_FIELDS) | (set(cls.tune) & config_fields)
    cfg = {k: v for k, v in settings.items() if k in config_fields and k not in own}
    bad = sorted(k for k in cfg if k not in allowed)
    if bad:
        raise ConfigError(
            f"{method}.{bad[0]}: a setting of the whole suite, not of one method (same budget, data and "
            f"evaluation for every method); per method: {', '.join(sorted(allowed))} or {method}'s parameters"
        )
    for k, v in cfg.items():  # the value's type, checked here with the method's name in the message
        try:
            apply_overrides(Config(), {k: v})
        except ConfigError as e:
            raise ConfigError(f"{method}.{k}: {e}") from None
    return cfg, {k: v for k, v in settings.items() if k not in cfg}


SUITE_KEYS = {
    "name",
    "description",
    "methods",
    "seeds",
    "dataset",
    "backbone",
    "config",
    "method_params",
    "evaluations",
    "slurm",
    "tuned",
}


def suites_dir() -> Path:
    """Suites shipped with the repository (benchmarks/*.yaml)."""
    return Path(__file__).resolve().parent.parent / "benchmarks"


TUNED_MARK = re.compile(r"^selected_by:", re.MULTILINE)  # the first key of a tune selection file


def available_suites() -> dict[str, Path]:
    """Suite name -> file: the YAML files of the suites folder, less the tuned selections that
    `vssl-bench tune` writes there (a top-level ``selected_by:``; ``benchmarks/tuned.yaml``)."""
    d = suites_dir()
    if not d.is_dir():
        return {}
    return {p.stem: p for p in sorted(d.glob("*.yaml")) if not TUNED_MARK.search(p.read_text(errors="replace"))}


def _budgets(raw: Any, where: str) -> list[int]:
    """``steps`` as a budget axis: an int, a list of ints or ``"150,600"`` -> sorted unique ints
    (a zero budget is refused by Config, with its reason)."""
    if isinstance(raw, (list, tuple)) and any(not isinstance(b, int) or isinstance(b, bool) for b in raw):
        items = ()  # 600.7, true, null in a YAML list: refused, not rounded or crashed on
    else:
        try:
            items = parse_value("steps", raw, tuple[int, ...]) if not isinstance(raw, int) else (raw,)
        except ConfigError:
            items = ()
    if not items or any(not isinstance(b, int) or isinstance(b, bool) or b < 0 for b in items):
        raise ConfigError(f"{where}: steps must be an integer or a list of integers >= 0, got {raw!r}")
    return sorted(set(items))


def load_suite(name_or_path: str, tuned: bool = True) -> Suite:
    """Load a suite by name (``quick``) or by path (``benchmarks/quick.yaml``); ``tuned``
    off: without its tuned selection (what ``vssl-bench tune`` starts from)."""
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
    config = dict(raw.get("config") or {})
    budgets = _budgets(config.pop("steps"), where) if isinstance(config.get("steps"), (list, tuple, str)) else []
    if budgets:
        config["steps"] = budgets[0]
    top = {k: raw[k] for k in ("dataset", "backbone") if k in raw}
    if raw.get("evaluations") is not None:
        top["evaluations"] = raw["evaluations"]
    try:
        base = apply_overrides(Config(), {**top, **config})
        resolve_evaluations(base.evaluations)  # names and parameters, checked now
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
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in seeds)
    ):
        raise ConfigError(f"{where}: 'seeds' must be a non-empty list of integers >= 0, got {raw.get('seeds')!r}")
    method_params = raw.get("method_params") or {}
    for m, v in method_params.items():
        if m not in methods:
            raise choice_error(f"method in {where}'s method_params:", m, methods)
        if v is not None and not isinstance(v, dict):
            raise ConfigError(f"{where}: method_params.{m} must be a mapping of parameter: value, got {v!r}")
    selection, tuned_on = {}, {}
    if raw.get("tuned") is not None:
        if not isinstance(raw["tuned"], str):
            raise ConfigError(f"{where}: 'tuned' must be the path of a selection written by `vssl-bench tune`")
        if tuned:
            selection, tuned_on = load_tuned(p.parent / raw["tuned"], methods)
    return Suite(
        name=str(raw.get("name", p.stem)),
        description=str(raw.get("description", "")),
        methods=list(methods),
        seeds=[int(s) for s in seeds],
        base=base,
        method_params={k: dict(v or {}) for k, v in method_params.items()},
        budgets=budgets,
        slurm=_slurm_mapping(raw.get("slurm"), p),
        tuned=selection,
        tuned_on=tuned_on,
        path=str(p),
    )


def load_tuned(path: Path, methods: list[str]) -> tuple[dict[str, dict], dict[str, Any]]:
    """A ``tuned.yaml``'s per-method overrides, checked: unknown methods are ignored (a suite
    may list fewer), each override must be a Config field or a parameter of that method."""
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"tuned selection {path} not found; write it with `vssl-bench tune`") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"tuned selection {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    per = raw.get("methods") if isinstance(raw, dict) else None
    if not isinstance(per, dict):
        raise ConfigError(f"tuned selection {path} has no 'methods:' mapping")
    config_fields = {f.name for f in dataclasses.fields(Config)}
    out = {}
    for m, over in per.items():
        if m not in methods:
            continue
        if not isinstance(over, dict):
            raise ConfigError(f"tuned selection {path}: methods.{m} must be a mapping, got {over!r}")
        params = {f.name for f in dataclasses.fields(METHODS[m].Params)}
        for k in over:
            if k not in config_fields and k not in params:
                raise ConfigError(f"tuned selection {path}: {m}.{k} is neither a config field nor a {m} parameter")
        out[m] = dict(over)
    cautions = raw.get("cautions") if isinstance(raw.get("cautions"), dict) else {}
    flagged = [m for m in out if cautions.get(m)]
    if flagged:  # applied anyway (the selection is the rule), but not silently
        logging.getLogger(__name__).warning(
            "tuned selection %s: the selections of %s carry cautions (grid edge, within noise of random, or "
            "within noise of the untuned recipe; see its cautions:)",
            Path(path).name,
            ", ".join(flagged),
        )
    chosen_on = raw.get("chosen_on") or {}
    return out, (chosen_on if isinstance(chosen_on, dict) else {})


def _slurm_mapping(raw: Any, p: Path) -> dict:
    """The suite's ``slurm:`` mapping (partition, time, gpus_per_job, cpus_per_job, signal_delay_s)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"'slurm' in suite {p.name} must be a mapping of {', '.join(SLURM_KEYS)}")
    unknown = sorted(set(raw) - set(SLURM_KEYS))
    if unknown:
        raise choice_error(f"key in the slurm: mapping of suite {p.name}:", unknown[0], SLURM_KEYS)
    return dict(raw)


def suite_from_options(
    suite: str | None = None,
    methods: str | None = None,
    seeds: str | None = None,
    dataset: str | None = None,
    backbone: str | None = None,
    steps: str | None = None,
    epochs: float | None = None,
    device: str | None = None,
    data_root: Path | None = None,
    sets: list[str] | None = None,
    references: bool = True,
    tuned: bool = True,
) -> Suite:
    """The suite ``run`` / ``status`` work on: the named suite (default ``quick``) changed
    by their options. ``--methods`` replaces its methods (``random`` and ``supervised``
    added unless ``references`` is off); ``--steps 150,600`` is a budget axis. ``--set``
    routes each ``key=value``: a Config field (``lr=1e-3``, ``evaluations=lowshot``);
    ``<method>.<param>`` (a method parameter, or a Config field for that method alone:
    ``nce.lr=1e-3``, which wins over the tuned selection) or ``<evaluation>.<param>``
    (which also switches that evaluation on); a bare parameter name sets it for every method
    of the suite that has it."""
    s = load_suite(suite or "quick", tuned=tuned)
    if methods is not None:
        names = parse_list(methods, "method list")
        if not names:
            raise ConfigError(f"--methods is empty; valid choices: {', '.join(METHODS)}")
        for n in names:
            get_method(n)  # raises with the valid choices
        if references:
            names = [r for r in REFERENCES if r not in names] + names
        s.methods = list(dict.fromkeys(names))
    for n in s.methods:
        get_method(n)
    if seeds is not None:
        s.seeds = parse_list(seeds, "seed list", int) or [0]
    overrides: dict = {
        k: v
        for k, v in (("dataset", dataset), ("backbone", backbone), ("epochs", epochs), ("device", device))
        if v is not None
    }
    if data_root is not None:
        overrides["data_root"] = str(data_root)
    sets_d = parse_set_options(sets)
    fields_ = {f.name for f in dataclasses.fields(Config)} - {"params"}
    cfg_sets = {k: v for k, v in sets_d.items() if k in fields_}

    # a job trains `epochs` when it is above 0, whatever `steps` says: a budget given in one
    # unit replaces the suite's in the other (ucf101.yaml's 300 epochs under --steps 1000),
    # and both given at once is refused rather than one silently ignored
    def given(flag, key: str) -> bool:  # 0 means "not this unit" (--set epochs=0 beside --steps)
        raw = flag if flag is not None else cfg_sets.get(key)
        try:
            return raw is not None and float(raw) != 0
        except (TypeError, ValueError):
            return True  # not a number: apply_overrides refuses it with its reason

    in_steps, in_epochs = given(steps, "steps"), given(epochs, "epochs")  # "150,600" is not a float: given
    if in_steps and in_epochs:
        raise ConfigError("steps and epochs both given: a budget is one or the other; give one of them")
    if steps is not None:
        s.budgets = _budgets(steps, "--steps")
        overrides["steps"] = s.budgets[0]
    elif epochs is not None:
        s.budgets, overrides["steps"] = [], 0
    if in_steps:
        overrides["epochs"] = 0.0
    elif in_epochs:
        s.budgets, overrides["steps"] = [], 0
    s.base = apply_overrides(s.base, {**overrides, **cfg_sets})
    for m in s.tuned:  # what --set names explicitly wins over the tuned selection
        s.tuned[m] = {k: v for k, v in s.tuned[m].items() if k not in cfg_sets}
    for m, mp in s.method_params.items():  # ... and over the suite's per-method value of that field
        if m in METHODS:
            mine, _ = split_method_settings(m, mp)
            s.method_params[m] = {k: v for k, v in mp.items() if not (k in mine and k in cfg_sets)}
    if "steps" in cfg_sets:  # --set steps=N: one budget
        s.budgets = []
    evaluations = dict(s.base.evaluations)
    for key, val in sets_d.items():
        if key in cfg_sets:
            continue
        if "." in key:  # method.param or evaluation.param
            owner, param = key.split(".", 1)
            if owner in s.methods:
                s.method_params.setdefault(owner, {})[param] = val
                s.tuned.get(owner, {}).pop(param, None)
            elif owner in OPTIONAL:
                evaluations[owner] = {**evaluations.get(owner, {}), param: val}
            elif owner in METHODS:
                raise ConfigError(
                    f"--set {key}: {owner} is a method, but not one of this run's ({', '.join(s.methods)}); "
                    f"add it with --methods or choose a suite that has it"
                )
            else:
                raise choice_error("method or evaluation in --set", owner, [*s.methods, *OPTIONAL])
        else:  # a bare key: a parameter of every method of the suite that has it
            users = [m for m in s.methods if key in {f.name for f in dataclasses.fields(get_method(m).Params)}]
            if not users:
                raise choice_error("key in --set", key, sorted(fields_) + ["<method>.<param>", "<evaluation>.<param>"])
            for m in users:
                s.method_params.setdefault(m, {})[key] = val
                s.tuned.get(m, {}).pop(key, None)
    s.base = dataclasses.replace(s.base, evaluations=evaluations)
    resolve_evaluations(s.base.evaluations)
    validate_base(s.base)
    for m in s.methods:  # a per-method Config field that may not be one: refused before any work
        split_method_settings(m, s.method_params.get(m, {}))
    return s


def validate_base(cfg: Config) -> None:
    """What a Config cannot check alone (it knows no registry): the dataset, the backbone,
    the device, the data root. Types and ranges are checked by Config itself."""
    if cfg.dataset not in DATASETS:
        raise choice_error("dataset", cfg.dataset, list(DATASETS))
    if cfg.backbone not in BACKBONES:
        raise choice_error("backbone", cfg.backbone, list(BACKBONES))
    resolve_device(cfg.device)
    if cfg.data_root and not DATASETS[cfg.dataset].embedded and not Path(cfg.data_root).expanduser().is_dir():
        raise ConfigError(f"data root {cfg.data_root!r} does not exist or is not a folder")
