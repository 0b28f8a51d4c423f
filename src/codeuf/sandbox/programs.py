"""Programs in any language, in a sandbox worker: source files written to a fresh directory, a build run once
per distinct source (its artifacts cached in the worker, keyed by a hash of the build and its files), then the
program run once per standard input. Each build and each run is a child process that gets the inner layer's
limits (a new session, rlimits, `nobody` where it can be, a clean environment) and then `execve`s the
toolchain; inside namespaces (codeuf.sandbox.isolation) the outer layer holds around all of it.

What the program prints is read by the worker (at most `output_bytes`; a flood is killed) and handed back to
the codeuf process, which compares it with the expected output: the program never sees the expected outputs
of call cases or stdin/stdout cases."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import os
import select
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from codeuf.sandbox import child
from codeuf.sandbox.jobs import Limits

if TYPE_CHECKING:
    from codeuf.sandbox.spawn import Read

OUTPUT_BYTES = 1024 * 1024
"""What a run may print before it is killed as a flood."""
BUILD_PROCESSES = 64


@dataclass
class Program:
    """Build `files` once with `build` (if any), then run `run` once per item of `stdins`."""

    files: dict[str, str]
    run: list[str]
    stdins: list[str] = field(default_factory=lambda: [""])
    build: list[str] | None = None
    artifacts: tuple[str, ...] = ()
    """The files (or folders) the build leaves that a run needs; they are what the cache keeps. A run finds
    them through `{build}` in its argv (the cache's folder), and its own directory starts empty."""
    time_limit: float = 5.0
    """Wall-clock seconds of each run."""
    build_timeout: float = 60.0
    env: dict[str, str] = field(default_factory=dict)
    threads: int = 0
    """Threads the program may start (a JVM's, Go's, Node's own, a program's worker threads): added to
    RLIMIT_NPROC, which counts threads and processes alike."""
    forks: bool = False
    """Whether it starts processes (a shell script's commands). Otherwise, where the spawn helper can and the
    pool grants no processes (Limits.processes), it runs threads-only (codeuf.sandbox.spawn): RLIMIT_NPROC's
    allowance is threads, and a fork fails with EAGAIN."""
    memory_bytes: int | None = None
    """The language's own address-space cap, where a runtime reserves more than it uses (None: the pool's)."""
    address_space_bytes: int | None = None
    """Where a runtime reserves far more than it writes: RLIMIT_AS alone (Limits.address_space_bytes)."""
    open_files: int | None = None
    """Where a runtime refuses to start under the pool's RLIMIT_NOFILE (R wants 167 or more)."""
    output_bytes: int = OUTPUT_BYTES

    def build_key(self) -> str:
        digest = hashlib.sha256(repr((self.build, self.artifacts, sorted(self.files.items()))).encode())
        return digest.hexdigest()


@dataclass
class Run:
    status: str
    """"ok" (exited 0), "error" (exited non-zero or was killed by a signal), "timeout", or "flood"."""
    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float


@dataclass
class ProgramResult:
    build: str
    """"none" (nothing to build), "built", "cached", "failed" or "timeout"."""
    build_log: str = ""
    runs: list[Run] = field(default_factory=list)


_BUILT: dict[str, dict[str, tuple[int, ...]]] = {}
"""The worker's build cache: key -> {artifact path: its inode, size, mtime and ctime}, checked before each
reuse. A run (the same user as the worker, inside namespaces) could change a cached file, but not without
changing its ctime, which no unprivileged call can set back: a changed artifact is built again."""


def run_program(program: Program, limits: Limits) -> ProgramResult:
    """In a worker: build (or reuse the build), then one run per stdin."""
    threads_only = not program.forks and limits.processes == 0  # a pool that grants processes means processes
    build, log = "none", ""
    cached = key = ""
    if program.build is not None:
        key = program.build_key()
        cached = os.path.join(_cache_root(), key)
        if _intact(key, cached):
            build = "cached"
        else:
            build, log = _build(program, _with_program(limits, program, program.threads), key, cached)
            if build != "built":
                return ProgramResult(build, log)
    runs = []
    argv = [arg.replace("{build}", cached) for arg in program.run]
    threads = program.threads
    if threads_only and key and program.run[0].startswith("{build}/") and _starts_nothing(key, argv[0]):
        # a build that can start no thread needs no allowance, and so no filter: RLIMIT_NPROC holds it alone
        threads_only, threads = False, 0
    limits = _with_program(limits, program, threads)
    alone = _alone(limits, threads_only)
    for stdin in program.stdins:
        workdir = _run_dir()
        try:
            if not cached:
                _write(workdir, program.files)
            runs.append(_spawn(argv, workdir, stdin, program.env, limits, program.time_limit, program.output_bytes,
                               threads_only=threads_only, alone=alone))  # fmt: skip
        finally:
            _remove(workdir)
        if runs[-1].status in ("timeout", "flood"):
            break  # the next input would cost as much: the caller counts the rest as not run
    return ProgramResult(build, log, runs)


def _with_program(limits: Limits, program: Program, threads: int) -> Limits:
    """The pool's limits with the program's own: its memory caps, and `threads` more in RLIMIT_NPROC."""
    return _limits_with(limits, program.memory_bytes, program.address_space_bytes, program.open_files, threads)


@functools.lru_cache(maxsize=64)
def _limits_with(limits: Limits, memory: int | None, address_space: int | None, open_files: int | None,
                 threads: int) -> Limits:  # fmt: skip
    """Made once per pool's limits and language (a worker runs many programs of a few languages)."""
    return replace(limits, processes=limits.processes + threads, memory_bytes=memory or limits.memory_bytes,
                   address_space_bytes=address_space or limits.address_space_bytes,
                   open_files=max(open_files or 0, limits.open_files))  # fmt: skip


def _cache_root() -> str:
    return _cache_root_of(os.getpid())


@functools.cache
def _cache_root_of(pid: int) -> str:
    """Made once per process (a forked process gets its own)."""
    root = os.path.join(tempfile.gettempdir(), f"codeuf-builds-{pid}")
    os.makedirs(root, mode=0o711, exist_ok=True)  # runs reach their own build by its key, and list nothing
    return root


def _run_dir() -> str:
    """A new, empty directory for one run: named from a counter (a run could create the next name first: then
    mkdir fails, and a random one is made as before)."""
    path = os.path.join(tempfile.gettempdir(), f"codeuf-run-{os.getpid()}-{next(_RUNS)}")
    try:
        os.mkdir(path, 0o700)
    except OSError:
        return tempfile.mkdtemp(prefix="codeuf-run-")
    return path


_RUNS = itertools.count(1)


def _build(program: Program, limits: Limits, key: str, cached: str) -> tuple[str, str]:
    assert program.build is not None
    workdir = tempfile.mkdtemp(prefix="codeuf-build-")
    try:
        _write(workdir, program.files)
        # a compiler driver starts its passes (cc1, as, ld) as processes
        build_limits = replace(limits, file_size_bytes=256 * 1024 * 1024, processes=limits.processes + BUILD_PROCESSES)
        result = _spawn(program.build, workdir, "", program.env, build_limits, program.build_timeout,
                        program.output_bytes)  # fmt: skip
        log = (result.stderr + result.stdout)[-4000:]
        if result.status != "ok":
            return ("timeout" if result.status == "timeout" else "failed"), log
        shutil.rmtree(cached, ignore_errors=True)
        _STARTS_NOTHING.pop(key, None)
        os.makedirs(cached)
        for name in program.artifacts:
            source = os.path.join(workdir, name)
            if not os.path.lexists(source) or os.path.islink(source):
                return "failed", f"the build left no {name}\n{log}"
            if os.path.isdir(source):
                shutil.copytree(source, os.path.join(cached, name), symlinks=False)
            else:
                shutil.copy2(source, os.path.join(cached, name))
        os.chmod(cached, 0o755)  # a run (nobody, where the worker is root) reads the build from here
        _BUILT[key] = _fingerprints(cached)
        return "built", log
    finally:
        _remove(workdir)


_STARTS_NOTHING: dict[str, bool] = {}
"""The worker's answers of codeuf.sandbox.elf for its cached builds, by key (dropped when one is built again)."""


def _starts_nothing(key: str, executable: str) -> bool:
    if key not in _STARTS_NOTHING:
        from codeuf.sandbox.elf import starts_nothing

        _STARTS_NOTHING[key] = starts_nothing(executable)
    return _STARTS_NOTHING[key]


def _intact(key: str, cached: str) -> bool:
    """Whether every recorded file and folder is as the build left it. A file added anywhere changes its
    folder's mtime and ctime, so the recorded paths alone are looked at (no walk: this runs before each run)."""
    recorded = _BUILT.get(key)
    if recorded is None:
        return False
    with contextlib.suppress(OSError):
        return all(_fingerprint(path) == fingerprint for path, fingerprint in recorded.items())
    return False


def _fingerprints(root: str) -> dict[str, tuple[int, ...]]:
    """Every file and folder under root (root too): (inode, size, mtime, ctime, mode)."""
    found = {}
    for folder, names, files in os.walk(root):
        for path in [folder, *(os.path.join(folder, n) for n in [*names, *files])]:
            found[path] = _fingerprint(path)
    return found


def _fingerprint(path: str) -> tuple[int, ...]:
    st = os.lstat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)


