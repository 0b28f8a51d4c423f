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

Never paying twice: before a batch is created, an `intent` line (a fresh tag and the requests' keys) goes to
the journal, and the batch is created with that tag (OpenAI: its `metadata`). A command killed while the
create call is in flight has an intent without a batch id; its rerun first asks the provider for a batch with
that tag (OpenAI: the batches list, by metadata; Anthropic, which has no metadata: a batch created after the
intent with the same number of requests, whose custom ids are checked once it ends) and attaches to it, and
submits the requests again only when the provider has none. The provider's per-request errors (OpenAI's error
file, Anthropic's errored results) and a failed batch's `errors` are recorded in the journal; `codeuf batches
status` shows them. Input files are deleted from the provider once a batch's results are in, unless
`keep_files`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from codeuf.errors import BackendDownError, InputError
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
    keep_files: bool = False
    """Leave the uploaded input files at the provider (OpenAI); by default they are deleted once results are in."""


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
    errors: list[str] = field(default_factory=list)
    """Why the provider failed the batch as a whole (OpenAI's `errors`), where it says."""


class BatchJournal:
    """The batches of a run folder, one JSON line per event (append-only; a line cut by a crash is skipped):
    `intent` (a tag, the spec, the requests' keys: written before the provider is asked), `submitted` (id, the
    tag, the spec that made it, the requests' keys), `abandoned` (an intent the provider never received),
    `finished` (id, status, answered, the provider's errors). Holds no key and no request text."""

    ERRORS_KEPT = 20
    """Per-request error messages recorded per batch (the count is always recorded)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def _events(self) -> list[dict[str, Any]]:
        """The journal's events; a line that is not JSON was cut by a crash and is skipped, but a JSON line of
        the wrong shape is not codeuf's: one InputError naming the file, the line and the field."""
        if self.path is None or not self.path.exists():
            return []
        events = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            try:
                event = json.loads(line)
            except (ValueError, RecursionError):
                continue
            problem = _event_problem(event)
            if problem:
                raise InputError(f"not a line codeuf writes: {problem[1]}", path=self.path, line=number,
                                 field=problem[0])  # fmt: skip
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
            os.fsync(handle.fileno())

    def intent(self, tag: str, spec: str, keys: list[str]) -> None:
        self._append({"event": "intent", "tag": tag, "spec": spec, "keys": keys, "time": time.time()})

    def submitted(self, batch: str, spec: str, keys: list[str], tag: str | None = None) -> None:
        self._append({"event": "submitted", "batch": batch, "tag": tag, "spec": spec, "keys": keys,
                      "time": time.time()})  # fmt: skip

    def abandoned(self, tag: str) -> None:
        self._append({"event": "abandoned", "tag": tag, "time": time.time()})

    def finished(self, batch: str, status: str, answered: int | None = None, errors: dict[str, str] | None = None,
                 batch_errors: list[str] | None = None) -> None:  # fmt: skip
        event: dict[str, Any] = {"event": "finished", "batch": batch, "status": status, "time": time.time()}
        if answered is not None:
            event["answered"] = answered
        if errors:
            event["errored"] = len(errors)
            event["errors"] = {k: redact(v)[:300] for k, v in list(errors.items())[: self.ERRORS_KEPT]}
        if batch_errors:
            event["batch_errors"] = [redact(e)[:300] for e in batch_errors[: self.ERRORS_KEPT]]
        self._append(event)

    def batches(self) -> dict[str, dict[str, Any]]:
        """Every batch: {id: {spec, keys, status (None while open), submitted, answered, errored, errors}}."""
        out: dict[str, dict[str, Any]] = {}
        for event in self._events():
            if event.get("event") == "submitted" and isinstance(event.get("batch"), str):
                out[event["batch"]] = {"spec": event.get("spec"), "keys": list(event.get("keys") or []),
                                       "status": None, "submitted": event.get("time"), "tag": event.get("tag"),
                                       "answered": 0, "errored": 0, "errors": {}, "batch_errors": []}  # fmt: skip
            elif event.get("event") == "finished" and event.get("batch") in out:
                out[event["batch"]].update({k: event[k] for k in ("status", "answered", "errored", "errors",
                                                                  "batch_errors") if k in event})  # fmt: skip
        return out

    def open_batches(self, spec: str) -> dict[str, list[str]]:
        return {b: e["keys"] for b, e in self.batches().items() if e["status"] is None and e["spec"] == spec}

    def dangling(self, spec: str) -> list[dict[str, Any]]:
        """Intents of `spec` with neither a batch id nor an abandonment: their create call may have reached the
        provider without its answer reaching the journal (a kill at that moment)."""
        intents: dict[str, dict[str, Any]] = {}
        settled: set[str] = set()
        for event in self._events():
            tag = event.get("tag")
            if not isinstance(tag, str):
                continue
            if event.get("event") == "intent" and event.get("spec") == spec:
                intents[tag] = event
            elif event.get("event") in ("submitted", "abandoned"):
                settled.add(tag)
        return [event for tag, event in intents.items() if tag not in settled]


_EVENT_FIELDS = {"intent": ("tag", "spec", "keys"), "submitted": ("batch", "spec", "keys"), "abandoned": ("tag",),
                 "finished": ("batch", "status")}  # fmt: skip


def _event_problem(event: Any) -> tuple[str | None, str] | None:
    """(field, what is wrong) with a journal event, or None for one of the shapes BatchJournal writes."""
    from codeuf.llm.spec import parse_spec

    if not isinstance(event, dict) or event.get("event") not in _EVENT_FIELDS:
        return "event", f"expected one of {', '.join(_EVENT_FIELDS)}"
    for name in _EVENT_FIELDS[event["event"]]:
        value = event.get(name)
        if name == "keys":
            if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
                return name, "expected a list of request keys"
        elif not isinstance(value, str):
            return name, "expected a string"
    if "spec" in _EVENT_FIELDS[event["event"]]:
        try:
            parse_spec(event["spec"])
        except InputError as exc:
            return "spec", exc.detail
    for name, kind in (("errors", dict), ("batch_errors", list), ("tag", str)):
        if event.get(name) is not None and not isinstance(event[name], kind):
            return name, f"expected a {kind.__name__}"
    return None


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
    await _adopt(backend, journal, spec, settings)
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


async def _adopt(backend: Any, journal: BatchJournal, spec: str, settings: BatchSettings) -> None:
    """Settle the intents a killed command left: a batch the provider created for one is recorded (and then
    attached to like any open batch); an intent the provider never received is abandoned (its requests are
    submitted again)."""
    for intent in journal.dangling(spec):
        ids = [custom_id(k) for k in intent.get("keys") or []]
        found = await call(settings, backend, "look for the batch of an interrupted submission", backend.batch_find,
                           intent["tag"], ids, float(intent.get("time") or 0.0))  # fmt: skip
        if found:
            journal.submitted(found, spec, list(intent.get("keys") or []), intent["tag"])
        else:
            journal.abandoned(intent["tag"])


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
        keys = [key for key, _ in group]
        tag = f"codeuf-{uuid.uuid4().hex[:20]}"
        journal.intent(tag, spec, keys)  # before the provider is asked: a rerun looks for the batch by its tag
        batch = await call(settings, backend, "submit a batch", backend.batch_submit, lines, tag)
        journal.submitted(batch, spec, keys, tag)  # at once: a rerun attaches to it
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
            errors, answered = {}, 0
            for key in keys:
                answer = answers.get(custom_id(key))
                if isinstance(answer, LLMResult) and answer.ok:
                    deliver(key, answer.model_copy(update={"via_batch": True}))
                    answered += 1
                elif key in requests:
                    unanswered.append(key)
                    if isinstance(answer, LLMResult) and answer.error is not None:
                        errors[key] = f"{answer.error.kind}: {answer.error.message}"
            journal.finished(batch, state.status, answered, errors, state.errors)
            if not settings.keep_files:
                await call(settings, backend, f"delete the files of batch {batch}", backend.batch_cleanup, batch)
        if waiting:
            await asyncio.sleep(pause)
            pause = min(settings.poll_max_s, pause * 2)
    return unanswered
