"""Hostile programs in the sandbox: each is contained, and the host is untouched."""

from __future__ import annotations

import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from codeuf.sandbox import Equals, Job, Limits, SandboxPool

pytestmark = pytest.mark.integration


def job(code: str, n: int = 3, limit: float = 1.0, wall: float = 5.0) -> Job:
    """A toy task: f(x) must return 2 * x."""
    inputs = [(i + 1,) for i in range(n)]
    return Job(code, "f", inputs, [limit] * n, wall_timeout=wall, check=Equals(tuple(2 * x for (x,) in inputs)))


@pytest.fixture(scope="module")
def pool():  # type: ignore[no-untyped-def]
    with SandboxPool(2, Limits(memory_bytes=512 * 1024 * 1024)) as p:
        # both workers up before any test counts processes, whichever test runs first
        with ThreadPoolExecutor(2) as both:
            list(both.map(lambda _: p.run(job("def f(x):\n    return 2 * x\n")), range(2)))
        yield p


def test_a_correct_program_passes(pool: SandboxPool) -> None:
    assert pool.run(job("def f(x):\n    return 2 * x\n")).status == "pass"


def test_infinite_loop_is_stopped_by_the_time_limit(pool: SandboxPool) -> None:
    started = time.monotonic()
    result = pool.run(job("def f(x):\n    while True:\n        pass\n", limit=0.5))
    assert result.status == "fail" and "_Timeout" in result.reason and time.monotonic() - started < 5


def test_signal_blocking_hang_is_killed_at_the_wall_clock(pool: SandboxPool) -> None:
    code = (
        "import signal\ndef f(x):\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n    while True:\n        pass\n"
    )
    started = time.monotonic()
    result = pool.run(job(code, limit=0.2, wall=2.0))
    assert result.status == "timeout" and time.monotonic() - started < 6


def count_processes() -> int:
    return len([p for p in os.listdir("/proc") if p.isdigit()])


def test_fork_bomb_is_contained(pool: SandboxPool) -> None:
    before = count_processes()
    code = "import os\ndef f(x):\n    while True:\n        os.fork()\n"
    result = pool.run(job(code))
    assert result.status == "fail" and "TypeError" in result.reason  # the guard took os.fork away
    time.sleep(0.5)
    assert count_processes() <= before + 2  # nothing left behind (a little noise from the machine)


def test_multiprocessing_bomb_is_contained(pool: SandboxPool) -> None:
    before = count_processes()
    code = (
        "import multiprocessing\ndef f(x):\n"
        "    ps = [multiprocessing.Process(target=f, args=(x,)) for _ in range(50)]\n"
        "    [p.start() for p in ps]\n    return 2 * x\n"
    )
    result = pool.run(job(code, wall=4.0))
    assert result.status == "fail" and result.reason.startswith("the code did not load")  # no multiprocessing
    time.sleep(0.5)
    assert count_processes() <= before + 2


def test_threads_run_and_a_fork_through_posix_or_ctypes_is_refused(pool: SandboxPool) -> None:
    """A concurrent answer (a ThreadPoolExecutor) passes: the child may start threads. `posix.fork()` and
    libc's fork through ctypes, which the Python guard does not see, fail with EAGAIN (the seccomp filter holds
    the child to threads), whatever RLIMIT_NPROC would allow, also as root, where it holds nothing."""
    from codeuf.sandbox.spawn import threads_only

    if not threads_only():
        pytest.skip("no spawn helper here (no C compiler, or CODEUF_SANDBOX_SPAWN=prlimit), or no seccomp")
    threads = ("from concurrent.futures import ThreadPoolExecutor\ndef f(x):\n    with ThreadPoolExecutor(8) as"
               " pool:\n        return sum(pool.map(lambda _: 2, range(x)))\n")  # fmt: skip
    assert (threaded := pool.run(job(threads))).status == "pass", threaded
    before = count_processes()  # the worker is up
    forks = ("import ctypes, posix\ndef f(x):\n    try:\n        posix.fork(); return 'forked'\n"
             "    except BlockingIOError:\n        pass\n"
             "    return 2 * x if ctypes.CDLL(None).fork() == -1 else 'forked'\n")  # fmt: skip
    result = pool.run(job(forks))
    assert result.status == "pass", result
    time.sleep(0.5)
    assert count_processes() <= before + 2


