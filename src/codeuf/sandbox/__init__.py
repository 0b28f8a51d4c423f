"""Running untrusted code: child processes with limits, a timeout, and a checker out of their reach.

The layout:

    codeuf process ──pipes──► sandbox workers (N, started with a clean environment: no secrets,
                              each in its own namespaces through bubblewrap: codeuf.sandbox.isolation)
                                  └─ fork per job ─► child: new session, rlimits, temp dir, guard

This module is the inner layer; codeuf.sandbox.isolation is the outer one, and says what each stops.

Workers are long-lived `python -m codeuf._sandbox_worker` processes started with an environment holding no
API keys, so nothing a child can read (its environment, its memory) contains a secret. For each job
a worker forks a child that:

- starts a new session (so the whole process group can be killed), changes to a fresh temporary
  directory (removed afterwards) and clears its environment;
- cuts itself off the network: a new network namespace where the kernel allows it (`unshare`),
  and in any case a socket module that refuses to connect;
- as root, becomes the `nobody` user where it can (below);
- sets rlimits: address space, CPU seconds, file size, open files, and processes;
- may open files for writing only inside its working directory, and may not open other
  processes' /proc entries (their environment, memory), a Python-level guard;
- disables process-level escape hatches in Python (`os.kill`, `os.fork`, `os.system`,
  `subprocess`, `shutil.rmtree`, ...), as EvalPlus's reliability guard does;
- runs the code, and streams each test output back to the worker as plain data.

The worker compares those outputs with the expected ones. The child never sees the expected
outputs and never runs the comparison, so it cannot pass a test by patching the checker. It can
only pass by computing the right answers. A child that hangs, floods its output, exits early,
crashes or kills its parent costs at most its own job: the worker kills its process group on
timeout (SIGTERM, then SIGKILL), and the codeuf process restarts a worker that died.

Run as root (as CI does) with a Python that `nobody` can read, the child drops to the `nobody` user
(not when Python lives under a private home such as /root, since `nobody` could not import anything
then): the kernel then stops it from
writing or deleting anywhere but its working directory and world-writable places, from reading
root's files and other processes' environments, from signalling other users' processes, and
RLIMIT_NPROC holds. Run as an ordinary user, the child keeps that user's rights: a Python guard
refuses writes outside the working directory, but code that goes through ctypes or a C extension
can still read and write what that user can. For real isolation of code you do not trust at all,
run the evaluation in a container or a VM, as the HumanEval authors advise.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

GiB = 1024**3
_SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
"""The folder codeuf is imported from (src/ of a checkout, or site-packages)."""


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 4 * GiB
    cpu_seconds: int | None = None
    """CPU seconds for the child [default: the job's wall-clock budget, rounded up, plus one]."""
    file_size_bytes: int = 16 * 1024 * 1024
    open_files: int = 64
    processes: int = 0
    """New processes the child may create (RLIMIT_NPROC; as root the child runs as `nobody`, where it holds)."""


@dataclass
class Job:
    """Run `code`, call `entry_point` on each input (with a per-input time limit), stream outputs."""

    code: str
    entry_point: str
    inputs: list[Any]
    time_limits: list[float]
    wall_timeout: float
    check: Callable[[int, Any], bool] | None = field(default=None, repr=False)
    """Called in the worker on each (index, output); a False stops the child at once (fast check)."""
    collect: bool = False
    """Keep every output and its run time (for trusted reference solutions: the expected outputs)."""
    copy_inputs: bool = False
    """Deep-copy each input before the call (EvalPlus does for reference solutions)."""
    keep_going: bool = False
    """Run every input even after one fails, so that `details` counts them all (codeuf execute); an input
    over its time limit still ends the job, as "timeout"."""
    stdio: bool = False
    """Run `code` as a program once per input instead of calling `entry_point`: each input is a string given as
    standard input, and each output the text the program printed (stdin/stdout tasks)."""


@dataclass
class JobResult:
    status: str
    """"pass" (every output checked True), "fail" (an output wrong or an error), "timeout"
    (the child ran out of wall-clock time, or died without finishing)."""
    details: list[bool]
    reason: str = ""
    outputs: list[Any] | None = None
    seconds: list[float] | None = None


@dataclass(frozen=True, eq=False)
class Unpicklable:
    """Stands for an output that could not leave the child (a regex match, a generator, ...):
    equal to nothing, but not None, which is all some oracles ask."""

    type_name: str


@dataclass(frozen=True)
class Equals:
    """A checker (runs in the worker): output i must equal expected[i]."""

    expected: tuple[Any, ...]

    def __call__(self, index: int, out: Any) -> bool:
        return type(out) is type(self.expected[index]) and out == self.expected[index]


# ---------------------------------------------------------------- framing (length-prefixed pickles)


def _send(stream: Any, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _recv(stream: Any) -> Any:
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError
    (size,) = struct.unpack("<Q", header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


# ---------------------------------------------------------------- the child


def _set_limits(limits: Limits, wall_timeout: float) -> None:
    import resource

    def cap(kind: int, value: int) -> None:
        with contextlib.suppress(ValueError, OSError):
            _, hard = resource.getrlimit(kind)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(kind, (value, value))

    cap(resource.RLIMIT_AS, limits.memory_bytes)
    cap(resource.RLIMIT_DATA, limits.memory_bytes)
    cap(resource.RLIMIT_CPU, limits.cpu_seconds or int(wall_timeout) + 1)
    cap(resource.RLIMIT_FSIZE, limits.file_size_bytes)
    cap(resource.RLIMIT_NOFILE, limits.open_files)
    cap(resource.RLIMIT_CORE, 0)
    if os.getuid() == NOBODY:  # we dropped to nobody: its processes are ours alone
        cap(resource.RLIMIT_NPROC, 1 + limits.processes)
    elif os.getuid() != 0:
        running = len([p for p in os.listdir("/proc") if p.isdigit()])
        cap(resource.RLIMIT_NPROC, running + limits.processes)


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


def _child_main(job: Job, out_fd: int, workdir: str, limits: Limits) -> None:
    """In the forked child: never returns."""
    try:
        os.setsid()
        os.chdir(workdir)
        os.environ.clear()
        os.environ.update({"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "OMP_NUM_THREADS": "1"})
        _leave_network()
        _drop_privileges(workdir)
        _set_limits(limits, job.wall_timeout)
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


# ---------------------------------------------------------------- the worker (a trusted process)


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


def _worker_loop() -> None:
    """`python -m codeuf._sandbox_worker`: read (job, limits) pickles on stdin, write results on stdout."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write on the result channel
    _enter_empty_network_namespace()
    global _CAN_DROP
    _CAN_DROP = _nobody_can_run_python()
    # Load once what every child or checker needs, so that a forked child does not import it again.
    import copy  # noqa: F401
    import ctypes  # noqa: F401
    import resource  # noqa: F401
    import socket  # noqa: F401
    import subprocess  # noqa: F401

    import numpy  # noqa: F401

    from codeuf.sandbox.isolation import sweep_namespace

    while True:
        try:
            job, limits = _recv(stdin)
        except EOFError:
            return
        try:
            result = run_job(job, limits)
        except Exception as exc:  # the worker itself must survive
            result = JobResult("fail", [], f"sandbox error: {type(exc).__name__}: {exc}")
        sweep_namespace()  # inside namespaces: nothing the job started outlives it
        _send(stdout, result)


# ---------------------------------------------------------------- the pool (in the codeuf process)


class SandboxPool:
    """N workers, each running one job at a time; jobs from many threads are spread over them."""

    def __init__(self, workers: int | None = None, limits: Limits | None = None) -> None:
        self.size = workers or max(1, os.cpu_count() or 1)
        self.limits = limits or Limits()
        self._idle: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Condition()
        self._started = 0

    def _start_worker(self) -> subprocess.Popen[bytes]:
        from codeuf.secrets import clean_environment

        env = clean_environment()
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPATH"] = _SRC + os.pathsep + env.get("PYTHONPATH", "")
        from codeuf.sandbox.isolation import isolation, launch

        env.setdefault("PATH", os.environ.get("PATH", "/usr/bin:/bin"))
        plan = launch([sys.executable, "-m", "codeuf._sandbox_worker"], isolation())
        return subprocess.Popen(
            plan.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=tempfile.gettempdir(),
        )

    def _acquire(self) -> subprocess.Popen[bytes]:
        with self._lock:
            while not self._idle and self._started >= self.size:
                self._lock.wait()
            if self._idle:
                return self._idle.pop()
            self._started += 1
        return self._start_worker()

    def _release(self, worker: subprocess.Popen[bytes] | None) -> None:
        with self._lock:
            if worker is not None and worker.poll() is None:
                self._idle.append(worker)
            else:
                self._started -= 1
            self._lock.notify()

    def run(self, job: Job) -> JobResult:
        worker = self._acquire()
        try:
            assert worker.stdin is not None and worker.stdout is not None
            _send(worker.stdin, (job, self.limits))
            result = _recv(worker.stdout)
        except Exception:  # a dead or confused worker: replace it, never hang on it
            worker.kill()
            worker.wait()
            self._release(None)
            return JobResult("timeout", [], "the sandbox worker died (the job killed it, or it crashed)")
        self._release(worker)
        return result

    def close(self) -> None:
        with self._lock:
            workers, self._idle = self._idle, []
        for worker in workers:
            with contextlib.suppress(Exception):
                assert worker.stdin is not None
                worker.stdin.close()
                worker.wait(5)

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
