"""In-process models (llamacpp:, hf:) served by Ray actors: `replicas` actors per model, each loading it once
and decoding as many sequences together as the backend does; the driver's runner sends each request to a
replica with a free slot. codeuf.cluster decides when a spec is served this way (`--executor`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from codeuf.errors import MissingDependencyError
from codeuf.llm.base import Backend, BackendError
from codeuf.llm.spec import ModelSpec
from codeuf.llm.types import LLMRequest, LLMResult

RETRIES = 3
"""Calls retried on an actor that died (Ray's max_task_retries): a request is a pure function of its inputs."""


def ray_module() -> Any:
    try:
        import ray
    except ModuleNotFoundError as exc:
        raise MissingDependencyError("ray", "ray") from exc
    return ray


class ModelActor:
    """A Ray actor that loads one in-process model (llamacpp:, hf:) once and answers its requests."""

    def __init__(self, spec: str, options: dict[str, Any], threads: int) -> None:
        from codeuf.llm.base import backend_class, load_backend

        os.environ["OMP_NUM_THREADS"] = str(threads)  # its CPUs, not the node's: replicas share the node
        options = {**backend_class(spec).thread_options(threads), **options}
        self.backend = load_backend(spec, **options)

    def describe(self) -> dict[str, Any]:
        flags = ("supports_schema", "supports_grammar", "supports_logprobs", "splits_digits")
        return {"identity": self.backend.identity, **{f: getattr(self.backend, f) for f in flags}}

    def generate(self, request: LLMRequest) -> LLMResult:
        return self.backend.generate_sync(request)  # type: ignore[attr-defined, no-any-return]

    def continuation(self, request: LLMRequest, text: str) -> LLMRequest | None:
        return self.backend.continuation(request, text)

    def pid(self) -> int:
        return os.getpid()


class RayModelBackend(Backend):
    """An in-process model served by `replicas` Ray actors; the runner keeps up to that many requests in
    flight (times the sequences each replica decodes together), each on a replica with a free slot. Its cache
    identity is the model's own, so results cached with or without Ray are the same entries."""

    name = "ray"
    in_process = False

    def __init__(self, spec: ModelSpec, replicas: int = 1, cpus: float = 1.0, gpus: float = 0.0,
                 **options: Any) -> None:  # fmt: skip
        super().__init__(spec)
        ray = ray_module()
        from codeuf.llm.base import backend_class

        per_actor = backend_class(spec).sequences(options.get("parallel"))  # decoded together in one replica
        remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_restarts=-1, max_task_retries=RETRIES,
                            max_concurrency=per_actor)(ModelActor)  # fmt: skip
        threads = max(1, int(cpus))
        self.actors = [remote.remote(str(spec), options, threads) for _ in range(replicas)]
        self.max_concurrency, self._per_actor = replicas * per_actor, per_actor
        described = ray.get([a.describe.remote() for a in self.actors])[0]
        self._identity = described.pop("identity")
        for flag, value in described.items():
            setattr(self, flag, value)
        self._free: asyncio.Queue[Any] | None = None

    @property
    def identity(self) -> dict[str, Any]:
        return self._identity

    async def generate(self, request: LLMRequest) -> LLMResult:
        ray = ray_module()
        if self._free is None:  # bound to the running event loop
            self._free = asyncio.Queue()
            for actor in self.actors * self._per_actor:
                self._free.put_nowait(actor)
        actor = await self._free.get()
        try:
            return await actor.generate.remote(request)  # type: ignore[no-any-return]
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(getattr(exc, "cause", None), Exception) else None
            raise cause if isinstance(cause, BackendError) else BackendError("internal", str(exc)[:300]) from None
        except ray.exceptions.RayError as exc:
            raise BackendError("server", f"a model replica died: {type(exc).__name__}") from None
        finally:
            self._free.put_nowait(actor)

    def continuation(self, request: LLMRequest, text: str) -> LLMRequest | None:
        return ray_module().get(self.actors[0].continuation.remote(request, text))  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        self._free = None  # the next event loop makes its own queue

    def close(self) -> None:
        for actor in self.actors:
            with contextlib.suppress(Exception):
                ray_module().kill(actor)
