"""Claude models through the Anthropic API (ANTHROPIC_API_KEY).

Structured output goes through tool use: the schema becomes the input schema of one tool that
the model is made to call, and the tool's input is the parsed output. `anthropic:MODEL@URL`
points the SDK at another base URL (a gateway, or the test suite's loopback server).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

from codeuf.errors import CodeufError, MissingDependencyError
from codeuf.llm.base import Backend, BackendError, retry_after_seconds, status_error
from codeuf.llm.spec import ModelSpec
from codeuf.llm.types import LLMError, LLMRequest, LLMResult, Usage

try:
    import anthropic as _anthropic
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
    raise MissingDependencyError("anthropic", "anthropic") from exc

TOOL_NAME = "give_answer"


def classify(exc: Exception) -> BackendError:
    if isinstance(exc, _anthropic.APITimeoutError):
        return BackendError("timeout", "the server did not answer in time")
    if isinstance(exc, _anthropic.APIConnectionError):
        return BackendError("connection", f"connection failed: {exc}")
    if isinstance(exc, _anthropic.APIStatusError):
        message = f"HTTP {exc.status_code}: {exc.message}"
        return status_error(exc.status_code, message, retry_after_seconds(exc.response.headers))
    return BackendError("bad_response", f"the server's answer could not be read: {type(exc).__name__}")


@contextlib.contextmanager
def _sdk_errors() -> Iterator[None]:
    """The SDK's exceptions, raised as the BackendErrors the runner and the batch API retry or report."""
    try:
        yield
    except _anthropic.AnthropicError as exc:
        raise classify(exc) from None


