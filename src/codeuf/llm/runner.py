"""The runner: concurrency, retries, timeouts, the cache, the progress bar and the token ledger.

Stages hand it (backend, request) jobs and get results back in order, with each result also
delivered to a callback the moment it exists, so callers can append it to their output and a
crash loses at most the calls in flight.

A backend that fails every attempt for a while, with no success in between, is down (a dead server,
a revoked key, a crashed model): the runner then stops, lets the other backends' calls in flight
finish and be delivered, and raises BackendDownError naming the model and its URL. Jobs it did not
finish are simply not delivered, so callers record nothing for them and a rerun does them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from codeuf.errors import BackendDownError
from codeuf.llm.base import Backend, BackendError
from codeuf.llm.batch.providers import BATCH_DISCOUNT, BatchSettings, run_batches
from codeuf.llm.cache import ResultCache, request_key
from codeuf.llm.types import LLMError, LLMRequest, LLMResult
from codeuf.secrets import redact

OnResult = Callable[[int, LLMResult], None]


@dataclass
class ModelUsage:
    requests: int = 0
    cached: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    error_kinds: dict[str, int] = field(default_factory=dict)
    """Failed requests (after their retries) per error kind."""
    last_error: str | None = None
    batch_requests: int = 0
    """Answered through the provider's batch API (priced at its discount)."""
    batches: int = 0
    batch_polls: int = 0


@dataclass
class Ledger:
    """Tokens and cost per model. Prices are USD per million tokens: {model: {input, output}}."""

    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    models: dict[str, ModelUsage] = field(default_factory=dict)

    def record(self, model: str, result: LLMResult) -> None:
        usage = self.models.setdefault(model, ModelUsage())
        usage.requests += 1
        if result.cached:
            usage.cached += 1
            usage.batch_requests += result.via_batch  # answered by a batch an earlier process submitted
            return  # a cached result cost nothing this run
        if not result.ok:
            assert result.error is not None
            usage.errors += 1
            usage.error_kinds[result.error.kind] = usage.error_kinds.get(result.error.kind, 0) + 1
            usage.last_error = f"{result.error.kind}: {result.error.message}"[:300]
        usage.prompt_tokens += result.usage.prompt_tokens
        usage.completion_tokens += result.usage.completion_tokens
        usage.batch_requests += result.via_batch
        price = self.prices.get(model) or self.prices.get(model.split(":", 1)[-1].split("@")[0])
        if price:
            cost = (
                result.usage.prompt_tokens * price.get("input", 0.0)
                + result.usage.completion_tokens * price.get("output", 0.0)
            ) / 1e6
            if result.via_batch:
                cost *= price.get("batch_discount", BATCH_DISCOUNT)
            usage.cost_usd = (usage.cost_usd or 0.0) + cost

    def record_batches(self, model: str, stats: dict[str, int]) -> None:
        usage = self.models.setdefault(model, ModelUsage())
        usage.batches += stats["batches_submitted"] + stats["batches_attached"]
        usage.batch_polls += stats["polls"]

    def to_dict(self) -> dict[str, Any]:
        return {name: {**vars(usage), "error_kinds": dict(usage.error_kinds)} for name, usage in self.models.items()}


# Errors that mean the backend itself is unwell, not the request. The first kinds may heal (a restart, a
# network blip), so a backend is down only when they last `down_after_s`; the second never heal by waiting.
_TRANSIENT = frozenset({"connection", "timeout", "server", "bad_response"})
_PERSISTENT = frozenset({"auth", "internal"})


@dataclass
class _Health:
    """Failed attempts on one backend since its last sign of life (a success, a 400, a 429)."""

    streak: int = 0
    since: float = 0.0

    def alive(self) -> None:
        self.streak = 0

    def failed(self, kind: str, now: float, config: RunnerConfig) -> bool:
        """Count a failed attempt; True when the backend is now down."""
        if kind not in _TRANSIENT | _PERSISTENT:
            self.alive()
            return False
        if self.streak == 0:
            self.since = now
        self.streak += 1
        if config.down_after_s <= 0 or self.streak < config.down_after_attempts:
            return False
        return kind in _PERSISTENT or now - self.since >= config.down_after_s


def server_of(backend: Backend) -> str:
    """What fails together: the URLs a backend calls (two models on one dead server are one dead server), or
    its spec for an in-process model or a provider's default URL."""
    urls = getattr(backend.spec, "base_urls", None)
    return ",".join(urls) if urls else str(backend.spec)


