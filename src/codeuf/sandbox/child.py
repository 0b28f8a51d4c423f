"""The inner layer: what a forked child does to itself before it runs untrusted code (a new session, rlimits,
a temporary directory, no network module, `nobody` where it can be, a Python guard), and how it runs it and
streams each output back. Code here runs in the child; nothing in it is trusted with an expected output."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from codeuf.sandbox.jobs import _SRC, Job, Limits, _send


def rlimits(limits: Limits, wall_timeout: float) -> tuple[tuple[int, int], ...]:
    """A child's limits as (RLIMIT_*, value), for a child of the current user, each at most the current hard
    limit: set here in Python (`_set_limits`), or between vfork and exec by the spawn helper or `prlimit`."""
    uid = os.getuid()
    if uid in (0, NOBODY):  # nothing else in them changes from one child to the next
        return _rlimits(limits, wall_timeout, uid, 0)
    running = len([p for p in os.listdir("/proc") if p.isdigit()])
    return _rlimits(limits, wall_timeout, uid, running)


@functools.lru_cache(maxsize=64)
def _rlimits(limits: Limits, wall_timeout: float, uid: int, running: int) -> tuple[tuple[int, int], ...]:
    """`rlimits` for a user, with `running` processes (counted where the user is neither root nor
    nobody); a tuple, since the answer is cached and shared."""
    import resource

    wanted = [(resource.RLIMIT_AS, limits.address_space_bytes or limits.memory_bytes),
              (resource.RLIMIT_DATA, limits.memory_bytes),
              (resource.RLIMIT_CPU, limits.cpu_seconds or int(wall_timeout) + 1),
              (resource.RLIMIT_FSIZE, limits.file_size_bytes), (resource.RLIMIT_NOFILE, limits.open_files),
              (resource.RLIMIT_CORE, 0)]  # fmt: skip
    if uid == NOBODY:  # nobody's processes are the sandbox's alone
        wanted.append((resource.RLIMIT_NPROC, 1 + limits.processes))
    elif uid != 0:
        wanted.append((resource.RLIMIT_NPROC, running + limits.processes))
    capped, pid = [], os.getpid()
    for kind, value in wanted:
        hard = _hard_limit(kind, pid)
        capped.append((kind, value if hard == resource.RLIM_INFINITY else min(value, hard)))
    return tuple(capped)


@functools.cache
def _hard_limit(kind: int, pid: int) -> int:
    """The process's hard limit (asked once per process: nothing in a worker lowers its own)."""
    import resource

    return resource.getrlimit(kind)[1]


def _set_limits(limits: Limits, wall_timeout: float) -> None:
    import resource

    for kind, value in rlimits(limits, wall_timeout):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(kind, (value, value))


def _enter_empty_network_namespace() -> None:
    """Called once by a worker at start: a new network namespace (no interfaces but a down
    loopback), where the kernel allows it. Every child forked afterwards inherits it; creating one
    per child would cost tens of milliseconds each."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        clone_newuser, clone_newnet = 0x10000000, 0x40000000
        if libc.unshare(clone_newnet) != 0:
            libc.unshare(clone_newuser | clone_newnet)


def _leave_network() -> None:
    """A socket module that refuses to connect, whatever the namespace."""
    import socket

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise OSError("network access is disabled in the codeuf sandbox")

    socket.socket.connect = refused  # type: ignore[method-assign]
    socket.socket.connect_ex = refused  # type: ignore[method-assign]
    socket.socket.bind = refused  # type: ignore[method-assign]
    socket.create_connection = refused  # type: ignore[assignment]
    socket.getaddrinfo = refused  # type: ignore[assignment]


NOBODY = 65534


def _nobody_can_run_python() -> bool:
    """Whether `nobody` could read this interpreter's standard library and packages (it cannot when
    Python lives under a private home such as /root)."""
    import stat

    for path in {os.path.dirname(os.__file__), _SRC}:
        current = path
        while True:
            mode = os.stat(current).st_mode
            if not mode & stat.S_IXOTH or (current == path and not mode & stat.S_IROTH):
                return False
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
    return True


_CAN_DROP = None


def _drop_privileges(workdir: str) -> None:
    """As root, become `nobody` where it can run Python: no writing or deleting outside the working
    directory, no reading of other processes' environments or of files only root may read."""
    global _CAN_DROP
    if os.getuid() != 0:
        return
    if _CAN_DROP is None:
        _CAN_DROP = _nobody_can_run_python()
    if not _CAN_DROP:
        return
    os.chown(workdir, NOBODY, NOBODY)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _confine_writes(workdir: str) -> None:
    """Python-level: files may be opened for writing only inside the working directory."""
    import builtins

    root = os.path.realpath(workdir)
    real_open, real_os_open = builtins.open, os.open

    def resolve(path: Any) -> str:
        # relative to the working directory, without os.getcwd (which the guard removes)
        return os.path.realpath(os.path.join(root, os.fsdecode(path)))

    def inside(path: Any) -> bool:
        return isinstance(path, int) or resolve(path).startswith(root + os.sep)

    def other_process(path: Any) -> bool:
        """/proc/<pid>/... of another process (its environment, memory, command line)."""
        if isinstance(path, int):
            return False
        parts = resolve(path).split(os.sep)
        return len(parts) > 2 and parts[1] == "proc" and parts[2].isdigit() and int(parts[2]) != os.getpid()

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(c in mode for c in "wax+") and not inside(file):
            raise PermissionError(f"writing outside the sandbox directory is not allowed: {file}")
        if other_process(file):
            raise PermissionError(f"reading other processes is not allowed: {file}")
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC) and not inside(path):
            raise PermissionError(f"writing outside the sandbox directory is not allowed: {path}")
        if other_process(path):
            raise PermissionError(f"reading other processes is not allowed: {path}")
        return real_os_open(path, flags, *args, **kwargs)

    builtins.open = guarded_open  # type: ignore[assignment]
    io.open = guarded_open  # type: ignore[assignment]
    os.open = guarded_os_open  # type: ignore[assignment]