def test_memory_bomb_is_refused(pool: SandboxPool) -> None:
    result = pool.run(job("def f(x):\n    block = bytearray(8 * 1024**3)\n    return 2 * x\n"))
    assert result.status == "fail" and "MemoryError" in result.reason


def test_huge_output_is_swallowed_and_huge_files_are_cut(pool: SandboxPool) -> None:
    printing = "def f(x):\n    for _ in range(200000):\n        print('x' * 1000)\n    return 2 * x\n"
    assert pool.run(job(printing, n=1, limit=5, wall=10)).status == "pass"  # output goes nowhere, verdict intact
    writing = (
        "def f(x):\n    with open('big', 'wb') as h:\n        h.write(b'x' * 64 * 1024 * 1024)\n    return 2 * x\n"
    )
    result = pool.run(job(writing))
    assert result.status == "fail" and "OSError" in result.reason  # RLIMIT_FSIZE: File too large


def test_writing_outside_the_work_dir_is_refused(pool: SandboxPool, tmp_path: Path) -> None:
    target = tmp_path / "written.txt"
    code = f"def f(x):\n    open({str(target)!r}, 'w').write('pwned')\n    return 2 * x\n"
    assert (result := pool.run(job(code))).status == "fail" and "PermissionError" in result.reason
    code = f"import os\ndef f(x):\n    os.close(os.open({str(target)!r}, os.O_WRONLY | os.O_CREAT))\n    return 2 * x\n"
    assert (result := pool.run(job(code))).status == "fail" and "PermissionError" in result.reason
    assert not target.exists()
    inside = "def f(x):\n    open('scratch.txt', 'w').write('fine')\n    return 2 * x\n"
    assert pool.run(job(inside)).status == "pass"  # its own directory is writable


def test_deleting_files_is_refused(pool: SandboxPool, tmp_path: Path) -> None:
    victim = tmp_path / "keep.txt"
    victim.write_text("precious")
    for code in (
        f"import os\ndef f(x):\n    os.remove({str(victim)!r})\n    return 2 * x\n",
        f"import shutil\ndef f(x):\n    shutil.rmtree({str(tmp_path)!r})\n    return 2 * x\n",
        f"import pathlib\ndef f(x):\n    pathlib.Path({str(victim)!r}).unlink()\n    return 2 * x\n",
    ):
        result = pool.run(job(code))
        assert result.status == "fail" and "TypeError" in result.reason  # the guard took the function away
    assert victim.read_text() == "precious"


def test_network_connections_are_refused(pool: SandboxPool) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted: list[object] = []

    def accept() -> None:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    for code in (
        f"import socket\ndef f(x):\n    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n    return 2 * x\n",
        f"import socket\ndef f(x):\n    s = socket.socket()\n    s.connect(('127.0.0.1', {port}))\n    return 2 * x\n",
        "import urllib.request\ndef f(x):\n    urllib.request.urlopen('http://127.0.0.1:9', timeout=1)\n"
        "    return 2 * x\n",
    ):
        result = pool.run(job(code))
        assert result.status == "fail" and ("OSError" in result.reason or "URLError" in result.reason), result
    thread.join()
    server.close()
    assert accepted == []


def test_secrets_in_the_environment_are_out_of_reach(pool: SandboxPool, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-codeuf-sandbox-secret-42"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    probe = Job(
        "import os\ndef f(x):\n    found = [v for v in os.environ.values()]\n"
        "    for pid in os.listdir('/proc'):\n        try:\n"
        "            found.append(open('/proc/' + pid + '/environ').read())\n"
        "        except Exception:\n            pass\n    return ' '.join(found)\n",
        "f", [(1,)], [5.0], wall_timeout=10.0, collect=True,
    )  # fmt: skip
    with SandboxPool(1) as fresh:  # started after the secret was set in this process
        result = fresh.run(probe)
    assert result.status == "pass" and secret not in str(result.outputs)


