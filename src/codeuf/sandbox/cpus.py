"""Where sandbox work runs: each worker keeps to one CPU, a thread that waits for its answer waits on that
CPU, and the programs it starts run on every CPU the pool had.

A job's round trip passes between three processes: the codeuf thread, the worker, and the program. Spread over
CPUs, each hand-over wakes a CPU that went idle meanwhile (on a virtual machine, a costly exit to the host).
With the thread and the worker on one CPU, the hand-overs stay there (benchmarks/languages.py measures it).
The program is not held there: it starts on that CPU (where a short one then runs) with every CPU the worker
had, so the kernel spreads a longer or threaded one as it would run directly.

Linux only (sched_setaffinity); elsewhere, or where a container forbids it, nothing is pinned."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

ENV = "CODEUF_SANDBOX_CPU"
"""The CPU a worker keeps to, given by the pool."""

_KEPT: list[set[int]] = []
"""In a worker that keeps to one CPU: every CPU it had before, which what it starts gets back."""


def available() -> list[int]:
    """The CPUs this process may run on, in order; empty where affinity cannot be set."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return []


@contextlib.contextmanager
def waiting_on(cpu: int | None) -> Iterator[None]:
    """The calling thread (this thread alone: on Linux, affinity is a thread's) on `cpu` while it waits for a
    worker there, then back where it was."""
    if cpu is None:
        yield
        return
    try:
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpu})
    except OSError:
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, before)


def keep_worker() -> None:
    """In a worker, at its start: keep to the CPU the pool gave it (ENV), if it may run there."""
    cpu = os.environ.get(ENV, "")
    every = set(available())
    if not cpu.isdigit() or int(cpu) not in every or len(every) < 2:
        return
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {int(cpu)})
        _KEPT.append(every)
        from codeuf.sandbox.spawn import children_on

        children_on(sorted(every))  # its children start here, then may run anywhere


def taskset_argv() -> list[str]:
    """In a worker that keeps to one CPU: util-linux's `taskset`, giving a program it starts through prlimit
    (where the spawn helper is not built) every CPU the worker had, before the program runs; empty where
    there is nothing to give back, or no taskset (the program then stays on the worker's CPU)."""
    import shutil

    taskset = shutil.which("taskset", path="/usr/bin:/bin") if _KEPT else None
    return [taskset, "--cpu-list", ",".join(map(str, sorted(_KEPT[0])))] if taskset else []


def free() -> None:
    """In a child the worker forked, before it runs anything: every CPU the worker had."""
    if _KEPT:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, _KEPT[0])
