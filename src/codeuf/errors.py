"""Errors that the CLI turns into one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path


class CodeufError(Exception):
    """An error the user can fix; its message is shown as is, on one line."""

    exit_code = 1


class InputError(CodeufError):
    """Bad user input: names the file, the line and the field where it can."""

    exit_code = 2

    def __init__(
        self, message: str, *, path: str | Path | None = None, line: int | None = None, field: str | None = None
    ) -> None:
        self.path, self.line, self.field, self.detail = path, line, field, message
        where = str(path) if path is not None else ""
        if line is not None:
            where += f":{line}"
        prefix = f"{where}: " if where else ""
        if field:
            prefix += f"field '{field}': "
        super().__init__(" ".join(f"{prefix}{message}".split()))


class MissingDependencyError(CodeufError):
    """An optional dependency is not installed; says which extra brings it."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is not installed: pip install 'codeuf[{extra}]'")