def test_killing_the_parent_does_not_take_the_evaluation_down(pool: SandboxPool) -> None:
    for code, status, why in (
        ("import os, signal\ndef f(x):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return 2 * x\n", "fail",
         "TypeError"),  # the guard took os.kill away
        ("import ctypes, os\ndef f(x):\n    ctypes.CDLL(None).kill(os.getppid(), 9)\n    return 2 * x\n", "timeout",
         "the sandbox worker died"),  # past the guard: the worker dies, the pool replaces it
    ):  # fmt: skip
        result = pool.run(job(code))
        assert result.status == status and why in result.reason, result
        assert pool.run(job("def f(x):\n    return 2 * x\n")).status == "pass"  # the pool carries on


def test_exit_inside_a_test_is_a_failure(pool: SandboxPool) -> None:
    for code in ("import sys\ndef f(x):\n    sys.exit(0)\n", "def f(x):\n    raise SystemExit\n"):
        result = pool.run(job(code))
        assert result.status == "fail" and "SystemExit" in result.reason
    result = pool.run(job("import os\ndef f(x):\n    os._exit(0)\n"))
    assert result.status == "timeout" and "exited or died before finishing" in result.reason


def test_monkey_patching_the_checker_cannot_fake_a_pass(pool: SandboxPool) -> None:
    for code in (
        "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.bool = lambda *a: True\n"
        "def f(x):\n    return None\n",
        "class Liar:\n    def __eq__(self, other):\n        return True\ndef f(x):\n    return Liar()\n",
        "import numpy\nnumpy.allclose = lambda *a, **k: True\ndef f(x):\n    return 0.0\n",
    ):
        result = pool.run(job(code))  # the comparison runs in the worker, where the patches do not reach
        assert result.status == "fail" and ("wrong output" in result.reason or "Liar" in result.reason), result


def test_recursion_bombs_fail(pool: SandboxPool) -> None:
    result = pool.run(job("def f(x):\n    return f(x)\n"))
    assert result.status == "fail" and "RecursionError" in result.reason
    deep = "import sys\nsys.setrecursionlimit(10**8)\ndef f(x):\n    return f(x + 1)\n"
    result = pool.run(job(deep, wall=10))  # a stack overflow kills the child, not us; or its time runs out first
    assert (result.status, result.reason) == ("fail", "test 0: _Timeout") or result.status == "timeout", result
    assert pool.run(job("def f(x):\n    return 2 * x\n")).status == "pass"


def _launchers() -> dict[str, object]:
    import shutil

    from codeuf.sandbox.programs import _spawn_prlimit
    from codeuf.sandbox.spawn import spawner

    found: dict[str, object] = {}
    if spawner() is not None:
        found["helper"] = spawner()
    if prlimit := shutil.which("prlimit", path="/usr/bin:/bin"):
        found["prlimit"] = lambda *args: _spawn_prlimit(prlimit, *args)
    return found


@pytest.mark.parametrize("launcher", ["helper", "prlimit"])
def test_both_ways_to_start_a_program_give_it_limits_a_session_and_nothing_else(launcher: str, tmp_path: Path) -> None:
    """The spawn helper (vfork, limits, exec) and the prlimit fallback start a program alike: its rlimits
    soft and hard, a session of its own, the work directory, only the three standard streams open, and no
    signal ignored (the worker, a Python process, ignores SIGPIPE and SIGXFSZ, and may have inherited more
    from whoever started it; a program must not inherit that)."""
    import resource

    spawn = _launchers().get(launcher)
    if spawn is None:
        pytest.skip(f"no {launcher} on this machine (the helper needs a C compiler: apt-get install gcc)")
    script = ('echo "$(ulimit -t) $(ulimit -H -t) $(ulimit -n) $(ulimit -v) $(ulimit -c)"; pwd; '
              'awk \'{print ($6 == $1) ? "leader" : "member"}\' /proc/$$/stat; ls /proc/$$/fd | tr "\\n" " "; echo; '
              'grep SigIgn /proc/$$/status')  # fmt: skip
    out = tmp_path / "out"
    limits = [(resource.RLIMIT_CPU, 7), (resource.RLIMIT_NOFILE, 50), (resource.RLIMIT_AS, 2**30),
              (resource.RLIMIT_CORE, 0)]  # fmt: skip
    with open(out, "wb") as sink, open(os.devnull, "rb") as empty:
        streams = (empty.fileno(), sink.fileno(), sink.fileno())
        pid = spawn(["/bin/sh", "-c", script], str(tmp_path), streams, {"PATH": "/usr/bin:/bin"}, limits)  # type: ignore[operator]
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    lines = out.read_text().splitlines()
    assert code == 0, lines
    assert lines[0] == f"7 7 50 {2**30 // 1024} 0"
    assert lines[1] == str(tmp_path)
    assert lines[2] == "leader"
    assert lines[3].split() == ["0", "1", "2"]
    # no signal ignored but glibc's own two (32 and 33, kept from the program by libc: no sigaction reaches
    # them, and the program's libc sets them itself); an earlier test in the same process may ignore them
    ignored = int(lines[4].split()[1], 16) & ~(0b11 << 31)
    assert lines[4].startswith("SigIgn:") and ignored == 0, lines[4]


