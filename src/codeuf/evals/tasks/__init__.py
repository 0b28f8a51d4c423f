"""Benchmarks as tasks: each module here defines `BenchTask` subclasses (data, the prompt for a model, scoring),
found by name. Adding a benchmark is one module in this folder; an EvalPlus-format set is a few lines
(see humaneval_plus.py)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from codeuf.errors import InputError
from codeuf.evals.tasks.base import BenchTask


@cache
def all_tasks() -> dict[str, type[BenchTask]]:
    """Every task class of the modules in this folder, by name (imported when first asked for), then those other
    packages declare as entry points in the group `codeuf.tasks` (codeuf.plugins)."""
    from codeuf.plugins import GROUPS, Registry

    found: dict[str, type[BenchTask]] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name == "base":
            continue
        for value in vars(importlib.import_module(f"{__name__}.{module.name}")).values():
            if isinstance(value, type) and issubclass(value, BenchTask) and getattr(value, "name", None):
                found[value.name] = value
    return dict(Registry(GROUPS["tasks"], dict(sorted(found.items())), _plugin))


def _plugin(point: Any) -> type[BenchTask]:
    task = point.load()
    if not (isinstance(task, type) and issubclass(task, BenchTask)):
        raise TypeError(f"{point.value} is not a codeuf BenchTask")
    return task  # type: ignore[no-any-return]


def get_task(name: str, field: str = "--dataset") -> BenchTask:
    tasks = all_tasks()
    if name not in tasks:
        raise InputError(f"unknown benchmark {name!r} (known: {', '.join(tasks)})", field=field)
    return tasks[name]()
