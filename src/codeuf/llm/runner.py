"""The runner: concurrency, retries, timeouts, the cache, the progress bar and the token ledger.

Stages hand it (backend, request) jobs and get results back in order, with each result also
delivered to a callback the moment it exists, so callers can append it to their output and a
crash loses at most the calls in flight.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from codeuf.llm.base import Backend, BackendError
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
            return  # a cached result cost nothing this run
        if not result.ok:
            usage.errors += 1
        usage.prompt_tokens += result.usage.prompt_tokens
        usage.completion_tokens += result.usage.completion_tokens
        price = self.prices.get(model) or self.prices.get(model.split(":", 1)[-1].split("@")[0])
        if price:
            cost = (
                result.usage.prompt_tokens * price.get("input", 0.0)
                + result.usage.completion_tokens * price.get("output", 0.0)
            ) / 1e6
            usage.cost_usd = (usage.cost_usd or 0.0) + cost

    def to_dict(self) -> dict[str, Any]:
        return {name: vars(usage).copy() for name, usage in self.models.items()}


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


class Runner:
    def __init__(
        self,
        config: RunnerConfig | None = None,
        cache: ResultCache | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.config = config or RunnerConfig()
        self.cache = cache if self.config.use_cache else None
        self.ledger = ledger or Ledger()
        self._semaphores: dict[int, asyncio.Semaphore] = {}

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

            async def one(key: str, indexes: list[int]) -> None:
                backend, request = jobs[indexes[0]]
                result = await self._call(backend, request)
                if result.ok and self.cache is not None:
                    self.cache.put(key, str(backend.spec), request, result)
                for i, index in enumerate(indexes):
                    shared = result if i == 0 else result.model_copy(update={"cached": True})
                    deliver(index, shared)

            await asyncio.gather(*(one(key, indexes) for key, indexes in pending.items()))
        return [r for r in results if r is not None]

    def _lookup(self, key: str) -> LLMResult | None:
        if self.cache is None or self.config.refresh:
            return None
        hit = self.cache.get(key)
        return hit.model_copy(update={"cached": True}) if hit else None

    def _semaphore(self, backend: Backend) -> asyncio.Semaphore:
        slots = 1 if backend.in_process else max(1, self.config.concurrency)
        return self._semaphores.setdefault(id(backend), asyncio.Semaphore(slots))

    async def _call(self, backend: Backend, request: LLMRequest) -> LLMResult:
        """Call with retries. Always returns: a result, or a result whose `error` says why not."""
        cfg = self.config
        started = time.perf_counter()
        error = LLMError(kind="internal", message="not attempted")
        for attempt in range(cfg.max_retries + 1):
            delay: float | None = None
            async with self._semaphore(backend):
                try:
                    if backend.in_process:
                        result = await backend.generate(request)
                    else:
                        result = await asyncio.wait_for(backend.generate(request), cfg.timeout)
                    return result.model_copy(
                        update={"attempts": attempt + 1, "latency_s": time.perf_counter() - started}
                    )
                except BackendError as exc:
                    error = LLMError(kind=exc.kind, message=redact(exc.message), status_code=exc.status_code)
                    if not exc.retryable:
                        break
                    delay = exc.retry_after
                except asyncio.TimeoutError:
                    error = LLMError(kind="timeout", message=f"no answer within {cfg.timeout:g} s")
                except Exception as exc:  # a bug or an SDK surprise: record it, never lose the request
                    error = LLMError(kind="internal", message=redact(f"{type(exc).__name__}: {exc}"))
                    break
            if attempt < cfg.max_retries:
                backoff = min(cfg.backoff_max, cfg.backoff_base * 2**attempt)
                await asyncio.sleep(delay if delay is not None else random.uniform(0.5, 1.0) * backoff)
        return LLMResult(error=error, attempts=attempt + 1, latency_s=time.perf_counter() - started)


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
