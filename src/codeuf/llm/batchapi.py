"""The providers' batch APIs (OpenAI Batch, Anthropic Message Batches) as a way to run requests: half the price,
answers within 24 hours.

The runner hands the requests that are not in the cache to `run_batches`, per backend. They are split into
batches within the provider's limits (requests and bytes), each submitted with the request's cache key as its
custom id, and every batch id is written to the journal (`batches.jsonl` in the run folder) as soon as the
provider gives it. Batches are polled with a backoff; when one ends, its answers go to the runner, which caches
and delivers them like live ones. A command killed at any moment and run again finds its open batches in the
journal and attaches to them instead of submitting the same requests again; what was downloaded is in the cache.
Requests a batch did not answer (errored, expired, cancelled, or a batch that failed) are retried, live or in a
new batch (`retry`), never dropped; errors are never cached. API keys travel in headers only: the batch input
files hold the requests' bodies and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from codeuf.errors import BackendDownError
from codeuf.llm.base import BackendError
from codeuf.llm.types import LLMRequest, LLMResult
from codeuf.secrets import redact

BATCH_DISCOUNT = 0.5
"""What the OpenAI and Anthropic batch APIs charge, as a share of the live price."""


@dataclass(frozen=True)
class BatchSettings:
    journal: Path | None = None
    """Where batch ids are recorded (None: no attaching across processes)."""
    poll_min_s: float = 5.0
    poll_max_s: float = 300.0
    retry: Literal["live", "batch"] = "live"
    """Requests a batch did not answer: sent live, or in a new batch."""
    max_batch_retries: int = 3
    max_requests: int | None = None
    """At most this many requests per batch [default: the provider's limit]."""
    max_bytes: int | None = None
    call_retries: int = 6
    """Retries of a call to the batch API itself (submit, poll, download) on 429, 5xx, timeouts, connections."""
    call_backoff_s: float = 1.0


JOURNAL = "batches.jsonl"
"""The journal's name in a run folder."""


def batch_plan(
    folder: Path, everything: bool, flagged: list[str], **settings: Any
) -> tuple[BatchSettings | None, frozenset[str] | None]:
    """What goes through batch APIs for a command writing `folder`: every batch-capable backend
    (`--batch-api`, `batch_api: true` for the run), only the specs flagged `batch_api` (pool entries, judges), or
    nothing. Returns (settings, the specs or None for all), as the runner takes them."""
    if not everything and not flagged:
        return None, None
    return BatchSettings(journal=folder / JOURNAL, **settings), None if everything else frozenset(flagged)


@dataclass
class BatchState:
    """A batch as the provider reports it: `done` once it will change no more (completed, expired, failed,
    cancelled, ended)."""

    status: str
    done: bool
    counts: dict[str, int] = field(default_factory=dict)


class BatchJournal:
    """The batches of a run folder, one JSON line per event (append-only; a line cut by a crash is skipped):
    `submitted` (id, the spec that made it, the requests' keys) and `finished` (id, status). Holds no key and
    no request text."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def _events(self) -> list[dict[str, Any]]:
        if self.path is None or not self.path.exists():
            return []
        events = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and isinstance(event.get("batch"), str):
                events.append(event)
        return events

    def _append(self, event: dict[str, Any]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        cut = False
        if self.path.exists() and self.path.stat().st_size > 0:
            with self.path.open("rb") as tail:
                tail.seek(-1, 2)
                cut = tail.read(1) != b"\n"
        with self.path.open("a", encoding="utf-8") as handle:  # after a line cut by a crash, a new line
            handle.write(("\n" if cut else "") + json.dumps(event, separators=(",", ":")) + "\n")
            handle.flush()

    def submitted(self, batch: str, spec: str, keys: list[str]) -> None:
        self._append({"event": "submitted", "batch": batch, "spec": spec, "keys": keys, "time": time.time()})

    def finished(self, batch: str, status: str) -> None:
        self._append({"event": "finished", "batch": batch, "status": status, "time": time.time()})

    def batches(self) -> dict[str, dict[str, Any]]:
        """Every batch: {id: {spec, keys, status (None while open), submitted}}."""
        out: dict[str, dict[str, Any]] = {}
        for event in self._events():
            if event.get("event") == "submitted":
                out[event["batch"]] = {"spec": event.get("spec"), "keys": list(event.get("keys") or []),
                                       "status": None, "submitted": event.get("time")}  # fmt: skip
            elif event.get("event") == "finished" and event["batch"] in out:
                out[event["batch"]]["status"] = event.get("status")
        return out

    def open_batches(self, spec: str) -> dict[str, list[str]]:
        return {b: e["keys"] for b, e in self.batches().items() if e["status"] is None and e["spec"] == spec}


def custom_id(key: str) -> str:
    """A request's cache key as a custom id both providers take ([A-Za-z0-9_-], at most 64)."""
    return key.replace(":", "_")


def chunks(items: list[tuple[str, LLMRequest]], size_of: Callable[[str, LLMRequest], int], max_requests: int,
           max_bytes: int) -> list[list[tuple[str, LLMRequest]]]:  # fmt: skip
    """The items in batches of at most `max_requests` requests and `max_bytes` bytes, in order."""
    batches: list[list[tuple[str, LLMRequest]]] = []
    current: list[tuple[str, LLMRequest]] = []
    used = 0
    for item in items:
        size = size_of(*item)
        if current and (len(current) >= max_requests or used + size > max_bytes):
            batches.append(current)
            current, used = [], 0
        current.append(item)
        used += size
    if current:
        batches.append(current)
    return batches


Deliver = Callable[[str, LLMResult], None]
_T = TypeVar("_T")


_NO_BATCH_API = "it has no batch API there: run without --batch-api, or set batch_api on the models that have one"


async def call(settings: BatchSettings, backend: Any, what: str, method: Callable[..., Awaitable[_T]],
               *args: Any) -> _T:  # fmt: skip
    """`method(*args)`, a call to `backend`'s batch API, retried with backoff while its error is transient; then
    one line naming the model (no key: its message is redacted)."""
    for attempt in range(settings.call_retries + 1):
        try:
            return await method(*args)
        except BackendError as exc:
            if not exc.retryable or attempt == settings.call_retries:
                hint = f"; {_NO_BATCH_API}" if exc.status_code in (404, 405) else ""
                line = f"{backend.spec}: the batch API failed to {what}: {exc.kind}: {exc.message}"[:400] + hint
                raise BackendDownError(redact(line)) from None
            await asyncio.sleep(exc.retry_after or settings.call_backoff_s * 2**attempt)
    raise AssertionError("unreachable")


async def run_batches(backend: Any, requests: dict[str, LLMRequest], settings: BatchSettings,
                      deliver: Deliver, live: Callable[[str], Awaitable[None]]) -> dict[str, int]:  # fmt: skip
    """Answer `requests` (cache key -> request) through `backend`'s batch API; `deliver(key, result)` for every
    answer, and `live(key)` for every request to send live instead. Returns counts for the ledger."""
    journal = BatchJournal(settings.journal)
    spec = str(backend.spec)
    stats = {"batches_submitted": 0, "batches_attached": 0, "polls": 0, "retried_live": 0, "retried_in_batch": 0}
    todo = dict(requests)
    attached = {b: [k for k in keys if k in todo] for b, keys in journal.open_batches(spec).items()}
    attached = {b: keys for b, keys in attached.items() if keys}
    open_batches: dict[str, list[str]] = dict(attached)
    stats["batches_attached"] = len(attached)
    for keys in attached.values():
        for key in keys:
            todo.pop(key, None)
    for attempt in range(settings.max_batch_retries + 1):
        for batch, keys in (await _submit(backend, todo, settings, journal, spec)).items():
            open_batches[batch] = keys
            stats["batches_submitted"] += 1
        todo = {}
        unanswered = await _wait(backend, open_batches, requests, settings, journal, deliver, stats)
        open_batches = {}
        if not unanswered:
            break
        if settings.retry == "live" or attempt == settings.max_batch_retries:
            stats["retried_live"] += len(unanswered)
            await asyncio.gather(*(live(key) for key in unanswered))
            break
        stats["retried_in_batch"] += len(unanswered)
        todo = {key: requests[key] for key in unanswered}
    return stats


async def _submit(backend: Any, todo: dict[str, LLMRequest], settings: BatchSettings, journal: BatchJournal,
                  spec: str) -> dict[str, list[str]]:  # fmt: skip
    max_requests, max_bytes = backend.batch_limits
    by_group: dict[str, list[tuple[str, LLMRequest]]] = {}
    for key, request in todo.items():
        by_group.setdefault(backend.batch_group(request), []).append((key, request))
    groups = [batch for items in by_group.values() for batch in chunks(
        items, backend.batch_size, min(max_requests, settings.max_requests or max_requests),
        min(max_bytes, settings.max_bytes or max_bytes))]  # fmt: skip
    submitted = {}
    for group in groups:
        lines = [(custom_id(key), request) for key, request in group]
        batch = await call(settings, backend, "submit a batch", backend.batch_submit, lines)
        keys = [key for key, _ in group]
        journal.submitted(batch, spec, keys)  # at once: a rerun attaches to it
        submitted[batch] = keys
    return submitted


async def _wait(backend: Any, batches: dict[str, list[str]], requests: dict[str, LLMRequest],
                settings: BatchSettings, journal: BatchJournal, deliver: Deliver,
                stats: dict[str, int]) -> list[str]:  # fmt: skip
    """Poll until every batch is done; deliver what each answered; return the keys left unanswered."""
    unanswered: list[str] = []
    pause = settings.poll_min_s
    waiting = dict(batches)
    while waiting:
        for batch in list(waiting):
            state = await call(settings, backend, f"report batch {batch}", backend.batch_poll, batch)
            stats["polls"] += 1
            if not state.done:
                continue
            keys = waiting.pop(batch)
            asked = {custom_id(k): requests[k] for k in keys if k in requests}
            answers = await call(settings, backend, f"download batch {batch}", backend.batch_results, batch, asked)
            for key in keys:
                answer = answers.get(custom_id(key))
                if isinstance(answer, LLMResult) and answer.ok:
                    deliver(key, answer.model_copy(update={"via_batch": True}))
                elif key in requests:
                    unanswered.append(key)
            journal.finished(batch, state.status)
        if waiting:
            await asyncio.sleep(pause)
            pause = min(settings.poll_max_s, pause * 2)
    return unanswered
