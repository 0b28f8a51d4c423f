"""Where codeuf's heavy work runs (the executor): on this machine (the default), or on a Ray cluster.

`--executor ray` (a local cluster, started on demand), `--executor auto` (a running cluster on this machine),
`--executor HOST:PORT` (a cluster's GCS address) or `--executor ray://HOST:10001` (Ray Client); the variable
CODEUF_RAY_ADDRESS names a cluster when no option is given. Without any, Ray is never imported.

On Ray, two kinds of work leave this process:

- sandbox jobs (`codeuf execute`, `codeuf humaneval`, test validation): a pool of actors, one per CPU the
  cluster offers (or `--workers`), each keeping one sandbox worker (codeuf.sandbox) on its node, with the same
  limits there; a job goes to a free actor and its verdict comes back here;
- in-process models (`llamacpp:`, `hf:`): each is served by `replicas` actors (a pool entry's setting), each of
  which loads the model once; requests go to a free replica.

This process stays the only writer of the cache and the outputs, so a rerun resumes as it does without Ray.
An actor whose process or node dies is restarted and its call retried (Ray's `max_restarts`,
`max_task_retries`); jobs are pure functions of their inputs, so a retried job gives the verdict it would have.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from codeuf.errors import CodeufError, InputError
from codeuf.llm.base import Backend
from codeuf.llm.ray import RETRIES, RayModelBackend
from codeuf.llm.ray import ray_module as _ray

ENV = "CODEUF_RAY_ADDRESS"
"""Times a call whose actor died is tried again, on the restarted actor."""


@dataclass(frozen=True)
class Executor:
    kind: str = "local"
    """local or ray."""
    address: str | None = None
    """Ray: None starts a local cluster; auto, HOST:PORT or ray://HOST:PORT connect to one."""

    @property
    def ray(self) -> bool:
        return self.kind == "ray"


LOCAL = Executor()
_current: ContextVar[Executor] = ContextVar("codeuf_executor", default=LOCAL)


def parse_executor(value: str | None) -> Executor:
    """The executor an option (or, without one, CODEUF_RAY_ADDRESS) names."""
    value = value or os.environ.get(ENV) or "local"
    if value == "local":
        return LOCAL
    if value == "ray":
        return Executor("ray", os.environ.get(ENV) or None)
    if value == "auto" or _is_host_port(value):
        return Executor("ray", value)
    raise InputError("expected local, ray, auto, HOST:PORT or ray://HOST:PORT", field="--executor")


_HOST = re.compile(r"\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+")


def _is_host_port(value: str) -> bool:
    host, sep, port = value.removeprefix("ray://").rpartition(":")
    if not (sep and host and port.isdigit()):
        return False
    if not _HOST.fullmatch(host):
        raise InputError(f"{host[:40]!r} is not a host name or address", field="--executor")
    if not 0 < int(port) < 65536:
        raise InputError(f"port {port[:12]}{'...' if len(port) > 12 else ''} is not one (1-65535)", field="--executor")
    return True


def current() -> Executor:
    return _current.get()


@contextlib.contextmanager
def using(executor: Executor) -> Iterator[Executor]:
    """Run the block with this executor; on Ray, connect first (one line if the cluster cannot be reached),
    and leave a cluster this process started when done."""
    token = _current.set(executor)
    started = False
    try:
        if executor.ray:
            started = _connect(executor)
        yield executor
    finally:
        _current.reset(token)
        if started:
            _ray().shutdown()


def _connect(executor: Executor) -> bool:
    """Connect to (or start) the cluster; True when this process started it."""
    ray = _ray()
    if ray.is_initialized():
        return False
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    options: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False, "logging_level": logging.ERROR,
                               "runtime_env": {"env_vars": {"PYTHONPATH": src}}}  # fmt: skip
    if executor.address not in (None, "auto"):
        _check_reachable(executor.address)
    try:
        if executor.address is None:
            ray.init(**options)
            return True
        ray.init(address=executor.address, **options)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, grpc errors...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CodeufError(f"cannot reach the Ray cluster at {executor.address}: {first[:200]}") from None
    return False


