"""`codeuf llm batch`: a file of requests in the OpenAI Batch format, run through a session (cache, retries,
concurrency, ledger), its output written line by line and a manifest beside it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from codeuf.cluster import build_backend
from codeuf.config.manifest import write_manifest
from codeuf.errors import InputError
from codeuf.llm.cache import default_cache_path
from codeuf.llm.spec import parse_spec


def load_prices(path: Path | None) -> dict[str, dict[str, float]]:
    """{model: {input: USD per Mtok, output: USD per Mtok, batch_discount}} from YAML; a bad table is one line."""
    if path is None:
        return {}
    from pydantic import ValidationError

    from codeuf.config import Price
    from codeuf.config.reader import read_yaml_mapping
    from codeuf.errors import invalid

    data, lines = read_yaml_mapping(path, empty_ok=True)
    prices = {}
    for model, price in data.items():
        where = {"path": path, "line": lines.get(str(model)), "field": str(model)}
        if not isinstance(price, dict):
            raise InputError("expected {input: USD per Mtok, output: USD per Mtok}", **where)
        try:
            prices[str(model)] = Price.model_validate(price).model_dump()
        except ValidationError as exc:
            raise invalid(exc, path=path, lines=lines, prefix=(str(model),)) from None
    return prices


class BatchOptions(BaseModel):
    """The settings of `codeuf llm batch`, checked like a config (the command line gives them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str
    in_path: Path
    out_path: Path
    concurrency: int = Field(8, ge=1)
    cache: Path | None = None
    use_cache: bool = True
    refresh: bool = False
    timeout: float = Field(120.0, gt=0)
    max_retries: int = Field(6, ge=0)
    prices: Path | None = None
    progress: bool | None = None
    replicas: int = Field(1, ge=1, description="On a Ray executor: actors serving an in-process model.")
    parallel: int | None = Field(None, ge=1, description="Sequences an in-process llama.cpp model decodes together.")
    batch_api: bool = Field(False, description="Through the provider's batch API (journal beside the output).")


def manifest_path(out: Path) -> Path:
    return out.with_name(out.stem + ".manifest.json")


def batch_command(options: BatchOptions) -> tuple[str, str | None]:
    """Run `codeuf llm batch`; returns the summary to print and, when some requests failed, one line on
    them (the output has an error line for each; a rerun retries just those)."""
    from codeuf.io import exclusive
    from codeuf.llm.batch.files import read_batch

    started = time.perf_counter()
    # Everything is checked before a model is loaded or a file is touched.
    items = read_batch(options.in_path)
    prices = load_prices(options.prices)
    known = {options.model, parse_spec(options.model).model}
    for key in prices:
        if key not in known:
            raise InputError(f"a price for {key!r}, which is not the model of this batch ({options.model})",
                             path=options.prices, field=key)  # fmt: skip
    from codeuf.io import check_output_file

    check_output_file(options.out_path, "--out")
    cache_path = options.cache or default_cache_path()
    if options.use_cache:
        check_output_file(cache_path, "--cache")
    backend = build_backend(options.model, options.timeout, (options.replicas, 1.0, 0.0), parallel=options.parallel)
    with exclusive(options.out_path.with_name(options.out_path.name + ".lock"), f"output {options.out_path}"):
        return _run_locked(options, items, prices, backend, cache_path, started)


def _run_locked(options: BatchOptions, items: Any, prices: Any, backend: Any, cache_path: Path,
                started: float) -> tuple[str, str | None]:  # fmt: skip
    from codeuf.llm.batch.files import run_batch
    from codeuf.session import StageSession, failure_summary

    stage = f"batch {backend.spec}"
    from codeuf.llm.batch.providers import BatchSettings

    journal = options.out_path.with_name(options.out_path.name + ".batches.jsonl")
    batch = BatchSettings(journal=journal) if options.batch_api else None
    session = StageSession(cache_path if options.use_cache else None, options.concurrency, options.progress,
                           max_retries=options.max_retries, timeout=options.timeout, refresh=options.refresh,
                           prices=prices, batch=batch)  # fmt: skip
    try:
        counts = session.run_with(stage, [backend], lambda runner: run_batch(items, options.out_path, backend, runner))
    finally:
        session.close()
    wall = time.perf_counter() - started
    config = options.model_dump(mode="json")
    usage = session.stages[stage]["usage"]
    manifest = write_manifest(manifest_path(options.out_path), stage="llm-batch", config=config, counts=counts,
                              usage=usage, wall_time_s=round(wall, 3))  # fmt: skip
    summary = (
        f"{counts['requests']} requests: {counts['requests'] - counts['errors']} answered "
        f"({counts['from_cache']} from cache, {counts['resumed_from_partial']} resumed), {counts['errors']} errors "
        f"in {wall:.1f} s\nresults: {options.out_path}\nmanifest: {manifest}"
    )
    return summary, failure_summary({"llm batch": {"usage": usage}})


# ----------------------------------------------------------------------------- codeuf batches status|cancel


def _journal(folder: Path) -> Any:
    from codeuf.llm.batch.providers import JOURNAL, BatchJournal

    path = folder / JOURNAL if folder.is_dir() else folder
    if not path.is_file():
        raise InputError(f"no batches here (no {JOURNAL}): nothing was sent through a batch API", path=folder)
    return BatchJournal(path)


if TYPE_CHECKING:
    from codeuf.results import BatchesReport


def batches_report(folder: Path, cancel: bool = False, wait_s: float = 0.0) -> BatchesReport:
    """`codeuf batches status|cancel RUN`: every batch the run submitted, the provider's status of the open ones
    and the errors it reported; with `cancel`, the open ones asked to cancel. Cancelling takes the provider a
    while: the line says the state it reports (`cancelling`), and `wait_s` polls until it is final. A batch is
    recorded as ended only once the provider says so; the next run of the command attaches to one still
    cancelling and sends again only what it did not answer."""
    import asyncio

    from codeuf.cluster import build_backend
    from codeuf.llm.batch.providers import BatchSettings, call
    from codeuf.results import BatchesReport, BatchStatus

    journal = _journal(folder)
    settings = BatchSettings(call_retries=2)
    found: list[BatchStatus] = []
    backends: dict[str, Any] = {}

    async def go() -> None:
        try:
            await each()
        finally:
            for backend in backends.values():
                await backend.aclose()

    async def cancelled(backend: Any, batch: str) -> str:
        state = await call(settings, backend, f"cancel batch {batch}", backend.batch_cancel, batch)
        deadline = time.monotonic() + wait_s
        while not state.done and time.monotonic() < deadline:
            await asyncio.sleep(min(2.0, max(0.1, deadline - time.monotonic())))
            state = await call(settings, backend, f"report batch {batch}", backend.batch_poll, batch)
        if state.done:
            journal.finished(batch, state.status)
            return f"{state.status} (by codeuf batches cancel)"
        return (f"{state.status}: the provider is cancelling it; `codeuf batches status {folder}` says when it has "
                "ended (or cancel with --wait SECONDS)")  # fmt: skip

    async def each() -> None:
        for batch, entry in journal.batches().items():
            status, is_open = entry["status"], entry["status"] is None
            if is_open:
                backend = backends.setdefault(entry["spec"], build_backend(entry["spec"]))
                if cancel:
                    status = await cancelled(backend, batch)
                else:
                    state = await call(settings, backend, f"report batch {batch}", backend.batch_poll, batch)
                    counts = ", ".join(f"{k} {v}" for k, v in state.counts.items())
                    status = f"open: {state.status}" + (f" ({counts})" if counts else "")
            first = next(iter((entry.get("errors") or {}).values()), None) if entry.get("errored") else None
            found.append(BatchStatus(
                batch=batch, spec=entry["spec"], requests=len(entry["keys"]), status=status, open=is_open,
                answered=entry.get("answered"), errored=entry.get("errored") or 0, first_error=first,
                batch_errors=list(entry.get("batch_errors") or []),
            ))  # fmt: skip

    asyncio.run(go())
    return BatchesReport(batches=found)
