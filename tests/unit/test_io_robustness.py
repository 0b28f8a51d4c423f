"""The plumbing that keeps bad input out and runs resumable: strict JSON, record logs, folders, locks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codeuf.errors import FolderBusyError, InputError
from codeuf.io import (
    JsonProblem,
    RecordLog,
    check_writable_dir,
    exclusive,
    folder_lock,
    iter_jsonl_lines,
    parse_json,
)


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("[" * 100_000, "nested more than 100 levels"),
        ("[" * 101 + "]" * 101, "nested more than 100 levels"),
        ("1" * 5000, "a number too long to read"),
        ('{"score": NaN}', "NaN is not JSON"),
        ('{"score": -Infinity}', "-Infinity is not JSON"),
        ('{"a": "\\ud800"}', "lone surrogate (\\ud800) at a"),
        ('{"\\udfff": 1}', "lone surrogate (\\udfff)"),
        ('{"a": [1, "x\\udc00y"]}', "at a.1"),
        ('{"a": 1', "not valid JSON"),
    ],
)
def test_parse_json_refuses_what_cannot_be_used(text: str, expect: str) -> None:
    with pytest.raises(JsonProblem) as info:
        parse_json(text)
    assert expect in str(info.value)


def test_parse_json_keeps_what_is_fine() -> None:
    assert parse_json('{"a": "\\ud83d\\ude00", "b": [[[[1]]]]}') == {"a": "\U0001f600", "b": [[[[1]]]]}
    assert parse_json("[" * 100 + "]" * 100) is not None
    assert str(parse_json('{"x": NaN}', allow_nan=True)["x"]) == "nan"


def test_jsonl_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n{"a": "\\ud800"}\n')
    with pytest.raises(InputError, match=r"x\.jsonl:2: a lone surrogate"):
        list(iter_jsonl_lines(path))
    with pytest.raises(InputError, match="is a folder, not a file"):
        list(iter_jsonl_lines(tmp_path))


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_record_log_keeps_one_line_per_id_and_drops_torn_and_stale_lines(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text('{"id": "a", "v": 1}\n{"id": "b", "v": 1}\n{"id": "a", "v": 2}\nnot json\n{"id": "c", "v"')
    log = RecordLog(path)
    kept = log.resume(lambda row: row["id"] != "b")
    assert kept == {"a": {"id": "a", "v": 2}}
    assert lines(path) == [{"id": "a", "v": 2}]  # rewritten: the last "a", nothing else
    with log:
        log.append({"id": "b", "v": 3})
        with pytest.raises(ValueError, match="already recorded"):
            log.append({"id": "a", "v": 4})
    assert lines(path) == [{"id": "a", "v": 2}, {"id": "b", "v": 3}]
    before = path.stat().st_mtime_ns
    assert RecordLog(path).resume() == {"a": {"id": "a", "v": 2}, "b": {"id": "b", "v": 3}}
    assert path.stat().st_mtime_ns == before  # a clean file is not rewritten


def test_record_log_read_takes_the_last_line_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text('{"id": "a", "v": 1}\n{"id": "a", "v": 2}\n')
    assert RecordLog(path).read() == {"a": {"id": "a", "v": 2}}
    assert len(path.read_text().splitlines()) == 2


def test_writable_dir_check_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert check_writable_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_writable_dir(tmp_path / "file")
    with pytest.raises(InputError, match="/dev/null is not a folder"):
        check_writable_dir("/dev/null/run")
    with pytest.raises(InputError, match=r"file is not a folder"):
        check_writable_dir(tmp_path / "file" / "sub")


HOLD = """
import sys, time
from codeuf.io import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_one_process_per_folder_and_a_dead_holder_is_taken_over(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.perf_counter()
        with pytest.raises(FolderBusyError) as info, folder_lock(folder):
            pass
        assert time.perf_counter() - started < 1  # at once, not after a wait
        assert f"in use by codeuf process {holder.pid}" in str(info.value) and "\n" not in str(info.value)
        holder.kill()  # SIGKILL: no cleanup ran, the lock file is still there...
        holder.wait(10)
        assert (folder / ".codeuf.lock").exists()
        with folder_lock(folder):  # ...and is taken over
            assert (folder / ".codeuf.lock").read_text().startswith(f"{os.getpid()} ")
        assert not (folder / ".codeuf.lock").exists()
    finally:
        holder.kill()


def test_a_folder_made_only_for_the_lock_is_removed_again(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), folder_lock(tmp_path / "fresh"):
        raise RuntimeError("a check failed after the lock")
    assert not (tmp_path / "fresh").exists()
    with folder_lock(tmp_path / "kept") as folder:
        (folder / "out.txt").write_text("x")
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["out.txt"]


def test_exclusive_on_a_file_lock(tmp_path: Path) -> None:
    lock = tmp_path / "out.jsonl.lock"
    busy = pytest.raises(FolderBusyError, match=r"output out\.jsonl is in use")
    with exclusive(lock, "output out.jsonl"), busy, exclusive(lock, "output out.jsonl"):
        pass
    assert not lock.exists()


OPEN_CACHE = """
import sys
from codeuf.llm.cache import ResultCache
from codeuf.llm.types import LLMRequest, LLMResult, Message
cache = ResultCache(sys.argv[1])
request = LLMRequest(messages=[Message(role="user", content="x")])
for i in range(200):
    cache.put(f"k{sys.argv[2]}-{i}", "m", request, LLMResult(text="y"))
print(len(cache))
"""


def test_a_new_cache_waits_for_another_process_writing_it_instead_of_failing(tmp_path: Path) -> None:
    """Switching to WAL reads and then asks for the write lock, and SQLite fails that at once while another
    connection writes (the race of several processes opening a new cache, made certain here)."""
    import sqlite3
    import threading

    from codeuf.llm.cache import ResultCache

    path = tmp_path / "llm.sqlite"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (a)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other VALUES (1)")
    threading.Timer(0.3, lambda: writer.execute("COMMIT")).start()
    cache = ResultCache(path)
    assert cache._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert len(cache) == 0
    cache.close()
    writer.close()


def test_a_new_shared_cache_opened_by_several_processes_at_once(tmp_path: Path) -> None:
    """The busy timeout is set before any pragma and migrations re-check inside their transaction, so no
    process fails with 'database is locked' or 'table already exists'."""
    path = tmp_path / "llm.sqlite"
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_CACHE, str(path), str(i)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(6)]  # fmt: skip
    outcomes = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err for _, err in outcomes]
    from codeuf.llm.cache import ResultCache

    cache = ResultCache(path)
    assert len(cache) == 1200
    cache.close()
