from pathlib import Path

import pytest

from codeuf.errors import InputError
from codeuf.evals.humaneval import pass_at_k, read_samples, summarize
from codeuf.execution.evalplus import Checker, Task
from codeuf.execution.sanitize import sanitize


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [(1, 1, 1, 1.0), (1, 0, 1, 0.0), (10, 3, 1, 0.3), (10, 3, 10, 1.0), (5, 0, 1, 0.0),
     (10, 1, 5, 0.5), (20, 2, 10, 1 - (10 * 9) / (20 * 19))],  # C(18,10)/C(20,10) = (10*9)/(20*19)
)  # fmt: skip
def test_pass_at_k_by_hand(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_summary_averages_tasks_and_needs_enough_samples() -> None:
    results = {
        "t1": [{"base": "pass", "plus": "pass"}, {"base": "pass", "plus": "fail"}],
        "t2": [{"base": "fail", "plus": "fail"}, {"base": "timeout", "plus": None}],
    }
    summary = summarize(results, plus=True)
    assert summary["base"] == {"pass@1": pytest.approx(0.5)}  # (2/2 + 0/2) / 2; no pass@10 with 2 samples
    assert summary["plus"] == {"pass@1": pytest.approx(0.25)}
    low, high = summary["ci"]["plus"]["pass@1"]  # over two tasks worth 0.5 and 0: resamples give 0, 0.25, 0.5
    assert (low, high) == (pytest.approx(0.0), pytest.approx(0.5))
    assert summarize({"t": [{"base": "pass", "plus": "pass"}]}, plus=True)["ci"]["base"]["pass@1"] == [1.0, 1.0]


def test_sanitize_keeps_what_the_entry_point_needs_and_drops_the_rest() -> None:
    answer = """Sure! Here is the code:

```python
import math
from typing import List

LIMIT = 10
UNUSED = 3

def helper(x):
    return math.sqrt(x) + LIMIT

def solve(xs: List[int]) -> float:
    return sum(helper(x) for x in xs)

print(solve([1, 4]))
assert solve([]) == 0
```
Hope this helps!"""
    code = sanitize(answer, "solve")
    assert "def solve" in code and "def helper" in code and "LIMIT = 10" in code and "import math" in code
    assert "print(" not in code and "assert" not in code and "UNUSED" not in code and "Hope" not in code


def test_sanitize_survives_a_truncated_answer_and_picks_the_defining_block() -> None:
    answer = "```python\nprint('hi')\n```\ntext\n```python\ndef solve(x):\n    return x + 1\n\ndef broken(:\n"
    assert sanitize(answer, "solve").strip() == "def solve(x):\n    return x + 1"


def test_checker_matches_evalplus_float_semantics() -> None:
    checker = Checker("humaneval", "f", [(1,), (2,), (3,)], [1.0, 2, [1.0, 2.0]], atol=0)
    assert checker(0, 1.0000001)  # floats: atol becomes 1e-6 ...
    assert checker(1, 2)
    assert not checker(1, 3)  # ... and stays, but integers still differ
    assert not checker(2, [1.0])  # a list of the wrong length
    assert not checker(2, (1.0, 2.0))  # a tuple where a list was expected
    exact = Checker("humaneval", "g", [(1,)], ["abc"], atol=0)
    assert exact(0, "abc") and not exact(0, "abd")


def test_checker_special_oracles() -> None:
    assert Checker("mbpp", "similar_elements", [((1, 2), (2, 3))], [(2,)], 0)(0, [2])  # compared as sets
    assert Checker("mbpp", "check_str", [("a",)], [True], 0)(0, object())  # only "not None" is asked
    assert not Checker("mbpp", "check_str", [("a",)], [True], 0)(0, None)
    zero = Checker("humaneval", "find_zero", [([-6, 11, -6, 1],)], [1.0], 1e-6)
    assert zero(0, 3.0) and not zero(0, 2.5)  # any root of the polynomial passes
    # EvalPlus 0.3.1 never records a find_zero pass; the compatible mode reproduces that, on request only
    assert not Checker("humaneval", "find_zero", [([-6, 11, -6, 1],)], [1.0], 1e-6, compat=True)(0, 3.0)


def test_bad_samples_files(tmp_path: Path) -> None:
    tasks = {"T/0": Task("T/0", "def f():\n", "f", "    return 1\n", [], [])}
    path = tmp_path / "samples.jsonl"
    for content, expect in (
        ('{"task_id": "T/0"}\n', "field 'solution'"),
        ('{"task_id": "X/9", "solution": "x"}\n', "unknown task"),
        ('{"solution": "x"}\n', "field 'task_id'"),
        ("", "empty"),
    ):
        path.write_text(content)
        with pytest.raises(InputError, match=expect):
            read_samples(path, tasks)
    path.write_text('{"task_id": "T/0", "completion": "    return 2\\n"}\n')
    assert read_samples(path, tasks)[0]["solution"] == "def f():\n    return 2\n"
