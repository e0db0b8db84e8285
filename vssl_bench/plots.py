"""Report figures (matplotlib, headless Agg backend), one PNG per setting:

- ``bars_<setting>.png``: per-method means with 95% CIs, one panel per main metric,
  bars coloured by family (references grey). CI = mean +- t(0.975, n-1) * sd / sqrt(n)
  over seeds (Student t: honest with 3 seeds); one seed: no error bar.
- ``pretext_vs_<metric>_<setting>.png``: pretext accuracy vs downstream metric, one
  labelled point per method, Spearman rho (with bootstrap CI) in the title.
- ``lowshot_<setting>.png``: accuracy vs labelled videos per class (linear and kNN
  panels), only when the results table has ``lowshot_<n>_<probe>`` columns (or bare
  ``lowshot_<n>``) for at least two shot counts (skipped otherwise).
- ``budgets_<setting>.png``: accuracy vs pretraining steps per method (linear and kNN
  panels) from the ``budget_<probe>_top1_at<p>`` columns and the final ``<probe>_top1``;
  only when those columns hold numbers. ``random`` (flat by construction) is left out.

Every function returns the paths it wrote; none raises on a partial table.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on CI or the nightly runner
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from scipy.stats import t as student_t  # noqa: E402

from vssl_bench import stats  # noqa: E402
from vssl_bench.taxonomy import FAMILIES  # noqa: E402

FAMILY_COLORS = {"reference": "#9e9e9e", "pretext": "#1f77b4", "generative": "#2ca02c", "contrastive": "#d62728"}
BAR_METRICS = ["linear_top1", "knn_top1", "retrieval_r1", "retrieval_r5"]
DPI = 110


def slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", s).strip("_")


def method_stats(d: pd.DataFrame, metric: str) -> pd.DataFrame:
    """method, family, mean, half (95% t half-width, nan for one seed), n; family order."""
    rows = []
    for m, g in d.groupby("method", sort=False):
        v = pd.to_numeric(g[metric], errors="coerce").dropna().to_numpy(dtype=float)
        if not len(v):
            continue
        half = student_t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else math.nan
        rows.append({"method": m, "family": g["family"].iloc[0], "mean": v.mean(), "half": half, "n": len(v)})
    out = pd.DataFrame(rows, columns=["method", "family", "mean", "half", "n"])
    if out.empty:
        return out
    out["_f"] = out["family"].map({f: i for i, f in enumerate(FAMILIES)}).fillna(9)
    return out.sort_values(["_f", "method"]).drop(columns="_f").reset_index(drop=True)


def not_learned(d: pd.DataFrame) -> set[str]:
    """The methods of one setting that did not learn their own task (``stats.learnability``,
    the leaderboard's gate): drawn hatched and pale, their label says so."""
    lb = stats.learnability(d)
    if lb.empty:
        return set()
    return {m for m, ok in zip(lb["method"], lb["learned"]) if ok is not None and not bool(ok)}


def _seeds_label(n: pd.Series) -> str:
    lo, hi = int(n.min()), int(n.max())
    return f"{lo} seed{'s' if hi > 1 else ''}" if lo == hi else f"{lo}-{hi} seeds"


def _family_legend(ax, families, fig=None) -> None:
    handles = [Patch(color=FAMILY_COLORS.get(f, "k"), label=f) for f in FAMILIES if f in set(families)]
    if fig is not None:  # below the panels, where it cannot hide a bar
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9, frameon=False)
    else:
        ax.legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.9)