def _write(workdir: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = os.path.join(workdir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)


def _remove(workdir: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(workdir)  # most runs leave their directory empty
        return
    try:
        shutil.rmtree(workdir)
    except OSError:  # folders a child made read-only or unreadable
        with contextlib.suppress(OSError):
            for folder, names, _ in os.walk(workdir):
                for name in names:
                    os.chmod(os.path.join(folder, name), 0o700)
        shutil.rmtree(workdir, ignore_errors=True)


def _spawn(argv: list[str], workdir: str, stdin: str, env: dict[str, str], limits: Limits, timeout: float,
           cap: int, threads_only: bool = False, alone: bool = False) -> Run:  # fmt: skip
    """Run argv as a sandbox child in `workdir`; its output read here, at most `cap` bytes (`alone`: see
    `_read`)."""
    with _feed(stdin.encode()) as feed:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        started = time.monotonic()
        base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"}
        launch = _launcher() or _fork
        pid = launch(argv, workdir, (feed, out_w, err_w), {**base, **env}, limits, timeout, threads_only)
        os.close(out_w)
        os.close(err_w)
        status, out, err = _read(pid, out_r, err_r, started + timeout, cap, alone)
    code = _reap(pid)
    if status == "ok" and code != 0:
        status = "error"
    return Run(status, code, out.decode("utf-8", "replace"), err[-2000:].decode("utf-8", "replace"),
               time.monotonic() - started)  # fmt: skip


def _fork(argv: list[str], workdir: str, fds: tuple[int, int, int], env: dict[str, str], limits: Limits,
          timeout: float, threads_only: bool) -> int:  # fmt: skip
    """The pid of argv started the slow way: the worker forks, and the child drops to `nobody` (as root),
    sets its limits and filter in Python, then execs."""
    from codeuf.sandbox.cpus import free
    from codeuf.sandbox.spawn import restrict_to_threads

    if (pid := os.fork()) == 0:  # pragma: no cover - runs in the child
        try:
            free()
            os.setsid()
            os.chdir(workdir)
            for fd, target in zip(fds, (0, 1, 2), strict=True):
                os.dup2(fd, target)
            os.closerange(3, 4096)
            _chown_tree(workdir)
            child._drop_privileges(workdir)
            child._set_limits(limits, timeout)
            if threads_only:  # the helper's filter, loaded by the worker before it forked
                restrict_to_threads()
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    return pid


PIPE_BYTES = 65536
"""Standard input up to this size reaches the child through a pipe filled before it starts (a pipe holds
64 KiB on Linux); more, through a temporary file."""


@contextlib.contextmanager
def _feed(data: bytes) -> Iterator[int]:
    """A descriptor the child reads `data` from, then end of file."""
    if not data:
        yield _empty_stdin()
        return
    if len(data) <= PIPE_BYTES:
        read, write = os.pipe()
        try:
            try:
                with memoryview(data) as rest:
                    while rest:
                        rest = rest[os.write(write, rest) :]
            finally:
                os.close(write)
            yield read
        finally:
            os.close(read)
        return
    with tempfile.TemporaryFile() as spill:
        spill.write(data)
        spill.seek(0)
        yield spill.fileno()


@functools.cache
def _empty_stdin() -> int:
    """/dev/null, opened once by the worker: an empty standard input. Not a pipe kept open for the next run:
    a run can open its standard input again for writing through /proc, and would leave the next run input."""
    return os.open(os.devnull, os.O_RDONLY)


Launch = Callable[[list[str], str, tuple[int, int, int], dict[str, str], Limits, float, bool], int]


def _launcher() -> Launch | None:
    """How to start a child with its limits in one step, where it needs no privilege dropped (inside
    namespaces the worker is already `nobody`): the spawn helper (codeuf.sandbox.spawn: vfork, limits, exec),
    else util-linux's `prlimit` (a second exec). Either spares forking the Python worker, which costs more
    than a short program's whole run. None: the child is forked and does it all in Python (as root, to drop
    to `nobody` first)."""
    return _launcher_for(os.getuid(), child._CAN_DROP)


@functools.cache
def _launcher_for(uid: int, can_drop: bool) -> Launch | None:
    """Found once per worker (and user): a short run costs less than a millisecond."""
    from codeuf.sandbox.spawn import spawner

    if uid == 0 and can_drop:
        return None
    start = spawner()
    if start is None:
        prlimit = shutil.which("prlimit", path="/usr/bin:/bin")
        if prlimit is None:
            return None
        start = functools.partial(_spawn_prlimit, prlimit)
    return lambda argv, workdir, fds, env, limits, timeout, threads_only: start(
        argv, workdir, fds, env, child.rlimits(limits, timeout), threads_only
    )


_PRLIMIT_NAMES = {"RLIMIT_AS": "as", "RLIMIT_DATA": "data", "RLIMIT_CPU": "cpu", "RLIMIT_FSIZE": "fsize",
                  "RLIMIT_NOFILE": "nofile", "RLIMIT_CORE": "core", "RLIMIT_NPROC": "nproc"}  # fmt: skip


def _spawn_prlimit(prlimit: str, argv: list[str], workdir: str, fds: tuple[int, int, int], env: dict[str, str],
                   rlimits: Sequence[tuple[int, int]], threads_only: bool = False) -> int:  # fmt: skip
    """The pid of argv, started in its own session through prlimit (which installs no filter: `threads_only`
    cannot hold here, and the RLIMIT_NPROC allowance is processes too, as it was before the helper)."""
    import resource
    import subprocess

    names = {getattr(resource, name): flag for name, flag in _PRLIMIT_NAMES.items()}
    flags = [f"--{names[kind]}={value}" for kind, value in rlimits]
    from codeuf.sandbox.cpus import taskset_argv

    process = subprocess.Popen([prlimit, *flags, "--", *taskset_argv(), *argv], stdin=fds[0], stdout=fds[1],
                               stderr=fds[2], cwd=workdir, env=env, start_new_session=True, close_fds=True)  # fmt: skip
    process.returncode = 0  # reaped by _read / _reap here, never by Popen
    return process.pid


def _chown_tree(workdir: str) -> None:
    """As root, before dropping to `nobody`: the child may read and write what the worker wrote for it."""
    if os.getuid() != 0:
        return
    if child._CAN_DROP:
        for folder, names, files in os.walk(workdir):
            for name in [*names, *files]:
                with contextlib.suppress(OSError):
                    os.lchown(os.path.join(folder, name), child.NOBODY, child.NOBODY)


EXIT_GRACE = 0.05
"""After the program exits, how long its output may stay open (a process it left holding it) before reading
stops; the process group is killed either way."""


def _alone(limits: Limits, threads_only: bool) -> bool:
    """Whether the child can start no process that could hold its output open after it exits: it runs
    threads-only, or as `nobody` (inside namespaces) with no process allowed by RLIMIT_NPROC."""
    return (threads_only and _filtered()) or (limits.processes == 0 and os.getuid() == child.NOBODY)


@functools.cache
def _filtered() -> bool:
    from codeuf.sandbox.spawn import threads_only

    return threads_only()


def _read(pid: int, out_r: int, err_r: int, deadline: float, cap: int, alone: bool = False
          ) -> tuple[str, bytes, bytes]:  # fmt: skip
    """The program's output until it exits (and its pipes close, or EXIT_GRACE passes), the deadline, or a
    flood. The exit is seen through a pidfd, so that nothing polls. A child that is `alone` (no process of its
    own can outlive it holding the pipes) closes them as it exits: its exit is awaited after they close, which
    spares the wake-ups of a third descriptor in the loop.

    The spawn helper's reader (`codeuf_read`) does it in C, where it is built: a short program's run then
    costs the worker no interpreter work between its start and its end. `_read_here` is the same loop in
    Python, for where no helper is built; tests hold the two to the same cases."""
    native = _native_reader()
    if native is None:
        return _read_here(pid, out_r, err_r, deadline, cap, alone)
    try:
        status, out, err, code = native(pid, out_r, err_r, deadline, EXIT_GRACE, cap, alone)
    finally:
        os.close(out_r)
        os.close(err_r)
    if code is not None:
        _EXIT[pid] = code
    return status, out, err


def _read_here(pid: int, out_r: int, err_r: int, deadline: float, cap: int, alone: bool = False
               ) -> tuple[str, bytes, bytes]:  # fmt: skip
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    sizes = {out_r: 0, err_r: 0}
    pidfd = os.pidfd_open(pid)
    watched = [out_r, err_r] if alone else [out_r, err_r, pidfd]
    status = "ok"
    try:
        while out_r in watched or err_r in watched:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                status = "timeout"
                break
            ready = select.select(watched, [], [], remaining)[0]
            if pidfd in ready:
                _EXIT[pid] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                watched.remove(pidfd)
                deadline = min(deadline, time.monotonic() + EXIT_GRACE)
                ready.remove(pidfd)
            for fd in ready:
                data = os.read(fd, 65536)
                if not data:
                    watched.remove(fd)
                    continue
                sizes[fd] += len(data)
                chunks[fd].append(data)
                if fd == err_r and sizes[fd] > 65536:  # keep the end of the error output only
                    joined = b"".join(chunks[fd])[-4096:]
                    chunks[fd], sizes[fd] = [joined], len(joined)
            if sizes[out_r] > cap:
                status = "flood"
                break
        if status == "timeout" and pid in _EXIT:
            status = "ok"  # it exited in time; what it left holding the output is killed with its group
        elif status == "ok" and pid not in _EXIT:  # the output is closed: the child exits, or goes on without it
            remaining = deadline - time.monotonic()
            if os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None or (
                remaining > 0 and select.select([pidfd], [], [], remaining)[0]
            ):
                _EXIT[pid] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            else:
                status = "timeout"
    finally:
        os.close(out_r)
        os.close(err_r)
        os.close(pidfd)
    return status, b"".join(chunks[out_r])[:cap], b"".join(chunks[err_r])


@functools.cache
def _native_reader() -> Read | None:
    from codeuf.sandbox.spawn import reader

    return reader()


_EXIT: dict[int, int | None] = {}


def _reap(pid: int) -> int | None:
    """The child's exit code (negative: the signal that killed it; None: it had to be killed), its process
    group killed either way."""
    code = _EXIT.pop(pid, None)
    if code is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    return code
