"""Equal tuning effort: the same small grid for every method, selected on validation videos.

Every method that trains gets the learning rates :data:`LR_FACTORS` x the suite's (half, once
and twice the shared default) crossed with two values of one parameter of its own, declared
beside its ``Params`` as ``Method.tune = {"param": (default, alternative)}`` with the reason
(a Config field such as ``weight_decay`` may stand in where a method has no parameter of
its own). That is 6 jobs per method (3 where nothing is declared); ``random`` does not
train and is evaluated once. Each job trains at one short budget (``--steps``; the
suite's own where none is given) with the
evaluations held out on a **validation split carved from the training videos**
(``Config.holdout = "val"``: 20 % of each class, the same videos for every job); the test
set is never seen. The selection score is the mean of linear-probe and kNN top-1 on that
split (both frozen protocols count), averaged over the tuning seeds; ties go to the
shared default. Within a method whose own task is gated, the points that learned it on
held-out data (:func:`vssl_bench.stats.learnability`: the gate a leaderboard row must pass)
rank above the rest (:func:`select`): a recipe under which the method has not shown it
learns its task is not selected for a higher downstream score. The selection is
written as YAML (``benchmarks/tuned.yaml``) that a suite names with ``tuned:``, and the full
grid as a markdown table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
from pathlib import Path

import pandas as pd
import yaml

from vssl_bench.config import Config, ConfigError, apply_overrides
from vssl_bench.methods import METHODS, resolve_params
from vssl_bench.results import row_from_metrics
from vssl_bench.rundir import RunDir
from vssl_bench.stats import LEARNED, learnability, own_task_text
from vssl_bench.suite import Suite, split_method_settings
from vssl_bench.utils import atomic_write_text

LR_FACTORS = (0.5, 1.0, 2.0)  # x the suite's shared AdamW rate (2e-3 in the shipped suites: 1e-3, 2e-3, 4e-3)
SCORE = ("linear_top1", "knn_top1")  # selection: their mean on the validation split
CHOSEN_ON = ("dataset", "backbone", "split", "val_fraction")  # what a selection is only valid for


@dataclasses.dataclass(frozen=True)
class Point:
    """One grid point of one method: its overrides and the job's config."""

    method: str
    overrides: dict  # {"lr": ..., <param>: ...}
    cfg: Config


def point_text(overrides: dict) -> str:
    """A grid point as ``lr=0.001, frames=8`` (tune's per-job line, its dry run, grid.md and the
    cautions all name a point this way); empty for a method with nothing to tune."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in overrides.items())


def method_grid(method: str, base: Config, params: dict) -> list[Point]:
    """The grid of one method on top of the suite's ``base`` and its ``params``."""
    cls = METHODS[method]
    if not cls.trains:
        return [Point(method, {}, dataclasses.replace(base, method=method, params=resolve_params(method, params)))]
    declared = list(cls.tune.items())
    if len(declared) > 1:
        raise ConfigError(f"{method}.tune declares {len(declared)} parameters; the grid allows one per method")
    name, values = declared[0] if declared else (None, (None,))
    config_fields = {f.name for f in dataclasses.fields(Config)}
    out = []
    for lr, value in itertools.product([f * base.lr for f in LR_FACTORS], values):
        over: dict = {"lr": lr}
        cfg_changes: dict = {"lr": lr}
        p = dict(params)
        if name is not None:
            over[name] = value
            if name in config_fields:
                cfg_changes[name] = value
            else:
                p[name] = value
        cfg = dataclasses.replace(base, method=method, params=resolve_params(method, p), **cfg_changes)
        out.append(Point(method, over, cfg))
    return out


def method_base(suite: Suite, method: str, base: Config) -> tuple[Config, dict]:
    """``base`` with the suite's per-method recipe (e.g. ``nce.lr``: where that method's grid
    is centred) and the method's own parameters."""
    mine, own = split_method_settings(method, suite.method_params.get(method, {}))
    return (apply_overrides(base, mine) if mine else base), own


def grid_centres(suite: Suite) -> dict[str, float]:
    """method -> the learning rate its grid is centred on (a tie in the selection goes there)."""
    return {m: method_base(suite, m, suite.base)[0].lr for m in suite.methods}


