"""From ``results.csv`` to comparison tables and the leaderboard.

Aggregation is mean +- sample std over seeds of *finished* jobs, per (dataset, backbone,
method); methods are grouped by family. Failed jobs and missing seeds are flagged in the
table (``n`` column and a notes list), never silently averaged in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vssl_bench import html_report, plots
from vssl_bench.config import ConfigError
from vssl_bench.methods import METHODS
from vssl_bench.stats import (
    DEFAULT_METRIC,
    LEARNED,
    METHOD_TEXT,
    SEED_NOISE_TITLE,
    budget_axis,
    budget_markdown,
    budget_of,
    chance_of,
    gate,
    learnability,
    own_task_text,
    seed_noise_markdown,
    verdicts_markdown,
)
from vssl_bench.taxonomy import FAMILIES
from vssl_bench.utils import atomic_write_text, first_line

# Columns of the evaluations beyond linear / kNN / retrieval (the EVALUATIONS registry) shown in the
# leaderboard when the results hold them (full records: results.csv and metrics.json).
EVAL_METRICS = [
    "lowshot_1_linear",
    "lowshot_10_linear",
    "temporal_pair_top1",
    "temporal_reverse_to_partner",
    "finetune_top1",
    "shift_linear_top1",
]
EVAL_LEGEND = {
    "lowshot_1_linear": "linear probe with 1 labelled video per class (mean over draws)",
    "lowshot_10_linear": "linear probe with 10 labelled videos per class",
    "temporal_pair_top1": "linear probe within time-reversal class pairs (chance 50)",
    "temporal_reverse_to_partner": "reversed test clips that kNN puts in the partner class (chance 50)",
    "finetune_top1": "whole network fine-tuned with labels, same recipe for all (random = from scratch)",
    "shift_linear_top1": "frozen features probed on the shifted dataset (synthetic <-> synthetic-biased)",
}
EVAL_PREFIXES = ("lowshot_", "temporal_", "budget_", "finetune_", "shift_")
METRICS = [
    "linear_top1",
    "linear_video_top1",
    "knn_top1",
    "retrieval_r1",
    "retrieval_r5",
    "retrieval_r10",
    "retrieval_r20",
    *EVAL_METRICS,
    "pretext_accuracy",
]  # pretext_accuracy last (cli.py relies on it)
NUMERIC = METRICS + [
    "seed",
    "steps",
    "pretrain_seconds",
    "clips_per_second",
    "eval_seconds",
    "clips_seen",
    "decode_skipped",
]


# What a table needs to be reported (results.COLUMNS has them all; these are the ones read).
REQUIRED_COLUMNS = ("job_id", "status", "method", "family", "dataset", "backbone", "seed", "linear_top1", "knn_top1")


def load_results(path: Path) -> pd.DataFrame:
    path = Path(path)
    if path.is_dir():
        path = path / "results.csv"
    if not path.exists():
        raise FileNotFoundError(f"no results table at {path}")  # the caller says what to do: its options differ
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is not a results table written by vssl-bench: {first_line(e)}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ConfigError(
            f"{path} is not a results table written by vssl-bench: it lacks the column(s) {', '.join(missing)}"
        )
    if df.empty:
        raise ConfigError(f"{path} has no result rows yet; run `vssl-bench run` first")
    for c in NUMERIC + [c for c in df.columns if c.startswith(EVAL_PREFIXES) and c != "shift_dataset"]:
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce")
    if "uses_time" in df:
        df["uses_time"] = df["uses_time"].str.lower().eq("true")
    return latest_per_seed(df)


def latest_per_seed(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, backbone, method, seed): the most recently finished. Two rows
    of one seed come from two configurations (another ``--set``, budget or embedded-data
    version) in one results folder; averaging them as if they were two seeds would be
    wrong, so the older ones are left out of every table, figure and verdict, and
    ``df.attrs["notes"]`` says which (``results.csv`` keeps them)."""
    keys = ["dataset", "backbone", "method", "seed"]
    if df.empty or not set(keys) <= set(df.columns):
        return df
    notes = []
    if "holdout" in df and (df["holdout"] == "val").any():  # tuning jobs: scored on validation videos
        n_val = int((df["holdout"] == "val").sum())
        df = df[df["holdout"] != "val"]
        notes.append(
            f"VALIDATION ROWS: {n_val} row(s) evaluated on the validation split (`vssl-bench tune` jobs) left out: "
            "they are not test results"
        )
    order = df["finished_at"] if "finished_at" in df else pd.Series("", index=df.index)
    ranked = df.assign(_t=order.fillna(""), _budget=budget_of(df)).sort_values("_t", kind="stable")
    dup = ranked.duplicated(keys + ["_budget"], keep="last")  # a budget axis: one row per budget
    if not dup.any():
        df.attrs["notes"] = notes
        return df
    for (ds, bb, meth), g in ranked[dup].groupby(["dataset", "backbone", "method"], sort=False):
        seeds = ",".join(str(int(x)) if x == x else "?" for x in sorted(g["seed"].unique()))
        keys_old = ", ".join(sorted(set(g.get("config_key", pd.Series(dtype=str)).fillna("")) - {""})) or "?"
        notes.append(
            f"SUPERSEDED: {len(g)} older row(s) of {meth} on {ds}/{bb} (seeds {seeds}; config_key "
            f"{keys_old}) left out: a newer row of the same seed exists"
        )
    out = df.loc[ranked.index[~dup]].sort_index()
    out.attrs["notes"] = notes
    return out


