"""The package's import graph: circles (strongly connected components) and function-level imports.

Reads every module of ``vssl_bench`` with ``ast`` (nothing is imported or run) and
prints, or returns with ``--json``:

- the import circles: groups of modules that reach each other through imports (module
  level and inside functions, as Python resolves both eventually), largest first;
- every import inside a function, with the comment on its line (its reason).

Usage: ``.venv/bin/python benchmarks/import_graph.py [--root vssl_bench] [--json]``.
``tests/test_architecture.py`` holds the package to: no circle of more than two modules,
and an import inside a function only for a heavy or optional dependency, with its reason.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

PACKAGE = "vssl_bench"


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, mod: str, is_pkg: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def scan(root: Path) -> tuple[dict[str, set[str]], list[dict]]:
    """(module -> package modules it imports, [function-level imports])."""
    files = sorted(root.rglob("*.py"))
    mods = {module_name(f, root): f for f in files}
    graph: dict[str, set[str]] = {m: set() for m in mods}
    lazy: list[dict] = []
    for mod, path in mods.items():
        src = path.read_text()
        lines = src.splitlines()
        tree = ast.parse(src)
        func_nodes = {
            id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(f)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node, mod, path.name == "__init__.py")
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            for t in targets:
                hit = next((m for m in (t, t.rsplit(".", 1)[0]) if m in mods), None)
                if hit and hit != mod:
                    graph[mod].add(hit)
            if id(node) in func_nodes:
                lazy.append(
                    {"module": mod, "line": node.lineno, "imports": targets, "reason": _reason(lines, node.lineno - 1)}
                )
    return graph, lazy


def _reason(lines: list[str], i: int) -> str:
    """The comment that says why: on the import's line, else the comment lines right above it."""
    if "#" in lines[i]:
        return lines[i].split("#", 1)[1].strip()
    above = []
    j = i - 1
    while j >= 0 and lines[j].strip().startswith(("import ", "from ")):  # one group of imports, one reason
        if "#" in lines[j]:
            return lines[j].split("#", 1)[1].strip()
        j -= 1
    while j >= 0 and lines[j].strip().startswith("#"):
        above.insert(0, lines[j].strip().lstrip("#").strip())
        j -= 1
    return " ".join(above)


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), largest first."""
    index, low, on, stack, out = {}, {}, set(), [], []
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return sorted(out, key=len, reverse=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(Path(__file__).resolve().parent.parent / PACKAGE))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    graph, lazy = scan(Path(a.root))
    cs = circles(graph)
    if a.json:
        print(
            json.dumps(
                {
                    "modules": len(graph),
                    "edges": sum(map(len, graph.values())),
                    "circles": cs,
                    "function_level_imports": lazy,
                },
                indent=1,
            )
        )
        return
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} import edges")
    print(f"circles: {len(cs)}" + (f" (largest: {len(cs[0])} modules)" if cs else ""))
    for c in cs:
        print(f"  {len(c)}: {', '.join(c)}")
    print(f"imports inside functions: {len(lazy)}")
    for i in lazy:
        print(f"  {i['module']}:{i['line']} {', '.join(i['imports'])}" + (f"  # {i['reason']}" if i["reason"] else ""))


if __name__ == "__main__":
    main()