def tuning_jobs(suite: Suite) -> list[Point]:
    """Every method's grid x the suite's seeds, at the suite's (first) budget, evaluated on
    the validation split with the standard evaluations only."""
    base = dataclasses.replace(
        suite.base, holdout="val", evaluations={}, steps=(suite.budgets or [suite.base.steps])[0]
    )
    out = []
    for method in suite.methods:
        for point in method_grid(method, *method_base(suite, method, base)):
            for seed in suite.seeds:
                out.append(dataclasses.replace(point, cfg=dataclasses.replace(point.cfg, seed=seed)))
    return out


def point_score(m: dict | None) -> float:
    """What the grid ranks a finished job by (``SCORE``: mean of validation linear and kNN
    top-1); NaN for a job without a result."""
    if not m or m.get("status", "done") != "done":
        return math.nan
    vals = [m.get(k) for k in SCORE]
    return float(sum(vals) / len(vals)) if all(isinstance(v, (int, float)) for v in vals) else math.nan


def own_task(metrics: list[dict]) -> dict:
    """The learnability gate's reading of one grid point's finished seeds: ``own_task`` (a
    held-out accuracy, or a loss as a share of the training-free predictor's), ``own_kind``
    ("accuracy" | "loss" | ""), ``own_floor`` (what it had to beat), ``own_bound`` (the end of
    its interval that had to beat it) and ``learned`` (True /
    False / None where the method has no own task to gate, e.g. ``random``, or a result
    written before its method measured one)."""
    none = {"own_task": math.nan, "own_kind": "", "own_floor": math.nan, "own_bound": math.nan, "learned": None}
    if not metrics:
        return none
    lb = learnability(pd.DataFrame([row_from_metrics(m) for m in metrics]))
    if len(lb) != 1:
        return none
    r = lb.iloc[0]
    return {
        "own_task": r["value"],
        "own_kind": r["task"],
        "own_floor": r["floor"],
        "own_bound": r["bound"],  # the interval's end that decides (one seed: Wilson over the held-out samples)
        "learned": r["learned"],
    }


def grid_table(points: list[Point], out: Path) -> list[dict]:
    """One row per (method, grid point): the overrides, per-metric means over seeds, the
    score, how many seeds finished and the point's own-task reading (:func:`own_task`)."""
    rows: dict[tuple, dict] = {}
    for pt in points:
        key = (pt.method, tuple(sorted(pt.overrides.items())))
        r = rows.setdefault(key, {"method": pt.method, "overrides": pt.overrides, "metrics": []})
        m = RunDir.of(out, pt.cfg).read_metrics()
        if not math.isnan(point_score(m)):
            r["metrics"].append(m)
    table = []
    for r in rows.values():
        ms = r["metrics"]
        n = len(ms)

        def mean(k, ms=ms, n=n):
            return sum(m[k] for m in ms) / n if n else math.nan

        table.append(
            {
                "method": r["method"],
                "overrides": r["overrides"],
                "seeds": n,
                "linear_top1": mean("linear_top1"),
                "knn_top1": mean("knn_top1"),
                "score": sum(point_score(m) for m in ms) / n if n else math.nan,
                **own_task(ms),
            }
        )
    return table


def default_point(method: str, base: Config, centres: dict[str, float] | None = None) -> dict:
    """The overrides of ``method``'s untuned recipe: the grid's centre lr (the method's own
    where the suite sets one, e.g. ``nce.lr``, else ``base.lr``) and its parameter's default."""
    return {"lr": (centres or {}).get(method, base.lr), **{k: v[0] for k, v in METHODS[method].tune.items()}}


