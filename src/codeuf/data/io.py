"""Reading and writing record files: atomic whole-file writes, appendable JSONL, strict reading; and
codeuf's cache folder."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from codeuf.errors import InputError


def cache_dir() -> Path:
    """Where codeuf keeps what it can rebuild (LLM results, converted models, downloaded data, ground
    truth): $CODEUF_CACHE_DIR, else $XDG_CACHE_HOME/codeuf, else ~/.cache/codeuf."""
    root = os.environ.get("CODEUF_CACHE_DIR")
    return Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "codeuf"


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a whole file or nothing: a temp file beside it, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(folder: str | Path) -> Iterator[Path]:
    """Build a folder whole or not at all: the block fills an empty folder beside `folder`, which then
    takes its place (an existing one is moved aside first, and removed after); on an error it is removed.
    The staging name is fixed, so what a killed process left behind is cleared by the next attempt."""
    folder = Path(folder)
    work = folder.with_name(f".{folder.name}.staging")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        yield work
        old = folder.with_name(f".{folder.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        work.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def dumps_line(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_jsonl_atomic(path: str | Path, records: Iterable[Any]) -> None:
    atomic_write_text(path, "".join(dumps_line(r) for r in records))


class JsonlAppender:
    """Append records one at a time, flushed, so a killed run keeps every finished record."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("a", encoding="utf-8")

    def append(self, record: Any) -> None:
        self._handle.write(dumps_line(record))
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_jsonl_lines(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed JSON) for each non-blank line; bad bytes or JSON raise InputError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a file", path=path) from None
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"not valid UTF-8 (byte {exc.start + 1} of the line)", path=path, line=number) from None
        if not text.strip():
            continue
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg} at column {exc.colno}", path=path, line=number) from None


def read_jsonl_tolerant(path: str | Path) -> Iterator[Any]:
    """Read a file this tool appended to, skipping a last line cut short by a crash."""
    path = Path(path)
    if not path.exists():
        return
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
