"""A local transformers model, in this process (optional extra: pip install 'codeuf[hf]').

`hf:/path/to/folder` loads a Hugging Face model folder; `hf:/path/to/model.gguf` loads a GGUF
through transformers (dequantized: fine for inference, not for training, see `codeuf convert`);
anything else is treated as a hub id, which needs the network. Chat messages use the given
prompt format, else the tokenizer's chat template. There is no constrained decoding here:
schema requests are answered freely and read by the tolerant JSON parser.

Concurrent greedy requests are answered together: while one `generate` runs, the requests that arrive wait,
and the next call takes up to `parallel` of them in one left-padded batch (transformers' own batching). Each
answer is cut at its own stop strings and max_tokens afterwards, which for greedy decoding gives the tokens it
would have alone (up to floating-point rounding: a padded batch sums in another order). Sampled requests run
alone, so that each keeps its own seed.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeuf.errors import CodeufError, MissingDependencyError
from codeuf.llm.base import Backend, BackendError
from codeuf.llm.formats import PromptFormat, cut_at_stop, get_format
from codeuf.llm.spec import ModelSpec
from codeuf.llm.types import LLMRequest, LLMResult, TokenLogprob, Usage

try:
    import torch
    import transformers
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
    raise MissingDependencyError("transformers and torch", "hf") from exc


def _source(model: str) -> tuple[str, dict[str, Any], str]:
    """(what to pass to from_pretrained, extra kwargs, identity for the cache key)."""
    path = Path(model).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise CodeufError(f"no GGUF file at {path}")
        stat = path.stat()
        return str(path.parent.resolve()), {"gguf_file": path.name}, f"{path.resolve()}:{stat.st_mtime_ns}"
    if path.exists():
        newest = max((p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file()), default=0)
        return str(path.resolve()), {}, f"{path.resolve()}:{newest}"
    if model.startswith(("/", "./", "../", "~")):  # a path, not a hub id (namespace/name)
        raise CodeufError(f"no model folder at {path}")
    return model, {}, model


def _load(spec: ModelSpec, source: str, kwargs: dict[str, Any], dtype: Any) -> tuple[Any, Any]:
    """The tokenizer and model; a model that cannot be loaded (offline, a wrong id, no access) is one line."""
    from codeuf import hub

    hub.quiet()
    transformers.logging.set_verbosity_error()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
        return tokenizer, transformers.AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs)
    except OSError as exc:
        raise CodeufError(
            f"{spec}: cannot load {spec.model!r}: {hub.reason(exc)}; offline, give a local folder or a .gguf file"
        ) from None


@dataclass
class _Waiting:
    """A greedy request waiting for the next batch, and where its answer goes."""

    request: LLMRequest
    done: threading.Event = field(default_factory=threading.Event)
    result: LLMResult | None = None
    error: BaseException | None = None


class TransformersBackend(Backend):
    name = "hf"
    supports_logprobs = True
    in_process = True
    batches_sequences = True

    @classmethod
    def sequences(cls, parallel: int | None) -> int:
        return max(1, parallel if parallel is not None else 8)

    @classmethod
    def thread_options(cls, threads: int) -> dict[str, Any]:
        torch.set_num_threads(threads)
        return {}

    def __init__(self, spec: ModelSpec, *, prompt_format: str | None = None, device: str | None = None,
                 parallel: int | None = None) -> None:  # fmt: skip
        """`parallel`: the greedy requests answered in one padded batch (default 8; 1: one at a time)."""
        super().__init__(spec)
        self.parallel = self.max_concurrency = self.sequences(parallel)
        self._waiting: list[_Waiting] = []
        source, kwargs, self._model_id = _source(spec.model)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer, self.model = _load(spec, source, kwargs, torch.float32 if self.device == "cpu" else "auto")
        self.model.to(self.device)
        self.model.eval()
        self._format: PromptFormat | None = get_format(prompt_format) if prompt_format else None
        if self._format is None and not getattr(self.tokenizer, "chat_template", None):
            self._format = get_format("gemma") if "gemma" in type(self.model).__name__.lower() else None
        self._lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self.splits_digits = len(self.tokenizer.encode("10", add_special_tokens=False)) > 1

    @property
    def identity(self) -> dict[str, Any]:
        return {"backend": "hf", "model": self._model_id, "format": self._format.name if self._format else "tokenizer"}

    async def generate(self, request: LLMRequest) -> LLMResult:
        return await asyncio.to_thread(self.generate_sync, request)

    def _render(self, request: LLMRequest) -> tuple[str, bool, list[str]]:
        """(prompt, whether the tokenizer should add special tokens, stop strings)."""
        if request.prompt is not None:
            return request.prompt, True, list(request.stop)
        messages = list(request.messages or [])
        if self._format is not None:
            return self._format.render(messages), True, [*request.stop, *self._format.stop]
        if not getattr(self.tokenizer, "chat_template", None):
            raise CodeufError(f"{self.spec}: the tokenizer has no chat template; give a prompt format")
        text = self.tokenizer.apply_chat_template(
            [m.model_dump() for m in messages], tokenize=False, add_generation_prompt=True
        )
        return text, False, list(request.stop)

    def continuation(self, request: LLMRequest, text: str) -> LLMRequest | None:
        prompt, special, _ = self._render(request)
        bos = self.tokenizer.bos_token or ""
        if not special and bos and prompt.startswith(bos):
            prompt = prompt[len(bos) :]  # the chat template wrote BOS; a raw prompt gets it from the tokenizer
        return LLMRequest(prompt=prompt + text, max_tokens=1, temperature=0.0, logprobs=request.logprobs or 20)

    def generate_sync(self, request: LLMRequest) -> LLMResult:
        if request.grammar is not None:
            raise BackendError("bad_request", "the hf backend does not support GBNF grammars")
        if request.temperature > 0 or self.parallel == 1:
            with self._lock, torch.inference_mode():
                return self._generate([request])[0]
        mine = _Waiting(request)
        with self._queue_lock:
            self._waiting.append(mine)
        while not mine.done.is_set():
            with self._lock:  # whoever holds the model answers what waits, up to `parallel` requests at a time
                with self._queue_lock:
                    group, self._waiting = self._waiting[: self.parallel], self._waiting[self.parallel :]
                if group:
                    self._answer(group)
        if mine.error is not None:
            raise mine.error
        assert mine.result is not None
        return mine.result

    def _answer(self, group: list[_Waiting]) -> None:
        try:
            with torch.inference_mode():
                results = self._generate([w.request for w in group])
        except Exception as exc:  # every request of the batch gets the error; the next batch goes on
            for waiting in group:
                waiting.error = exc
                waiting.done.set()
            return
        for waiting, result in zip(group, results, strict=True):
            waiting.result = result
            waiting.done.set()

    def _generate(self, requests: list[LLMRequest]) -> list[LLMResult]:
        """One `generate` call for the requests: one sampled request, or greedy ones in a left-padded batch."""
        rendered = [self._render(r) for r in requests]
        first = requests[0]
        stops = rendered[0][2] if all(r[2] == rendered[0][2] for r in rendered) else []  # else cut afterwards
        self.tokenizer.padding_side = "left"
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        inputs = self.tokenizer([r[0] for r in rendered], return_tensors="pt", padding=len(requests) > 1,
                                add_special_tokens=rendered[0][1]).to(self.device)  # fmt: skip
        torch.manual_seed(first.seed if first.seed is not None else first.sample)
        sampling: dict[str, Any] = {"do_sample": False}
        if first.temperature > 0:
            sampling = {"do_sample": True, "temperature": first.temperature, "top_p": first.top_p, "top_k": 0}
        output = self.model.generate(
            **inputs,
            max_new_tokens=max(r.max_tokens for r in requests),
            return_dict_in_generate=True,
            output_logits=any(r.logprobs is not None for r in requests),
            pad_token_id=pad,
            stop_strings=stops or None,
            tokenizer=self.tokenizer if stops else None,
            **sampling,
        )
        width = inputs["input_ids"].shape[1]
        return [self._one(request, rendered[row][2], output, row, width, int(inputs["attention_mask"][row].sum()))
                for row, request in enumerate(requests)]  # fmt: skip

    def _one(self, request: LLMRequest, stops: list[str], output: Any, row: int, width: int,
             prompt_tokens: int) -> LLMResult:  # fmt: skip
        """Row `row` of a batched `generate`: its tokens up to its end of sequence and max_tokens, cut at its
        stop strings."""
        eos_ids = self.model.generation_config.eos_token_id
        eos = set(eos_ids or []) if isinstance(eos_ids, list) else {eos_ids}
        new_tokens = output.sequences[row, width:].tolist()[: request.max_tokens]
        finish = "length"
        end = next((i for i, token in enumerate(new_tokens) if token in eos), None)
        if end is not None:
            new_tokens, finish = new_tokens[:end], "stop"
        text = self.tokenizer.decode(new_tokens, skip_special_tokens=True)
        cut = cut_at_stop(text, stops)
        if cut is not None:  # the answer ends with the token that completed the stop string, as when alone
            new_tokens = next(new_tokens[:k] for k in range(1, len(new_tokens) + 1)
                              if cut_at_stop(self.tokenizer.decode(new_tokens[:k], skip_special_tokens=True), stops)
                              is not None)  # fmt: skip
            text, finish = cut, "stop"
        logprobs = (self._logprobs(output.logits, row, new_tokens, request.logprobs)
                    if request.logprobs is not None else None)  # fmt: skip
        return LLMResult.from_text(
            request,
            text,
            finish_reason=finish,
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=len(new_tokens)),
            logprobs=logprobs,
            model=str(self.spec),
        )

    def _logprobs(self, logits: Any, row: int, tokens: list[int], top: int) -> list[TokenLogprob]:
        steps = []
        for step_logits, token in zip(logits, tokens, strict=False):
            logp = torch.log_softmax(step_logits[row].float(), dim=-1)
            alternatives = {}
            if top:
                values, indexes = logp.topk(top)
                for value, index in zip(values.tolist(), indexes.tolist(), strict=True):
                    alternatives.setdefault(self.tokenizer.decode([index]), value)
            steps.append(
                TokenLogprob(token=self.tokenizer.decode([token]), logprob=float(logp[token]), top=alternatives)
            )
        return steps