@dataclass
class Summary:
    table: pd.DataFrame  # one row per (dataset, backbone, method)
    notes: list[str] = field(default_factory=list)
    chance: dict = field(default_factory=dict)  # (dataset, backbone) -> {metric: chance level}


def _not_in_table(g: pd.DataFrame, failed: pd.DataFrame, where: str, steps: list) -> list[str]:
    """``NO ROW`` notes for one dataset/backbone's summary rows ``g``: per budget, the
    registered methods with no done row there (``random``, 0 steps, stands beside every
    budget; a table without a known budget gets one note). The results table does not say
    which methods a suite meant to run, so this is a fact about the table, not a to-do list:
    a quick suite's report names the methods it never scheduled too. A method whose only
    jobs there failed is marked ``(failed)``."""
    untrained = set(g.loc[g["steps"] == 0, "method"])
    failed_at = budget_of(failed)
    notes = []
    for st in sorted(steps) or [None]:
        here = g if st is None else g[g["steps"] == st]
        present = untrained | set(here["method"])
        absent = [m for m in METHODS if m not in present]
        if not absent:
            continue
        gone = set(failed["method"] if st is None else failed.loc[failed_at == st, "method"])
        named = ", ".join(f"{m} (failed)" if m in gone else m for m in absent)
        at = "" if st is None else f" at {int(st)} steps"
        notes.append(
            f"NO ROW: {len(absent)} of {len(METHODS)} registered methods are not in this table on {where}{at} "
            f"({named}); its tables and verdicts compare the {len(present)} methods it has"
        )
    return notes


def summarize(df: pd.DataFrame, metrics: list[str] | None = None) -> Summary:
    metrics = [m for m in (metrics or METRICS) if m in df]
    notes: list[str] = list(df.attrs.get("notes", []))  # latest_per_seed
    done = df[df["status"] == "done"]
    failed = df[df["status"] == "failed"]
    for _, r in failed.iterrows():
        notes.append(f"FAILED: {r['method']} seed {r['seed']:.0f} on {r['dataset']}: {r.get('failure_reason', '')}")
    rows = []
    done = done.assign(steps=budget_of(done))
    for (ds, bb, st, meth), g in done.groupby(["dataset", "backbone", "steps", "method"], sort=False):
        r = {
            "dataset": ds,
            "backbone": bb,
            "method": meth,
            "family": g["family"].iloc[0],
            "uses_time": bool(g["uses_time"].iloc[0]),
            "n": len(g),
            "seeds": ",".join(str(int(s)) for s in sorted(g["seed"])),
            "steps": int(st),
            "pretrain_seconds": g["pretrain_seconds"].mean(),
        }
        for m in metrics:
            vals = g[m].dropna()
            r[m] = vals.mean() if len(vals) else math.nan
            r[m + "_std"] = vals.std(ddof=1) if len(vals) > 1 else math.nan
        rows.append(r)
    table = pd.DataFrame(rows)
    if table.empty:
        return Summary(table, notes or ["no finished jobs in the results table"])
    # flag methods with fewer seeds than the most complete method of the same dataset/backbone
    for (ds, bb), g in table.groupby(["dataset", "backbone"]):
        full = g["n"].max()
        for _, r in g[g["n"] < full].iterrows():
            notes.append(
                f"INCOMPLETE: {r['method']} on {ds}/{bb} at {r['steps']} steps has {r['n']} of {full} seeds "
                f"({r['seeds']})"
            )
        if full < 3:
            notes.append(f"{ds}/{bb}: fewer than 3 seeds; gaps under ~5 points are within seed noise")
        digests = (
            sorted(set(done.loc[(done["dataset"] == ds) & (done["backbone"] == bb), "data_digest"]) - {""})
            if "data_digest" in done
            else []
        )
        if len(digests) > 1:  # e.g. rows of an older dataset version, or another --data-root
            notes.append(
                f"MIXED DATA on {ds}/{bb}: rows computed on {len(digests)} different versions of the "
                f"data (data_digest {', '.join(digests)}); compare rows of one version"
            )
        steps = [x for x in g["steps"].unique() if x > 0]  # random trains 0 steps at every budget
        notes += _not_in_table(g, failed[(failed["dataset"] == ds) & (failed["backbone"] == bb)], f"{ds}/{bb}", steps)
        if len(steps) > 1:
            notes.append(
                f"BUDGET AXIS on {ds}/{bb}: {len(steps)} budgets ({', '.join(str(int(x)) for x in sorted(steps))} "
                f"steps), each with its own rows; methods are compared within a budget"
            )
    lb = learnability(done).set_index(["dataset", "backbone", "steps", "method"])
    key = list(zip(table["dataset"], table["backbone"], table["steps"], table["method"]))
    table["learned"] = pd.Series([lb["learned"].get(k) if k in lb.index else None for k in key], dtype=object)
    table["own_task"] = [
        own_task_text(lb.at[k, "task"], lb.at[k, "value"], lb.at[k, "floor"]) if k in lb.index else "–" for k in key
    ]
    notes += gate(done)[1]
    table["_fam"] = table["family"].map({f: i for i, f in enumerate(FAMILIES)}).fillna(9)
    table = (
        table.sort_values(["dataset", "backbone", "steps", "_fam", "method"])
        .drop(columns="_fam")
        .reset_index(drop=True)
    )
    chance = {(ds, bb): chance_of(g) for (ds, bb), g in done.groupby(["dataset", "backbone"], sort=False)}
    return Summary(table, notes, {k: v for k, v in chance.items() if v})


