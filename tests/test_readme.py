"""The README's "What is compared" table names every registered method under its family
(a family's row was once dropped in an edit and nothing noticed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vssl_bench.methods import METHODS

README = Path(__file__).resolve().parents[1] / "README.md"

pytestmark = pytest.mark.timeout(30)


def _compared_table() -> dict[str, set[str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## What is compared", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("family", "") or set(cells[0]) <= set("-"):
            continue
        table[cells[0]] = set(re.findall(r"`([a-z0-9-]+)`", cells[1]))
    return table


def test_readme_lists_every_method_under_its_family():
    table = _compared_table()
    want: dict[str, set[str]] = {}
    for slug, cls in METHODS.items():
        want.setdefault(cls.family, set()).add(slug)
    assert table == want
