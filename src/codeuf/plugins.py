"""Extension points open to other packages: a package adds a backend, a judging method, a language, a
benchmark task or a training algorithm by declaring a Python entry point, and codeuf finds it through the same
registry as its built-ins.

    [project.entry-points."codeuf.backends"]
    echo = "my_package.backend:EchoBackend"     # a codeuf.llm.base.Backend subclass: specs `echo:MODEL`
    [project.entry-points."codeuf.judging_methods"]
    fixed = "my_package.judging:FixedMethod"     # a codeuf.judging.methods.JudgingMethod subclass: `method: fixed`
    [project.entry-points."codeuf.languages"]
    dash = "my_package.dash:LANGUAGE"            # a codeuf.sandbox.languages.Language
    [project.entry-points."codeuf.tasks"]
    hello = "my_package.tasks:HelloTask"         # a codeuf.evals.tasks.base.BenchTask subclass: --dataset hello
    [project.entry-points."codeuf.algorithms"]
    dpo-hinge = "my_package.train:DPO_HINGE"     # a codeuf.train.algorithms.Algorithm: codeuf train dpo-hinge

A registry is the built-ins (the modules' own tables) and then the entry points of its group, read once, when
it is first looked at: `codeuf --help` reads none. A built-in name is never replaced by a plugin, and a plugin
that fails to load is left out with one line on stderr naming it, so that one broken package does not break
every command. tests/plugins/ holds a package with one extension of each kind, which a test installs and uses
from the command line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

V = TypeVar("V")

GROUPS = {"backends": "codeuf.backends", "judging_methods": "codeuf.judging_methods", "languages": "codeuf.languages",
          "tasks": "codeuf.tasks", "algorithms": "codeuf.algorithms"}  # fmt: skip


def entry_points(group: str) -> list[Any]:
    """The entry points of a group, over every installed distribution."""
    from importlib.metadata import entry_points as found

    return list(found(group=group))


class Registry(Mapping[str, V]):
    """Built-ins first, then what other packages declare under `group` (converted by `load`)."""

    def __init__(self, group: str, builtins: dict[str, V], load: Callable[[Any], V]) -> None:
        self.group, self._builtins, self._load = group, builtins, load
        self._all: dict[str, V] | None = None

    def _merged(self) -> dict[str, V]:
        if self._all is None:
            merged = dict(self._builtins)
            for point in entry_points(self.group):
                if point.name in merged:
                    continue
                try:
                    merged[point.name] = self._load(point)
                except Exception as exc:  # a broken plugin is left out, said once
                    print(f"codeuf: warning: plugin {point.name!r} ({point.value}, group {self.group}) failed to "
                          f"load: {type(exc).__name__}: {exc}", file=sys.stderr)  # fmt: skip
            self._all = merged
        return self._all

    def __getitem__(self, key: str) -> V:
        if key in self._builtins:
            return self._builtins[key]
        return self._merged()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._builtins or key in self._merged()

    def __iter__(self) -> Iterator[str]:
        return iter(self._merged())

    def __len__(self) -> int:
        return len(self._merged())