def bars(d: pd.DataFrame, setting: str, out_dir: Path, metrics: list[str] | None = None) -> list[Path]:
    metrics = [m for m in (metrics or BAR_METRICS) if m in d and pd.to_numeric(d[m], errors="coerce").notna().any()]
    if not metrics:
        return []
    tabs = {m: method_stats(d, m) for m in metrics}
    chance = stats.chance_of(d)
    methods = list(dict.fromkeys(x for t in tabs.values() for x in t["method"]))
    order = method_stats(d, metrics[0])
    methods = list(order["method"]) + [m for m in methods if m not in set(order["method"])]
    fam = d.groupby("method")["family"].first().to_dict()
    unlearned = not_learned(d)
    y = np.arange(len(methods))
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(2.6 + 2.9 * len(metrics), 1.2 + 0.32 * len(methods)), sharey=True, squeeze=False
    )
    for ax, m in zip(axes[0], metrics):
        t = tabs[m].set_index("method").reindex(methods)
        colors = [FAMILY_COLORS.get(fam.get(k, ""), "k") for k in methods]
        drawn = ax.barh(
            y,
            100 * t["mean"].fillna(0),
            xerr=100 * t["half"] if t["half"].notna().any() else None,  # nan: no bar (1 seed), not a 0-width one
            color=colors,
            error_kw={"elinewidth": 1, "capsize": 2},
            height=0.7,
        )
        for patch, k in zip(drawn.patches, methods):  # as the tables' italics: numbers of a net that did not learn
            if k in unlearned:
                patch.set_alpha(0.35)
                patch.set_hatch("///")
        for yi, v, h in zip(y, t["mean"], t["half"].fillna(0)):
            if np.isfinite(v):
                ax.text(100 * (v + h) + 1, yi, f"{100 * v:.1f}", va="center", ha="left", fontsize=7)
        if m in chance:  # the floor: what the labels alone give (eval/chance.py)
            ax.axvline(100 * chance[m], color="k", ls="--", lw=0.9)
        ax.set_title(m + (f" (- - chance {100 * chance[m]:.1f})" if m in chance else ""), fontsize=10)
        ax.set_xlabel("%")
        ax.set_xlim(0, 100)
        ax.grid(axis="x", alpha=0.3)
    ax0 = axes[0][0]
    ax0.set_yticks(y, [f"{k} (did not learn)" if k in unlearned else k for k in methods], fontsize=8)
    ax0.invert_yaxis()
    _family_legend(axes[0][-1], fam.values(), fig)
    n = pd.concat([t["n"] for t in tabs.values()])
    ci = "no interval (1 seed)" if n.max() < 2 else "95% CI (t)" + (", none for 1 seed" if n.min() < 2 else "")
    fig.suptitle(f"{setting}: mean over {_seeds_label(n)}, {ci}", fontsize=11)
    fig.tight_layout(rect=(0, 0.5 / fig.get_figheight(), 1, 1))
    path = Path(out_dir) / f"bars_{slug(setting)}.png"
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return [path]


def pretext_scatter(d: pd.DataFrame, setting: str, out_dir: Path, metric: str) -> list[Path]:
    p = stats.pretext_points(d[~d["method"].isin(stats.REFERENCES)], metric)
    if len(p) < 2:
        return []
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for f, g in p.groupby("family"):
        ax.scatter(100 * g["x"], 100 * g["y"], color=FAMILY_COLORS.get(f, "k"), label=f, s=36, zorder=3)
    for i, (_, r) in enumerate(p.sort_values("x").iterrows()):  # alternate label sides: fewer overlaps
        ax.annotate(
            r["method"],
            (100 * r["x"], 100 * r["y"]),
            xytext=(5, 3 if i % 2 else -9),
            textcoords="offset points",
            fontsize=8,
        )
    title = f"{setting}\npretext accuracy vs {metric}, {len(p)} methods"
    if len(p) >= 3:
        rho, lo, hi = stats.spearman_ci(p["x"].to_numpy(), p["y"].to_numpy())
        title += f", Spearman rho {rho:.2f} [{lo:.2f}, {hi:.2f}]"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("pretext-task accuracy (held-out), % (chance differs per task)")
    ax.set_ylabel(f"{metric}, %")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path = Path(out_dir) / f"pretext_vs_{metric}_{slug(setting)}.png"
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return [path]


LOWSHOT_KINDS = ("linear", "knn", "")  # lowshot_<n>_linear / lowshot_<n>_knn (eval/lowshot.py); bare lowshot_<n>


