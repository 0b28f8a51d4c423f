"""Errors that the CLI turns into one clear line and a non-zero exit, never a traceback.

Exit codes (the README's table):
    0    done
    1    an error the user can fix that is not about one input (a missing dependency, an unreachable hub)
    2    bad input: a file, a config or a command-line value; nothing was written
    3    some calls failed after retries: everything that succeeded is written; rerun to retry the rest
    4    a backend failed every attempt for a while (a dead server): stopped early; rerun when it is back
    5    the folder is in use by another codeuf process
    6    a stage produced nothing (0 pairs, 0 records): the outputs it found are left as they were
    7    --strict, and the run's signals drew warnings (listed on the cards and in the manifest)
    130  interrupted; rerun to resume
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


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


def invalid(exc: Any, *, path: str | Path | None = None, line: int | None = None, lines: dict[str, int] | None = None,
            prefix: tuple[str, ...] = ()) -> InputError:  # fmt: skip
    """A pydantic ValidationError as one InputError: its first problem, the dotted field (after `prefix`), and
    the line of the deepest key that `lines` (dotted key paths) knows, else `line`."""
    error = exc.errors()[0]
    loc = [*prefix, *(str(p) for p in error["loc"] if p != "[key]")]
    known = lines or {}
    line = next((known[".".join(loc[:n])] for n in range(len(loc), 0, -1) if ".".join(loc[:n]) in known), line)
    return InputError(error["msg"].removeprefix("Value error, "), path=path, line=line, field=".".join(loc) or None)


class CallsFailedError(CodeufError):
    """Some calls failed after their retries. What succeeded is written; a rerun retries only the rest."""

    exit_code = 3


class BackendDownError(CodeufError):
    """A backend failed every attempt, with no success, for long enough to call it down."""

    exit_code = 4


class FolderBusyError(CodeufError):
    """Another codeuf process holds the lock of this folder."""

    exit_code = 5


class EmptyOutputError(CodeufError):
    """A stage produced nothing; the outputs it found are left as they were, never replaced by an empty one."""

    exit_code = 6


class StrictWarningsError(CodeufError):
    """`--strict`: the run is written, and its signals drew warnings that a pipeline must not pass over."""

    exit_code = 7

    def __init__(self, warnings: list[dict[str, Any]]) -> None:
        codes = ", ".join(dict.fromkeys(w["code"] for w in warnings))
        super().__init__(
            f"--strict: {len(warnings)} warning{'s' * (len(warnings) != 1)} ({codes}); the first: "
            f"{warnings[0]['message']}"
        )


class MissingDependencyError(CodeufError):
    """An optional dependency is not installed; says which extra brings it."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is not installed: pip install 'codeuf[{extra}]'")