@dataclass
class RunnerConfig:
    """How requests are sent. None of these change a result, so none is in the cache key."""

    concurrency: int = 8
    """Requests in flight per backend (in-process backends always take one at a time)."""
    max_retries: int = 6
    """Retries after the first attempt, for rate limits, 5xx, timeouts and connection errors."""
    timeout: float = 120.0
    """Seconds per attempt (not applied to in-process backends, which cannot be interrupted)."""
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    use_cache: bool = True
    refresh: bool = False
    """Ignore cached results and overwrite them with fresh ones."""
    progress: bool | None = None
    """Show a progress bar; None shows it when stderr is a terminal."""
    description: str = "requests"
    down_after_s: float = 60.0
    """A backend whose attempts have all failed (connection, timeout, 5xx) for this long is down: stop.
    0 never stops early."""
    down_after_attempts: int = 10
    """...and only after this many failed attempts in a row; auth and internal errors stop at this count."""
    batch: BatchSettings | None = None
    """Send the uncached requests of batch-capable backends through their provider's batch API."""
    batch_specs: frozenset[str] | None = None
    """...only those of these specs (None: every backend that has a batch API)."""


class Runner:
    def __init__(
        self,
        config: RunnerConfig | None = None,
        cache: ResultCache | None = None,
        ledger: Ledger | None = None,
        health: dict[str, _Health] | None = None,
    ) -> None:
        """`health`: what is known of each server's failures, shared by the runners of one command's stages, so
        that a server that died during one stage is down for the next within `down_after_s` of its first failure,
        not after another `down_after_s` (codeuf.session gives each stage's runner the same map)."""
        self.config = config or RunnerConfig()
        self.cache = cache if self.config.use_cache else None
        self.ledger = ledger or Ledger()
        self._semaphores: dict[int, asyncio.Semaphore] = {}
        self._health: dict[str, _Health] = health if health is not None else {}
        self._active: dict[int, set[asyncio.Task[Any]]] = {}
        self._stop: BackendDownError | None = None
        self._wake = asyncio.Event()

    def run(self, jobs: Sequence[tuple[Backend, LLMRequest]], on_result: OnResult | None = None) -> list[LLMResult]:
        return asyncio.run(self.arun(jobs, on_result))

    async def arun(
        self, jobs: Sequence[tuple[Backend, LLMRequest]], on_result: OnResult | None = None
    ) -> list[LLMResult]:
        results: list[LLMResult | None] = [None] * len(jobs)
        keys = [request_key(backend.identity, request) for backend, request in jobs]
        pending: dict[str, list[int]] = {}
        with _progress(self.config, len(jobs)) as advance:

            def deliver(index: int, result: LLMResult) -> None:
                results[index] = result
                self.ledger.record(str(jobs[index][0].spec), result)
                if on_result is not None:
                    on_result(index, result)
                advance()

            for index, key in enumerate(keys):
                cached = self._lookup(key)
                if cached is not None:
                    deliver(index, cached)
                else:
                    pending.setdefault(key, []).append(index)  # identical requests are sent once

            def finish(key: str, result: LLMResult) -> None:
                indexes = pending[key]
                backend, request = jobs[indexes[0]]
                if result.ok and self.cache is not None:
                    self.cache.put(key, str(backend.spec), request, result)
                for i, index in enumerate(indexes):
                    shared = result if i == 0 else result.model_copy(update={"cached": True})
                    deliver(index, shared)

            async def one(key: str) -> None:
                backend, request = jobs[pending[key][0]]
                try:
                    result = await self._call(backend, request)
                except (BackendDownError, asyncio.CancelledError):
                    return  # stopped: this job is not done, and nothing is delivered for it
                finish(key, result)

            async def batched(backend: Backend, keys: list[str]) -> None:
                assert self.config.batch is not None
                requests = {key: jobs[pending[key][0]][1] for key in keys}
                stats = await run_batches(backend, requests, self.config.batch, finish, one)
                self.ledger.record_batches(str(backend.spec), stats)

            self._stop, self._wake = None, asyncio.Event()
            by_batch: dict[int, tuple[Backend, list[str]]] = {}
            live = []
            for key, indexes in pending.items():
                backend = jobs[indexes[0]][0]
                if self._batched(backend):
                    by_batch.setdefault(id(backend), (backend, []))[1].append(key)
                else:
                    live.append(key)
            await asyncio.gather(*(one(key) for key in live), *(batched(b, keys) for b, keys in by_batch.values()))
        if self._stop is not None:
            raise self._stop
        return [r for r in results if r is not None]

    def _batched(self, backend: Backend) -> bool:
        specs = self.config.batch_specs
        return (self.config.batch is not None and backend.supports_batch
                and (specs is None or str(backend.spec) in specs))  # fmt: skip

    def _lookup(self, key: str) -> LLMResult | None:
        if self.cache is None or self.config.refresh:
            return None
        hit = self.cache.get(key)
        return hit.model_copy(update={"cached": True}) if hit else None

    def _semaphore(self, backend: Backend) -> asyncio.Semaphore:
        limit = backend.max_concurrency or (1 if backend.in_process else 10**9)  # in process: what it decodes at once
        slots = max(1, min(self.config.concurrency, limit))
        return self._semaphores.setdefault(id(backend), asyncio.Semaphore(slots))

    async def _call(self, backend: Backend, request: LLMRequest) -> LLMResult:
        """Call with retries. Always returns: a result, or a result whose `error` says why not."""
        cfg = self.config
        started = time.perf_counter()
        error = LLMError(kind="internal", message="not attempted")
        health = self._health.setdefault(server_of(backend), _Health())
        active = self._active.setdefault(id(backend), set())
        task = asyncio.current_task()
        for attempt in range(cfg.max_retries + 1):
            delay: float | None = None
            retry = True
            async with self._semaphore(backend):
                if self._stop is not None:
                    raise self._stop
                if task is not None:
                    active.add(task)
                try:
                    if backend.in_process:
                        result = await backend.generate(request)
                    else:
                        result = await asyncio.wait_for(backend.generate(request), cfg.timeout)
                    health.alive()
                    return result.model_copy(
                        update={"attempts": attempt + 1, "latency_s": time.perf_counter() - started}
                    )
                except BackendError as exc:
                    error = LLMError(kind=exc.kind, message=redact(exc.message), status_code=exc.status_code)
                    retry, delay = exc.retryable, exc.retry_after
                except asyncio.TimeoutError:
                    error = LLMError(kind="timeout", message=f"no answer within {cfg.timeout:g} s")
                except Exception as exc:  # a bug or an SDK surprise: record it, never lose the request
                    error = LLMError(kind="internal", message=redact(f"{type(exc).__name__}: {exc}"))
                    retry = False
                finally:
                    active.discard(task)  # type: ignore[arg-type]
                if health.failed(error.kind, time.perf_counter(), cfg):
                    self._down(backend, health, error)
            if not retry:
                break
            if attempt < cfg.max_retries:
                backoff = min(cfg.backoff_max, cfg.backoff_base * 2**attempt)
                pause = delay if delay is not None else random.uniform(0.5, 1.0) * backoff
                with contextlib.suppress(asyncio.TimeoutError):  # a stop wakes every sleeper at once
                    await asyncio.wait_for(self._wake.wait(), pause)
                if self._stop is not None:
                    raise self._stop
        return LLMResult(error=error, attempts=attempt + 1, latency_s=time.perf_counter() - started)

    def _down(self, backend: Backend, health: _Health, error: LLMError) -> None:
        """Stop the run: cancel this backend's other calls in flight, wake the sleepers, raise."""
        if self._stop is None:
            span = time.perf_counter() - health.since
            self._stop = BackendDownError(redact(
                f"{backend.spec}: {health.streak} attempts in a row failed over {span:.0f} s, none succeeded "
                f"(last: {error.kind}: {error.message}); stopped early. Finished work is kept: rerun the same "
                "command when the backend answers again"
            ))  # fmt: skip
            self._wake.set()
            current = asyncio.current_task()
            for task in list(self._active.get(id(backend), ())):
                if task is not current:
                    task.cancel()
        raise self._stop


class _progress:
    """A rich progress bar with rate and ETA on stderr, or nothing."""

    def __init__(self, config: RunnerConfig, total: int) -> None:
        import sys

        self.enabled = config.progress if config.progress is not None else sys.stderr.isatty()
        self.total, self.description = total, config.description

    def __enter__(self) -> Callable[[], None]:
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._bar.start()
        task = self._bar.add_task(self.description, total=self.total, rate="")

        def advance() -> None:
            self._bar.advance(task)
            speed = self._bar.tasks[0].speed
            self._bar.update(task, rate=f"{speed:.1f}/s" if speed else "")

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.stop()
