"""The one request type and the one result type that every backend speaks."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    content: str


class LLMRequest(BaseModel):
    """What to ask a model. Either chat `messages` or a raw completion `prompt`.

    Every field here can change the output, so every field is part of the cache key
    (see `codeuf.llm.cache.request_key`); transport settings (timeouts, concurrency,
    API keys) live elsewhere on purpose.
    """

    model_config = ConfigDict(extra="forbid")

    messages: list[Message] | None = None
    prompt: str | None = Field(None, description="A raw completion prompt, sent without a chat template.")
    max_tokens: int = Field(512, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = None
    json_schema: dict[str, Any] | None = Field(None, description="Constrain the output to this JSON schema.")
    grammar: str | None = Field(None, description="Constrain the output to this GBNF grammar (llama.cpp).")
    logprobs: int | None = Field(
        None, ge=0, le=20, description="Return token log-probabilities with this many alternatives per token."
    )
    sample: int = Field(0, ge=0, description="Sample index: tells repeated samples of one request apart.")

    @model_validator(mode="after")
    def _one_input(self) -> LLMRequest:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("give exactly one of 'messages' or 'prompt'")
        if self.messages is not None and not self.messages:
            raise ValueError("'messages' is empty")
        if self.json_schema is not None and self.grammar is not None:
            raise ValueError("give at most one of 'json_schema' or 'grammar'")
        return self


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class TokenLogprob(BaseModel):
    token: str
    logprob: float
    top: dict[str, float] = Field(default_factory=dict)


ErrorKind = Literal["rate_limit", "server", "timeout", "connection", "bad_response", "bad_request", "auth", "internal"]


class LLMError(BaseModel):
    """Why a request has no result. Recorded in outputs; never cached as a result."""

    kind: ErrorKind
    message: str
    status_code: int | None = None


class LLMResult(BaseModel):
    text: str | None = None
    parsed: Any = Field(None, description="The output as JSON, when a schema was asked for and it parsed.")
    parse_error: str | None = None
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    logprobs: list[TokenLogprob] | None = None
    error: LLMError | None = None
    model: str | None = None
    cached: bool = False
    via_batch: bool = False
    """Answered through a provider's batch API (codeuf.llm.batch.providers), at its price."""
    attempts: int = 0
    latency_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def from_text(cls, request: LLMRequest, text: str, **fields: Any) -> LLMResult:
        """A result for `text`, parsed as JSON when the request asked for a schema."""
        if request.json_schema is not None and "parsed" not in fields:
            fields["parsed"], fields["parse_error"] = parse_json_output(text)
        return cls(text=text, **fields)


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def parse_json_output(text: str) -> tuple[Any, str | None]:
    """Read a JSON value from model output, tolerating fences and chatter around one object.

    Returns (value, None) or (None, reason). Constrained decoding makes the first branch the
    normal case; the fallbacks exist for backends that cannot constrain.
    """
    stripped = text.strip()
    try:
        return json.loads(stripped), None
    except json.JSONDecodeError as exc:
        first_error = f"not valid JSON: {exc.msg} at char {exc.pos}"
    candidates = [m.group(1) for m in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate), None
        except json.JSONDecodeError:
            continue
    return None, first_error
