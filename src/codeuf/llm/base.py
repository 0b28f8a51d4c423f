"""The backend interface: one method plus declared capabilities, and the lazy registry."""

from __future__ import annotations

import email.utils
import importlib
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from codeuf.errors import MissingDependencyError
from codeuf.llm.registry import BACKENDS
from codeuf.llm.spec import ModelSpec, parse_spec
from codeuf.llm.types import ErrorKind, LLMRequest, LLMResult

RETRYABLE: frozenset[str] = frozenset({"rate_limit", "server", "timeout", "connection", "bad_response"})


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or an HTTP date)."""
    if headers is None:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class BackendError(Exception):
    """A failed call. `kind` decides whether the runner retries; `retry_after` is honoured."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind, self.message, self.status_code, self.retry_after = kind, message, status_code, retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


def status_error(status: int, message: str, retry_after: float | None = None) -> BackendError:
    """The BackendError for an HTTP error status: its kind decides whether the runner retries."""
    if status == 429:
        return BackendError("rate_limit", message, status_code=status, retry_after=retry_after)
    if status in (401, 403):
        return BackendError("auth", message, status_code=status)
    if status >= 500 or status in (408, 529):
        return BackendError("server", message, status_code=status, retry_after=retry_after)
    return BackendError("bad_request", message, status_code=status)


class Backend(ABC):
    """A model behind one async method. Subclasses declare what they support.

    `in_process` backends hold the model in this process; the runner gives them `max_concurrency` requests at
    a time (one where it is None: the embedded llama.cpp decodes up to `parallel` together) and cannot time
    them out.
    """

    name: ClassVar[str]
    supports_schema: ClassVar[bool] = False
    supports_grammar: ClassVar[bool] = False
    supports_logprobs: ClassVar[bool] = False
    in_process: ClassVar[bool] = False
    splits_digits: bool | None = None
    """Whether the tokenizer writes "10" as two tokens; None where the backend cannot tell (an HTTP API)."""
    batches_sequences: ClassVar[bool] = False
    """It decodes concurrent requests together and takes a `parallel` option (the embedded llama.cpp)."""
    max_concurrency: int | None = None
    """Requests it can serve at once (its replicas, or the sequences it decodes together), when fewer than the
    runner's concurrency."""
    supports_batch: ClassVar[bool] = False
    """It has a provider batch API (codeuf.llm.batch.providers): batch_submit, batch_find, batch_poll, batch_results,
    batch_cancel, batch_cleanup."""
    batch_limits: ClassVar[tuple[int, int]] = (50_000, 200 * 1024**2)
    """The provider's limits per batch: requests, bytes."""

    def batch_size(self, custom_id: str, request: LLMRequest) -> int:
        """Bytes the request takes in a batch (for splitting within the provider's limits)."""
        return len(custom_id) + len(request.model_dump_json()) + 64

    def batch_group(self, request: LLMRequest) -> str:
        """Requests of different groups never share a batch (OpenAI: one endpoint per batch)."""
        return ""

    async def batch_find(self, tag: str, custom_ids: list[str], since: float) -> str | None:
        """The id of a batch this backend's provider created for a submission tagged `tag` at or after `since`
        (a create call whose answer was lost), or None when it has none."""
        return None

    async def batch_cleanup(self, batch_id: str) -> None:  # noqa: B027 - optional hook
        """Delete what a finished batch left at the provider (uploaded input files)."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    @classmethod
    def thread_options(cls, threads: int) -> dict[str, Any]:
        """Options that keep an in-process model to `threads` CPU threads (a Ray replica's share of a node); a
        backend may also set process-wide thread settings here."""
        return {}

    @classmethod
    def sequences(cls, parallel: int | None) -> int:
        """Requests one instance answers at once given its `parallel` option (1 unless it batches sequences)."""
        return 1

    @property
    def identity(self) -> dict[str, Any]:
        """What names the model for the cache key: never a URL, a key or a timeout."""
        return {"backend": self.spec.backend, "model": self.spec.model}

    @abstractmethod
    async def generate(self, request: LLMRequest) -> LLMResult:
        """Answer one request or raise BackendError."""

    def continuation(self, request: LLMRequest, text: str) -> LLMRequest | None:
        """A one-token request for the model's next-token distribution after `request`'s answer began with
        `text`, or None where the backend cannot continue an answer (an HTTP chat API). Raw prompts can."""
        if request.prompt is None:
            return None
        return LLMRequest(prompt=request.prompt + text, max_tokens=1, temperature=0.0,
                          logprobs=request.logprobs or 20)  # fmt: skip

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release what is bound to the running event loop (connections); the backend stays usable."""


def backend_class(spec: ModelSpec | str) -> type[Backend]:
    """The class that serves a spec, its module imported (its SDK too) but nothing built."""
    if isinstance(spec, str):
        spec = parse_spec(spec)
    module_name, class_name, package, extra, _ = BACKENDS[spec.backend]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] != "codeuf":
            raise MissingDependencyError(package, extra) from exc
        raise
    return getattr(module, class_name)  # type: ignore[no-any-return]


def load_backend(spec: ModelSpec | str, *, timeout: float | None = None, **options: Any) -> Backend:
    """Build the backend for a spec, importing its SDK only now. `timeout` (seconds per request) goes
    to the backends that make requests; an in-process model has none to set."""
    if isinstance(spec, str):
        spec = parse_spec(spec)
    cls = backend_class(spec)
    import inspect

    if timeout is not None and not cls.in_process and "timeout" in inspect.signature(cls.__init__).parameters:
        options["timeout"] = timeout  # a backend that takes no timeout (a plugin's, say) is not given one
    return cls(spec, **options)
