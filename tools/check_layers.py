"""The dependency rule of the house, checked on the source (run by the test suite).

    core  <  sources, filters, sinks  <  pipelines  <  app

- core: the record, config, errors and a few small helpers every layer may use (CORE below);
- families: pln.sources, pln.filters, pln.sinks; a family imports core and itself, never
  another family nor a higher layer;
- pipelines: import core and the families;
- app: the CLI, the web server, learning and scheduling (every other module of pln/).

Every import counts, also one inside a function. There must be no import cycle between modules
either (imports inside functions included, since they only postpone one).

    python tools/check_layers.py        # prints violations and cycles; exit 1 if any
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"pln": "pln", "sources": "pln.sources", "filters": "pln.filters", "sinks": "pln.sinks"}
PACKAGES["pipelines"] = "pln.pipelines"
CORE = {
    "pln",
    "pln.atomic",
    "pln.backoff",
    "pln.clean",
    "pln.config",
    "pln.cron",
    "pln.errors",
    "pln.lock",
    "pln.payload",
    "pln.progress",
    "pln.record",
    "pln.urls",
    "pln.text",
}
RANK = {"core": 0, "pln.sources": 1, "pln.filters": 1, "pln.sinks": 1, "pln.pipelines": 2}
RANK["app"] = 3


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            if folder == "pln" and parts and parts[0] in PACKAGES:
                continue
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def layer(module: str) -> str:
    if module in CORE:
        return "core"
    for family in ("pln.sources", "pln.filters", "pln.sinks", "pln.pipelines"):
        if module == family or module.startswith(family + "."):
            return family
    return "app"


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The pln modules `name` imports (resolving relative imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in sorted(graph.items()):
        mine = layer(module)
        for target in sorted(targets):
            theirs = layer(target)
            if theirs == mine:
                continue
            same_rank = RANK[theirs] == RANK[mine]
            if RANK[theirs] > RANK[mine] or same_rank:
                out.append(f"{module} ({mine}) imports {target} ({theirs})")
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports(name, path, known) for name, path in found.items()}


def main() -> int:
    g = graph()
    problems = violations(g) + [" <-> ".join(c) + " (cycle)" for c in cycles(g)]
    for line in problems:
        print(line)
    print(f"{len(g)} modules, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
