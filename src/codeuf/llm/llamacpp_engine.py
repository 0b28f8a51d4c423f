"""Continuous batching for the embedded model: the requests in flight share one llama.cpp decode loop.

A single-sequence decode of a small model reads every weight once for one token; a batch of sequences reads
them once for many. llama.cpp's server does this (`--parallel N`, continuous batching; the `batched` and
`parallel` examples show the loop), and so does vLLM. llama-cpp-python's `Llama` decodes one sequence at a
time and its server serialises requests, so this module drives llama.cpp's own API (through
llama-cpp-python's bindings) the way the llama.cpp server does:

- one context holds `parallel` sequences, each with its own KV stream (`kv_unified` off: a sequence attends to
  its own cells only) of `n_ctx` cells, so every request that fits today's context fits here;
- one thread runs the loop: each step puts the last sampled token of every decoding sequence and a chunk of
  each new sequence's prompt into one `llama_batch` (at most `n_batch` tokens), decodes it, and samples each
  sequence from its own row of logits;
- a request joins between two steps and a finished one leaves at once (its cells are freed), so short answers
  never wait for long ones;
- each sequence keeps its own sampler: temperature, top_p and seed, its grammar (checked after sampling, see
  `codeuf.llm.llamacpp._Sampler`), its stop strings and its log-probabilities.

A request whose future is cancelled (the run was interrupted) leaves the batch at the next step.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import llama_cpp
from llama_cpp import _internals

from codeuf.llm.base import BackendError
from codeuf.llm.formats import cut_at_stop


@dataclass
class Job:
    """One request, rendered and tokenized: what the loop needs to decode it."""

    tokens: list[int]
    stops: list[str]
    max_tokens: int
    make_sampler: Callable[[], Any]
    """Builds the request's `_Sampler` (in the loop's thread, when the request joins)."""
    future: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)


@dataclass
class _Sequence:
    job: Job
    seq_id: int
    sampler: Any
    fed: int = 0
    """Prompt tokens already decoded."""
    out: list[int] = field(default_factory=list)
    text: str = ""
    row: int = -1
    """Its row of logits in the batch just decoded, or -1."""

    @property
    def prefilling(self) -> bool:
        return self.fed < len(self.job.tokens)


@dataclass(frozen=True)
class Finished:
    """What the loop hands back: the answer's tokens and text, why it ended, and the sampler (its records)."""

    out: list[int]
    text: str
    finish: str
    sampler: Any


