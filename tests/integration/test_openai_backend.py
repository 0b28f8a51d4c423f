"""The OpenAI-compatible backend against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from codeuf.llm.base import load_backend
from codeuf.llm.runner import Runner, RunnerConfig
from codeuf.llm.types import LLMRequest, Message
from tests.fakeserver import FakeServer

pytestmark = pytest.mark.integration

RATING = {"type": "object", "properties": {"rating": {"type": "string", "enum": ["1", "2", "3", "4", "5"]}},
          "required": ["rating"]}  # fmt: skip


def ask(text: str, **kw: object) -> LLMRequest:
    return LLMRequest(messages=[Message(role="user", content=text)], **kw)


def run(spec: str, requests: list[LLMRequest], **config: object):  # type: ignore[no-untyped-def]
    backend = load_backend(spec, timeout=config.pop("timeout", 30.0))

    async def go():  # type: ignore[no-untyped-def]
        try:
            return await Runner(RunnerConfig(**config)).arun([(backend, r) for r in requests])
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_llama_cpp_server_chat_completion_and_schema(llama_server: str) -> None:
    spec = f"openai:gemma@{llama_server}"
    plain, rated, completion = run(
        spec,
        [
            ask("Write a Python function that adds two numbers.", max_tokens=24, temperature=0),
            ask("Rate this code 1-5: def f(x): return x", json_schema=RATING, max_tokens=24, temperature=0),
            LLMRequest(prompt="def add(a, b):\n", max_tokens=12, temperature=0, logprobs=2),
        ],
        concurrency=2,
    )
    assert plain.ok and plain.text and plain.usage.completion_tokens > 0
    assert rated.ok and rated.parse_error is None and rated.parsed["rating"] in {"1", "2", "3", "4", "5"}
    assert completion.ok and completion.logprobs and all(t.logprob <= 0 for t in completion.logprobs)


def test_same_answer_embedded_and_served(llama_server: str, embedded) -> None:
    """One model, two paths: the served model and the in-process one agree under greedy decoding."""
    request = LLMRequest(prompt="def fibonacci(n):\n", max_tokens=16, temperature=0)
    [served] = run(f"openai:gemma@{llama_server}", [request])
    local = embedded.generate_sync(request)
    assert served.text == local.text


def test_every_fault_ends_in_a_result_or_a_recorded_error(fake_server: FakeServer) -> None:
    texts = ["ok one", "fault=429x2 a", "fault=500x1 b", "fault=hangx1 c", "fault=badjsonx1 d", "fault=emptyx1 e",
             "fault=400 f", "fault=500 g", "ok two"]  # fmt: skip
    results = run(
        f"openai:fake@{fake_server.url}",
        [ask(t) for t in texts],
        timeout=1.0,
        max_retries=3,
        backoff_base=0.01,
        concurrency=4,
    )
    by_text = dict(zip(texts, results, strict=True))
    assert len(results) == len(texts)
    assert by_text["ok one"].text == "echo: ok one" and by_text["ok two"].ok
    assert by_text["fault=429x2 a"].text == "echo: fault=429x2 a" and by_text["fault=429x2 a"].attempts == 3
    assert by_text["fault=500x1 b"].ok and by_text["fault=500x1 b"].attempts == 2
    assert by_text["fault=hangx1 c"].ok and by_text["fault=hangx1 c"].attempts == 2
    assert by_text["fault=badjsonx1 d"].ok and by_text["fault=badjsonx1 d"].attempts == 2
    assert by_text["fault=emptyx1 e"].ok and by_text["fault=emptyx1 e"].text == ""
    assert by_text["fault=400 f"].error.kind == "bad_request" and by_text["fault=400 f"].attempts == 1
    assert by_text["fault=500 g"].error.kind == "server" and by_text["fault=500 g"].attempts == 4
    assert fake_server.attempts["fault=500 g"] == 4


def test_retry_after_is_waited_for(fake_server: FakeServer) -> None:
    [result] = run(f"openai:fake@{fake_server.url}", [ask("fault=429x1 slow")], backoff_base=0.0, backoff_max=0.0)
    assert result.ok and result.latency_s >= 0.2


def test_replicas_share_the_load() -> None:
    with FakeServer(latency=0.05) as a, FakeServer(latency=0.05) as b:
        results = run(f"openai:fake@{a.url},{b.url}", [ask(f"q{i}") for i in range(20)], concurrency=4)
        assert all(r.ok for r in results)
        assert sum(a.completed.values()) >= 5 and sum(b.completed.values()) >= 5
        assert sum(a.completed.values()) + sum(b.completed.values()) == 20


def test_schema_falls_back_when_the_server_refuses_json_schema() -> None:
    with FakeServer() as server:
        server.refuse = {"json_schema"}
        results = run(f"openai:fake@{server.url}", [ask(f"Rate 1-5: x={i}", json_schema=RATING) for i in range(3)],
                      concurrency=1)  # fmt: skip
        kinds = [b["response_format"]["type"] for b in server.bodies]
    assert all(r.ok and r.parsed["rating"] in {"1", "2", "3", "4", "5"} for r in results)
    # refused once, then every request (the retried one too) goes as json_object with the schema
    assert kinds == ["json_schema", "json_object", "json_object", "json_object"]
    with FakeServer() as server:
        server.refuse = {"json_schema", "json_object"}
        [result] = run(f"openai:fake@{server.url}", [ask("Rate 1-5: y", json_schema=RATING)])
        assert [b.get("response_format", {}).get("type") for b in server.bodies] == ["json_schema", "json_object", None]
    assert result.ok and result.text.startswith("echo:") and result.parsed is None  # plain text, parsed tolerantly


def test_constrained_output_through_llama_cpp_server_parses(llama_server: str) -> None:
    backend = load_backend(f"openai:gemma@{llama_server}")
    requests = [ask(f"Rate 1-5 this code: x = {i}", json_schema=RATING, max_tokens=48) for i in range(3)]
    results = asyncio.run(Runner().arun([(backend, r) for r in requests]))
    assert all(r.ok and r.parsed["rating"] in {"1", "2", "3", "4", "5"} for r in results)


def test_anthropic_backend_speaks_messages_and_tool_use(fake_server: FakeServer) -> None:
    spec = f"anthropic:claude-fake@{fake_server.root}"
    chat, rated = run(
        spec,
        [
            LLMRequest(messages=[Message(role="system", content="Be brief."), Message(role="user", content="hello")]),
            ask("rate it", json_schema=RATING),
        ],
    )
    assert chat.ok and chat.text == "echo: hello (claude-fake)"
    assert rated.ok and rated.parsed["rating"] in {"1", "2", "3", "4", "5"}
    sent = fake_server.bodies[0] if fake_server.bodies[0].get("system") else fake_server.bodies[1]
    assert sent["system"] == "Be brief." and sent["temperature"] == 0.0
