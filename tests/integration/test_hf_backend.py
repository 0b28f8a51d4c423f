"""The transformers backend on a local file: the embedded GGUF, dequantized by transformers."""

import math

import pytest

from codeuf.llm.types import LLMRequest, Message

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hf_backend(gguf_path: str):  # type: ignore[no-untyped-def]
    pytest.importorskip("transformers", reason="transformers is not installed (pip install 'codeuf[hf]')")
    from codeuf.llm.base import load_backend

    return load_backend(f"hf:{gguf_path}")


def test_local_gguf_generates_with_logprobs(hf_backend) -> None:
    request = LLMRequest(prompt="def fibonacci(n):\n", max_tokens=12, logprobs=3)
    first, second = hf_backend.generate_sync(request), hf_backend.generate_sync(request)
    assert first.text and first.text == second.text and first.usage.completion_tokens == 12
    assert len(first.logprobs) == 12
    for step in first.logprobs:
        assert math.isclose(step.logprob, max(step.top.values()), abs_tol=1e-5)  # greedy takes the best token


def test_chat_uses_gemmas_format_and_stops(hf_backend) -> None:
    assert hf_backend.identity["format"] == "gemma"
    result = hf_backend.generate_sync(
        LLMRequest(messages=[Message(role="user", content="Say hi.")], max_tokens=24, stop=["\n"])
    )
    assert result.ok and "\n" not in result.text


def test_schema_requests_are_parsed_tolerantly(hf_backend) -> None:
    result = hf_backend.generate_sync(LLMRequest(prompt='{"rating": "', max_tokens=4, json_schema={"type": "object"}))
    assert result.parsed is None and result.parse_error is not None  # recorded, never invented
