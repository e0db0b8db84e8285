"""Rendering of the report (terminal, markdown, HTML, figures) on full and partial tables."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.figure
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

sys.path.insert(0, str(Path(__file__).parent))
from test_stats import METHODS, make_table  # noqa: E402

from vssl_bench import html_report, plots, stats  # noqa: E402
from vssl_bench.report import display_frame, leaderboard_markdown, load_results, summarize, write_report  # noqa: E402


@pytest.fixture(autouse=True)
def _low_dpi(monkeypatch):
    monkeypatch.setattr(plots, "DPI", 40)  # same code path, a quarter of the pixels: faster tests


SHOWN = ["linear_top1", "knn_top1", "retrieval_r1", "pretext_accuracy"]


def _table(kind: str) -> pd.DataFrame:
    full = make_table({m: 0.4 + 0.02 * i for i, m in enumerate(METHODS)}, pretext=lambda mu: mu)
    if kind == "full":
        return full
    if kind == "references_only":
        return full[full["family"] == "reference"]
    if kind == "failed_row":
        df = full.copy()
        i = df.index[(df["method"] == "sort") & (df["seed"] == 2)][0]
        df.loc[i, "status"], df.loc[i, "failure_reason"] = "failed", "loss is not finite <nan> & co"
        df.loc[i, METRICS_ALL] = np.nan
        return df
    if kind == "one_seed":
        return full[full["seed"] == 0]
    if kind == "no_pretext_accuracy":
        return full.drop(columns="pretext_accuracy")
    raise ValueError(kind)


METRICS_ALL = ["linear_top1", "linear_video_top1", "knn_top1", "retrieval_r1", "retrieval_r5", "pretext_accuracy"]
KINDS = ["full", "references_only", "failed_row", "one_seed", "no_pretext_accuracy"]


class _Balanced(HTMLParser):
    """Checks that every non-void element is closed in order."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):  # <img .../>: opens and closes itself
        assert tag in self.VOID, f"self-closed non-void <{tag}/>"

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"


def check_html(text: str) -> ET.Element:
    assert text.startswith("<!DOCTYPE html>")
    p = _Balanced()
    p.feed(text)
    p.close()
    assert p.stack == []
    return ET.fromstring(text.split("\n", 1)[1])  # strict XML parser: well-formed, only XML entities


@pytest.mark.parametrize("kind", KINDS)
def test_report_renders_on_partial_tables(kind, tmp_path) -> None:
    df = _table(kind)
    df.to_csv(tmp_path / "results.csv", index=False)
    df = load_results(tmp_path)
    summary = summarize(df)
    verdicts = stats.answer_all(df)
    assert {v.question for v in verdicts} == set(stats.QUESTIONS)
    md = leaderboard_markdown(summary, SHOWN, "vssl-bench report", verdicts)
    assert "## Verdicts" in md and "Q5" in md
    paths = write_report(df, summary, tmp_path, SHOWN, verdicts, "knn_top1", "vssl-bench report")
    page = tmp_path / "report.html"
    assert page in paths
    root = check_html(page.read_text())
    imgs = [e for e in root.iter("img")]
    pngs = sorted((tmp_path / "figures").glob("*.png"))
    assert len(imgs) == len(pngs)
    assert all(i.get("src").startswith("data:image/png;base64,") for i in imgs)
    if kind == "failed_row":
        assert any("FAILED: sort" in n for n in summary.notes)
        assert "FAILED: sort" in page.read_text() and "&lt;nan&gt; &amp; co" in page.read_text()
        assert any("INCOMPLETE: sort" in n for n in summary.notes)
    if kind in ("full", "failed_row"):
        assert len(pngs) == 2  # bars + pretext scatter (no lowshot columns)
    if kind == "no_pretext_accuracy":
        assert [p.name for p in pngs] == ["bars_synthetic_tiny3d_150_steps.png"]


