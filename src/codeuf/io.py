"""Reading and writing record files: atomic whole-file writes, append-only record logs, strict reading of
what users give, writable-folder checks, folder locks; and codeuf's cache folder."""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from codeuf.errors import FolderBusyError, InputError


def cache_dir() -> Path:
    """Where codeuf keeps what it can rebuild (LLM results, converted models, downloaded data, ground
    truth): $CODEUF_CACHE_DIR, else $XDG_CACHE_HOME/codeuf, else ~/.cache/codeuf."""
    root = os.environ.get("CODEUF_CACHE_DIR")
    return Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "codeuf"


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a whole file or nothing: a temp file beside it, fsync, rename."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_file(path) as tmp, tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """A file whole or not at all: the block writes the temp path it is given (itself, or a tool it runs),
    which then takes the file's place; on an error the temp file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
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


# ----------------------------------------------------------------------------- strict reading

MAX_DEPTH = 100
"""Deepest nesting accepted in a user's JSON: far beyond any real input, far below Python's recursion limit."""

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class JsonProblem(ValueError):
    """Why a JSON text was refused, in a few words for an InputError."""


def _reject_constant(name: str) -> Any:
    raise JsonProblem(f"{name} is not JSON (numbers must be finite)")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise JsonProblem(f"{text[:40]} is too large for a number (numbers must be finite)")
    return value


