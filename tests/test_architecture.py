"""The package's floors hold: no import circle of more than two modules, and an import
inside a function only where the line (or the comment above it) says why.

Reads the sources (``benchmarks/import_graph.py``, nothing is imported); the closing
picture of the package is that script's output.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _graph_tool():
    spec = importlib.util.spec_from_file_location("import_graph", REPO / "benchmarks" / "import_graph.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_no_import_circle_of_more_than_two_modules() -> None:
    tool = _graph_tool()
    graph, _ = tool.scan(REPO / "vssl_bench")
    big = [c for c in tool.circles(graph) if len(c) > 2]
    assert not big, f"import circles: {big}"


def test_every_import_inside_a_function_says_why() -> None:
    _, lazy = _graph_tool().scan(REPO / "vssl_bench")
    silent = [f"{i['module']}:{i['line']} {', '.join(i['imports'])}" for i in lazy if not i["reason"]]
    assert not silent, "imports inside functions without a reason: " + "; ".join(silent)


def test_config_is_the_ground_floor() -> None:
    graph, _ = _graph_tool().scan(REPO / "vssl_bench")
    assert graph["vssl_bench.config"] == set(), graph["vssl_bench.config"]
    assert graph["vssl_bench.taxonomy"] == set()
    for low in ("vssl_bench.train", "vssl_bench.methods.base", "vssl_bench.data.datasets"):
        assert not any(m.startswith(("vssl_bench.eval", "vssl_bench.runner", "vssl_bench.cli")) for m in graph[low]), (
            low
        )