def test_methods_without_a_row_are_named(tmp_path) -> None:
    from vssl_bench.methods import METHODS as REGISTERED

    def no_row(df: pd.DataFrame) -> list[str]:
        return [n for n in summarize(df).notes if n.startswith("NO ROW")]

    full = _table("full")
    (note,) = no_row(full)  # the fixture has 16 of the registry's methods
    absent = sorted(set(REGISTERED) - set(full["method"]))
    assert f"{len(absent)} of {len(REGISTERED)} registered methods" in note and "at 150 steps" in note
    assert all(m in note for m in absent) and "shuffle" not in note and "random" not in note
    (note,) = no_row(_table("failed_row"))  # sort lost one seed of three: INCOMPLETE, not NO ROW
    assert "sort" not in note
    everyone = pd.concat(  # every registered method has a row: nothing to say
        [full] + [full[full["method"] == "sort"].assign(method=m) for m in absent], ignore_index=True
    )
    assert no_row(everyone) == []
    (note,) = no_row(full[full["method"] != "random"])  # random is named when it is missing too
    assert "random" in note
    # two budgets: one note each; random (0 steps) stands beside both; a method missing at
    # the larger budget only is named there only, marked when its job there failed
    st = int(stats.budget_of(full).max())
    big = full[full["method"] != "random"].assign(steps=4 * st)
    two = pd.concat([full, big[big["method"] != "sort"], big[big["method"] == "sort"].assign(status="failed")])
    small, large = no_row(two)
    assert f"at {st} steps" in small and f"at {4 * st} steps" in large
    assert "sort" not in small and "sort (failed)" in large and "random" not in large
    assert "compare the 16 methods it has" in small and "compare the 15 methods it has" in large
    (note,) = no_row(full[full["method"] == "random"])  # untrained only: no budget, one note
    assert " steps (" not in note and f"{len(REGISTERED) - 1} of {len(REGISTERED)}" in note


