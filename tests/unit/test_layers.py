"""The layers of codeuf point one way, and no module imports itself back through others.

Every import counts, at the top of a module or inside a function: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "codeuf"
RANK = {
    # plumbing that knows nothing of the rest
    "_compat": 0, "codeuf": 1, "errors": 0, "secrets": 0, "stats": 0, "svg": 0, "plugins": 0,
    "io": 1, "preferences": 1, "prompts": 1, "sandbox": 1, "hub": 1, "results": 1,
    "config.manifest": 2, "llm": 2,
    "data": 3, "config.reader": 3, "cluster": 3,
    # what the stages and the benchmarks share
    "judging": 4, "execution": 4, "session": 4,
    "config": 5,
    # siblings: neither imports the other
    "stages": 6, "evals": 6,
    "train": 7, "report": 7, "llm.batch.command": 7,
    "cli": 8, "api": 8, "__main__": 9,
}  # fmt: skip
"""A unit (a top-level module, or a package) imports only units of a lower rank."""


def _module(path: Path) -> str:
    return ".".join(("codeuf", *path.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__")


def _is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split(".")[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports() -> dict[str, set[tuple[str, int]]]:
    """Module -> (imported codeuf module, line), every import of the module's source."""
    found: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:  # `from codeuf.train import configs`: a module
                names = [f"{node.module}.{a.name}" if _is_module(f"{node.module}.{a.name}") else node.module
                         for a in node.names]  # fmt: skip
            for name in names:
                if name.split(".")[0] == "codeuf":
                    found[_module(path)].add((name, node.lineno))
    return found


SUBUNITS = ("llm.batch.command", "config.reader", "config.manifest")
"""Modules ranked apart from their package: `codeuf llm batch`'s driver lives with the batch formats it drives;
the YAML reader and the manifest live with the run configs they read and record."""


def _unit(module: str) -> str:
    parts = module.split(".")
    inner = ".".join(parts[1:])
    for sub in SUBUNITS:
        if inner == sub or inner.startswith(sub + "."):
            return sub
    return parts[1] if len(parts) > 1 else parts[0]


def test_every_unit_has_a_rank() -> None:
    units = {_unit(m) for m in _imports()} | {_unit(t) for targets in _imports().values() for t, _ in targets}
    assert units <= set(RANK), sorted(units - set(RANK))


FACADE = {("codeuf", "codeuf.api")}
"""The one edge that points up: `codeuf.run` and the other functions of the Python API, which the package
imports from codeuf.api when they are first used (a module __getattr__), never at `import codeuf`."""


def test_layers_point_one_way() -> None:
    wrong = [f"{module}:{line} imports {target}"
             for module, targets in _imports().items() for target, line in targets
             if _unit(target) != _unit(module) and RANK[_unit(target)] >= RANK[_unit(module)]
             and (module, target) not in FACADE]  # fmt: skip
    assert wrong == []


def test_no_module_imports_itself_back() -> None:
    graph = {m: {t for t, _ in targets if t != m} for m, targets in _imports().items()}
    cycles = set()

    def visit(module: str, path: list[str]) -> None:
        for target in graph.get(module, ()):
            if target in path:
                cycle = path[path.index(target) :]
                cycles.add(tuple(sorted(cycle)))
            elif len(path) < 12:
                visit(target, [*path, target])

    for module in graph:
        visit(module, [module])
    assert cycles == set()
