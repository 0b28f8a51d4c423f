"""What the stages of one run share: loaded models, the run's cache, and a ledger per stage."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codeuf.llm.base import Backend, load_backend
from codeuf.llm.cache import ResultCache
from codeuf.llm.runner import Ledger, OnResult, Runner, RunnerConfig
from codeuf.llm.types import LLMRequest, LLMResult


def stable_seed(*parts: object) -> int:
    """A 31-bit seed derived from its parts, the same on every machine and Python version."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


class StageSession:
    """Loads each model spec once (one embedded model serves every pool entry that names it)."""

    def __init__(self, cache_path: Path | None, concurrency: int = 8, progress: bool | None = None) -> None:
        self.cache = ResultCache(cache_path) if cache_path is not None else None
        self.concurrency, self.progress = concurrency, progress
        self._backends: dict[str, Backend] = {}
        self.stages: dict[str, dict[str, Any]] = {}

    def backend(self, spec: str) -> Backend:
        if spec not in self._backends:
            self._backends[spec] = load_backend(spec)
        return self._backends[spec]

    def run(
        self, stage: str, jobs: Sequence[tuple[Backend, LLMRequest]], on_result: OnResult | None = None
    ) -> list[LLMResult]:
        """Run one stage's calls; usage and wall time add up in `self.stages[stage]`."""
        ledger = Ledger()
        runner = Runner(
            RunnerConfig(concurrency=self.concurrency, progress=self.progress, description=stage),
            cache=self.cache,
            ledger=ledger,
        )
        started = time.perf_counter()

        async def go() -> list[LLMResult]:
            try:
                return await runner.arun(jobs, on_result)
            finally:
                for backend in {id(b): b for b, _ in jobs}.values():
                    await backend.aclose()

        results = asyncio.run(go())
        entry = self.stages.setdefault(stage, {"calls": 0, "errors": 0, "wall_time_s": 0.0, "usage": {}})
        entry["calls"] += len(results)
        entry["errors"] += sum(not r.ok for r in results)
        entry["wall_time_s"] = round(entry["wall_time_s"] + time.perf_counter() - started, 3)
        for model, usage in ledger.to_dict().items():
            total = entry["usage"].setdefault(model, {})
            for key, value in usage.items():
                if value is not None:
                    total[key] = (total.get(key) or 0) + value
        return results

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
