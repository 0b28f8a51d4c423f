"""`codeuf llm batch`: the LLM layer on its own, in the OpenAI Batch API file formats.

Input lines: {"custom_id", "method": "POST", "url": "/v1/chat/completions" | "/v1/completions",
"body": {...}}. Output lines: {"id", "custom_id", "response": {"status_code", "request_id",
"body"}, "error"}, one per input line, in input order, whatever happened.

The whole input is validated before anything is written. While running, each finished line is
appended to `<out>.partial`; a rerun after a crash keeps the successful lines found there (and
the cache keeps every successful call), so no completed call is made twice. The output file
appears, atomically, only when every line has an outcome.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from codeuf.errors import InputError, invalid
from codeuf.io import JsonlAppender, iter_jsonl_lines, read_jsonl_tolerant, write_jsonl_atomic
from codeuf.llm.cache import request_key
from codeuf.llm.types import LLMRequest, LLMResult, Message

_STRICT = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class _TextPart(BaseModel):
    model_config = _STRICT
    type: Literal["text"]
    text: str


class _Message(BaseModel):
    model_config = _STRICT
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[_TextPart]
    name: str | None = None


class _JsonSchema(BaseModel):
    model_config = _STRICT
    name: str
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None
    description: str | None = None


class _ResponseFormat(BaseModel):
    model_config = _STRICT
    type: Literal["text", "json_object", "json_schema"]
    json_schema: _JsonSchema | None = None


class _Sampling(BaseModel):
    model_config = _STRICT
    model: str | None = Field(None, description="Accepted for compatibility; --model decides.")
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: Literal[1] | None = None


class ChatBody(_Sampling):
    messages: list[_Message] = Field(min_length=1)
    response_format: _ResponseFormat | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)


class CompletionBody(_Sampling):
    prompt: str
    logprobs: int | None = Field(None, ge=0, le=20)


class BatchLine(BaseModel):
    model_config = _STRICT
    custom_id: str = Field(min_length=1)
    method: Literal["POST"]
    url: Literal["/v1/chat/completions", "/v1/completions"]
    body: dict[str, Any]


DEFAULT_MAX_TOKENS = 512


def to_request(line: BatchLine) -> LLMRequest:
    body: ChatBody | CompletionBody
    body = (
        ChatBody.model_validate(line.body)
        if line.url == "/v1/chat/completions"
        else CompletionBody.model_validate(line.body)
    )
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    args: dict[str, Any] = {
        "max_tokens": body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS,
        "temperature": 1.0 if body.temperature is None else body.temperature,
        "top_p": 1.0 if body.top_p is None else body.top_p,
        "stop": stop,
        "seed": body.seed,
    }
    if isinstance(body, CompletionBody):
        return LLMRequest(prompt=body.prompt, logprobs=body.logprobs, **args)
    messages = []
    for m in body.messages:
        content = m.content if isinstance(m.content, str) else "".join(p.text for p in m.content)
        messages.append(Message(role="system" if m.role == "developer" else m.role, content=content))
    fmt = body.response_format
    schema = None
    if fmt is not None and fmt.type == "json_schema":
        if fmt.json_schema is None:
            raise ValueError("response_format.json_schema is required when type is 'json_schema'")
        schema = fmt.json_schema.schema_
    elif fmt is not None and fmt.type == "json_object":
        schema = {"type": "object"}
    logprobs = (body.top_logprobs or 0) if body.logprobs else None
    return LLMRequest(messages=messages, json_schema=schema, logprobs=logprobs, **args)


def read_batch(path: str | Path) -> list[tuple[str, str, LLMRequest]]:
    """Validate a whole batch file: [(custom_id, url, request)], or one InputError."""
    items: list[tuple[str, str, LLMRequest]] = []
    seen: dict[str, int] = {}
    for number, value in iter_jsonl_lines(path):
        try:
            line = BatchLine.model_validate(value)
            request = to_request(line)
        except ValidationError as exc:
            loc = tuple(exc.errors()[0]["loc"])
            prefix = ("body",) if loc and loc[0] not in BatchLine.model_fields else ()
            raise invalid(exc, path=path, line=number, prefix=prefix) from None
        except ValueError as exc:
            raise InputError(str(exc), path=path, line=number, field="body") from None
        if line.custom_id in seen:
            raise InputError(
                f"duplicate custom_id {line.custom_id!r} (first on line {seen[line.custom_id]})",
                path=path,
                line=number,
                field="custom_id",
            )
        seen[line.custom_id] = number
        items.append((line.custom_id, line.url, request))
    if not items:
        raise InputError("no requests: the file is empty", path=path)
    return items


def output_line(custom_id: str, url: str, key: str, model: str, result: LLMResult) -> dict[str, Any]:
    """One line of the OpenAI Batch output format. `id` is derived from the request, so it is stable."""
    line_id = "batch_req_" + hashlib.blake2b(f"{key}|{custom_id}".encode(), digest_size=12).hexdigest()
    if not result.ok:
        assert result.error is not None
        error = {"code": result.error.kind, "message": result.error.message}
        response = None
        if result.error.status_code is not None:
            response = {"status_code": result.error.status_code, "request_id": line_id, "body": {"error": error}}
        return {"id": line_id, "custom_id": custom_id, "response": response, "error": error}
    usage = {
        "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens,
        "total_tokens": result.usage.prompt_tokens + result.usage.completion_tokens,
    }
    logprobs = None
    if result.logprobs is not None:
        logprobs = {
            "content": [
                {
                    "token": t.token,
                    "logprob": t.logprob,
                    "top_logprobs": [{"token": k, "logprob": v} for k, v in t.top.items()],
                }
                for t in result.logprobs
            ]
        }
    finish = openai_finish_reason(result.finish_reason)
    if url == "/v1/completions":
        choice: dict[str, Any] = {"index": 0, "text": result.text, "finish_reason": finish}
        obj = "text_completion"
    else:
        message = {"role": "assistant", "content": result.text}
        choice = {"index": 0, "message": message, "finish_reason": finish}
        obj = "chat.completion"
    choice["logprobs"] = logprobs
    body = {
        "id": line_id.replace("batch_req_", "cmpl-"),
        "object": obj,
        "created": int(time.time()),
        "model": result.model or model,
        "choices": [choice],
        "usage": usage,
    }
    return {
        "id": line_id,
        "custom_id": custom_id,
        "response": {"status_code": 200, "request_id": line_id, "body": body},
        "error": None,
    }


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


async def run_batch(
    items: list[tuple[str, str, LLMRequest]],
    out_path: str | Path,
    backend: Any,
    runner: Any,
) -> dict[str, Any]:
    """Answer every validated line (see `read_batch`); returns counts for the manifest."""
    out = Path(out_path)
    keys = [request_key(backend.identity, request) for _, _, request in items]
    model = str(backend.spec)
    lines: dict[int, dict[str, Any]] = {}
    done = {(r.get("custom_id"), r.get("id")): r for r in read_jsonl_tolerant(partial_path(out)) if not r.get("error")}
    todo: list[int] = []
    for index, ((custom_id, url, _), key) in enumerate(zip(items, keys, strict=True)):
        expected = output_line(custom_id, url, key, model, LLMResult(text=""))["id"]
        if (custom_id, expected) in done:
            lines[index] = done[(custom_id, expected)]
        else:
            todo.append(index)
    resumed = len(lines)
    with JsonlAppender(partial_path(out)) as partial:

        def on_result(position: int, result: LLMResult) -> None:
            index = todo[position]
            custom_id, url, _ = items[index]
            line = output_line(custom_id, url, keys[index], model, result)
            lines[index] = line
            partial.append(line)

        started = time.perf_counter()
        results = await runner.arun([(backend, items[i][2]) for i in todo], on_result)
        request_phase = time.perf_counter() - started
    write_jsonl_atomic(out, (lines[i] for i in range(len(items))))
    partial_path(out).unlink(missing_ok=True)
    return {
        "requests": len(items),
        "resumed_from_partial": resumed,
        "from_cache": sum(r.cached for r in results),
        "errors": sum(not r.ok for r in results),
        "request_phase_s": round(request_phase, 3),
    }


FINISH_REASONS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "content_filter": "content_filter",
                  "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                  "refusal": "content_filter", "pause_turn": "stop", "eos": "stop",
                  "function_call": "tool_calls"}  # fmt: skip
"""Every backend's finish reasons (Anthropic's stop_reason, llama.cpp's and transformers' words) in the values of
OpenAI's format, which `llm batch` writes: stop, length, tool_calls, content_filter."""


def openai_finish_reason(reason: str | None) -> str | None:
    """A finish reason as OpenAI's batch output has it; an unknown one ended the answer, so `stop`."""
    return None if reason is None else FINISH_REASONS.get(reason, "stop")
