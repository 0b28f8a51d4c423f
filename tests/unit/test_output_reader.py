"""How a sandbox worker reads a program's output until it ends: the spawn helper's reader in C, and the same
loop in Python (where no helper is built), held to the same cases with real processes (no sandbox: the
integration tests run them in workers)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator

import pytest

from codeuf.sandbox import programs
from codeuf.sandbox.spawn import reader

SH = shutil.which("sh", path="/usr/bin:/bin")
pytestmark = pytest.mark.skipif(SH is None or not hasattr(os, "pidfd_open"), reason="needs sh and Linux's pidfds")


@pytest.fixture(params=["c", "python"])
def read(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "c" and reader() is None:
        pytest.skip("no spawn helper here (no C compiler, or CODEUF_SANDBOX_SPAWN=prlimit)")
    if request.param == "python":
        monkeypatch.setattr(programs, "_native_reader", lambda: None)
    yield request.param


def _run(script: str, seconds: float = 5.0, cap: int = 1024, alone: bool = False
         ) -> tuple[str, bytes, bytes, int | None, float]:  # fmt: skip
    """(status, output, error output, exit code, seconds) of `sh -c script`, read as a worker reads a program."""
    assert SH is not None
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
        pid = os.posix_spawn(SH, [SH, "-c", script], {"PATH": "/usr/bin:/bin"}, file_actions=actions, setsid=True)
    finally:
        for fd in (out_w, err_w, null):
            os.close(fd)
    started = time.monotonic()
    status, out, err = programs._read(pid, out_r, err_r, started + seconds, cap, alone)
    code = programs._reap(pid)
    return status, out, err, code, time.monotonic() - started


def test_output_error_output_and_exit_code(read: str) -> None:
    status, out, err, code, _ = _run("echo out; echo err >&2; exit 3")
    assert (status, out, err, code) == ("ok", b"out\n", b"err\n", 3)


def test_a_program_killed_by_a_signal_has_its_negative_number(read: str) -> None:
    assert _run("kill -9 $$")[3] == -9


def test_more_output_than_the_cap_is_a_flood_cut_at_the_cap(read: str) -> None:
    status, out, _, code, seconds = _run("while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done", cap=100_000)
    assert status == "flood" and len(out) == 100_000 and out.startswith(b"xxx")
    assert code is None and seconds < 4  # killed with its group, not waited for


def test_a_flood_on_the_error_output_keeps_its_end(read: str) -> None:
    status, _, err, code, _ = _run('i=0; while [ $i -lt 10000 ]; do echo "line $i" >&2; i=$((i+1)); done')
    written = "".join(f"line {i}\n" for i in range(10000)).encode()  # 99 KB: only the end is kept
    assert status == "ok" and code == 0
    assert 4096 <= len(err) < len(written) and written.endswith(err)


def test_a_program_past_its_deadline_is_a_timeout(read: str) -> None:
    status, _, _, code, seconds = _run("echo started; sleep 5", seconds=0.3)
    assert (status, code) == ("timeout", None) and seconds < 2


def test_a_program_that_closes_its_output_and_goes_on_is_a_timeout(read: str) -> None:
    status, _, _, code, seconds = _run("exec >&- 2>&-; sleep 5", seconds=0.3)
    assert (status, code) == ("timeout", None) and seconds < 2


def test_what_a_program_leaves_holding_its_output_is_waited_for_a_moment_only(read: str) -> None:
    """Not `alone`: the exit is watched while reading, and the output read for EXIT_GRACE after it."""
    status, out, _, code, seconds = _run("sleep 5 & echo done")
    assert (status, out, code) == ("ok", b"done\n", 0) and seconds < 2


def test_an_alone_program_is_awaited_after_its_output_closes(read: str) -> None:
    status, out, _, code, _ = _run("echo one; echo two", alone=True)
    assert (status, out, code) == ("ok", b"one\ntwo\n", 0)
