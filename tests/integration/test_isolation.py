"""The sandbox's outer layer (codeuf.sandbox.isolation) on the real kernel: workers inside user, pid, net, ipc
and mount namespaces through bubblewrap. Run as root with Python under /root (as CI runs), each hostile job
is contained, and the host is checked afterwards: no file outside the work directory changed, no process
left behind, no connection made. `make test` installs bubblewrap; these tests skip only where it cannot be."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from codeuf.sandbox import Job, Limits, SandboxPool
from codeuf.sandbox.isolation import isolation

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install bubblewrap)"
    ),
]


@pytest.fixture(autouse=True)
def _namespaces_or_nothing_runs() -> None:
    """Hostile code runs here only inside namespaces: with the inner guards alone, as root, some of it would
    really write /usr or leave processes behind (that is what these tests prove the outer layer stops)."""
    if not isolation().namespaces:
        pytest.fail(f"bubblewrap is installed but cannot make namespaces here: {isolation().reason}")


def run(code: str, limits: Limits | None = None, workers: int = 1) -> list:
    with SandboxPool(workers, limits) as pool:
        result = pool.run(Job(code, "f", [(0,)], [10], wall_timeout=15, collect=True))
    return [result.status, *(result.outputs or [result.reason])]


def nobody_processes(living: bool = True) -> set[int]:
    """The host's processes of uid 65534 (the sandbox's), zombies left out when `living`."""
    return {p.pid for p in psutil.process_iter(["uids", "status"]) if p.info["uids"] and p.info["uids"].real == 65534
            and not (living and p.info["status"] == psutil.STATUS_ZOMBIE)}  # fmt: skip


def settled(before: set[int], most: int = 0, seconds: float = 10.0) -> set[int]:
    """The sandbox processes that are not in `before`, once at most `most` are left (or the time is up)."""
    deadline = time.monotonic() + seconds
    while True:
        left = nobody_processes() - before
        if len(left) <= most or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def test_workers_run_inside_namespaces_with_nothing_of_the_host_but_the_system_and_python(tmp_path: Path) -> None:
    assert isolation().namespaces, isolation().reason
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "manifest.json").write_text("{}")
    host = [str(tmp_path / "run" / "manifest.json"), str(Path.cwd() / "README.md")]
    seen = run(f"""
def f(x):
    import os
    look = {{p: os.path.exists(p) for p in ["/root/.bashrc", "/home", "/etc/ssh/sshd_config", "/var/log", *{host!r}]}}
    try:
        open("/etc/shadow").read()
        shadow = "read"
    except OSError as exc:
        shadow = type(exc).__name__
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    return look, shadow, os.getuid(), pids, os.path.exists(os.path.dirname(os.__file__))
""")
    assert seen[0] == "pass", seen
    look, shadow, uid, pids, stdlib = seen[1]
    assert not any(look.values()), look  # no home, no run folder, not the checkout the tests run in
    assert shadow != "read" and uid == 65534 and stdlib
    assert len(pids) <= 4 and 1 in pids  # bwrap's init, the worker, the job: nothing of the host


def test_fork_and_setsid_cannot_escape_the_job() -> None:
    """The probe that got through the Python guard (posix.fork, then os.setsid): refused by RLIMIT_NPROC,
    which holds for `nobody`; and where a job may make processes, whatever it left is killed after it."""
    escape = """
import posix, os
def f(x):
    try:
        pid = posix.fork()
    except OSError as exc:
        return "refused: " + type(exc).__name__
    if pid == 0:
        os.setsid()
        if posix.fork() == 0:
            import time
            time.sleep(300)
        os._exit(0)
    return "forked"
"""
    before = nobody_processes()
    assert run(escape) == ["pass", "refused: BlockingIOError"]
    assert settled(before) == set()
    with SandboxPool(1, Limits(processes=20)) as pool:
        result = pool.run(Job(escape, "f", [(0,)], [10], wall_timeout=15, collect=True))
        assert result.outputs == ["forked"]
        leftover = settled(before, most=3)
        assert len(leftover) == 3, leftover  # bwrap, its init and the worker: the grandchild is gone
        count = "def f(x):\n    import os\n    return len([p for p in os.listdir('/proc') if p.isdigit()])\n"
        spy = pool.run(Job(count, "f", [(0,)], [10], wall_timeout=15, collect=True))
        assert spy.outputs == [3]
    assert settled(before) == set()  # the pool closed: nothing of it is left


def test_a_fork_bomb_through_ctypes_is_refused() -> None:
    bomb = """
def f(x):
    import ctypes
    libc = ctypes.CDLL(None)
    made = 0
    for _ in range(1000):
        if libc.fork() == 0:
            while True:
                pass
        made += 1
    return made
"""
    before = nobody_processes()
    status, out = run(bomb)
    assert status == "pass" and out == 1000  # fork() returned -1 each time: no child was made
    assert settled(before) == set()


def test_no_connection_leaves_the_sandbox() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.settimeout(3)
    accepted: list[object] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            accepted.append(server.accept())

    thread = threading.Thread(target=accept)
    thread.start()
    status, out = run(f"""
def f(x):
    import ctypes, socket
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.socket(2, 1, 0)  # AF_INET, SOCK_STREAM, under the Python guard
    addr = (ctypes.c_ubyte * 16)(2, 0, {port >> 8}, {port & 255}, 127, 0, 0, 1)
    return libc.connect(fd, addr, 16), ctypes.get_errno()
""")
    thread.join()
    server.close()
    assert status == "pass" and out[0] == -1 and accepted == []


def test_writes_reach_no_file_of_the_host(tmp_path: Path) -> None:
    target = tmp_path / "written-from-the-sandbox"
    status, out = run(f"""
def f(x):
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    results = []
    for path in [{str(target)!r}, "/usr/codeuf-was-here", "/tmp/codeuf-was-here"]:
        fd = libc.open(path.encode(), os.O_WRONLY | os.O_CREAT, 0o644)
        results.append(fd >= 0)
    return results
""")
    assert status == "pass" and out[:2] == [False, False]  # the sandbox's own /tmp may be written
    assert not target.exists() and not Path("/usr/codeuf-was-here").exists()
    assert not Path("/tmp/codeuf-was-here").exists()


def test_killing_the_parent_costs_only_the_job() -> None:
    with SandboxPool(1) as pool:
        kill = "def f(x):\n    import ctypes\n    ctypes.CDLL(None).kill(1, 9)\n    ctypes.CDLL(None).kill(2, 9)\n"
        killer = pool.run(Job(kill, "f", [(0,)], [10], wall_timeout=15))
        assert killer.status != "pass"
        after = pool.run(Job("def f(x):\n    return x + 1\n", "f", [(1,)], [10], wall_timeout=15, collect=True))
        assert after.status == "pass" and after.outputs == [2]


def test_without_bubblewrap_one_line_says_so_and_the_inner_guards_run(tmp_path: Path) -> None:
    script = ("from codeuf.sandbox import Job, SandboxPool\n"
              "with SandboxPool(1) as pool:\n"
              "    for _ in range(2):\n"
              "        print(pool.run(Job('def f(x):\\n    return x', 'f', [(3,)], [5], 10)).status)\n")  # fmt: skip
    env = {**os.environ, "PATH": str(tmp_path)}  # no bwrap on this PATH
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.split() == ["pass", "pass"], done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "bubblewrap is not installed (apt-get install bubblewrap)" in lines[0]
    forced = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env={**env, "CODEUF_SANDBOX": "guards"})  # fmt: skip
    assert forced.stdout.split() == ["pass", "pass"] and forced.stderr == ""
