"""Old import paths, kept for one release after the tree was renamed: importing one warns (DeprecationWarning)
and gives the module at its new path, the same object, so classes and isinstance checks are shared."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

MOVED = {
    "codeuf.bench": "codeuf.evals",
    "codeuf.executor": "codeuf.cluster",
    "codeuf.llm_batch": "codeuf.llm.batch.command",
    "codeuf.llm.batchapi": "codeuf.llm.batch.providers",
    "codeuf._sandbox_worker": "codeuf.sandbox.__main__",
    "codeuf.settings": "codeuf.config.reader",
    "codeuf.manifest": "codeuf.config.manifest",
}
"""Old module (and, for a package, everything under it) -> its new path. Removed in codeuf 0.3."""


def new_name(name: str) -> str | None:
    for old, new in MOVED.items():
        if name == old or name.startswith(old + "."):
            return new + name[len(old) :]
    return None


class _Moved(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """First on sys.meta_path: otherwise the path finder would load a moved package's submodules a second time
    from the new package's folder, as different module objects."""

    def __init__(self) -> None:
        self._specs: dict[int, Any] = {}

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if new_name(fullname) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=fullname in MOVED)

    def create_module(self, spec: Any) -> ModuleType:
        new = new_name(spec.name)
        warnings.warn(f"{spec.name} is now {new}; the old name will be removed in codeuf 0.3", DeprecationWarning,
                      stacklevel=3)  # fmt: skip
        module = importlib.import_module(new)  # type: ignore[arg-type]
        self._specs[id(module)] = module.__spec__  # importlib sets the alias's spec on it: put its own back
        return module

    def exec_module(self, module: ModuleType) -> None:
        """The module was executed under its new name; only its own spec is restored."""
        module.__spec__ = self._specs.pop(id(module), module.__spec__)


def install() -> None:
    if not any(isinstance(finder, _Moved) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Moved())
