"""Starting a sandbox child in one exec: spawn.c, built once per worker with the machine's C compiler and
called through ctypes.

A child needs its limits set between fork and exec. Python can only do that by forking the whole worker (a
Python process: copying its page tables costs more than a short program's whole run), and util-linux's
`prlimit` does it in a second exec. The helper vforks and sets them in the child, as Python's subprocess
does for everything else: one short job costs what running the program directly does, plus the worker's
bookkeeping. Where no C compiler is found, or it fails, `spawner()` is None and programs.py uses `prlimit`.

The helper also starts a program threads-only (a seccomp filter: threads, no process; see spawn.c) where the
kernel allows it (`threads_only()`, probed once): what lets a program have threads without also letting it fork
processes, each with a memory cap of its own, that could outlive it where no pid namespace holds them.

And it reads a program's output to its end (`reader()`): programs.py's read loop in one C call, so that the
worker runs no Python between a short program's start and its end."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

Spawn = Callable[[list[str], str, tuple[int, int, int], dict[str, str], Sequence[tuple[int, int]], bool], int]
ERROR_BYTES = 8192
"""What the reader keeps of a program's error output: its end, at least the last half of this."""
Read = Callable[[int, int, int, float, float, int, bool], tuple[str, bytes, bytes, int | None]]
"""(pid, out fd, err fd, deadline, grace, cap, alone) -> (status, output, end of the error output, exit code or
None where the program was not reaped): programs.py's `_read` in C."""


@dataclass(frozen=True)
class _Helper:
    """What the built helper offers this process (nothing, where it is not built)."""

    spawn: Spawn | None = None
    install: Callable[[], int] | None = None
    """The threads-only filter, where the kernel takes it."""
    children_on: Callable[[list[int]], None] | None = None
    read: Read | None = None


_HELPER: list[_Helper] = []


def spawner() -> Spawn | None:
    """The helper, built on first use in this process; None where it cannot be built."""
    if not _HELPER:
        _HELPER.append(_load())
    return _HELPER[0].spawn


def threads_only() -> bool:
    """Whether the helper starts programs threads-only when asked (seccomp works here)."""
    spawner()
    return _HELPER[0].install is not None


def restrict_to_threads() -> bool:
    """Install the threads-only filter in this process (a worker's Python child, before it runs code): True
    when it is in place. Never builds the helper: a worker loads it before forking (`spawner()`)."""
    install = _HELPER[0].install if _HELPER else None
    return install is not None and install() == 0


def children_on(cpus: list[int]) -> bool:
    """Have the helper start programs on these CPUs (codeuf.sandbox.cpus): False where it is not built."""
    spawner()
    if _HELPER[0].children_on is None:
        return False
    _HELPER[0].children_on(cpus)
    return True


def reader() -> Read | None:
    """The helper's output reader (`codeuf_read`); None where the helper is not built."""
    spawner()
    return _HELPER[0].read


