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


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("/no/such/folder", "codeuf: error: no model folder at /no/such/folder"),
        ("someone/nomodel", "codeuf: error: hf:someone/nomodel: cannot load 'someone/nomodel': OSError: "),
    ],
)
def test_a_model_that_cannot_be_loaded_is_one_line(model: str, expected: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A missing folder, and a hub id the hub (the test suite's, on 127.0.0.1) does not have: one line each,
    no retry warnings, and nothing written."""
    import json
    import subprocess

    from tests.conftest import CODEUF, cli_env
    from tests.fakehub import FakeHub

    pytest.importorskip("transformers", reason="transformers is not installed (pip install 'codeuf[hf]')")
    batch = tmp_path / "in.jsonl"
    body = {"model": "x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    batch.write_text(json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": body}))
    with FakeHub() as hub:
        env = cli_env(**hub.env(), HF_HOME=str(tmp_path / "hf_home"))
        command = [*CODEUF, "llm", "batch", "--model", f"hf:{model}", "--in", str(batch), "--out", str(tmp_path / "o")]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.startswith(expected) and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "o").exists()


def test_concurrent_greedy_requests_share_one_padded_generate(hf_backend) -> None:
    """Prompts of different lengths, stops and max_tokens, asked at once: one `generate` call answers them, and
    each answer is the one it gets alone, up to near-ties that floating-point rounding in a padded batch can
    tip (NEAR_TIE, as in the llama.cpp test)."""
    import asyncio

    from tests.integration.test_batched_decoding import NEAR_TIE

    requests = [
        LLMRequest(prompt="def fibonacci(n):\n", max_tokens=16, logprobs=20),
        LLMRequest(prompt="# Reverse a string in Python, then print it\n", max_tokens=10, logprobs=20, stop=["\n"]),
        LLMRequest(prompt="SELECT", max_tokens=12, logprobs=20),
    ]
    alone = [hf_backend.generate_sync(r) for r in requests]
    calls = []
    generate = hf_backend.model.generate

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs["input_ids"].shape[0])
        return generate(*args, **kwargs)

    hf_backend.model.generate = counted
    try:

        async def together() -> list:
            return await asyncio.gather(*(hf_backend.generate(r) for r in requests))

        joint = asyncio.run(together())
    finally:
        del hf_backend.model.generate
    assert len(calls) < len(requests) and max(calls) > 1  # batched
    for single, shared, request in zip(alone, joint, requests, strict=True):
        assert shared.usage.completion_tokens <= request.max_tokens
        mine, theirs = [s.token for s in single.logprobs], [s.token for s in shared.logprobs]
        if mine == theirs:
            assert shared.text == single.text and shared.finish_reason == single.finish_reason
            continue
        part = next(i for i, (a, b) in enumerate(zip(mine, theirs, strict=False)) if a != b)
        step = single.logprobs[part]
        assert theirs[part] in step.top and step.logprob - step.top[theirs[part]] < NEAR_TIE