def fmt_cell(mean: float, std: float, pct: bool = True) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    s = 100 if pct else 1
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean * s:.1f}"
    return f"{mean * s:.1f} ± {std * s:.1f}"


def display_frame(summary: Summary, metrics: list[str]) -> pd.DataFrame:
    """The table as printed: one row per method, and above each dataset's first row (when
    its results carry them) a ``chance`` row, the floor of each metric (eval/chance.py)."""
    t = summary.table
    out = pd.DataFrame(
        {
            "dataset": t["dataset"],
            "family": t["family"],
            "method": t["method"],
            "time": t["uses_time"].map({True: "yes", False: "no"}),
            "n": t["n"],
        }
    )
    shown = [m for m in metrics if m in t and (m not in EVAL_METRICS or t[m].notna().any())]  # never run: no column
    for m in shown:
        out[m] = [fmt_cell(a, b) for a, b in zip(t[m], t[m + "_std"])]
    if "learned" in t:
        out["own task"] = t["own_task"]
        out["learned"] = [LEARNED.get(v, "–") for v in t["learned"]]
    out["steps"] = t["steps"]
    out["s/job"] = t["pretrain_seconds"].round(0)
    if not summary.chance:
        return out
    parts, seen = [], set()
    for i, r in t.iterrows():
        key = (r["dataset"], r["backbone"])
        ch = summary.chance.get(key)
        if ch and key not in seen:
            seen.add(key)
            row = {c: "" for c in out.columns}
            row.update(dataset=r["dataset"], family="chance", method="chance", n="–", steps="", **{"s/job": ""})
            if "learned" in row:
                row.update({"own task": "", "learned": ""})
            row.update({m: (f"{100 * ch[m]:.1f}" if m in ch else "–") for m in shown})
            parts.append(pd.DataFrame([row]))
        parts.append(out.loc[[i]])
    return pd.concat(parts, ignore_index=True)