def test_figures_include_lowshot_only_when_present(tmp_path) -> None:
    df = _table("full")
    for n in (10, 100, 1000):
        df[f"lowshot_{n}"] = df["knn_top1"] * (0.5 + 0.1 * np.log10(n))
    names = sorted(p.name for p in plots.write_figures(df, tmp_path))
    assert names == [
        "bars_synthetic_tiny3d_150_steps.png",
        "lowshot_synthetic_tiny3d_150_steps.png",
        "pretext_vs_knn_top1_synthetic_tiny3d_150_steps.png",
    ]
    assert all((tmp_path / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in names)


@pytest.mark.parametrize(
    "kind,title,errorbars",
    [("full", "95% CI (t)", True), ("one_seed", "no interval (1 seed)", False), ("mixed", "none for 1 seed", True)],
)
def test_bars_draw_no_zero_width_interval_for_one_seed(tmp_path, monkeypatch, kind, title, errorbars) -> None:
    """One seed has no interval: no error bar at all (not a 0-width one) and a title that says so."""
    df = _table("full" if kind == "mixed" else kind)
    if kind == "mixed":
        df = df[(df["method"] != "sort") | (df["seed"] == 0)]
    seen = {}
    real = matplotlib.figure.Figure.savefig

    def spy(fig, *a, **k):
        seen["title"] = fig._suptitle.get_text()
        seen["errorbars"] = any(isinstance(c, ErrorbarContainer) for ax in fig.axes for c in ax.containers)
        return real(fig, *a, **k)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    assert plots.bars(df, "s", tmp_path)
    assert title in seen["title"]
    assert seen["errorbars"] is errorbars


def test_bars_mark_a_method_that_did_not_learn(tmp_path, monkeypatch) -> None:
    """As the tables' italics: a method whose own task fails the gate is drawn hatched and
    pale, its label says "(did not learn)"; the others are drawn as they are."""
    df = _table("full").assign(pretext_chance=0.25)
    df.loc[df["method"] == "sort", "pretext_accuracy"] = 0.2  # below its chance level on every seed
    seen = {}
    real = matplotlib.figure.Figure.savefig

    def spy(fig, *a, **k):
        ax = fig.axes[0]
        seen["labels"] = [t.get_text() for t in ax.get_yticklabels()]
        seen["hatched"] = [p.get_hatch() for p in ax.patches]
        return real(fig, *a, **k)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    assert plots.bars(df, "s", tmp_path)
    marked = [lab for lab, h in zip(seen["labels"], seen["hatched"]) if h]
    assert marked == ["sort (did not learn)"], seen
    assert "vcop" in seen["labels"] and "random" in seen["labels"]


def test_html_escapes_hostile_text() -> None:
    df = _table("full")
    summary = summarize(df)
    v = stats.Verdict("Q1", "<script>alert(1)</script>", "yes", "a \"quoted\" <b> & 'x'")
    text = html_report.render(display_frame(summary, SHOWN), [v], ["<i>note</i>"], [], "cmd --x '<y>'", "knn_top1")
    check_html(text)
    assert "<script>" not in text and "&lt;script&gt;" in text and "<i>note" not in text


def test_cli_report_prints_verdicts_and_writes_html(tmp_path) -> None:
    from typer.testing import CliRunner

    from vssl_bench.cli import app

    _table("failed_row").to_csv(tmp_path / "results.csv", index=False)
    r = CliRunner().invoke(app, ["report", "--results", str(tmp_path), "--metric", "linear_top1"])
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "Q2. Are time-related tasks more helpful?" in out and "FAILED: sort" in out
    assert "linear_top1" in out
    assert (tmp_path / "report.html").is_file() and (tmp_path / "figures").is_dir()
    assert "## Verdicts" in (tmp_path / "leaderboard.md").read_text()
    r = CliRunner().invoke(app, ["report", "--results", str(tmp_path), "--format", "markdown", "--no-write"])
    assert r.exit_code == 0 and "## Verdicts" in r.output
    # --out: the written report goes elsewhere; the results folder is left as it is
    res, out = tmp_path / "res", tmp_path / "elsewhere" / "report"
    res.mkdir()
    _table("failed_row").to_csv(res / "results.csv", index=False)
    r = CliRunner().invoke(app, ["report", "--results", str(res / "results.csv"), "--report-dir", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "leaderboard.md").is_file() and (out / "report.html").is_file() and (out / "figures").is_dir()
    assert sorted(p.name for p in res.iterdir()) == ["results.csv"]
    # a file where the report's figures/ folder goes: a ConfigError (main() prints its one line, exit 2)
    from vssl_bench.config import ConfigError

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "figures").write_text("")
    r = CliRunner().invoke(app, ["report", "--results", str(res), "--report-dir", str(bad)])
    assert isinstance(r.exception, ConfigError) and "cannot write the report" in str(r.exception), r.output


def test_rows_of_different_data_are_flagged(tmp_path) -> None:
    """Rows computed on different versions of the data (an older generator, another
    --data-root) in one table: the report says so instead of ranking them together."""
    df = _table("full")
    df["data_digest"] = "aaaa"
    df.to_csv(tmp_path / "results.csv", index=False)
    assert not any("MIXED DATA" in n for n in summarize(load_results(tmp_path)).notes)
    df.loc[df["method"] == "sort", "data_digest"] = "bbbb"
    df.to_csv(tmp_path / "results.csv", index=False)
    notes = summarize(load_results(tmp_path)).notes
    assert [n for n in notes if "MIXED DATA" in n] == [
        "MIXED DATA on synthetic/tiny3d: rows computed on 2 different versions of the data (data_digest aaaa, "
        "bbbb); compare rows of one version"
    ]
    df["data_digest"] = ""  # tables written before the column existed: no claim either way
    df.to_csv(tmp_path / "results.csv", index=False)
    assert not any("MIXED DATA" in n for n in summarize(load_results(tmp_path)).notes)


def test_two_rows_of_one_seed_keep_the_newest(tmp_path) -> None:
    """A results folder holding two configurations of a method (say, rows from before an
    embedded-data version change): the newest row of each seed counts, once, with a note."""
    df = _table("full")
    df["finished_at"], df["config_key"] = "2026-01-01T00:00:00+00:00", "new"
    old = df[df["method"] == "sort"].copy()
    old["finished_at"], old["config_key"], old["knn_top1"] = "2025-01-01T00:00:00+00:00", "old", 0.99
    pd.concat([old, df]).to_csv(tmp_path / "results.csv", index=False)
    loaded = load_results(tmp_path)
    assert len(loaded) == len(df) and not (loaded["config_key"] == "old").any()
    summary = summarize(loaded)
    sort = summary.table[summary.table["method"] == "sort"].iloc[0]
    assert sort["n"] == 3 and sort["knn_top1"] == pytest.approx(df[df["method"] == "sort"]["knn_top1"].mean())
    assert [n for n in summary.notes if n.startswith("SUPERSEDED")] == [
        "SUPERSEDED: 3 older row(s) of sort on synthetic/tiny3d (seeds 0,1,2; config_key old) left out: "
        "a newer row of the same seed exists"
    ]
    df.to_csv(tmp_path / "results.csv", index=False)  # one row per seed: nothing to say
    assert not any(n.startswith("SUPERSEDED") for n in summarize(load_results(tmp_path)).notes)


def test_a_budget_axis_gets_rows_per_budget_a_section_and_a_compute_figure(tmp_path) -> None:
    """Two budgets in one results folder: not superseding each other, one table block per
    budget, the rank-stability section and the accuracy-vs-compute figure."""
    from test_stats import _two_budgets

    from vssl_bench import report, stats

    df = _two_budgets(False).assign(clips_seen=lambda d: d["steps"] * 32, finished_at="")
    df = report.latest_per_seed(df)
    summary = report.summarize(df)
    assert not any(n.startswith("SUPERSEDED") for n in summary.notes)
    assert sorted(summary.table[summary.table["method"] == "sort"]["steps"]) == [150, 600]
    paths = report.write_report(df, summary, tmp_path, report.METRICS, stats.answer_all(df), "knn_top1")
    assert "compute_synthetic_tiny3d.png" in {p.name for p in paths}
    md = (tmp_path / "leaderboard.md").read_text()
    assert "## Budget axis" in md and "Spearman rho" in md
    root = check_html((tmp_path / "report.html").read_text())  # well-formed, with the same section
    text = " ".join(root.itertext())
    assert "Budget axis" in text and "Spearman rho" in text and "linear 600" in text


def test_cli_report_prints_the_budget_axis_in_every_format(tmp_path) -> None:
    """The budget section is on the console and in --format markdown, not only in leaderboard.md."""
    from test_stats import _two_budgets
    from typer.testing import CliRunner

    from vssl_bench.cli import app

    _two_budgets(False).assign(clips_seen=lambda d: d["steps"] * 32).to_csv(tmp_path / "results.csv", index=False)
    for fmt in ("table", "markdown"):
        r = CliRunner().invoke(app, ["report", "--results", str(tmp_path), "--format", fmt, "--no-write"])
        assert r.exit_code == 0, r.output
        out = " ".join(r.output.split())
        assert "Budget axis" in out and "Spearman rho" in out and "settled" in out, fmt


def test_leaderboard_says_how_far_seed_noise_moves_the_ranking(tmp_path) -> None:
    """Three seeds: the section with each setting's seed-to-seed rho; one seed: no section."""
    df = _table("full")
    summary = summarize(df)
    md = leaderboard_markdown(summary, SHOWN, df=df)
    assert "## How much of the ranking is seed noise" in md
    line = next(x for x in md.splitlines() if x.startswith("- synthetic/tiny3d, 150 steps"))
    assert "seeds 0, 1, 2" in line and "3 pairs" in line and "15 methods" in line
    want = np.mean(stats.seed_rank_agreement(df)[0]["rho"]["knn_top1"])
    assert f"kNN {want:.2f}" in line
    one = _table("one_seed")
    assert "## How much of the ranking is seed noise" not in leaderboard_markdown(summarize(one), SHOWN, df=one)


def test_seed_noise_section_is_on_the_page_and_the_console(tmp_path) -> None:
    """The same section in report.html and in `vssl-bench report`'s console output."""
    from typer.testing import CliRunner

    from vssl_bench.cli import app

    df = _table("full")
    df.to_csv(tmp_path / "results.csv", index=False)
    df = load_results(tmp_path)
    write_report(df, summarize(df), tmp_path, SHOWN, stats.answer_all(df), "knn_top1")
    text = " ".join(check_html((tmp_path / "report.html").read_text()).itertext())
    assert stats.SEED_NOISE_TITLE in text and "seeds 0, 1, 2" in text
    r = CliRunner().invoke(app, ["report", "--results", str(tmp_path), "--no-write"])
    assert r.exit_code == 0, r.output
    assert stats.SEED_NOISE_TITLE in r.output and "3 pairs" in " ".join(r.output.split())