def select(
    table: list[dict], base: Config, n_seeds: int = 1, centres: dict[str, float] | None = None
) -> dict[str, dict]:
    """method -> the overrides of its best grid point (highest score; a tie within 1e-9 goes
    to the point nearest the default: the grid's centre lr, then the declared default). Only
    points whose ``n_seeds`` seeds all finished compete: a point that failed on a seed (a
    diverging learning rate) cannot win on the seeds it survived.

    A method whose own task is gated (some point has ``learned`` True or False: a held-out
    accuracy or loss, :func:`own_task`) ranks the points that learned it above every other
    point, those that did not and those whose own task was not measured: a recipe under which
    the method has not shown it learns its task is not selected for a better downstream
    score; where none learned, the score alone decides. A method with no own task to gate
    (``random``, results from before a method measured its task: ``learned`` None everywhere)
    is ranked on its score. With several
    tuning seeds a point's seeds are read together as the leaderboard reads a method's
    (:func:`vssl_bench.stats.learnability`: every seed on its own below three seeds, a
    t-interval over the seeds from three)."""
    best: dict[str, dict] = {}
    for method in dict.fromkeys(r["method"] for r in table):
        rows = [r for r in table if r["method"] == method and not math.isnan(r["score"]) and r["seeds"] >= n_seeds]
        if not rows:
            continue
        default = default_point(method, base, centres)
        gated = any(r.get("learned") is not None for r in rows)

        def rank(r, default=default, gated=gated):
            off_default = sum(r["overrides"].get(k) != v for k, v in default.items() if k in r["overrides"])
            return (gated and r.get("learned") is not True, -round(r["score"], 9), off_default)

        top = min(rows, key=rank)
        # a point scoring above the selection can only have lost on the first key: not learned
        higher = [r for r in rows if r["score"] > top["score"] + 1e-9]
        best[method] = {
            "overrides": dict(top["overrides"]),
            "score": top["score"],
            "seeds": top["seeds"],
            "gated": gated,
            "learned": top.get("learned"),
            # the best-scoring point where it lost for not having learned its task (:func:`cautions` names it)
            "passed_over": max(higher, key=lambda r: r["score"]) if higher else None,
        }
    return best


def _noise(p: float, n_val: int, z: float) -> float:
    """``z`` standard deviations of the difference of two independent accuracies at ``p`` on
    ``n_val`` videos (sqrt(2) x one binomial sd)."""
    p = min(max(p, 1.0 / n_val), 1 - 1.0 / n_val)
    return z * math.sqrt(2 * p * (1 - p) / n_val)


def cautions(
    table: list[dict],
    best: dict[str, dict],
    n_val: int | None = None,
    z: float = 2.0,
    defaults: dict[str, dict] | None = None,
) -> dict[str, list[str]]:
    """method -> what its selection cannot say, where something can be said:

    - its learning rate is the grid's lowest or highest: the best may lie beyond the grid;
    - its best score is within ``z`` standard deviations of ``random``'s, for the difference
      of two independent accuracies at random's level on ``n_val`` validation videos
      (sqrt(2) x one binomial sd): the method has not clearly learned at this budget, so the
      grid cannot rank its points and the selection is noise. Lenient still: the best of a
      grid's points is biased upwards, and the score is the mean of two correlated accuracies;
    - it left its untuned recipe (``defaults``: method -> the overrides of :func:`default_point`)
      for a point that scores within the same margin of that recipe's: on these videos and
      seeds the grid cannot tell the two apart, so the selection may not replicate. Not said
      where the previous note is (without a ``random`` row that note cannot be, so this one may
      then be said of a method that did not learn), nor where the untuned recipe's point did
      not finish on as many seeds as the selection's (it could not be selected either). The margin ignores that
      both scores are measured on the same videos (a paired difference varies less) and the
      variation between training seeds (which adds to it).
    """
    out: dict[str, list[str]] = {}
    rand = [r["score"] for r in table if r["method"] == "random" and not math.isnan(r["score"])]
    for method, b in best.items():
        notes = []
        lrs = sorted({r["overrides"]["lr"] for r in table if r["method"] == method and "lr" in r["overrides"]})
        lr = b["overrides"].get("lr")
        if len(lrs) > 1 and lr in (lrs[0], lrs[-1]):
            side, beyond = ("lowest", "below") if lr == lrs[0] else ("highest", "above")
            notes.append(f"lr {lr:g} is the grid's {side}: the best may lie {beyond} it")
        if b.get("gated") and b.get("learned") is not True:
            notes.append(
                "no grid point learned its own task on held-out data (the gate a leaderboard row must pass): "
                "the selection ranks recipes of a method that has not learned at this budget"
            )
        elif po := b.get("passed_over"):
            held_out = own_task_text(po["own_kind"], po["own_task"], po["own_floor"])
            notes.append(
                f"the best score, {100 * po['score']:.1f} at {point_text(po['overrides'])}, came from a point that "
                f"did not show it learned its own task (held-out {held_out}): the best point that did is selected"
            )
        unlearned = False
        if rand and n_val and method != "random":
            margin = _noise(rand[0], n_val, z)
            if b["score"] - rand[0] < margin:
                unlearned = True
                notes.append(
                    f"best score {100 * b['score']:.1f} is within {100 * margin:.1f} points ({z:g} sd of a difference "
                    f"of two accuracies on {n_val} videos) of random's {100 * rand[0]:.1f}: not clearly learned at "
                    "this budget, the selection is noise"
                )
        default = (defaults or {}).get(method)
        if n_val and default and not unlearned and b["overrides"] != default:
            ref = [
                r
                for r in table
                if r["method"] == method
                and r["overrides"] == default
                and not math.isnan(r["score"])
                and r["seeds"] >= b["seeds"]
            ]
            if ref:
                margin = _noise((b["score"] + ref[0]["score"]) / 2, n_val, z)
                if b["score"] - ref[0]["score"] < margin:
                    over = point_text(default)
                    notes.append(
                        f"best score {100 * b['score']:.1f} is within {100 * margin:.1f} points ({z:g} sd) of the "
                        f"untuned recipe's {100 * ref[0]['score']:.1f} ({over}): the grid cannot tell them apart "
                        "on these videos, the choice between them may not replicate"
                    )
        if notes:
            out[method] = notes
    return out