def leaderboard_markdown(
    summary: Summary,
    metrics: list[str],
    command: str = "",
    verdicts: list | None = None,
    df: pd.DataFrame | None = None,
) -> str:
    d = display_frame(summary, metrics)
    lines = ["# vssl-bench leaderboard", ""]
    if command:
        lines += [f"Produced by: `{command}`", ""]
    lines += [
        "Top-1 accuracy / recall in %, mean ± std over seeds (n = seeds). `time`: the method's task "
        "uses temporal order. Backbone, data and optimiser-step budget (`steps`) are identical within a block of rows; "
        "`random` (0 steps) does not train and stands beside every budget.",
        "",
    ]
    if "learned" in d:
        lines += [
            "`own task`: the method's own task on held-out videos, accuracy in % beside the level it must "
            "beat (its chance level, or a training-free solution of the task where one exists), or its "
            "loss as a multiple of a training-free predictor's. `learned`: the 95% interval clears that "
            "level (`vssl_bench/stats.py`, `learnability`); a method that did not learn is in *italics*, "
            "its numbers are those of a network that did not learn its task, and the verdicts leave it "
            "out.",
            "",
        ]
    if summary.chance:
        lines += [
            "`chance`: what the labels alone give: top-1 of always guessing the test set's most frequent "
            "class, recall at k of a random ranking of the gallery (`vssl_bench/eval/chance.py`).",
            "",
        ]
    legend = [f"`{m}`: {EVAL_LEGEND[m]}" for m in EVAL_METRICS if m in d.columns]
    if legend:
        lines += [
            "Further evaluations (`vssl_bench/eval/`; parameters in each job's metrics.json): "
            + "; ".join(legend)
            + ".",
            "",
        ]
    cols = list(d.columns)
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for _, r in d.iterrows():
        cells = [str(r[c]) for c in cols]
        if r.get("learned") == "no":  # did not learn its own task: in italics, "no" in bold
            cells = [
                f"**{v}**" if c == "learned" else (f"*{v}*" if v not in ("", "–") else v) for c, v in zip(cols, cells)
            ]
        lines.append("| " + " | ".join(cells) + " |")
    if summary.notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in summary.notes]
    seed_md = seed_noise_markdown(df) if df is not None else ""
    if seed_md:
        lines += ["", f"## {SEED_NOISE_TITLE}", "", seed_md]
    verdict_metric = next((v.stats["metric"] for v in verdicts or [] if v.stats.get("metric")), DEFAULT_METRIC)
    axes = budget_axis(df, verdict_metric=verdict_metric) if df is not None else []
    if axes:
        lines += [
            "",
            "## Budget axis",
            "",
            "Does the answer change with the budget? Each budget is its own set of jobs with its own full schedule.",
            "",
            budget_markdown(axes).rstrip(),
        ]
    if verdicts:
        lines += [
            "",
            "## Verdicts",
            "",
            f"Computed from `results.csv` by `vssl_bench/stats.py`: {METHOD_TEXT}.",
            "",
            verdicts_markdown(verdicts).rstrip(),
        ]
    return "\n".join(lines) + "\n"


def write_leaderboard(
    summary: Summary,
    out_dir: Path,
    metrics: list[str],
    command: str = "",
    verdicts: list | None = None,
    df: pd.DataFrame | None = None,
) -> list[Path]:
    out_dir = Path(out_dir)
    md = out_dir / "leaderboard.md"
    csv = out_dir / "leaderboard.csv"
    atomic_write_text(md, leaderboard_markdown(summary, metrics, command, verdicts, df))
    atomic_write_text(csv, csv_table(summary).to_csv(index=False, float_format="%.4f"))
    return [md, csv]


def csv_table(summary: Summary) -> pd.DataFrame:
    """leaderboard.csv: the summary table with each metric's chance level (``<metric>_chance``,
    after ``<metric>_std``) on every row of a dataset whose results carry it: the markdown's
    ``chance`` row, as columns, so that each row stands alone for a script."""
    t = summary.table.copy()
    if not summary.chance or t.empty:
        return t
    keys = list(zip(t["dataset"], t["backbone"]))
    for m in dict.fromkeys(m for ch in summary.chance.values() for m in ch):
        if m in t:
            col = [summary.chance.get(k, {}).get(m, np.nan) for k in keys]
            t.insert(t.columns.get_loc(m + "_std" if m + "_std" in t else m) + 1, m + "_chance", col)
    return t


def write_report(
    df: pd.DataFrame,
    summary: Summary,
    out_dir: Path,
    metrics: list[str],
    verdicts: list,
    metric: str,
    command: str = "",
) -> list[Path]:
    """Everything ``vssl-bench report`` writes: leaderboard.md/.csv (with verdicts), the PNG
    figures under ``figures/`` (stale ones of this report removed first) and the
    self-contained ``report.html``."""
    out_dir = Path(out_dir)
    paths = write_leaderboard(summary, out_dir, metrics, command, verdicts, df) if not summary.table.empty else []
    fig_dir = out_dir / "figures"
    if fig_dir.is_dir():  # figures of settings that no longer exist must not linger
        for old in fig_dir.glob("*.png"):
            if old.name.startswith(("bars_", "pretext_vs_", "lowshot_", "budgets_", "compute_")):
                old.unlink()
    figures = plots.write_figures(df, fig_dir, metric)
    display = display_frame(summary, metrics) if not summary.table.empty else None
    page = out_dir / "report.html"
    axes = budget_axis(df, verdict_metric=metric)
    budget_md = budget_markdown(axes) if axes else ""
    seed_md = seed_noise_markdown(df)
    atomic_write_text(
        page, html_report.render(display, verdicts, summary.notes, figures, command, metric, budget_md, seed_md)
    )
    return paths + figures + [page]