def _check_reachable(address: str, seconds: float = 5.0) -> None:
    """A cluster address that nothing answers at is one line at once (Ray itself retries for minutes)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=seconds) as connection:
            connection.settimeout(seconds)
            connection.sendall(_HTTP2_PREFACE)
            answer = connection.recv(9)
    except (OSError, ValueError) as exc:
        if isinstance(exc, TimeoutError):
            answer = b""
        else:
            raise CodeufError(f"cannot reach the Ray cluster at {address}: {exc.__class__.__name__}: {exc}") from None
    if len(answer) < 4 or answer[3] != 0x04:  # a gRPC server answers the preface with a SETTINGS frame
        raise CodeufError(f"{address} answers, but it is not a Ray cluster (no gRPC server there): give the "
                          "address `ray start --head` printed")  # fmt: skip


_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
"""An HTTP/2 client's first bytes (the connection preface and an empty SETTINGS frame). Ray's GCS and its
client server speak gRPC; an address where something else listens would have ray.init retry for minutes."""


# ----------------------------------------------------------------------------- sandbox jobs


class SandboxActor:
    """A Ray actor with one sandbox worker on its node (the same limits as here)."""

    def __init__(self, limits: Any) -> None:
        from codeuf.sandbox import SandboxPool

        self.pool = SandboxPool(1, limits)

    def run(self, job: Any) -> Any:
        from codeuf.sandbox.programs import Program

        return self.pool.run_program(job) if isinstance(job, Program) else self.pool.run(job)

    def pid(self) -> int:
        return os.getpid()


class RaySandboxPool:
    """SandboxPool's interface (`run`, `size`, a context manager) over Ray actors; `run` may be called from
    many threads at once, as the local pool is."""

    def __init__(self, workers: int | None = None, limits: Any = None) -> None:
        from codeuf.sandbox import Limits

        ray = _ray()
        self.size = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        remote = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=RETRIES)(SandboxActor)
        self.actors = [remote.remote(limits or Limits()) for _ in range(self.size)]
        self._free: queue.Queue[Any] = queue.Queue()
        for actor in self.actors:
            self._free.put(actor)

    def run(self, job: Any) -> Any:
        from codeuf.sandbox import JobResult
        from codeuf.sandbox.programs import Program, ProgramResult, Run

        ray = _ray()
        actor = self._free.get()
        try:
            return ray.get(actor.run.remote(job))
        except ray.exceptions.RayError as exc:
            why = f"the sandbox actor died, and its retries too ({type(exc).__name__})"
            if isinstance(job, Program):
                return ProgramResult("none", why, [Run("timeout", None, "", why, 0.0)])
            return JobResult("timeout", [], why)
        finally:
            self._free.put(actor)

    run_program = run

    def close(self) -> None:
        ray = _ray()
        for actor in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)

    def __enter__(self) -> RaySandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sandbox_pool(workers: int | None = None, limits: Any = None) -> Any:
    """The sandbox of the current executor: worker processes here, or actors on the cluster."""
    from codeuf.sandbox import SandboxPool

    if current().ray:
        return RaySandboxPool(workers, limits)
    return SandboxPool(workers, limits)


# ----------------------------------------------------------------------------- in-process models


def build_backend(spec: str, timeout: float | None = None, replicas: tuple[int, float, float] = (1, 1.0, 0.0),
                  parallel: int | None = None) -> Backend:  # fmt: skip
    """The backend of a spec under the current executor: on Ray, an in-process model is served by Ray actors
    (replicas, CPUs and GPUs each); everything else is built here as usual. `parallel`: the sequences a model
    that batches them (`Backend.batches_sequences`) decodes together, where not its default."""
    from codeuf.llm.base import backend_class, load_backend
    from codeuf.llm.spec import parse_spec

    cls = backend_class(spec)
    options = {"parallel": parallel} if parallel is not None and cls.batches_sequences else {}
    if current().ray and cls.in_process:
        return RayModelBackend(parse_spec(spec), *replicas, **options)
    return load_backend(spec, timeout=timeout, **options)