def write_selection(
    best: dict[str, dict],
    path: Path,
    command: str,
    steps: int,
    seeds: list[int],
    base: Config,
    failed: list[tuple[str, dict]] = (),
    notes: dict[str, list[str]] | None = None,
) -> None:
    """``tuned.yaml``: per method the overrides a suite applies (``lr`` is a Config field,
    the rest method parameters or Config fields), with how and on what they were chosen (a
    suite on another dataset, backbone or split refuses it: ``Suite.jobs``), and the grid
    points that failed (they could not be selected)."""
    doc = {
        "selected_by": command,
        "date": dt.date.today().isoformat(),
        "chosen_on": {k: getattr(base, k) for k in CHOSEN_ON},
        "budget_steps": int(steps),
        "seeds": list(seeds),
        "score": "mean of linear and kNN top-1 on the validation split (train videos)",
        "methods": {
            m: {k: (list(v) if isinstance(v, tuple) else v) for k, v in b["overrides"].items()}
            for m, b in best.items()
            if b["overrides"]
        },
    }
    if notes:  # :func:`cautions`: what a selection cannot say (beside it, so a reader of tuned.yaml sees it)
        doc["cautions"] = {m: list(v) for m, v in notes.items()}
    if failed:
        doc["failed"] = [
            {"method": m, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in o.items()}} for m, o in failed
        ]
    atomic_write_text(
        path,
        "# Written by `vssl-bench tune`: each method's learning rate and one parameter of its own,\n"
        "# chosen on a validation split carved from the training videos (see vssl_bench/tune.py).\n"
        + yaml.safe_dump(doc, sort_keys=False),
    )


def table_markdown(table: list[dict], best: dict[str, dict], notes: dict[str, list[str]] | None = None) -> str:
    lines = [
        "| method | grid point | seeds | linear (val) | kNN (val) | score | own task (held-out) | learned | selected |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        over = point_text(r["overrides"]) or "(nothing to tune)"
        pick = best.get(r["method"], {}).get("overrides") == r["overrides"]

        def pct(x):
            return "–" if math.isnan(x) else f"{100 * x:.1f}"

        lines.append(
            f"| {r['method']} | {over} | {r['seeds']} | {pct(r['linear_top1'])} | {pct(r['knn_top1'])} | "
            f"{pct(r['score'])} | {own_task_text(r.get('own_kind', ''), r.get('own_task'), r.get('own_floor'))} | "
            f"{LEARNED.get(r.get('learned'), '–')} | {'**yes**' if pick else ''} |"
        )
    if notes:
        lines += ["", "Cautions (what a selection cannot say):", ""]
        lines += [f"- {m}: " + "; ".join(v) for m, v in notes.items()]
    return "\n".join(lines) + "\n"
