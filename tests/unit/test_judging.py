"""codeuf.judging: the old commands make the same requests under `json` (so cached calls stay valid), the
logprobs method's reading of known distributions (including "10" as two tokens), and N/A counted in every
method."""

from __future__ import annotations

import math

import pytest

from codeuf.config import default_config
from codeuf.data.schema import NA, CodeTests, Execution, GenerationRecord, Response
from codeuf.judging import JudgeConfig, grade_job, load_judges
from codeuf.judging.logprobs import LogprobsMethod
from codeuf.judging.methods import Pending
from codeuf.judging.tasks import FIVE, TASKS, JudgingTask
from codeuf.llm.cache import request_key
from codeuf.llm.types import LLMRequest, LLMResult, TokenLogprob
from codeuf.stages.annotate import judge_job

IDENTITY = {"backend": "llamacpp", "model": "default:x", "format": "gemma"}
# Cache keys of the judge requests codeuf made before codeuf.judging existed (commit e38b81a), computed by the
# code of that commit on the records below: the refactor must ask exactly the same.
GOLDEN = {
    "annotate_demo": "v1:93dc79b2e6a778a630a6b80b919d5fbb1042c530",
    "annotate_demo_tests": "v1:b9a963daf36e1557babe19a9e09d6c73e5bec6d9",
    "annotate_default": "v1:cdc880cfb65bdd174066d5c5f898ca2adb91303a",
    "codal_loop": "v1:3876202c33349fd2c60b466b91fcf1ca0d42b6e7",
    "codal_cli": "v1:332004507ed7e5025e12525caddf3f7064eba1b2",
}


def record() -> GenerationRecord:
    return GenerationRecord(
        id="r1", instruction="Reverse a string.", preference="readability", models=["a", "b", "c"],
        responses=[Response(model=m, response=f"def f(s):\n    return s[::-1]  # {m}") for m in "abc"],
        tests=CodeTests(kind="asserts", code="assert f('ab') == 'ba'\n"), entry_point="f",
        executions=[Execution(model="a", status="passed", passed=1, total=1),
                    Execution(model="b", status="failed", passed=0, total=1, reason="test 1: AssertionError"),
                    Execution(model="c", status="not_executed", reason="no code")],
    )  # fmt: skip


def test_the_judge_requests_of_the_old_commands_are_unchanged() -> None:
    judge = default_config().judges[0]
    assert judge == load_judges("embedded")[0]
    showing = judge.model_copy(update={"show_tests": True})
    old_annotate = JudgeConfig(spec="openai:gpt-3.5-turbo", max_tokens=2048, rationale_chars=400)  # old defaults
    loop_grader = JudgeConfig(spec="llamacpp:default", name="judge", max_tokens=400, rationale_chars=48)
    old_grade = JudgeConfig(spec="openai:gpt-3.5-turbo", max_tokens=1024, rationale_chars=600)  # old CLI defaults
    grading = ("style", "Sort a list.", "Use sorted().", "sorted(x)")
    keys = {
        "annotate_demo": judge_job(record(), ["b", "a", "c"], judge, None),
        "annotate_demo_tests": judge_job(record(), ["c", "a", "b"], showing, None),
        "annotate_default": judge_job(record(), ["a", "b", "c"], old_annotate, None),
        "codal_loop": grade_job(loop_grader, *grading),
        "codal_cli": grade_job(old_grade, *grading),
    }
    assert {k: request_key(IDENTITY, job.request) for k, job in keys.items()} == GOLDEN


def step(token: str, alternatives: dict[str, float]) -> TokenLogprob:
    """A generated token whose top alternatives have these probabilities (the chosen one among them)."""
    return TokenLogprob(token=token, logprob=math.log(alternatives[token]),
                        top={t: math.log(p) for t, p in alternatives.items()})  # fmt: skip


def answer(tokens: list[TokenLogprob]) -> LLMResult:
    import json

    text = "".join(t.token for t in tokens)
    return LLMResult(text=text, parsed=json.loads(text), logprobs=tokens)


class Continuable:
    """A backend that splits digits and can be asked for the token after a given text."""

    splits_digits = True

    def __init__(self) -> None:
        self.asked: list[str] = []

    def continuation(self, request: LLMRequest, text: str) -> LLMRequest:
        self.asked.append(text)
        return LLMRequest(prompt="PROMPT" + text, max_tokens=1, logprobs=20)


