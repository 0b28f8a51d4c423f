"""The pool's bookkeeping of workers and CPUs, with worker starts replaced (no process is started here; the
integration tests run real workers)."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from codeuf.sandbox import SandboxPool

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one CPU here: the pool pins nothing")


class _Alive:
    def __init__(self) -> None:
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


class _Recorded(SandboxPool):
    """A pool whose workers are stand-ins: each start records the CPU it was given."""

    def __init__(self, workers: int, fail: bool = False) -> None:
        super().__init__(workers)
        self.given: list[int | None] = []
        self.fail = fail

    def _start_worker(self, cpu: int | None = None):  # type: ignore[no-untyped-def, override]
        self.given.append(cpu)
        if self.fail:
            raise OSError("no bwrap")
        worker = _Alive()
        if cpu is not None:
            self._cpu_of[worker] = cpu  # type: ignore[index]
        return worker


def test_workers_spread_over_the_cpus_and_a_dead_ones_cpu_goes_to_its_replacement() -> None:
    every = sorted(os.sched_getaffinity(0))
    pool = _Recorded(2 * len(every))
    workers = [pool._acquire() for _ in range(2 * len(every))]
    assert Counter(pool.given) == dict.fromkeys(every, 2)  # two on each CPU
    dead = workers[0]
    dead.returncode = -9  # type: ignore[attr-defined]
    pool._release(dead)
    pool._acquire()
    assert pool.given[-1] == pool.given[0]  # the replacement takes the CPU that had one fewer
    assert SandboxPool(2, pin=False)._cpus == []


def test_a_worker_that_cannot_start_frees_its_place_and_its_cpu() -> None:
    pool = _Recorded(1, fail=True)
    for _ in range(3):  # without the place freed, the second call would wait for ever
        with pytest.raises(OSError, match="no bwrap"):
            pool._acquire()
    assert pool._started == 0 and set(pool._on_cpu.values()) == {0}
