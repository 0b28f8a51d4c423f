"""Glue for commands: build a backend, a cache and a runner from options, and clean up after."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codeuf.errors import InputError
from codeuf.llm.base import load_backend
from codeuf.llm.cache import ResultCache, default_cache_path
from codeuf.llm.runner import Ledger, Runner, RunnerConfig
from codeuf.manifest import write_manifest


def load_prices(path: Path | None) -> dict[str, dict[str, float]]:
    if path is None:
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read the price table: {exc}", path=path) from None
    if not isinstance(data, dict):
        raise InputError("expected a mapping {model: {input: ..., output: ...}}", path=path)
    for model, price in data.items():
        if not isinstance(price, dict) or not all(
            isinstance(price.get(k, 0), (int, float)) for k in ("input", "output")
        ):
            raise InputError("expected {input: USD per Mtok, output: USD per Mtok}", path=path, field=str(model))
    return data


@dataclass
class BatchOptions:
    model: str
    in_path: Path
    out_path: Path
    concurrency: int = 8
    cache: Path | None = None
    use_cache: bool = True
    refresh: bool = False
    timeout: float = 120.0
    max_retries: int = 6
    prices: Path | None = None
    progress: bool | None = None


def manifest_path(out: Path) -> Path:
    return out.with_name(out.stem + ".manifest.json")


def batch_command(options: BatchOptions) -> str:
    """Run `codeuf llm batch`; returns the summary line to print."""
    from codeuf.llm.batch import read_batch, run_batch

    started = time.perf_counter()
    items = read_batch(options.in_path)  # fail on bad input before loading a model or touching the output
    prices = load_prices(options.prices)
    backend = load_backend(options.model, timeout=options.timeout)
    cache = ResultCache(options.cache or default_cache_path()) if options.use_cache else None
    runner = Runner(
        RunnerConfig(
            concurrency=options.concurrency,
            max_retries=options.max_retries,
            timeout=options.timeout,
            use_cache=options.use_cache,
            refresh=options.refresh,
            progress=options.progress,
            description=f"batch {backend.spec}",
        ),
        cache=cache,
        ledger=Ledger(prices=prices),
    )

    async def run() -> dict[str, Any]:
        try:
            return await run_batch(items, options.out_path, backend, runner)
        finally:
            await backend.aclose()

    try:
        counts = asyncio.run(run())
    finally:
        if cache is not None:
            cache.close()
    wall = time.perf_counter() - started
    config = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()}
    manifest = write_manifest(
        manifest_path(options.out_path),
        stage="llm-batch",
        config=config,
        counts=counts,
        usage=runner.ledger.to_dict(),
        wall_time_s=round(wall, 3),
    )
    return (
        f"{counts['requests']} requests: {counts['requests'] - counts['errors']} answered "
        f"({counts['from_cache']} from cache, {counts['resumed_from_partial']} resumed), {counts['errors']} errors "
        f"in {wall:.1f} s\nresults: {options.out_path}\nmanifest: {manifest}"
    )
