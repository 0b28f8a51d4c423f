"""A local transformers model, in this process (optional extra: pip install 'codeuf[hf]').

`hf:/path/to/folder` loads a Hugging Face model folder; `hf:/path/to/model.gguf` loads a GGUF
through transformers (dequantized: fine for inference, not for training, see `codeuf convert`);
anything else is treated as a hub id, which needs the network. Chat messages use the given
prompt format, else the tokenizer's chat template. There is no constrained decoding here:
schema requests are answered freely and read by the tolerant JSON parser.
"""

from __future__ import annotations

import asyncio
import threading
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


class TransformersBackend(Backend):
    name = "hf"
    supports_logprobs = True
    in_process = True

    def __init__(self, spec: ModelSpec, *, prompt_format: str | None = None, device: str | None = None) -> None:
        super().__init__(spec)
        source, kwargs, self._model_id = _source(spec.model)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer, self.model = _load(spec, source, kwargs, torch.float32 if self.device == "cpu" else "auto")
        self.model.to(self.device)
        self.model.eval()
        self._format: PromptFormat | None = get_format(prompt_format) if prompt_format else None
        if self._format is None and not getattr(self.tokenizer, "chat_template", None):
            self._format = get_format("gemma") if "gemma" in type(self.model).__name__.lower() else None
        self._lock = threading.Lock()
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
        with self._lock, torch.inference_mode():
            return self._generate(request)

    def _generate(self, request: LLMRequest) -> LLMResult:
        prompt, special, stops = self._render(request)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=special).to(self.device)
        torch.manual_seed(request.seed if request.seed is not None else request.sample)
        sampling: dict[str, Any] = {"do_sample": False}
        if request.temperature > 0:
            sampling = {"do_sample": True, "temperature": request.temperature, "top_p": request.top_p, "top_k": 0}
        output = self.model.generate(
            **inputs,
            max_new_tokens=request.max_tokens,
            return_dict_in_generate=True,
            output_logits=request.logprobs is not None,
            pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            stop_strings=stops or None,
            tokenizer=self.tokenizer if stops else None,
            **sampling,
        )
        new_tokens = output.sequences[0, inputs["input_ids"].shape[1] :].tolist()
        eos = (
            set(self.model.generation_config.eos_token_id or [])
            if isinstance(self.model.generation_config.eos_token_id, list)
            else {self.model.generation_config.eos_token_id}
        )
        finish = "length"
        if new_tokens and new_tokens[-1] in eos:
            new_tokens, finish = new_tokens[:-1], "stop"
        text = self.tokenizer.decode(new_tokens, skip_special_tokens=True)
        cut = cut_at_stop(text, stops)
        if cut is not None:
            text, finish = cut, "stop"
        logprobs = self._logprobs(output.logits, new_tokens, request.logprobs) if request.logprobs is not None else None
        return LLMResult.from_text(
            request,
            text,
            finish_reason=finish,
            usage=Usage(prompt_tokens=int(inputs["input_ids"].shape[1]), completion_tokens=len(new_tokens)),
            logprobs=logprobs,
            model=str(self.spec),
        )

    def _logprobs(self, logits: Any, tokens: list[int], top: int) -> list[TokenLogprob]:
        steps = []
        for step_logits, token in zip(logits, tokens, strict=False):
            logp = torch.log_softmax(step_logits[0].float(), dim=-1)
            alternatives = {}
            if top:
                values, indexes = logp.topk(top)
                for value, index in zip(values.tolist(), indexes.tolist(), strict=True):
                    alternatives.setdefault(self.tokenizer.decode([index]), value)
            steps.append(
                TokenLogprob(token=self.tokenizer.decode([token]), logprob=float(logp[token]), top=alternatives)
            )
        return steps