SIGIGN = 'while read -r key value; do [ "$key" = SigIgn: ] && echo "$value"; done < /proc/$$/status; exit 0'
"""The shell's ignored signals, with builtins alone (a job may not fork)."""


def test_a_program_started_through_prlimit_does_not_inherit_ignored_signals(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shell's background job starts with SIGINT and SIGQUIT ignored, and what is ignored survives exec:
    the worker puts such signals back to their defaults, so that the prlimit fallback (which cannot reset
    them) starts programs as the helper does."""
    import shutil
    import signal

    if shutil.which("prlimit", path="/usr/bin:/bin") is None:
        pytest.skip("no prlimit on this machine (util-linux)")
    from codeuf.sandbox.programs import Program

    monkeypatch.setenv("CODEUF_SANDBOX_SPAWN", "prlimit")
    previous = signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    try:
        with SandboxPool(1) as single:
            result = single.run_program(Program(files={}, run=["/bin/sh", "-c", SIGIGN]))
    finally:
        signal.signal(signal.SIGQUIT, previous)
    assert result.runs and result.runs[0].status == "ok", result
    ignored = int(result.runs[0].stdout, 16) & ~(0b11 << 31)  # glibc's own two, as above
    assert ignored & (1 << (signal.SIGQUIT - 1)) == 0, result.runs[0].stdout


CPUS = (
    'for pid in $$ $PPID; do while read -r key value; do [ "$key" = Cpus_allowed_list: ] && echo "$value"; '
    "done < /proc/$pid/status; done; exit 0"
)
"""The CPUs the shell may run on, then its parent's (the worker's), with builtins alone (a job may not fork)."""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one CPU here: a worker has nowhere else to be")
@pytest.mark.parametrize("launcher", ["helper", "prlimit"])
def test_a_worker_keeps_to_one_cpu_and_what_it_starts_gets_every_cpu(
    launcher: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each worker keeps to one CPU, and the thread waiting for it waits there (then goes back): its hand-overs
    stay on one CPU. A program, started by the spawn helper or by prlimit, and a Python child get every CPU."""
    from codeuf.sandbox.programs import Program

    if launcher == "prlimit":
        monkeypatch.setenv("CODEUF_SANDBOX_SPAWN", "prlimit")
    every = sorted(os.sched_getaffinity(0))
    listed = next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                  if line.startswith("Cpus_allowed_list:"))  # fmt: skip
    before = os.sched_getaffinity(0)
    with SandboxPool(1) as single:
        shell = single.run_program(Program(files={}, run=["/bin/sh", "-c", CPUS]))
        python = single.run(Job("import os\ndef f(x):\n    return sorted(os.sched_getaffinity(0))\n", "f", [(0,)],
                                [5.0], wall_timeout=10.0, collect=True))  # fmt: skip
    assert os.sched_getaffinity(0) == before  # the waiting thread is back where it was
    assert shell.runs and shell.runs[0].status == "ok", shell
    program, worker = shell.runs[0].stdout.split()
    assert program == listed
    assert worker.isdigit() and int(worker) in every
    assert python.status == "pass" and python.outputs == [every], python
    with SandboxPool(1, pin=False) as unpinned:
        shell = unpinned.run_program(Program(files={}, run=["/bin/sh", "-c", CPUS]))
    assert shell.runs[0].stdout.split() == [listed, listed], shell
