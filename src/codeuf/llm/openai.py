"""OpenAI and every OpenAI-compatible server (vLLM, SGLang, TGI, Ollama, llama.cpp server).

`openai:MODEL` talks to the OpenAI API with OPENAI_API_KEY. `openai:MODEL@URL[,URL...]` talks
to your own servers, spreading requests over the replicas (least requests in flight first);
their key, if they need one, comes from CODEUF_ENDPOINT_API_KEY so that your OpenAI key is
never sent to a third-party endpoint. The SDK's own retries are off: the runner retries.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import time
from typing import Any

from codeuf.errors import CodeufError, MissingDependencyError
from codeuf.llm.base import Backend, BackendError
from codeuf.llm.spec import ModelSpec
from codeuf.llm.types import LLMRequest, LLMResult, TokenLogprob, Usage

try:
    import openai as _openai
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
    raise MissingDependencyError("openai", "openai") from exc


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or an HTTP date)."""
    if headers is None:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def classify(exc: Exception) -> BackendError:
    """Map an SDK exception to a BackendError whose kind decides the retry."""
    if isinstance(exc, _openai.APITimeoutError):
        return BackendError("timeout", "the server did not answer in time")
    if isinstance(exc, _openai.APIConnectionError):
        return BackendError("connection", f"connection failed: {exc}")
    if isinstance(exc, _openai.APIStatusError):
        code = exc.status_code
        retry_after = retry_after_seconds(exc.response.headers)
        message = f"HTTP {code}: {exc.message}"
        if code == 429:
            return BackendError("rate_limit", message, status_code=code, retry_after=retry_after)
        if code in (401, 403):
            return BackendError("auth", message, status_code=code)
        if code >= 500 or code == 408:
            return BackendError("server", message, status_code=code, retry_after=retry_after)
        return BackendError("bad_request", message, status_code=code)
    if isinstance(exc, (_openai.APIResponseValidationError, json.JSONDecodeError, ValueError, TypeError)):
        return BackendError("bad_response", f"the server's answer could not be read: {type(exc).__name__}")
    raise exc


SCHEMA_MODES = ("json_schema", "json_object", "none")


