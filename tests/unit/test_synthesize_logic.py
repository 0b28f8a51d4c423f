"""The logic of `codeuf tests` without a model or a sandbox: reading the writer's answer, finding the function
under test, the agreement rules, the sentence that names the function."""

from __future__ import annotations

import json

from codeuf.execution.checks import agreed_tests
from codeuf.llm.types import LLMResult
from codeuf.stages.synthesize import naming_note, parse_candidates, reference_code, signature_of


def answer(value: object) -> LLMResult:
    return LLMResult(text=json.dumps(value), parsed=value)


def test_candidates_keep_runnable_asserts_that_call_the_function_and_say_why_others_go() -> None:
    entry, kept, reasons = parse_candidates(answer({"tests": [
        "assert f(1) == 2", "assert f(1) == 2", "x = f(1)", "assert g(1) == 2", "assert f(", 7,
        "assert f(2) == 3; assert f(3) == 4", "  assert f(0) == 1  ",
    ]}), "f")  # fmt: skip
    assert entry == "f"
    assert kept == ["assert f(1) == 2", "assert f(0) == 1"]
    assert reasons == ["test 2: a duplicate", "test 3: not one assert statement", "test 4: does not call f",
                       "test 5: not valid Python ('(' was never closed)", "test 6: not a string",
                       "test 7: not one assert statement"]  # fmt: skip


def test_an_unreadable_answer_keeps_no_test_and_says_so() -> None:
    _, kept, reasons = parse_candidates(LLMResult(text='{"tests": ["assert f(1', parse_error="cut"), "f")
    assert kept == [] and reasons == ["the writer's answer is unreadable (cut)"]


def test_a_writer_that_chooses_the_function_must_give_a_signature() -> None:
    entry, kept, _ = parse_candidates(answer({"signature": "def area(w, h):", "tests": ["assert area(2, 3) == 6"]}),
                                      None)  # fmt: skip
    assert entry == "area" and kept == ["assert area(2, 3) == 6"]
    entry, kept, reasons = parse_candidates(answer({"signature": "area", "tests": ["assert area(1, 1) == 1"]}), None)
    assert entry is None and kept == [] and "named no function" in reasons[0]


def test_the_reference_entry_point_is_the_function_nothing_else_calls() -> None:
    solution = """Use a helper:

```python
import math

def _norm(v):
    return math.sqrt(sum(x * x for x in v))

def cosine(a, b):
    return sum(x * y for x, y in zip(a, b)) / (_norm(a) * _norm(b))

print(cosine([1, 0], [1, 1]))
```
It is O(n)."""
    code, entry = reference_code(solution)  # type: ignore[misc]
    assert entry == "cosine"
    assert "import math" in code and "def _norm" in code and "print(" not in code
    assert signature_of(code, "cosine") == "def cosine(a, b)"
    assert reference_code("Just prose, no code.") is None
    assert reference_code(None) is None


def test_the_instruction_is_told_the_function_name_only_when_it_does_not_say_it() -> None:
    assert naming_note("Write `cosine(a, b)` for two vectors.", "cosine", "def cosine(a, b)") == ""
    note = naming_note("Compute the cosine similarity of two vectors.", "cosine", "def cosine(a, b)")
    assert note == "\n\nWrite it as a Python function with this signature: `def cosine(a, b)`."
    assert naming_note("Name it cosine_similarity.", "cosine_similarity", "def cosine_similarity(a, b)") == ""
    assert naming_note("Define `cosine`.", "cosine", "def cosine(a, b)") == ""


def test_codet_keeps_the_tests_of_the_largest_consensus_times_tests() -> None:
    verdicts = {
        "a": [True, True, False, True],
        "b": [True, True, False, True],
        "c": [True, True, False, True],
        "d": [True, False, True, False],  # alone: no consensus
    }
    assert agreed_tests(verdicts, "codet", 2) == ([0, 1, 3], "")
    # two sets of two: 2 x 3 tests beats 2 x 1 test
    verdicts = {"a": [True, True, True], "b": [True, True, True], "c": [False, False, True], "d": [False, False, True]}
    assert agreed_tests(verdicts, "codet", 2)[0] == [0, 1, 2]
    kept, why = agreed_tests({"a": [True, False], "b": [False, True]}, "codet", 2)
    assert kept == [] and "no set of 2 or more responses" in why
    assert agreed_tests({"a": [False, False], "b": [False, False]}, "codet", 2)[0] == []  # agreeing on nothing
    assert agreed_tests({}, "codet", 2) == ([], "no response ran against the candidate tests")


def test_majority_keeps_each_test_most_responses_pass() -> None:
    verdicts = {"a": [True, True, False], "b": [True, False, False], "c": [True, True, True], "d": [False, True, False]}
    assert agreed_tests(verdicts, "majority", 2) == ([0, 1], "")  # 3 of 4 pass tests 1 and 2, 1 of 4 test 3
    assert agreed_tests({"a": [True, False], "b": [False, True]}, "majority", 1)[0] == []  # 1 of 2 is no majority
    assert agreed_tests({"a": [True], "b": [True], "c": [False]}, "majority", 3)[0] == []  # fewer than min_agree