def walk(value: Any) -> Iterator[tuple[int, str, Any]]:
    """(depth, path, value) of every node, iteratively, so that no depth can overflow the stack."""
    stack: list[tuple[int, str, Any]] = [(0, "", value)]
    while stack:
        depth, where, node = stack.pop()
        yield depth, where, node
        if isinstance(node, dict):
            stack.extend((depth + 1, f"{where}.{k}" if where else str(k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((depth + 1, f"{where}.{i}" if where else str(i), v) for i, v in enumerate(node))


def check_value(value: Any, text: str | None = None, max_depth: int | None = MAX_DEPTH) -> None:
    """Refuse what parses but cannot be used: nesting deeper than MAX_DEPTH, and strings (or keys) holding a
    lone surrogate, which no UTF-8 file, database or terminal can take. Given the JSON `text` the value came
    from, this costs nothing when neither can be present."""
    limit = max_depth if max_depth is not None else float("inf")
    if text is not None and text.count("[") + text.count("{") <= limit and not _SURROGATE_ESCAPE.search(text):
        return
    for depth, where, node in walk(value):
        if depth >= limit:  # the root is level 1
            raise JsonProblem(f"nested more than {max_depth} levels deep")
        strings = [node] if isinstance(node, str) else list(node) if isinstance(node, dict) else []
        for string in strings:
            if not isinstance(string, str):
                raise JsonProblem(f"the key {string!r}{f' at {where}' if where else ''} is not text")
            try:
                string.encode("utf-8")
            except UnicodeEncodeError:
                at = f" at {where}" if where else ""
                raise JsonProblem(f"a lone surrogate (\\u{ord(string[_bad(string)]):04x}){at} is not text") from None


def _bad(string: str) -> int:
    return next(i for i, c in enumerate(string) if "\ud800" <= c <= "\udfff")


def parse_json(text: str, *, allow_nan: bool = False, max_depth: int | None = MAX_DEPTH) -> Any:
    """json.loads for text a user gave: every way it can fail is a JsonProblem (bad JSON, nesting too deep,
    integers too long for Python, NaN/Infinity unless `allow_nan`, lone surrogates), never a traceback."""
    try:
        value = (json.loads(text) if allow_nan else
                 json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float))  # fmt: skip
    except json.JSONDecodeError as exc:
        raise JsonProblem(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise JsonProblem(f"nested more than {MAX_DEPTH} levels deep") from None
    except JsonProblem:
        raise
    except ValueError as exc:  # an integer longer than sys.get_int_max_str_digits()
        limit = sys.get_int_max_str_digits()
        raise JsonProblem(f"a number too long to read ({limit} digits at most)" if "digits" in str(exc) else
                          f"not valid JSON: {exc}") from None  # fmt: skip
    check_value(value, text, max_depth)
    return value


def read_input_bytes(path: str | Path) -> bytes:
    """A user's file, whole (gunzipped for .gz); unreadable is one InputError."""
    path = Path(path)
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a file", path=path) from None
    except PermissionError:
        raise InputError("not readable (permission denied)", path=path) from None
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read: {type(exc).__name__}: {exc}", path=path) from None


def iter_jsonl_lines(
    path: str | Path, *, allow_nan: bool = False, max_depth: int | None = MAX_DEPTH
) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed JSON) for each non-blank line of a user's JSONL (or .jsonl.gz) file;
    anything unreadable is one InputError naming the file and line."""
    path = Path(path)
    for number, line in enumerate(read_input_bytes(path).split(b"\n"), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"not valid UTF-8 (byte {exc.start + 1} of the line)", path=path, line=number) from None
        if not text.strip():
            continue
        try:
            yield number, parse_json(text, allow_nan=allow_nan, max_depth=max_depth)
        except JsonProblem as exc:
            raise InputError(str(exc), path=path, line=number) from None


def read_json_file(path: str | Path, *, allow_nan: bool = False) -> Any:
    """A user's whole-file JSON document, strictly (see `parse_json`)."""
    try:
        text = read_input_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 (byte {exc.start + 1})", path=path) from None
    try:
        return parse_json(text, allow_nan=allow_nan)
    except JsonProblem as exc:
        raise InputError(str(exc), path=path) from None


def read_jsonl_tolerant(path: str | Path) -> Iterator[Any]:
    """Read a file this tool appended to, skipping a last line cut short by a crash."""
    path = Path(path)
    if not path.exists():
        return
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except (ValueError, RecursionError):
                continue


# ----------------------------------------------------------------------------- append-only record logs


_Item = TypeVar("_Item")
_Parsed = TypeVar("_Parsed")


class RecordLog:
    """A stage's append-only JSONL of finished records, one line per id, so that a rerun resumes.

    `resume(keep)` reads the file (a last line cut short by a crash is skipped; if an id appears twice, the
    last line wins), keeps the records that `keep` accepts (finished, and made for the same task), and,
    when the file held anything else (duplicates, stale or torn lines), rewrites it atomically with just
    those. `append` then adds records one line at a time, flushed, and refuses an id the file already
    holds. So the file never has two lines for one id, and a record whose calls failed is never in it:
    it is simply not finished, and the next run does it again.
    """

    def __init__(self, path: str | Path, key: str = "id") -> None:
        self.path, self.key = Path(path), key
        self._ids: set[str] = set()
        self._handle: Any = None

    def read(self) -> dict[str, dict[str, Any]]:
        """The records by id, the last line winning, without changing the file."""
        return self._scan()[0]

    def _scan(self) -> tuple[dict[str, dict[str, Any]], int]:
        """(records by id, the last line winning; how many non-blank lines the file holds), in one read."""
        latest: dict[str, dict[str, Any]] = {}
        lines = 0
        if not self.path.exists():
            return latest, lines
        if not self.path.is_file():  # a FIFO would block the read for ever, a device never end
            raise InputError("not a regular file (a stage's records go in a file)", path=self.path)
        for line in self.path.read_bytes().split(b"\n"):
            if not line.strip():
                continue
            lines += 1
            try:
                row = json.loads(line.decode("utf-8", "replace"))
            except (ValueError, RecursionError):
                continue  # a line cut short by a crash
            if isinstance(row, dict) and isinstance(row.get(self.key), str):
                latest.pop(row[self.key], None)  # the last line wins, at the last position
                latest[row[self.key]] = row
        return latest, lines

    def resume(self, keep: Any = None) -> dict[str, dict[str, Any]]:
        latest, lines = self._scan()
        kept = {k: r for k, r in latest.items() if keep is None or keep(r)}
        if self.path.exists() and (len(kept) != lines or self._torn()):
            write_jsonl_atomic(self.path, kept.values())
        self._ids = set(kept)
        return kept

    def resume_items(self, items: Sequence[_Item], keep: Any, parse: Callable[[dict[str, Any]], _Parsed]
                     ) -> tuple[dict[str, _Parsed], list[_Item]]:  # fmt: skip
        """`resume(keep)`, the finished records parsed, by id; and the items (each with an `id`) still to do, in
        their order. What every stage starts with. Lines of records that are not among `items` stay as they
        are: a stage run on a subset of a run's records (`--input`) merges its results into the run's file."""
        wanted = {item.id for item in items}
        kept = self.resume(lambda row: row[self.key] not in wanted or keep(row))
        done = {k: parse(v) for k, v in kept.items() if k in wanted}
        return done, [item for item in items if item.id not in done]

    def _torn(self) -> bool:
        with self.path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() == 0:
                return False
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"

    def append(self, record: dict[str, Any]) -> None:
        identifier = record[self.key]
        if identifier in self._ids:
            raise ValueError(f"{self.path}: {identifier!r} is already recorded")
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(dumps_line(record))
        self._handle.flush()
        self._ids.add(identifier)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> RecordLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ----------------------------------------------------------------------------- output folders


def check_writable_dir(path: str | Path, field: str = "out") -> Path:
    """Check, writing nothing, that `path` is or can become a folder this process can write in."""
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.is_symlink():
            raise InputError("is a broken symbolic link", path=probe, field=field)
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        what = "is a file" if probe == path else f"cannot be created: {probe} is not a folder"
        raise InputError(f"{what}, not a folder" if probe == path else what, path=path, field=field)
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"cannot write in {probe} (permission denied)", path=path, field=field)
    return path


def check_output_file(path: Path, field: str) -> None:
    """A file a command will create or replace: not a folder, in a folder it can write in."""
    if path.is_dir():
        raise InputError("is a folder, not a file", path=path, field=field)
    check_writable_dir(path.parent, field)


@contextmanager
def exclusive(lock_path: str | Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` for the block, or raise FolderBusyError naming the holder.

    An flock is released by the kernel when its process dies, so a lock left by a killed process is
    simply taken over. The file holds the holder's PID and command, and is removed on release."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            os.close(fd)
            raise FolderBusyError(f"{what} is in use by codeuf process {holder}; wait for it to end") from None
        try:
            same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the previous holder removed the file between our open and our lock: try again
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} ({' '.join(['codeuf', *sys.argv[1:]])[:200]})\n".encode())
    try:
        yield
    finally:
        lock_path.unlink(missing_ok=True)
        os.close(fd)


def _lock_holder(fd: int, wait_s: float = 1.0) -> str:
    """The PID and command the lock's holder wrote; a holder that has just taken the lock writes them a moment
    later, so an empty file is read again for up to `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        if text or time.monotonic() >= deadline:
            return text or "(one that has just started)"
        time.sleep(0.02)


@contextmanager
def folder_lock(folder: str | Path) -> Iterator[Path]:
    """One process per run folder: `folder/.codeuf.lock` for the block. A folder this call created is
    removed again if nothing but the lock was put in it."""
    folder = Path(folder)
    existed = folder.exists()
    try:
        with exclusive(folder / ".codeuf.lock", f"folder {folder}"):
            yield folder
    finally:
        if not existed and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
