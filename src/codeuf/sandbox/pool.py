"""The pool of sandbox workers, in the codeuf process: N workers, each running one job at a time."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
from typing import Any

from codeuf.sandbox import cpus
from codeuf.sandbox.jobs import _SRC, Job, JobResult, Limits, _recv, _send
from codeuf.sandbox.programs import Program, ProgramResult, Run

_DIED = "the sandbox worker died (the job killed it, or it crashed)"


class SandboxPool:
    """N workers, each running one job at a time; jobs from many threads are spread over them.

    With `pin` (the default), worker i keeps to the i-th CPU this process may use (round robin), and a thread
    waits for a job's result on its worker's CPU; the programs get every CPU back (codeuf.sandbox.cpus)."""

    def __init__(self, workers: int | None = None, limits: Limits | None = None, pin: bool = True) -> None:
        self.size = workers or max(1, os.cpu_count() or 1)
        self.limits = limits or Limits()
        self._idle: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Condition()
        self._started = 0
        self._cpus = cpus.available() if pin else []
        if len(self._cpus) < 2:
            self._cpus = []  # one CPU: nowhere else to be
        if self._cpus:  # other codeuf processes (Ray's actors, say) start their round robin elsewhere
            turn = os.getpid() % len(self._cpus)
            self._cpus = self._cpus[turn:] + self._cpus[:turn]
        self._on_cpu = dict.fromkeys(self._cpus, 0)  # live (or starting) workers on each CPU
        self._cpu_of: dict[subprocess.Popen[bytes], int] = {}

    def _start_worker(self, cpu: int | None = None) -> subprocess.Popen[bytes]:
        from codeuf.secrets import clean_environment

        env = clean_environment()
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPATH"] = _SRC + os.pathsep + env.get("PYTHONPATH", "")
        from codeuf.sandbox.isolation import isolation, launch, python_executable

        env.setdefault("PATH", os.environ.get("PATH", "/usr/bin:/bin"))
        env.pop(cpus.ENV, None)
        if cpu is not None:
            env[cpus.ENV] = str(cpu)
        plan = launch([python_executable(), "-m", "codeuf.sandbox"], isolation())
        worker = subprocess.Popen(
            plan.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=tempfile.gettempdir(),
        )
        if cpu is not None:
            self._cpu_of[worker] = cpu
        return worker

    def _acquire(self) -> subprocess.Popen[bytes]:
        with self._lock:
            while not self._idle and self._started >= self.size:
                self._lock.wait()
            if self._idle:
                return self._idle.pop()
            self._started += 1
            cpu = min(self._cpus, key=self._on_cpu.__getitem__) if self._cpus else None  # the least taken
            if cpu is not None:
                self._on_cpu[cpu] += 1
        try:
            return self._start_worker(cpu)
        except BaseException:  # no worker: its place (and its CPU) is free again
            with self._lock:
                self._started -= 1
                if cpu is not None:
                    self._on_cpu[cpu] -= 1
                self._lock.notify()
            raise

    def _release(self, worker: subprocess.Popen[bytes], answered: bool = False) -> None:
        """Back to the idle workers, unless it died (one that just answered is alive)."""
        with self._lock:
            if answered or worker.poll() is None:
                self._idle.append(worker)
            else:
                self._started -= 1
                cpu = self._cpu_of.pop(worker, None)
                if cpu is not None:
                    self._on_cpu[cpu] -= 1
            self._lock.notify()

    def run(self, job: Job) -> JobResult:
        result = self._ask(job)
        return result if result is not None else JobResult("timeout", [], _DIED)

    def run_program(self, program: Program) -> ProgramResult:
        """Build (once per distinct source in each worker) and run a program in any language."""
        result = self._ask(program)
        return result if result is not None else ProgramResult("none", _DIED, [Run("timeout", None, "", _DIED, 0.0)])

    def _ask(self, job: Job | Program) -> Any:
        worker = self._acquire()
        try:
            assert worker.stdin is not None and worker.stdout is not None
            with cpus.waiting_on(self._cpu_of.get(worker)):
                _send(worker.stdin, (job, self.limits))
                result = _recv(worker.stdout)
        except Exception:  # a dead or confused worker: replace it, never hang on it
            worker.kill()
            worker.wait()
            self._release(worker)
            return None
        self._release(worker, answered=True)
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
