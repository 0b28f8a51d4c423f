"""Starting a sandbox child in one exec: spawn.c, built once per worker with the machine's C compiler and
called through ctypes.

A child needs its limits set between fork and exec. Python can only do that by forking the whole worker (a
Python process: copying its page tables costs more than a short program's whole run), and util-linux's
`prlimit` does it in a second exec. The helper vforks and sets them in the child, as Python's subprocess
does for everything else: one short job costs what running the program directly does, plus the worker's
bookkeeping. Where no C compiler is found, or it fails, `spawner()` is None and programs.py uses `prlimit`.

The helper also starts a program threads-only (a seccomp filter: threads, no process; see spawn.c) where the
kernel allows it (`threads_only()`, probed once): what lets a program have threads without also letting it fork
processes, each with a memory cap of its own, that could outlive it where no pid namespace holds them."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from importlib.resources import files

Spawn = Callable[[list[str], str, tuple[int, int, int], dict[str, str], list[tuple[int, int]], bool], int]

_SPAWNER: list[tuple[Spawn | None, Callable[[], int] | None, Callable[[list[int]], None] | None]] = []


def spawner() -> Spawn | None:
    """The helper, built on first use in this process; None where it cannot be built."""
    if not _SPAWNER:
        _SPAWNER.append(_load())
    return _SPAWNER[0][0]


def threads_only() -> bool:
    """Whether the helper starts programs threads-only when asked (seccomp works here)."""
    spawner()
    return _SPAWNER[0][1] is not None


def restrict_to_threads() -> bool:
    """Install the threads-only filter in this process (a worker's Python child, before it runs code): True
    when it is in place. Never builds the helper: a worker loads it before forking (`spawner()`)."""
    install = _SPAWNER[0][1] if _SPAWNER else None
    return install is not None and install() == 0


def children_on(cpus: list[int]) -> bool:
    """Have the helper start programs on these CPUs (codeuf.sandbox.cpus): False where it is not built."""
    spawner()
    if _SPAWNER[0][2] is None:
        return False
    _SPAWNER[0][2](cpus)
    return True


def _load() -> tuple[Spawn | None, Callable[[], int] | None, Callable[[list[int]], None] | None]:
    compiler = shutil.which("cc", path="/usr/bin:/bin") or shutil.which("gcc", path="/usr/bin:/bin")
    if compiler is None or os.environ.get("CODEUF_SANDBOX_SPAWN") == "prlimit":
        return None, None, None
    folder = tempfile.mkdtemp(prefix="codeuf-spawn-")
    try:
        source = os.path.join(folder, "spawn.c")
        with open(source, "w", encoding="utf-8") as handle:
            handle.write(files("codeuf.sandbox").joinpath("spawn.c").read_text(encoding="utf-8"))
        library = os.path.join(folder, "spawn.so")
        built = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", library, source], capture_output=True,
                               timeout=60, env={"PATH": "/usr/bin:/bin", "TMPDIR": folder})  # fmt: skip
        if built.returncode != 0:
            return None, None, None
        # PyDLL keeps the GIL through the call: no Python thread runs while the vfork child shares memory.
        # The file goes once it is loaded, so nothing run later can reach it by its path.
        loaded = ctypes.PyDLL(library, use_errno=True)
        function = loaded.codeuf_spawn
    except (OSError, subprocess.SubprocessError):
        return None, None, None
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
              limits: list[tuple[int, int]], threads_only: bool = False) -> int:  # fmt: skip
        """The pid of argv (argv[0] a full path), in its own session, in cwd, with fds as its standard streams
        and each (RLIMIT_*, value) as both its soft and hard limit; threads only (no process) if asked, where
        supported."""
        args = _strings([os.fsencode(a) for a in argv])
        environ = _strings([os.fsencode(f"{k}={v}") for k, v in env.items()])
        kinds = (ctypes.c_int * len(limits))(*(kind for kind, _ in limits))
        values = (ctypes.c_ulonglong * len(limits))(*(value for _, value in limits))
        pid = function(args[0], args, environ, os.fsencode(cwd), *fds, kinds, values, len(limits),
                       int(threads_only and supported))  # fmt: skip
        if pid < 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))
        return pid

    return spawn, install if supported else None, children_on


def _strings(items: list[bytes]) -> ctypes.Array[ctypes.c_char_p]:
    return (ctypes.c_char_p * (len(items) + 1))(*items, None)
