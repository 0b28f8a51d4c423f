"""The sandbox's outer layer: each worker inside Linux namespaces, through bubblewrap (`bwrap`).

The inner layer (codeuf.sandbox: rlimits, a temporary directory, no network module, a Python guard) is
written in Python and stops Python. It does not stop code that goes through `ctypes`, a C extension or a
compiled program, and as root it does not stop much: a child that stays root can read and write the host.
So each sandbox worker starts inside namespaces that the kernel enforces, whatever the code does:

- **user**: as root, `bwrap` itself runs as the host's `nobody` (65534): the worker and its children hold no
  capability, own nothing on the host, and RLIMIT_NPROC holds (the kernel does not apply it to root);
- **pid**: the worker sees only its own processes; after each job it kills every process left in its
  namespace (a child that forked and left its session is gone before the next job; as the namespace's
  subreaper, the worker gets back what a job leaves, and sees at once when nothing is left), and when the worker
  ends (the codeuf process closed its input, or died), the kernel kills everything in the namespace;
- **net**: no interface but a loopback that is down: no connection to anything;
- **ipc, uts, cgroup**: nothing shared with the host;
- **mount**: a new root that holds, read-only, the system (`/usr`, `/etc` without its shadow files, `/opt`)
  and the Python that runs codeuf (its prefix, its packages, codeuf's own folder; bound through file
  descriptors the codeuf process opened, so that a Python under `/root` is visible while `/root` is not),
  a private `/tmp` (each job's working directory is made there), and a fresh `/proc` and `/dev`. No home,
  no `/root`, no run folder, no other project is there.

`CODEUF_SANDBOX` chooses: `auto` (the default: namespaces where `bwrap` can make them, else the inner layer
alone, said once in one line), `bwrap` (namespaces or an error), or `guards` (the inner layer alone).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass

MODE_ENV = "CODEUF_SANDBOX"
NOBODY = 65534
IN_NAMESPACE_ENV = "CODEUF_SANDBOX_NAMESPACES"
"""Set in a worker's environment when it runs inside namespaces: it then sweeps its pid namespace per job."""

_SYSTEM = ("/usr", "/etc", "/opt", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_HIDDEN = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers", "/etc/ssh")


@dataclass(frozen=True)
class Isolation:
    """How workers start: inside namespaces (`namespaces`), or with the inner layer alone, and why."""

    namespaces: bool
    reason: str = ""
    bwrap: str = ""


@dataclass
class WorkerLaunch:
    """What `subprocess.Popen` needs to start one worker: its argv."""

    argv: list[str]


def python_executable() -> str:
    """This Python, its path without `..` (`benchmarks/../.venv/bin/python`): inside the namespaces only the bound
    folders exist, so a path through another one would not resolve. Symbolic links are kept: a virtual
    environment is known by the link it is started through."""
    return os.path.abspath(sys.executable)  # languages/python.py runs scripts with the same


def readable_paths() -> list[str]:
    """The folders the worker's Python reads: its prefixes, the folders on sys.path, codeuf's own folder;
    the system folders are bound separately, and a folder inside another bound one is left out."""
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder of codeuf/
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, package}
    # sys.path, less the working directory `python -m` puts first: that is where run folders live
    candidates |= {p for p in sys.path if p and os.path.abspath(p) != os.getcwd()}
    from codeuf.sandbox.languages import toolchain_folders

    candidates |= set(toolchain_folders())  # rustup's toolchain under a home, the TypeScript package
    real = {os.path.realpath(p) for p in candidates} | {os.path.abspath(p) for p in candidates}
    real |= {os.path.dirname(os.path.realpath(sys.executable))}
    # never /tmp itself (a script run from /tmp puts it on sys.path): the worker's /tmp is its private tmpfs
    private = {"/tmp", os.path.realpath("/tmp")}
    folders = sorted(p for p in real if os.path.isdir(p) and not _under(p, _SYSTEM) and p not in private)
    return [p for p in folders if not any(p != q and p.startswith(q + os.sep) for q in folders)]


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root + os.sep) for root in roots)


def launch(python_argv: list[str], isolation: Isolation) -> WorkerLaunch:
    """The worker's command line: `python_argv` as it is, or inside bwrap's namespaces.

    As root, bwrap runs as `nobody`, which cannot read a Python kept under `/root`: a private mount
    namespace (util-linux's `unshare`) first binds the worker's folders under a scratch tmpfs that `nobody`
    can traverse, and `setpriv` drops to `nobody` before bwrap binds them back at their own paths. The host's
    mounts are never touched."""
    if not isolation.namespaces:
        return WorkerLaunch(python_argv)
    folders = readable_paths()
    root = os.geteuid() == 0
    scratch = scratch_folder(folders) if root else ""
    sources = [f"{scratch}/{i}" for i in range(len(folders))] if root else folders
    # No --die-with-parent: the kernel's parent-death signal follows the *thread* that started the process, and
    # workers are started from worker threads that end long before the pool does. A worker whose codeuf
    # process died reads the end of its input and exits, and its namespace (every process in it) with it.
    argv = [isolation.bwrap, "--unshare-all", "--unshare-user", "--new-session",
            "--cap-drop", "ALL", "--proc", "/proc", "--dev", "/dev"]  # fmt: skip
    for system in _SYSTEM:
        if os.path.islink(system):
            argv += ["--symlink", os.readlink(system), system]
        elif os.path.isdir(system):
            argv += ["--ro-bind", system, system]
    for hidden in _HIDDEN:
        if os.path.isdir(hidden):
            argv += ["--tmpfs", hidden]
        elif os.path.lexists(hidden):
            argv += ["--ro-bind", "/dev/null", hidden]
    argv += ["--tmpfs", "/tmp"]  # first: a folder bound below /tmp (a checkout CI cloned there) goes on top
    for source, folder in zip(sources, folders, strict=True):
        argv += ["--ro-bind", source, folder]
    argv += ["--chdir", "/tmp", "--setenv", IN_NAMESPACE_ENV, "1", "--", *python_argv]
    if not root:
        return WorkerLaunch(argv)
    binds = " && ".join(f"mkdir {shlex.quote(s)} && mount --bind {shlex.quote(f)} {shlex.quote(s)}"
                        for s, f in zip(sources, folders, strict=True))  # fmt: skip
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all"]
    script = (f"mount -t tmpfs -o mode=755 tmpfs {shlex.quote(scratch)} && {binds or 'true'} && exec "
              + " ".join(shlex.quote(a) for a in [*drop, *argv]))  # fmt: skip
    return WorkerLaunch(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script])