def lowshot_columns(df: pd.DataFrame, kind: str = "") -> dict[int, str]:
    """{labelled videos per class: column} for the columns ``lowshot_<n>_<kind>`` (``kind``
    "" = bare ``lowshot_<n>``) that hold at least one number; ``_std`` columns excluded."""
    out = {}
    suffix = f"_{kind}" if kind else ""
    for c in df.columns:
        m = re.fullmatch(rf"lowshot_(\d+){suffix}", c)
        if m and pd.to_numeric(df[c], errors="coerce").notna().any():
            out[int(m.group(1))] = c
    return dict(sorted(out.items()))


def _method_lines(ax, d: pd.DataFrame, xs: list, cols: list[str], fam: dict) -> None:
    """One line per method: mean over seeds of ``cols`` at ``xs``, labelled at its end."""
    for m, g in d.groupby("method"):
        ys = [pd.to_numeric(g[c], errors="coerce").mean() for c in cols]
        ax.plot(xs, [100 * v for v in ys], marker="o", color=FAMILY_COLORS.get(fam[m], "k"), alpha=0.8)
        if np.isfinite(ys[-1]):
            ax.annotate(m, (xs[-1], 100 * ys[-1]), xytext=(4, 0), textcoords="offset points", fontsize=7)
    ax.set_ylabel("top-1, %")
    ax.grid(alpha=0.3)


def _save_panels(fig, axes, fam: dict, title: str, path: Path) -> Path:
    """Family legend below a row of panels, a title, saved to ``path`` and closed."""
    _family_legend(axes[0][-1], fam.values(), fig)  # below the panels: never over a line's label
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.5 / fig.get_figheight(), 1, 1))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def lowshot_curves(d: pd.DataFrame, setting: str, out_dir: Path) -> list[Path]:
    """Accuracy vs labelled videos per class, one panel per probe (linear, kNN), one line
    per method (mean over seeds); needs at least two shot counts."""
    panels = {k: c for k in LOWSHOT_KINDS if len(c := lowshot_columns(d, k)) >= 2}
    if not panels:
        return []
    fam = d.groupby("method")["family"].first().to_dict()
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), squeeze=False)
    for ax, (kind, cols) in zip(axes[0], panels.items()):
        _method_lines(ax, d, list(cols), list(cols.values()), fam)
        ax.set_xscale("log")
        ax.set_xticks(list(cols), [str(n) for n in cols])
        ax.set_xlabel("labelled videos per class (log scale)" if kind else "labelled examples (log scale)")
        ax.set_title(f"{kind or 'accuracy'} vs labels", fontsize=10)
    return [
        _save_panels(
            fig,
            axes,
            fam,
            f"{setting}: low-shot, mean over seeds and draws",
            Path(out_dir) / f"lowshot_{slug(setting)}.png",
        )
    ]


def budget_columns(df: pd.DataFrame, kind: str) -> dict[int, str]:
    """{percent of the budget: column} for ``budget_<kind>_top1_at<p>`` (eval/budgets.py)
    with at least one number, plus 100: the final ``<kind>_top1``."""
    out = {}
    for c in df.columns:
        m = re.fullmatch(rf"budget_{kind}_top1_at(\d+)", c)
        if m and pd.to_numeric(df[c], errors="coerce").notna().any():
            out[int(m.group(1))] = c
    if out and f"{kind}_top1" in df:
        out[100] = f"{kind}_top1"
    return dict(sorted(out.items()))


def budget_curves(d: pd.DataFrame, setting: str, out_dir: Path) -> list[Path]:
    """Accuracy vs pretraining steps, one panel per probe (linear, kNN), one line per
    method (mean over seeds); x = percent of the budget x the setting's steps."""
    panels = {k: c for k in ("linear", "knn") if len(c := budget_columns(d, k)) >= 2}
    if not panels:
        return []
    fam = d.groupby("method")["family"].first().to_dict()
    steps = pd.to_numeric(d["steps"], errors="coerce").max() if "steps" in d else math.nan
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), squeeze=False)
    for ax, (kind, cols) in zip(axes[0], panels.items()):
        xs = [p * steps / 100 if np.isfinite(steps) and steps > 0 else p for p in cols]
        _method_lines(
            ax, d[d["method"] != "random"] if (d["method"] != "random").any() else d, xs, list(cols.values()), fam
        )
        ax.set_xlabel("pretraining steps" if np.isfinite(steps) and steps > 0 else "% of the budget")
        ax.set_title(f"{kind} top-1 of mid-schedule snapshots", fontsize=10)
    return [
        _save_panels(
            fig,
            axes,
            fam,
            f"{setting}: weight snapshots inside one schedule (not shorter budgets: "
            f"the rate was never annealed), mean over seeds",
            Path(out_dir) / f"budgets_{slug(setting)}.png",
        )
    ]


