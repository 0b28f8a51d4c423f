"""What the stages of one run share: loaded models, the run's cache, a ledger per stage, and the tally of
calls that failed, which makes the one-line summary a command ends with when it must be rerun."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from codeuf.errors import CallsFailedError
from codeuf.llm.base import Backend
from codeuf.llm.batch.providers import BatchSettings, batch_plan
from codeuf.llm.cache import ResultCache
from codeuf.llm.runner import Ledger, OnResult, Runner, RunnerConfig
from codeuf.llm.types import LLMRequest, LLMResult

_T = TypeVar("_T")


def stable_seed(*parts: object) -> int:
    """A 31-bit seed derived from its parts, the same on every machine and Python version."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


class StageSession:
    """Loads each model spec once (one embedded model serves every pool entry that names it). The cache
    file is opened at the first call, so a command that stops on a check leaves no cache behind."""

    def __init__(
        self,
        cache_path: Path | None,
        concurrency: int = 8,
        progress: bool | None = None,
        *,
        max_retries: int = 6,
        timeout: float = 120.0,
        down_after_s: float = 60.0,
        refresh: bool = False,
        prices: dict[str, dict[str, float]] | None = None,
        batch: BatchSettings | None = None,
        batch_specs: frozenset[str] | None = None,
    ) -> None:
        """`cache_path` None: no cache. `refresh`: ignore cached results and replace them. `prices`: USD per
        million tokens per model, for the ledger's costs."""
        self.cache_path = cache_path
        self.cache: ResultCache | None = None
        self.concurrency, self.progress = concurrency, progress
        self.max_retries, self.timeout, self.down_after_s = max_retries, timeout, down_after_s
        self.refresh, self.prices = refresh, prices or {}
        self.batch, self.batch_specs = batch, batch_specs
        """Provider batch APIs: for every batch-capable backend, or those of `batch_specs` (llm.batch.providers)."""
        self.replicas: dict[str, tuple[int, float, float]] = {}
        """Per in-process spec: (replicas, CPUs and GPUs each) on a Ray executor."""
        self.parallel: dict[str, int] = {}
        """Per in-process spec: the sequences it decodes together, where a pool entry says."""
        self._backends: dict[str, Backend] = {}
        self.stages: dict[str, dict[str, Any]] = {}
        self.health: dict[str, Any] = {}
        """Each server's failures so far, across this session's stages (codeuf.llm.runner.Runner)."""

    @classmethod
    def for_run(cls, config: Any, progress: bool | None = None) -> StageSession:
        """The session of a RunConfig: its run folder's cache and its transport settings."""
        session = cls(Path(config.out) / "cache.sqlite", config.concurrency, progress, max_retries=config.max_retries,
                      timeout=config.timeout, down_after_s=config.down_after_s,
                      prices={m: p.model_dump() for m, p in config.spec_prices().items()})  # fmt: skip
        for entry in config.pool.values():  # pool entries that share a spec share its replicas: the most asked
            replicas = (entry.replicas, entry.cpus_per_replica, entry.gpus_per_replica)
            session.replicas[entry.spec] = max(session.replicas.get(entry.spec, replicas), replicas)
            if entry.parallel is not None:
                session.parallel[entry.spec] = max(session.parallel.get(entry.spec, 1), entry.parallel)
        flagged = [e.spec for e in config.pool.values() if e.batch_api] + [j.spec for j in config.judges if j.batch_api]
        session.batch, session.batch_specs = batch_plan(
            Path(config.out),
            config.batch_api,
            flagged,
            poll_min_s=config.batch_poll_s,
            retry=config.batch_retry,
            keep_files=config.batch_keep_files,
        )
        return session

    def backend(self, spec: str) -> Backend:
        """The backend of a spec, built once; on a Ray executor, an in-process model is served by Ray actors
        (`replicas` of them, each with its CPUs and GPUs: `self.replicas`)."""
        if spec not in self._backends:
            from codeuf.cluster import build_backend

            replicas = self.replicas.get(spec, (1, 1.0, 0.0))
            self._backends[spec] = build_backend(spec, self.timeout, replicas, parallel=self.parallel.get(spec))
        return self._backends[spec]

    def run(
        self, stage: str, jobs: Sequence[tuple[Backend, LLMRequest]], on_result: OnResult | None = None
    ) -> list[LLMResult]:
        """Run one stage's calls; usage, failures and wall time add up in `self.stages[stage]`."""
        if not jobs:  # nothing to ask: no cache file is created for it
            self._account(stage, Ledger(), 0.0)
            return []
        return self.run_with(stage, [b for b, _ in jobs], lambda runner: runner.arun(jobs, on_result))

    def run_with(self, stage: str, backends: Sequence[Backend], work: Callable[[Runner], Awaitable[_T]]) -> _T:
        """`work(runner)` on an event loop with this session's runner (cache, retries, concurrency, ledger); the
        backends' connections are closed after it, and the stage's usage and wall time are accounted."""
        if self.cache is None and self.cache_path is not None:
            self.cache = ResultCache(self.cache_path)
        ledger = Ledger(prices=self.prices)
        runner = Runner(
            RunnerConfig(concurrency=self.concurrency, progress=self.progress, description=stage,
                         max_retries=self.max_retries, timeout=self.timeout, down_after_s=self.down_after_s,
                         use_cache=self.cache_path is not None, refresh=self.refresh, batch=self.batch,
                         batch_specs=self.batch_specs),
            cache=self.cache,
            ledger=ledger,
            health=self.health,
        )  # fmt: skip
        started = time.perf_counter()

        async def go() -> _T:
            try:
                return await work(runner)
            finally:
                for backend in {id(b): b for b in backends}.values():
                    await backend.aclose()

        try:
            return asyncio.run(go())
        finally:
            self._account(stage, ledger, time.perf_counter() - started)

    def _account(self, stage: str, ledger: Ledger, seconds: float) -> None:
        entry = self.stages.setdefault(stage, {"calls": 0, "errors": 0, "wall_time_s": 0.0, "usage": {}})
        entry["wall_time_s"] = round(entry["wall_time_s"] + seconds, 3)
        for model, usage in ledger.to_dict().items():
            entry["calls"] += usage["requests"]
            entry["errors"] += usage["errors"]
            total = entry["usage"].setdefault(model, {})
            for key, value in usage.items():
                if key == "error_kinds":
                    kinds = total.setdefault(key, {})
                    for kind, count in value.items():
                        kinds[kind] = kinds.get(kind, 0) + count
                elif key == "last_error":
                    total[key] = value or total.get(key)
                elif value is not None:
                    total[key] = (total.get(key) or 0) + value

    def failures(self) -> int:
        return sum(entry["errors"] for entry in self.stages.values())

    def raise_if_failed(self) -> None:
        """After a command has written what succeeded: CallsFailedError with one line saying what failed."""
        message = failure_summary(self.stages)
        if message:
            raise CallsFailedError(message)

    @contextlib.contextmanager
    def working_in(self, folder: Path, *, raise_failures: bool = True) -> Iterator[StageSession]:
        """What every command that writes a folder does around its work: the folder held against a second
        codeuf process (FolderBusyError, exit 5), the session closed whatever happens, and once the folder is
        released, the calls that failed after retries raised as one line (CallsFailedError, exit 3: what
        succeeded is written, and a rerun makes just the failed calls). Checks belong before it: nothing is
        locked or written until they pass."""
        from codeuf.io import folder_lock

        with folder_lock(folder):
            try:
                yield self
            finally:
                self.close()
        if raise_failures:
            self.raise_if_failed()

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None


def failure_summary(stages: dict[str, dict[str, Any]]) -> str | None:
    """'3 calls failed after retries (generate: 3 connection on openai:m@URL; ...); ...', or None."""
    parts, total = [], 0
    for stage, entry in stages.items():
        for model, usage in entry.get("usage", {}).items():
            kinds = usage.get("error_kinds") or {}
            if kinds:
                total += sum(kinds.values())
                described = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
                parts.append(f"{stage}: {described} on {model}")
    if not total:
        return None
    last = next((u["last_error"] for e in stages.values() for u in e.get("usage", {}).values() if u.get("last_error")),
                "")  # fmt: skip
    return (f"{total} call{'s' if total != 1 else ''} failed after retries ({'; '.join(parts)}; last: {last}). "
            "Everything else is written: rerun the same command to retry just these")  # fmt: skip


def progress_bar(results: Any, total: int, enabled: bool | None, description: str) -> Any:
    """`results` as they come, with a progress bar on a TTY (or when asked); for work that is not LLM calls
    (the runner draws those), such as sandbox jobs."""
    import sys

    if not (enabled if enabled is not None else sys.stderr.isatty()):
        yield from results
        return
    from rich.progress import track

    yield from track(results, total=total, description=description, console=None, transient=False)