_SCRATCHES = ("/mnt", "/media", "/srv", "/var/tmp", "/run", "/tmp", "/home")
"""Where, in the private mount namespace of a worker started as root, its folders are bound for `nobody`: a
tmpfs is mounted on the first of these that holds none of those folders (it hides that folder in that
namespace alone, and bwrap builds the worker's root without it)."""


def scratch_folder(folders: list[str]) -> str:
    """The folder the scratch tmpfs goes on: one that exists, is no system folder bwrap binds, and holds none
    of the folders to bind (a checkout under /tmp, as CI may clone it, rules /tmp out)."""
    for candidate in _SCRATCHES:
        if (
            os.path.isdir(candidate)
            and not os.path.islink(candidate)
            and not any(folder == candidate or folder.startswith(candidate + os.sep) for folder in folders)
        ):
            return candidate
    raise OSError("no folder for the sandbox's scratch mount: " + ", ".join(_SCRATCHES))


@functools.cache
def isolation() -> Isolation:
    """Namespaces where they can be made (see the module), tried once per process with a command that
    exits at once; otherwise why not, in words a user can act on."""
    mode = os.environ.get(MODE_ENV, "auto").strip().lower() or "auto"
    if mode not in ("auto", "bwrap", "guards"):
        from codeuf.errors import InputError

        raise InputError("expected auto, bwrap or guards", field=MODE_ENV)
    if mode == "guards":
        return Isolation(False, f"{MODE_ENV}=guards")
    found = shutil.which("bwrap")
    if found is None:
        why = "bubblewrap is not installed (apt-get install bubblewrap)"
    else:
        why = _probe(found)
        if not why:
            return Isolation(True, "", found)
    if mode == "bwrap":
        from codeuf.errors import CodeufError

        raise CodeufError(f"{MODE_ENV}=bwrap, but the sandbox cannot use namespaces here: {why}")
    print(f"codeuf: sandbox: {why}; generated code runs with the inner guards only (see the README's "
          "threat model)", file=sys.stderr)  # fmt: skip
    return Isolation(False, why)


def _probe(bwrap: str) -> str:
    """'' when bwrap can make the namespaces the workers need, else its reason in one line."""
    missing = [tool for tool in ("unshare", "setpriv", "mount") if os.geteuid() == 0 and not shutil.which(tool)]
    if missing:
        return f"{', '.join(missing)} not found (apt-get install util-linux mount)"
    try:
        plan = launch([python_executable(), "-c", "import codeuf.sandbox"], Isolation(True, "", bwrap))
        done = subprocess.run(plan.argv, capture_output=True, text=True, timeout=60,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap could not start ({type(exc).__name__}: {exc})"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return f"bubblewrap cannot make namespaces here ({last[:200]})"
    return ""


_SUBREAPER: list[bool] = []


def become_subreaper() -> bool:
    """In a worker inside its pid namespace: the processes its jobs leave behind come back to it when their
    parent dies (PR_SET_CHILD_SUBREAPER), instead of to the namespace's init. Every process in the namespace
    but init is then the worker's child or descendant, so one `waitpid` tells whether a job left anything."""
    if os.environ.get(IN_NAMESPACE_ENV) != "1":
        return False
    import ctypes

    try:
        done = ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        done = False
    _SUBREAPER[:] = [done]
    return done


def sweep_namespace() -> int:
    """In a worker inside its own pid namespace: kill every process but the namespace's init (1) and the
    worker itself, so that nothing a job started outlives it. Returns how many were killed. As the
    namespace's subreaper, the worker sees that nothing is left without listing /proc (most jobs)."""
    import signal

    if os.environ.get(IN_NAMESPACE_ENV) != "1":
        return 0
    me, killed = os.getpid(), 0
    subreaper = bool(_SUBREAPER and _SUBREAPER[0])
    for _ in range(3):  # what forks while being swept is caught on the next pass
        if subreaper and _reaped_all():
            break
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        if subreaper:
            _reaped_all(wait=0.1)  # killed, they come back to the worker: reaped, they count for nobody's nproc
            continue
        for pid in pids:
            with contextlib.suppress(OSError):
                os.waitpid(pid, os.WNOHANG)
    return killed


def _reaped_all(wait: float = 0.0) -> bool:
    """Reap the worker's children that have exited: True when none is left, within `wait` seconds."""
    import time

    deadline = time.monotonic() + wait
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid:
            continue
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.001)
