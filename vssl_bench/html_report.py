"""``report.html``: one self-contained page (no external files, no scripts) with the
leaderboard tables, the verdicts, the notes and every figure embedded as a base64 PNG.

All text from the results table is escaped (``html.escape``) and the markup is
well-formed XHTML-compatible HTML (void elements self-closed, only XML entities), so a
strict XML parser reads it; the tests check that.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd

from vssl_bench.stats import METHOD_TEXT, QUESTIONS, SEED_NOISE_TITLE, Verdict

CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 7px}
th{background:#f3f3f3}td.num{text-align:right}.yes{color:#1a7f37}.no{color:#b42318}
.noev,.nodata{color:#8a6d00}img{max-width:100%;border:1px solid #ddd;margin:.5em 0}code{background:#f5f5f5}
li{margin:.3em 0}tr.dnl td{color:#999;font-style:italic}"""

ANSWER_CLASS = {"yes": "yes", "no": "no", "no evidence": "noev", "not enough data": "nodata"}


def e(x) -> str:
    return html.escape(str(x), quote=True)


def table_html(d: pd.DataFrame) -> str:
    head = "".join(f"<th>{e(c)}</th>" for c in d.columns)
    rows = []
    for _, r in d.iterrows():
        cells = "".join(
            f'<td class="num">{e(v)}</td>' if c not in ("dataset", "family", "method") else f"<td>{e(v)}</td>"
            for c, v in r.items()
        )
        grey = ' class="dnl"' if r.get("learned") == "no" else ""  # did not learn its own task
        rows.append(f"<tr{grey}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def verdicts_html(verdicts: list[Verdict]) -> str:
    parts = []
    for q, title in QUESTIONS.items():
        vs = [v for v in verdicts if v.question == q]
        if not vs:
            continue
        items = "".join(
            f'<li><code>{e(v.setting)}</code>: <span class="{ANSWER_CLASS.get(v.answer, "")}">{e(v.text)}</span></li>'
            for v in vs
        )
        parts.append(f"<h3>{e(q)}. {e(title)}</h3><ul>{items}</ul>")
    return "".join(parts)


def figure_html(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{e(Path(path).stem)}" src="data:image/png;base64,{data}"/>'
        f"<figcaption>{e(Path(path).name)}</figcaption></figure>"
    )


def markdown_block_html(md: str) -> str:
    """The few markdown shapes of a report section (paragraphs, ``- `` bullets, one pipe
    table, ``**bold**``, ``*italics*``, backticks) as HTML; everything escaped first."""

    def inline(t: str) -> str:
        t = e(t)
        t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
        t = re.sub(r"\*(.+?)\*", r"<em>\1</em>", t)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", t)

    out, items, rows = [], [], []

    def flush() -> None:
        if items:
            out.append("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
            items.clear()
        if rows:
            head, *body = rows
            out.append(
                "<table><thead><tr>"
                + "".join(f"<th>{c}</th>" for c in head)
                + "</tr></thead><tbody>"
                + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body)
                + "</tbody></table>"
            )
            rows.clear()

    for line in md.splitlines():
        s = line.strip()
        if s.startswith("|"):
            cells = [c.strip() for c in s.strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):  # not the |---| rule
                rows.append([inline(c) for c in cells])
            continue
        if s.startswith("- "):
            items.append(inline(s[2:]))
            continue
        flush()
        if s:
            out.append(f"<p>{inline(s)}</p>")
    flush()
    return "".join(out)


def render(
    display: pd.DataFrame | None,
    verdicts: list[Verdict],
    notes: list[str],
    figures: list[Path],
    command: str = "",
    metric: str = "",
    budget_md: str = "",
    seed_md: str = "",
) -> str:
    body = ["<h1>vssl-bench report</h1>"]
    if command:
        body.append(f"<p>Produced by: <code>{e(command)}</code></p>")
    body.append(
        f"<h2>Verdicts</h2><p>Computed from <code>results.csv</code> by <code>vssl_bench/stats.py</code>; "
        f"metric <code>{e(metric)}</code>; {e(METHOD_TEXT)}.</p>"
    )
    body.append(verdicts_html(verdicts))
    if notes:
        body.append(
            "<h2>Notes (stale or partial results)</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>"
        )
    body.append("<h2>Leaderboard</h2>")
    if display is not None and not display.empty:
        body.append("<p>Top-1 accuracy / recall in %, mean ± std over seeds (n = seeds).</p>")
        for ds, g in display.groupby("dataset", sort=False):
            body.append(f"<h3>{e(ds)}</h3>" + table_html(g.drop(columns="dataset")))
    else:
        body.append("<p>No finished jobs.</p>")
    if seed_md:
        body.append(f"<h2>{e(SEED_NOISE_TITLE)}</h2>" + markdown_block_html(seed_md))
    if budget_md:
        body.append("<h2>Budget axis</h2>" + markdown_block_html(budget_md))
    if figures:
        body.append("<h2>Figures</h2>" + "".join(figure_html(p) for p in figures))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/><title>vssl-bench report</title>'
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )
