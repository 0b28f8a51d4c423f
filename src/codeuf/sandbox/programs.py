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
import hashlib
import os
import select
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field, replace

from codeuf.sandbox.jobs import Limits

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
    """The files (or folders) the build leaves that a run needs; they are what the cache keeps."""
    time_limit: float = 5.0
    """Wall-clock seconds of each run."""
    build_timeout: float = 60.0
    env: dict[str, str] = field(default_factory=dict)
    threads: int = 0
    """Threads and processes the runtime itself needs (a JVM, Go, Node): added to RLIMIT_NPROC."""
    memory_bytes: int | None = None
    """The language's own address-space cap, where a runtime reserves more than it uses (None: the pool's)."""
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


_BUILT: dict[str, dict[str, str]] = {}
"""The worker's build cache: key -> {artifact path: sha256}, checked before each reuse (a run as the same user
could have changed a cached file; a changed artifact is built again)."""


def run_program(program: Program, limits: Limits) -> ProgramResult:
    """In a worker: build (or reuse the build), then one run per stdin."""
    limits = replace(limits, processes=limits.processes + program.threads,
                     memory_bytes=program.memory_bytes or limits.memory_bytes)  # fmt: skip
    build, log = "none", ""
    cached = ""
    if program.build is not None:
        key = program.build_key()
        cached = os.path.join(_cache_root(), key)
        if _intact(key, cached):
            build = "cached"
        else:
            build, log = _build(program, limits, key, cached)
            if build != "built":
                return ProgramResult(build, log)
    runs = []
    for stdin in program.stdins:
        workdir = tempfile.mkdtemp(prefix="codeuf-run-")
        try:
            _write(workdir, program.files)
            if cached:
                _copy_tree(cached, workdir)
            runs.append(_spawn(program.run, workdir, stdin, program.env, limits, program.time_limit,
                               program.output_bytes))  # fmt: skip
        finally:
            _remove(workdir)
        if runs[-1].status in ("timeout", "flood"):
            break  # the next input would cost as much: the caller counts the rest as not run
    return ProgramResult(build, log, runs)


def _cache_root() -> str:
    root = os.path.join(tempfile.gettempdir(), f"codeuf-builds-{os.getpid()}")
    os.makedirs(root, mode=0o700, exist_ok=True)
    return root


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
        os.makedirs(cached)
        digests = {}
        for name in program.artifacts:
            source = os.path.join(workdir, name)
            if not os.path.lexists(source) or os.path.islink(source):
                return "failed", f"the build left no {name}\n{log}"
            if os.path.isdir(source):
                shutil.copytree(source, os.path.join(cached, name), symlinks=False)
            else:
                shutil.copy2(source, os.path.join(cached, name))
        for path in _files(cached):
            digests[path] = _sha256(path)
        _BUILT[key] = digests
        return "built", log
    finally:
        _remove(workdir)


def _intact(key: str, cached: str) -> bool:
    digests = _BUILT.get(key)
    if digests is None or not os.path.isdir(cached):
        return False
    with contextlib.suppress(OSError):
        return set(_files(cached)) == set(digests) and all(_sha256(p) == d for p, d in digests.items())
    return False


def _files(root: str) -> list[str]:
    return [os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names]


def _sha256(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _write(workdir: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = os.path.join(workdir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)


def _copy_tree(source: str, target: str) -> None:
    for name in os.listdir(source):
        path = os.path.join(source, name)
        if os.path.isdir(path):
            shutil.copytree(path, os.path.join(target, name), dirs_exist_ok=True)
        else:
            shutil.copy2(path, os.path.join(target, name))


def _remove(workdir: str) -> None:
    with contextlib.suppress(OSError):  # files a child made read-only or unreadable
        for folder, names, _ in os.walk(workdir):
            for name in names:
                os.chmod(os.path.join(folder, name), 0o700)
    shutil.rmtree(workdir, ignore_errors=True)


def _spawn(argv: list[str], workdir: str, stdin: str, env: dict[str, str], limits: Limits, timeout: float,
           cap: int) -> Run:  # fmt: skip
    """Run argv as a sandbox child in `workdir`; its output read here, at most `cap` bytes."""
    from codeuf.sandbox.child import _drop_privileges, _set_limits

    with tempfile.TemporaryFile() as feed:
        feed.write(stdin.encode())
        feed.seek(0)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                os.setsid()
                os.chdir(workdir)
                for fd, target in ((feed.fileno(), 0), (out_w, 1), (err_w, 2)):
                    os.dup2(fd, target)
                os.closerange(3, 4096)
                _chown_tree(workdir)
                _drop_privileges(workdir)
                _set_limits(limits, timeout)
                base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"}
                os.execve(argv[0], argv, {**base, **env})
            finally:
                os._exit(127)
        os.close(out_w)
        os.close(err_w)
        status, out, err = _read(pid, out_r, err_r, started + timeout, cap)
    code = _reap(pid)
    if status == "ok" and code != 0:
        status = "error"
    return Run(status, code, out.decode("utf-8", "replace"), err[-2000:].decode("utf-8", "replace"),
               time.monotonic() - started)  # fmt: skip


def _chown_tree(workdir: str) -> None:
    """As root, before dropping to `nobody`: the child may read and write what the worker wrote for it."""
    if os.getuid() != 0:
        return
    from codeuf.sandbox import child

    if child._CAN_DROP:
        for folder, names, files in os.walk(workdir):
            for name in [*names, *files]:
                with contextlib.suppress(OSError):
                    os.lchown(os.path.join(folder, name), child.NOBODY, child.NOBODY)


def _read(pid: int, out_r: int, err_r: int, deadline: float, cap: int) -> tuple[str, bytes, bytes]:
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    sizes = {out_r: 0, err_r: 0}
    open_fds = [out_r, err_r]
    status = "ok"
    try:
        while open_fds:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                status = "timeout"
                break
            ready = select.select(open_fds, [], [], remaining)[0]
            for fd in ready:
                data = os.read(fd, 65536)
                if not data:
                    open_fds.remove(fd)
                    continue
                sizes[fd] += len(data)
                chunks[fd].append(data)
                if fd == err_r and sizes[fd] > 65536:  # keep the end of the error output only
                    joined = b"".join(chunks[fd])[-4096:]
                    chunks[fd], sizes[fd] = [joined], len(joined)
            if sizes[out_r] > cap:
                status = "flood"
                break
        if status == "ok":  # the output is closed: the child has exited, or closed it and goes on
            status = "ok" if _exited_by(pid, deadline) else "timeout"
    finally:
        os.close(out_r)
        os.close(err_r)
    return status, b"".join(chunks[out_r])[:cap], b"".join(chunks[err_r])


_EXIT: dict[int, int | None] = {}


def _exited_by(pid: int, deadline: float) -> bool:
    while True:
        with contextlib.suppress(ChildProcessError):
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                _EXIT[pid] = os.waitstatus_to_exitcode(code)
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)


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