class OpenAIBackend(Backend):
    """Structured output is negotiated once per backend (`schema_mode="auto"`): OpenAI, vLLM,
    SGLang and llama.cpp's llama-server take `response_format: json_schema`; llama-cpp-python's
    server takes `json_object` with a `schema`; a server that refuses both gets plain requests
    and the tolerant parser. A fixed mode can be given instead.
    """

    name = "openai"
    supports_schema = True
    supports_logprobs = True

    def __init__(self, spec: ModelSpec, *, timeout: float = 600.0, schema_mode: str = "auto") -> None:
        super().__init__(spec)
        if schema_mode not in ("auto", *SCHEMA_MODES):
            raise CodeufError(f"schema_mode must be one of auto, {', '.join(SCHEMA_MODES)}")
        self._schema_modes = list(SCHEMA_MODES) if schema_mode == "auto" else [schema_mode]
        if spec.base_urls:
            key = os.environ.get("CODEUF_ENDPOINT_API_KEY") or "not-needed"
            urls: list[str | None] = list(spec.base_urls)
        else:
            key = os.environ.get("OPENAI_API_KEY", "")
            if not key:
                raise CodeufError(f"{spec}: set OPENAI_API_KEY to use the OpenAI API")
            urls = [os.environ.get("OPENAI_BASE_URL")]
        self._clients = [_openai.AsyncOpenAI(api_key=key, base_url=url, max_retries=0, timeout=timeout) for url in urls]
        self._in_flight = [0] * len(self._clients)

    def _pick(self) -> int:
        return min(range(len(self._clients)), key=self._in_flight.__getitem__)

    async def generate(self, request: LLMRequest) -> LLMResult:
        index = self._pick()
        self._in_flight[index] += 1
        try:
            if request.prompt is not None:
                return await self._complete(self._clients[index], request)
            return await self._chat(self._clients[index], request)
        except (_openai.OpenAIError, json.JSONDecodeError, ValueError, TypeError) as exc:
            raise classify(exc) from None
        finally:
            self._in_flight[index] -= 1

    def _common(self, request: LLMRequest) -> dict[str, Any]:
        args: dict[str, Any] = {
            "model": self.spec.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if request.stop:
            args["stop"] = request.stop
        if request.seed is not None:
            args["seed"] = request.seed
        if request.grammar is not None:
            args["extra_body"] = {"grammar": request.grammar}  # llama.cpp server; vLLM: guided_grammar
        return args

    async def _chat(self, client: Any, request: LLMRequest) -> LLMResult:
        args = self._common(request)
        args["messages"] = [m.model_dump() for m in request.messages or []]
        if request.logprobs is not None:
            args["logprobs"] = True
            args["top_logprobs"] = request.logprobs
        while True:
            mode = self._schema_modes[0]
            if request.json_schema is not None and mode == "json_schema":
                args["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "output", "schema": request.json_schema, "strict": True},
                }
            elif request.json_schema is not None and mode == "json_object":
                args["response_format"] = {"type": "json_object", "schema": request.json_schema}
            else:
                args.pop("response_format", None)
            try:
                response = await client.chat.completions.create(**args)
                break
            except _openai.APIStatusError as exc:
                # llama-cpp-python's server reports this refusal as a 500, others as 400 or 422.
                refused = (
                    exc.status_code in (400, 422, 500)
                    and "response_format" in args
                    and re.search(r"response_format|json_schema", str(exc.body or exc.message), re.I)
                )
                if not (refused and len(self._schema_modes) > 1):
                    raise
                if self._schema_modes[0] == mode:  # another request may have moved on already
                    self._schema_modes.pop(0)
        if not response.choices:
            raise BackendError("bad_response", "the server's answer has no choices")
        choice = response.choices[0]
        text = choice.message.content or ""
        logprobs = None
        if choice.logprobs is not None and choice.logprobs.content is not None:
            logprobs = [
                TokenLogprob(token=t.token, logprob=t.logprob, top={a.token: a.logprob for a in t.top_logprobs or []})
                for t in choice.logprobs.content
            ]
        return self._result(request, text, choice.finish_reason, response, logprobs)

    async def _complete(self, client: Any, request: LLMRequest) -> LLMResult:
        args = self._common(request)
        args["prompt"] = request.prompt
        if request.logprobs is not None:
            args["logprobs"] = request.logprobs
        if request.json_schema is not None:
            args.setdefault("extra_body", {})["response_format"] = {
                "type": "json_object",
                "schema": request.json_schema,
            }
        response = await client.completions.create(**args)
        if not response.choices:
            raise BackendError("bad_response", "the server's answer has no choices")
        choice = response.choices[0]
        logprobs = None
        lp = choice.logprobs
        if lp is not None and lp.tokens is not None and lp.token_logprobs is not None:
            tops = lp.top_logprobs or [{}] * len(lp.tokens)
            logprobs = [
                TokenLogprob(token=t, logprob=v if v is not None else float("nan"), top=dict(top or {}))
                for t, v, top in zip(lp.tokens, lp.token_logprobs, tops, strict=False)
            ]
        return self._result(request, choice.text or "", choice.finish_reason, response, logprobs)

    @staticmethod
    def _result(
        request: LLMRequest, text: str, finish: str | None, response: Any, logprobs: list[TokenLogprob] | None
    ) -> LLMResult:
        usage = Usage()
        if getattr(response, "usage", None) is not None:
            usage = Usage(
                prompt_tokens=response.usage.prompt_tokens or 0,
                completion_tokens=response.usage.completion_tokens or 0,
            )
        return LLMResult.from_text(
            request,
            text,
            finish_reason=finish,
            usage=usage,
            logprobs=logprobs,
            model=getattr(response, "model", None),
        )

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()
