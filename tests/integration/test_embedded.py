"""The embedded default model, for real: generation, constrained ratings, log-probabilities."""

import math

import pytest

from codeuf.llm.runner import Runner, RunnerConfig
from codeuf.llm.types import LLMRequest, Message

pytestmark = pytest.mark.integration

RATING_SCHEMA = {
    "type": "object",
    "properties": {
        "rating": {"type": "string", "enum": ["1", "2", "3", "4", "5"]},
        "rationale": {"type": "string", "maxLength": 40},
    },
    "required": ["rating", "rationale"],
}


def ask(text: str, **kw: object) -> LLMRequest:
    return LLMRequest(messages=[Message(role="user", content=text)], **kw)


def test_generates_text_greedily_and_deterministically(embedded) -> None:
    request = ask("Write a Python function that returns the square of a number.", max_tokens=24)
    first, second = embedded.generate_sync(request), embedded.generate_sync(request)
    assert first.ok and first.text and first.text == second.text
    assert first.usage.prompt_tokens > 5 and 0 < first.usage.completion_tokens <= 24
    assert first.finish_reason in ("stop", "length")


def test_raw_completion_prompt_and_stop_strings(embedded) -> None:
    prompt = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return"
    free = embedded.generate_sync(LLMRequest(prompt=prompt, max_tokens=32))
    assert "\n" in free.text  # greedy: the same text the stopped request starts with
    stopped = embedded.generate_sync(LLMRequest(prompt=prompt, max_tokens=32, stop=["\n"]))
    assert stopped.ok and stopped.finish_reason == "stop"
    assert stopped.text == free.text[: free.text.index("\n")]


def test_constrained_ratings_always_parse(embedded) -> None:
    snippets = ["def f(x): return x*2", "print('hi'", "for i in range(10): pass", "x = [i for i in y]", "while True: 1"]
    requests = [
        ask(f"Rate the quality of this code from 1 to 5 and explain briefly.\n\n{code}", json_schema=RATING_SCHEMA,
            max_tokens=96)
        for code in snippets
    ]  # fmt: skip
    results = Runner(RunnerConfig(concurrency=4)).run([(embedded, r) for r in requests])
    for result in results:
        assert result.ok and result.parse_error is None, result.text
        assert result.parsed["rating"] in {"1", "2", "3", "4", "5"}
        assert len(result.parsed["rationale"]) <= 40


def test_gbnf_grammar(embedded) -> None:
    result = embedded.generate_sync(ask("Pick a digit.", grammar="root ::= [1-5]", max_tokens=4))
    assert result.text in {"1", "2", "3", "4", "5"}


def test_log_probabilities_are_a_distribution(embedded) -> None:
    result = embedded.generate_sync(ask("Say yes.", max_tokens=5, logprobs=5))
    assert result.logprobs is not None and len(result.logprobs) == result.usage.completion_tokens
    for step in result.logprobs:
        assert step.logprob <= 0 and len(step.top) <= 5
        assert sum(math.exp(v) for v in step.top.values()) <= 1.0 + 1e-6
        # greedy decoding picks the most likely token, so it is the first of the alternatives
        assert math.isclose(step.logprob, max(step.top.values()), abs_tol=1e-6)


def test_logprobs_under_a_grammar_are_the_models_raw_beliefs(embedded) -> None:
    """The grammar decides the token; its log-probability is the unconstrained model's, so it can be
    far below the top alternatives (which the grammar forbade)."""
    result = embedded.generate_sync(ask("Rate this code 1-5: def f(): pass", grammar="root ::= [1-5]", logprobs=3))
    [step] = result.logprobs
    assert result.text in {"1", "2", "3", "4", "5"} and step.token == result.text
    assert math.isfinite(step.logprob) and step.logprob <= max(step.top.values())


def test_sampling_with_a_seed_is_reproducible(embedded) -> None:
    request = ask("Name a sorting algorithm.", max_tokens=12, temperature=1.0, seed=7)
    assert embedded.generate_sync(request).text == embedded.generate_sync(request).text