class AnthropicBackend(Backend):
    name = "anthropic"
    supports_schema = True

    def __init__(self, spec: ModelSpec, *, timeout: float = 600.0) -> None:
        super().__init__(spec)
        key = os.environ.get("ANTHROPIC_API_KEY", "")
        if not key and not spec.base_urls:
            raise CodeufError(f"{spec}: set ANTHROPIC_API_KEY to use the Anthropic API")
        base_url = spec.base_urls[0] if spec.base_urls else None
        # The API reference asks for the key in `x-api-key`; some SDK releases send `Authorization: Bearer`
        # for `api_key` instead (which is the SDK's `auth_token`), so the header is set here and the other left out.
        key = key or "not-needed"
        self._client = _anthropic.AsyncAnthropic(
            api_key=key, base_url=base_url, max_retries=0, timeout=timeout,
            default_headers={"x-api-key": key, "Authorization": _anthropic.Omit()},
        )  # fmt: skip

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        """The Messages API parameters of a request (one line if it asks what the API does not have)."""
        if request.prompt is not None:
            raise BackendError("bad_request", "the Anthropic API takes chat messages, not a raw prompt")
        if request.grammar is not None or request.logprobs is not None:
            raise BackendError("bad_request", "the Anthropic API supports neither grammars nor log-probabilities")
        if request.temperature > 1.0:
            raise BackendError("bad_request", "the Anthropic API takes a temperature of at most 1.0")
        messages = request.messages or []
        params: dict[str, Any] = {
            "model": self.spec.model,
            "max_tokens": request.max_tokens,
            "messages": [m.model_dump() for m in messages if m.role != "system"],
            "temperature": request.temperature,
        }
        if request.top_p < 1.0:
            params["top_p"] = request.top_p
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        if system:
            params["system"] = system
        if request.stop:
            params["stop_sequences"] = request.stop
        if request.json_schema is not None:
            params["tools"] = [
                {"name": TOOL_NAME, "description": "Give the answer.", "input_schema": request.json_schema}
            ]
            params["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        return params

    async def generate(self, request: LLMRequest) -> LLMResult:
        params = self._params(request)
        # The HTTP API takes these; recent SDK releases dropped them from the signature.
        extra = {k: params.pop(k) for k in ("temperature", "top_p") if k in params}
        with _sdk_errors():
            response = await self._client.messages.create(**params, extra_body=extra)
        return self._message_result(request, response)

    @staticmethod
    def _message_result(request: LLMRequest, response: Any) -> LLMResult:
        usage = Usage(prompt_tokens=response.usage.input_tokens, completion_tokens=response.usage.output_tokens)
        common = {"finish_reason": response.stop_reason, "usage": usage, "model": response.model}
        if request.json_schema is not None:
            tool = next((b for b in response.content if b.type == "tool_use"), None)
            if tool is None:
                text = "".join(b.text for b in response.content if b.type == "text")
                return LLMResult(text=text, parse_error="the model did not call the answer tool", **common)
            return LLMResult(text=json.dumps(tool.input), parsed=tool.input, **common)
        text = "".join(b.text for b in response.content if b.type == "text")
        return LLMResult.from_text(request, text, **common)

    # ------------------------------------------------------------------------- Message Batches

    supports_batch = True
    batch_limits = (100_000, 250 * 1024**2)  # Anthropic: 100,000 requests or 256 MB per batch

    def batch_size(self, custom_id: str, request: LLMRequest) -> int:
        return len(json.dumps({"custom_id": custom_id, "params": self._params(request)})) + 1

    async def batch_submit(self, items: list[tuple[str, LLMRequest]], tag: str = "") -> str:
        """Create a Message Batch (which takes no metadata: `tag` stays in codeuf's journal; see batch_find)."""
        requests = [{"custom_id": custom_id, "params": self._params(request)} for custom_id, request in items]
        with _sdk_errors():
            batch = await self._client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        return str(batch.id)

    async def batch_poll(self, batch_id: str) -> Any:
        from codeuf.llm.batch.providers import BatchState

        with _sdk_errors():
            batch = await self._client.messages.batches.retrieve(batch_id)
        counts = batch.request_counts.model_dump() if batch.request_counts else {}
        return BatchState(str(batch.processing_status), batch.processing_status == "ended", counts)

    async def batch_find(self, tag: str, custom_ids: list[str], since: float) -> str | None:
        """Message Batches carry no metadata, so a batch whose create call lost its answer is recognised by
        what it holds: created at or after the interrupted submission (`since`, less a minute of clock skew),
        with as many requests; once it has ended, its custom ids must be the submission's. Results are matched
        by custom id anyway, so a wrong guess only costs waiting for it: its requests are asked again."""
        wanted = set(custom_ids)
        with _sdk_errors():
            async for batch in self._client.messages.batches.list(limit=100):
                created = batch.created_at.timestamp()
                if created < since - 60:
                    return None  # the list is newest first
                counts = batch.request_counts.model_dump() if batch.request_counts else {}
                if sum(counts.values()) != len(wanted):
                    continue
                if batch.processing_status != "ended":
                    return str(batch.id)
                ids = {row.custom_id async for row in await self._client.messages.batches.results(batch.id)}
                if ids == wanted:
                    return str(batch.id)
        return None

    async def batch_results(self, batch_id: str, requests: dict[str, LLMRequest]) -> dict[str, LLMResult]:
        """The answers by custom id; an errored request has a result with the provider's error."""
        answers: dict[str, LLMResult] = {}
        with _sdk_errors():
            async for row in await self._client.messages.batches.results(batch_id):
                request = requests.get(row.custom_id)
                if request is None:
                    continue
                if row.result.type == "succeeded":
                    answers[row.custom_id] = self._message_result(request, row.result.message)
                elif row.result.type == "errored":
                    error = getattr(row.result.error, "error", None)
                    message = str(getattr(error, "message", None) or row.result.error)
                    kind = "bad_request" if getattr(error, "type", "") == "invalid_request_error" else "server"
                    answers[row.custom_id] = LLMResult(error=LLMError(kind=kind, message=message[:500]))
        return answers

    async def batch_cancel(self, batch_id: str) -> Any:
        """Ask for cancellation; returns the state: `canceling` until the batch has ended."""
        from codeuf.llm.batch.providers import BatchState

        with _sdk_errors():
            batch = await self._client.messages.batches.cancel(batch_id)
        counts = batch.request_counts.model_dump() if batch.request_counts else {}
        return BatchState(str(batch.processing_status), batch.processing_status == "ended", counts)

    async def aclose(self) -> None:
        await self._client.close()