class Engine:
    """The decode loop of one model: `submit` a Job from any thread, read its future."""

    def __init__(self, llm: Any, *, parallel: int, n_ctx: int, n_batch: int = 512, n_threads: int) -> None:
        self.llm, self.parallel, self.n_ctx, self.n_batch = llm, parallel, n_ctx, n_batch
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)  # as llama-cpp-python sets it
        params.n_ctx = n_ctx * parallel
        params.n_batch = params.n_ubatch = n_batch
        params.n_seq_max = parallel
        params.kv_unified = False  # each sequence attends to its own cells only
        # A sliding-window layer keeps only its window per sequence (not n_ctx cells): 146 MiB less per extra
        # sequence for Gemma 3. Alone, the full-size cache llama-cpp-python uses, so that parallel 1 decodes
        # exactly as plain llama-cpp-python does.
        params.swa_full = parallel == 1
        params.n_threads = params.n_threads_batch = n_threads
        params.no_perf = True
        self._ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._queue: deque[Job] = deque()
        self._active: dict[int, _Sequence] = {}
        self._wake = threading.Condition()
        self._closed = False
        self.steps = 0
        """Decode calls made (for tests and benchmarks)."""
        self.peak = 0
        """The most sequences decoded in one step."""
        self._thread = threading.Thread(target=self._loop, name="codeuf-llamacpp", daemon=True)
        self._thread.start()
        _ENGINES.add(self)

    def submit(self, job: Job) -> concurrent.futures.Future[Any]:
        with self._wake:
            if self._closed:
                raise BackendError("internal", "the model was closed")
            self._queue.append(job)
            self._wake.notify()
        return job.future

    @property
    def in_flight(self) -> int:
        """Requests queued or decoding."""
        with self._wake:
            return len(self._queue) + len(self._active)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=30)
        if self._batch is not None and not self._thread.is_alive():
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
            self._ctx.close()

    # ------------------------------------------------------------------------------------------ the loop

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._closed and not self._queue and not self._active:
                    self._wake.wait()
                if self._closed:
                    break
                joining = self._admit()
            for sequence in joining:
                self._start(sequence)
            try:
                self._step()
            except Exception as exc:  # a failed decode fails the sequences it held, not the loop
                self._fail_all(BackendError("server", f"llama.cpp decode failed: {type(exc).__name__}: {exc}"))
        self._fail_all(BackendError("internal", "the model was closed"))

    def _admit(self) -> list[_Sequence]:
        """Queued jobs that join now, one per free sequence slot (called under the lock)."""
        free = [s for s in range(self.parallel) if s not in self._active]
        joining = []
        while free and self._queue:
            job = self._queue.popleft()
            if job.future.cancelled():
                continue
            sequence = _Sequence(job, free.pop(0), None)
            self._active[sequence.seq_id] = sequence
            joining.append(sequence)
        return joining

    def _start(self, sequence: _Sequence) -> None:
        try:
            sequence.sampler = sequence.job.make_sampler()
        except BackendError as exc:
            self._end(sequence, error=exc)
        except Exception as exc:
            self._end(sequence, error=BackendError("internal", f"{type(exc).__name__}: {exc}"))

    def _step(self) -> None:
        for sequence in list(self._active.values()):
            if sequence.job.future.cancelled():
                self._end(sequence, error=None)
        if not self._active:
            return
        # Rows go in the order of the sequence ids: with a KV stream per sequence, llama.cpp puts sequences in
        # one micro-batch only where their ids follow each other in the batch (split_equal), so any other
        # order would split one step into several passes over the weights.
        ordered = sorted(self._active.values(), key=lambda s: s.seq_id)
        budget = self.n_batch - sum(not s.prefilling for s in ordered)  # decoding sequences first, then prompts
        batch, rows = self._batch, 0
        for sequence in ordered:
            sequence.row = -1
            if not sequence.prefilling:
                rows = self._put(rows, sequence.out[-1], len(sequence.job.tokens) + len(sequence.out) - 1,
                                 sequence, logits=True)  # fmt: skip
                continue
            take = min(budget, len(sequence.job.tokens) - sequence.fed)
            budget -= take
            for _ in range(take):
                last = sequence.fed == len(sequence.job.tokens) - 1
                rows = self._put(rows, sequence.job.tokens[sequence.fed], sequence.fed, sequence, logits=last)
                sequence.fed += 1
        batch.n_tokens = rows
        code = llama_cpp.llama_decode(self._ctx.ctx, batch)
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code}")
        self.steps += 1
        sampled = [s for s in self._active.values() if s.row >= 0]
        self.peak = max(self.peak, len(sampled))
        for sequence in sampled:
            self._advance(sequence)

    def _put(self, row: int, token: int, pos: int, sequence: _Sequence, *, logits: bool) -> int:
        batch = self._batch
        batch.token[row], batch.pos[row] = token, pos
        batch.n_seq_id[row], batch.seq_id[row][0] = 1, sequence.seq_id
        batch.logits[row] = logits
        if logits:
            sequence.row = row
        return row + 1

    def _advance(self, sequence: _Sequence) -> None:
        """Sample the sequence's next token and end it at the end of generation, a stop string or max_tokens."""
        job, llm = sequence.job, self.llm
        token = sequence.sampler.sample(self._ctx, sequence.row)
        if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token):
            self._end(sequence, finish="stop")
            return
        sequence.out.append(token)
        sequence.text = llm.detokenize(sequence.out, prev_tokens=job.tokens).decode("utf-8", errors="replace")
        cut = cut_at_stop(sequence.text, job.stops)
        if cut is not None:
            sequence.text = cut
            self._end(sequence, finish="stop")
        elif len(sequence.out) >= job.max_tokens:
            self._end(sequence, finish="length")

    def _end(self, sequence: _Sequence, *, finish: str = "", error: BackendError | None = None) -> None:
        """The sequence leaves: its cells are freed, its sampler closed and its future answered."""
        with self._wake:
            self._active.pop(sequence.seq_id, None)
        llama_cpp.llama_memory_seq_rm(self._ctx.memory, sequence.seq_id, -1, -1)
        if sequence.sampler is not None:
            sequence.sampler.close()
        future = sequence.job.future
        with contextlib.suppress(concurrent.futures.InvalidStateError):  # cancelled meanwhile: nobody waits
            if error is not None:
                future.set_exception(error)
            elif not future.cancelled():
                future.set_result(Finished(sequence.out, sequence.text, finish, sequence.sampler))

    def _fail_all(self, error: BackendError) -> None:
        for sequence in list(self._active.values()):
            self._end(sequence, error=error)
        with self._wake:
            queued, self._queue = list(self._queue), deque()
        for job in queued:
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                job.future.set_exception(error)


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Stop every loop before the interpreter frees the models: a decode still running in the loop's thread
    while its context is freed would crash the exit (an interrupted run, say)."""
    for engine in list(_ENGINES):
        engine.close()