COMPUTE_AXES = {"clips_seen": "clips seen (log scale)", "pretrain_seconds": "pretraining seconds, measured (log scale)"}


def compute_curves(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """The budget axis: linear and kNN top-1 of each method against its compute (clips
    seen; measured seconds on the device that ran it), one point per budget (each its own
    full schedule), mean over seeds; one figure per dataset/backbone with 2+ budgets."""
    done = df[df["status"] == "done"] if "status" in df else df
    done = done.assign(_steps=stats.budget_of(done))
    paths = []
    for (ds, bb), g in done.groupby(["dataset", "backbone"], sort=True):
        if (g["_steps"].unique() > 0).sum() < 2:
            continue
        rnd = g[g["method"] == "random"]  # does not train: a level, not a curve
        g = g[g["method"] != "random"]
        fam = g.groupby("method")["family"].first().to_dict()
        fig, axes = plt.subplots(2, 2, figsize=(13, 9), squeeze=False)
        for row, metric in enumerate(("linear_top1", "knn_top1")):
            for col, (x, label) in enumerate(COMPUTE_AXES.items()):
                ax = axes[row][col]
                if x not in g or metric not in g:  # results written before the column existed
                    ax.text(0.5, 0.5, f"no {x if x not in g else metric} column", ha="center", transform=ax.transAxes)
                    continue
                for m, gm in g.groupby("method"):
                    pts_ = (
                        gm.assign(
                            _x=pd.to_numeric(gm[x], errors="coerce"), _y=pd.to_numeric(gm[metric], errors="coerce")
                        )
                        .groupby("_steps")[["_x", "_y"]]
                        .mean()
                    )
                    pts_ = pts_[np.isfinite(pts_["_x"]) & np.isfinite(pts_["_y"])]
                    if pts_.empty:
                        continue
                    ax.plot(pts_["_x"], 100 * pts_["_y"], marker="o", color=FAMILY_COLORS.get(fam[m], "k"), alpha=0.8)
                    ax.annotate(
                        m,
                        (pts_["_x"].iloc[-1], 100 * pts_["_y"].iloc[-1]),
                        xytext=(4, 0),
                        textcoords="offset points",
                        fontsize=7,
                    )
                level = pd.to_numeric(rnd[metric], errors="coerce").mean() if metric in rnd else math.nan
                if np.isfinite(level):
                    ax.axhline(100 * level, color=FAMILY_COLORS.get("reference", "k"), ls="--", lw=0.9)
                    ax.annotate(
                        "random (untrained)",
                        (0.01, 100 * level),
                        xycoords=("axes fraction", "data"),
                        xytext=(0, 2),
                        textcoords="offset points",
                        fontsize=7,
                    )
                ax.set_xscale("log")
                ax.set_xlabel(label)
                ax.set_ylabel(f"{metric}, %")
                ax.grid(alpha=0.3)
        paths.append(
            _save_panels(
                fig,
                axes,
                fam,
                f"{ds}/{bb}: accuracy vs compute, one point per budget (its own schedule), mean over seeds",
                Path(out_dir) / f"compute_{slug(ds + '_' + bb)}.png",
            )
        )
    return paths


def write_figures(df: pd.DataFrame, out_dir: Path, metric: str = stats.DEFAULT_METRIC) -> list[Path]:
    """All figures for every setting of ``df`` into ``out_dir`` (created)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for setting, d in stats.settings(df, with_references=True):
        metrics = [metric] + [m for m in BAR_METRICS if m != metric]
        paths += bars(d, setting, out_dir, metrics)
        paths += pretext_scatter(d, setting, out_dir, metric)
        paths += lowshot_curves(d, setting, out_dir)
        paths += budget_curves(d, setting, out_dir)
    paths += compute_curves(df, out_dir)
    return paths