def _guard() -> None:
    """Remove process-level escape hatches from Python (as EvalPlus's reliability guard does)."""
    import builtins
    import shutil as _shutil
    import subprocess as _subprocess

    builtins.exit = None  # type: ignore[assignment]
    builtins.quit = None  # type: ignore[assignment]
    for name in ("kill", "killpg", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid",
                 "fork", "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod",
                 "fchown", "chmod", "chown", "chroot", "lchown", "getcwd", "chdir", "execv", "execve",
                 "execvp", "execvpe", "spawnv", "spawnve", "posix_spawn", "posix_spawnp", "popen"):  # fmt: skip
        if hasattr(os, name):
            setattr(os, name, None)
    _shutil.rmtree = None  # type: ignore[assignment]
    _shutil.move = None  # type: ignore[assignment]
    _shutil.chown = None  # type: ignore[assignment]
    _subprocess.Popen = None  # type: ignore[assignment,misc]
    for module in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[module] = None  # type: ignore[assignment]


class _Timeout(BaseException):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise _Timeout(f"exceeded {seconds:g} s")

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


class _NoInput(io.StringIO):
    def read(self, *args: Any) -> str:
        raise OSError("stdin is closed in the sandbox")

    readline = read  # type: ignore[assignment]


THREADS = 64
"""Threads a Python child may start (`threading`; a ThreadPoolExecutor's default is up to 32), where it can be
held to threads."""


def _with_threads(limits: Limits) -> Limits:
    """The child's limits, with THREADS in RLIMIT_NPROC once the spawn helper's seccomp filter holds this
    process to threads (a fork, even through ctypes or `posix`, then fails with EAGAIN); unchanged where the
    filter cannot be installed, so that the allowance never becomes one of processes, and where the pool
    grants processes (Limits.processes), which are then what it means."""
    from codeuf.sandbox.spawn import restrict_to_threads

    if limits.processes == 0 and restrict_to_threads():
        return replace(limits, processes=THREADS)
    return limits


def _child_main(job: Job, out_fd: int, workdir: str, limits: Limits) -> None:
    """In the forked child: never returns."""
    try:
        os.setsid()
        os.chdir(workdir)
        os.environ.clear()
        os.environ.update({"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "OMP_NUM_THREADS": "1"})
        _leave_network()
        _drop_privileges(workdir)
        _set_limits(_with_threads(limits), job.wall_timeout)
        out = os.fdopen(out_fd, "wb")
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        sys.stdin = _NoInput()
        sys.stdout = sys.stderr = io.StringIO()
        _confine_writes(workdir)
        _guard()
        if job.stdio:
            _run_program(job, out)
        else:
            _run_function(job, out)
        _send(out, ("done",))
    finally:
        os._exit(0)


def _run_function(job: Job, out: Any) -> None:
    """Load the code, then call its entry point on each input, one result message each."""
    namespace: dict[str, Any] = {"__name__": "__codeuf_candidate__"}
    try:
        exec(compile(job.code, "<candidate>", "exec"), namespace)
        function = namespace[job.entry_point]
    except BaseException as exc:
        _send(out, ("load-error", type(exc).__name__))
        os._exit(0)
    for index, (args, limit) in enumerate(zip(job.inputs, job.time_limits, strict=True)):
        sys.stdout = sys.stderr = io.StringIO()
        try:
            if job.copy_inputs:
                import copy

                args = copy.deepcopy(args)
            started = time.time()
            with _time_limit(limit):
                value = function(*args)
            _result(out, index, value, time.time() - started)
        except BaseException as exc:
            with contextlib.suppress(BaseException):
                _send(out, ("error", index, type(exc).__name__))


def _run_program(job: Job, out: Any) -> None:
    """Run the code as a program once per input: the input is its standard input, what it prints its output
    (`sys.exit()` and `sys.exit(0)` end a run normally)."""
    try:
        program = compile(job.code, "<candidate>", "exec")
    except BaseException as exc:
        _send(out, ("load-error", type(exc).__name__))
        os._exit(0)
    for index, (stdin, limit) in enumerate(zip(job.inputs, job.time_limits, strict=True)):
        captured = io.StringIO()
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), captured, io.StringIO()
        started = time.time()
        try:
            with _time_limit(limit):
                try:
                    exec(program, {"__name__": "__main__"})
                except SystemExit as exc:
                    if exc.code not in (None, 0):
                        raise
            _result(out, index, captured.getvalue(), time.time() - started)
        except BaseException as exc:
            with contextlib.suppress(BaseException):
                _send(out, ("error", index, type(exc).__name__))


def _result(out: Any, index: int, value: Any, elapsed: float) -> None:
    try:
        _send(out, ("ok", index, value, elapsed))
    except Exception:
        _send(out, ("unpicklable", index, type(value).__name__, elapsed))
