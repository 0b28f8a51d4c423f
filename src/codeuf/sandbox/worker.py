"""A sandbox worker (a trusted process, `python -m codeuf.sandbox`): it forks a child per job, reads
its outputs, checks them as they come, cleans up, and answers on its pipe."""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from codeuf.sandbox import child, cpus
from codeuf.sandbox.child import _child_main, _enter_empty_network_namespace, _nobody_can_run_python
from codeuf.sandbox.jobs import Job, JobResult, Limits, Unpicklable, _recv, _send


def _exited(pid: int, seconds: float, pause: float) -> bool:
    """Whether the child has exited (and is reaped) within `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0]:
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)


def _finish(pid: int) -> None:
    """Reap the child and anything it left behind in its process group.

    A child that finished exits on its own: it is reaped at once. One that is still running gets
    SIGTERM, a moment to go, then SIGKILL. Either way the group gets a SIGKILL for strays."""
    if not _exited(pid, 0.01, 0.0005):  # a finished child is gone within a millisecond or two
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        if not _exited(pid, 0.05, 0.002):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # grandchildren it may have left


def run_job(job: Job, limits: Limits) -> JobResult:
    """Fork a child for `job`, read its outputs, check them as they come, and clean up."""
    workdir = tempfile.mkdtemp(prefix="codeuf-sandbox-")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_fd)
        cpus.free()  # on every CPU, not the one the worker keeps to
        _child_main(job, write_fd, workdir, limits)
    os.close(write_fd)
    details: list[bool] = []
    outputs: list[Any] = []
    seconds: list[float] = []
    status, reason = "timeout", "no answer"
    first_failure = ""
    deadline = time.monotonic() + job.wall_timeout
    reader = os.fdopen(read_fd, "rb")
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([read_fd], [], [], remaining)[0]:
                status, reason = "timeout", f"no result within {job.wall_timeout:g} s"
                break
            try:
                message = _recv(reader)
            except (EOFError, pickle.UnpicklingError, ValueError, struct.error, AttributeError, ImportError):
                status, reason = "timeout", "the child exited or died before finishing"
                break
            kind = message[0]
            if kind == "done":
                status = "pass" if len(details) == len(job.inputs) and all(details) else "fail"
                reason = "" if status == "pass" else first_failure or "not every test ran"
                break
            if kind == "load-error":
                status, reason = "fail", f"the code did not load: {message[1]}"
                break
            value = Unpicklable(message[2]) if kind == "unpicklable" else message[2] if kind == "ok" else None
            ok = kind in ("ok", "unpicklable") and (job.check is None or _safe_check(job.check, message[1], value))
            details.append(ok)
            if job.collect and ok:
                outputs.append(value)
                seconds.append(message[3])
            if not ok:
                status, reason = "fail", f"test {message[1]}: {message[2] if kind != 'ok' else 'wrong output'}"
                first_failure = first_failure or reason
                if kind == "error" and message[2] == "_Timeout" and job.keep_going:
                    # code that ran out of time on one input will on the next: don't wait for each
                    status, reason = "timeout", f"test {message[1]}: over its time limit"
                    break
                if not job.keep_going:
                    break
    finally:
        reader.close()
        _finish(pid)
        shutil.rmtree(workdir, ignore_errors=True)
    if job.collect:
        return JobResult(status, details, reason, outputs, seconds)
    return JobResult(status, details, reason)


def _safe_check(check: Callable[[int, Any], bool], index: int, value: Any) -> bool:
    try:
        return bool(check(index, value))
    except Exception:
        return False


def _default_signals() -> None:
    """Signals the worker inherited as ignored (a shell's background job ignores SIGINT and SIGQUIT, nohup
    SIGHUP) back to their defaults: what is ignored survives exec, and a child started through `prlimit` would
    keep it. Python's own SIGPIPE and SIGXFSZ stay (subprocess restores them in its children; the spawn
    helper resets every signal)."""
    for number in signal.valid_signals():
        if number in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGKILL, signal.SIGSTOP):
            continue
        with contextlib.suppress(OSError, ValueError):
            if signal.getsignal(number) == signal.SIG_IGN:
                signal.signal(number, signal.SIG_DFL)


def _worker_loop() -> None:
    """`python -m codeuf.sandbox`: read (job, limits) pickles on stdin, write results on stdout."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write on the result channel
    _enter_empty_network_namespace()
    _default_signals()
    child._CAN_DROP = _nobody_can_run_python()
    # Load once what every child or checker needs, so that a forked child does not import it again.
    import copy  # noqa: F401
    import ctypes  # noqa: F401
    import resource  # noqa: F401
    import socket  # noqa: F401
    import subprocess  # noqa: F401

    import numpy  # noqa: F401

    from codeuf.sandbox.isolation import become_subreaper, sweep_namespace
    from codeuf.sandbox.programs import Program, ProgramResult, run_program
    from codeuf.sandbox.spawn import spawner

    become_subreaper()  # inside namespaces: what a job leaves comes back to the worker, to be swept
    spawner()  # the helper, loaded before any fork: Python children install its threads-only filter too
    cpus.keep_worker()  # on the CPU the pool gave it, where the thread waiting for it waits too

    while True:
        try:
            job, limits = _recv(stdin)
        except EOFError:
            return
        try:
            result = run_program(job, limits) if isinstance(job, Program) else run_job(job, limits)
        except Exception as exc:  # the worker itself must survive
            why = f"sandbox error: {type(exc).__name__}: {exc}"
            result = ProgramResult("failed", why) if isinstance(job, Program) else JobResult("fail", [], why)
        _send(stdout, result)
        sweep_namespace()  # inside namespaces: nothing the job started outlives it (nor reaches the next)