def _load() -> _Helper:
    compiler = shutil.which("cc", path="/usr/bin:/bin") or shutil.which("gcc", path="/usr/bin:/bin")
    if compiler is None or os.environ.get("CODEUF_SANDBOX_SPAWN") == "prlimit":
        return _Helper()
    folder = tempfile.mkdtemp(prefix="codeuf-spawn-")
    try:
        source = os.path.join(folder, "spawn.c")
        with open(source, "w", encoding="utf-8") as handle:
            handle.write(files("codeuf.sandbox").joinpath("spawn.c").read_text(encoding="utf-8"))
        library = os.path.join(folder, "spawn.so")
        built = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", library, source], capture_output=True,
                               timeout=60, env={"PATH": "/usr/bin:/bin", "TMPDIR": folder})  # fmt: skip
        if built.returncode != 0:
            return _Helper()
        # PyDLL keeps the GIL through the call: no Python thread runs while the vfork child shares memory.
        # The file goes once it is loaded, so nothing run later can reach it by its path.
        loaded = ctypes.PyDLL(library, use_errno=True)
        function = loaded.codeuf_spawn
        # The reader waits with the GIL released (a CFUNCTYPE), as Python's own select would.
        long_p, int_p = ctypes.POINTER(ctypes.c_long), ctypes.POINTER(ctypes.c_int)
        read_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_double,
                                     ctypes.c_double, ctypes.c_int, ctypes.c_char_p, ctypes.c_long, long_p,
                                     ctypes.c_char_p, ctypes.c_long, long_p, int_p, int_p, use_errno=True)  # fmt: skip
        native_read = read_type(("codeuf_read", loaded))
    except (OSError, subprocess.SubprocessError):
        return _Helper()
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(folder)
    function.restype = ctypes.c_int
    function.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p),
                         ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int),
                         ctypes.POINTER(ctypes.c_ulonglong), ctypes.c_int, ctypes.c_int]  # fmt: skip

    supported = bool(loaded.codeuf_threads_only_works())
    install = loaded.codeuf_threads_only
    install.restype, install.argtypes = ctypes.c_int, []
    child_cpus = loaded.codeuf_child_cpus
    child_cpus.restype, child_cpus.argtypes = ctypes.c_int, [ctypes.POINTER(ctypes.c_int), ctypes.c_int]

    def children_on(cpus: list[int]) -> None:
        child_cpus((ctypes.c_int * len(cpus))(*cpus), len(cpus))

    def spawn(argv: list[str], cwd: str, fds: tuple[int, int, int], env: dict[str, str],
              limits: Sequence[tuple[int, int]], threads_only: bool = False) -> int:  # fmt: skip
        """The pid of argv (argv[0] a full path), in its own session, in cwd, with fds as its standard streams
        and each (RLIMIT_*, value) as both its soft and hard limit; threads only (no process) if asked, where
        supported."""
        args = _strings([os.fsencode(a) for a in argv])
        environ = _strings([os.fsencode(f"{k}={v}") for k, v in env.items()])
        kinds, values = _limit_arrays(tuple(limits))
        pid = function(args[0], args, environ, os.fsencode(cwd), *fds, kinds, values, len(limits),
                       int(threads_only and supported))  # fmt: skip
        if pid < 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))
        return pid

    buffers = threading.local()
    statuses = ("ok", "timeout", "flood")

    def read(pid: int, out_fd: int, err_fd: int, deadline: float, grace: float, cap: int, alone: bool
             ) -> tuple[str, bytes, bytes, int | None]:  # fmt: skip
        """See `Read`. The output lands in a buffer kept by each thread, then is copied out."""
        out = getattr(buffers, "out", None)
        if out is None or len(out) < cap + 1:  # one per thread, as large as the largest cap yet
            out = buffers.out = ctypes.create_string_buffer(cap + 1)
            buffers.err = ctypes.create_string_buffer(ERROR_BYTES)
        lengths, exited = (ctypes.c_long(), ctypes.c_long()), (ctypes.c_int(), ctypes.c_int())
        status = native_read(pid, out_fd, err_fd, deadline, grace, int(alone), out, cap, ctypes.byref(lengths[0]),
                             buffers.err, ERROR_BYTES, ctypes.byref(lengths[1]), ctypes.byref(exited[0]),
                             ctypes.byref(exited[1]))  # fmt: skip
        if status < 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))
        output, errors = ctypes.string_at(out, lengths[0].value), ctypes.string_at(buffers.err, lengths[1].value)
        return statuses[status], output, errors, exited[1].value if exited[0].value else None

    return _Helper(spawn, install if supported else None, children_on, read)


@functools.lru_cache(maxsize=64)
def _limit_arrays(limits: tuple[tuple[int, int], ...]) -> tuple[ctypes.Array[Any], ctypes.Array[Any]]:
    """The helper's arrays of RLIMIT_* kinds and values, made once per set of limits (it only reads them)."""
    return ((ctypes.c_int * len(limits))(*(kind for kind, _ in limits)),
            (ctypes.c_ulonglong * len(limits))(*(value for _, value in limits)))  # fmt: skip


def _strings(items: list[bytes]) -> ctypes.Array[ctypes.c_char_p]:
    return (ctypes.c_char_p * (len(items) + 1))(*items, None)