def test_logprobs_rating_is_the_expectation_renormalised_over_the_scale() -> None:
    tokens = [step('{"rating": "', {'{"rating": "': 1.0}),
              step("4", {"4": 0.5, "5": 0.3, "3": 0.1, "x": 0.1}),  # "x" is no rating: left out, renormalised
              step('"}', {'"}': 1.0})]  # fmt: skip
    one_to_five = JudgingTask("five", "judge_pointwise.j2", FIVE)
    verdict = LogprobsMethod().read(one_to_five, answer(tokens), 1, object(), LLMRequest(prompt="p"))
    assert not isinstance(verdict, Pending)
    assert verdict.distributions == [pytest.approx({"4": 5 / 9, "5": 3 / 9, "3": 1 / 9})]
    assert verdict.ratings == ["4.22"] and verdict.error is None


def test_ten_as_two_tokens_is_split_by_the_next_step_when_the_judge_wrote_one() -> None:
    tokens = [step('{"rating": "', {'{"rating": "': 1.0}),
              step("1", {"1": 0.6, "9": 0.4}),
              step("0", {"0": 0.75, '"': 0.25}),  # P(0 | 1) = 0.75: 10 has 0.45, 1 has 0.15
              step('"}', {'"}': 1.0})]  # fmt: skip
    verdict = LogprobsMethod().read(TASKS["grade"], answer(tokens), 1, Continuable(), LLMRequest(prompt="p"))
    assert not isinstance(verdict, Pending)
    assert verdict.distributions == [pytest.approx({"1": 0.15, "9": 0.4, "10": 0.45})]
    assert verdict.ratings == [f"{0.15 + 3.6 + 4.5:.2f}"]


def test_ten_as_two_tokens_is_asked_of_the_model_when_the_judge_wrote_another_digit() -> None:
    tokens = [step('{"rating": "', {'{"rating": "': 1.0}),
              step("8", {"8": 0.7, "1": 0.3}),
              step('"}', {'"}': 1.0})]  # fmt: skip
    backend = Continuable()
    pending = LogprobsMethod().read(TASKS["grade"], answer(tokens), 1, backend, LLMRequest(prompt="p"))
    assert isinstance(pending, Pending) and backend.asked == ['{"rating": "1']
    probe = LLMResult(text="0", logprobs=[step("0", {"0": 0.1, '"': 0.9})])
    verdict = LogprobsMethod().settle(TASKS["grade"], pending, {0: probe}, 1)
    assert verdict.distributions == [pytest.approx({"1": 0.27, "8": 0.7, "10": 0.03})]
    failed = LogprobsMethod().settle(TASKS["grade"], pending, {0: LLMResult(text="")}, 1)
    assert failed.ratings == [NA] and "cannot tell 1 from 10" in failed.error


def test_a_single_token_ten_needs_no_probe() -> None:
    tokens = [step('{"rating": "', {'{"rating": "': 1.0}),
              step("10", {"10": 0.5, "1": 0.2, "9": 0.3}),
              step('"}', {'"}': 1.0})]  # fmt: skip
    backend = Continuable()
    backend.splits_digits = None  # an HTTP backend: it does not know; a "10" token shows it is one token
    verdict = LogprobsMethod().read(TASKS["grade"], answer(tokens), 1, backend, LLMRequest(prompt="p"))
    assert verdict.distributions == [pytest.approx({"10": 0.5, "1": 0.2, "9": 0.3})] and backend.asked == []


def test_several_ratings_in_one_answer_and_na_when_no_value_is_among_the_alternatives() -> None:
    tokens = [step('{"response_1": {"rating": "', {'{"response_1": {"rating": "': 1.0}),
              step("2", {"2": 0.5, "3": 0.5}),
              step('"}, "response_2": {"rating": "', {'"}, "response_2": {"rating": "': 1.0}),
              step("5", {"5": 1.0}),
              step('"}}', {'"}}': 1.0})]  # fmt: skip
    verdict = LogprobsMethod().read(TASKS["rate"], answer(tokens), 2, object(), LLMRequest(prompt="p"))
    assert verdict.ratings == ["2.5", "5"]
    broken = LLMResult(
        text='{"response_1": {"rating": "x"}}',
        parsed=None,
        logprobs=[step('{"response_1": {"rating": "x"}}', {'{"response_1": {"rating": "x"}}': 1.0})],
    )
    verdict = LogprobsMethod().read(TASKS["rate"], broken, 2, object(), LLMRequest(prompt="p"))
    assert verdict.ratings == [NA, NA] and verdict.unreadable == 2 and verdict.error
    no_logprobs = LogprobsMethod().read(TASKS["rate"], LLMResult(text="{}", parsed={}), 2, object(),
                                        LLMRequest(prompt="p"))  # fmt: skip
    assert no_logprobs.ratings == [NA, NA] and "no log-probabilities" in no_logprobs.error
