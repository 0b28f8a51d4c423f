"""Execution-grounded preferences without a sandbox: sources with tests, what counts as code, test steps,
the JSON comparison."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from codeuf.data.sources import BUILTIN_TASKS, load_instructions
from codeuf.errors import InputError
from codeuf.execution.checks import JsonEquals, assert_steps
from codeuf.execution.sanitize import response_code

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("CODEUF_REFERENCE_DATA") or REPO.parent / "shared" / "data")


def test_builtin_tasks_carry_tests_entry_points_and_solutions() -> None:
    tasks = load_instructions("builtin:tasks")
    assert len(tasks) >= 40 and BUILTIN_TASKS.is_file()
    assert len({t.entry_point for t in tasks}) == len(tasks)
    for task in tasks:
        assert task.tests is not None and task.tests.kind == "asserts" and task.tests.origin == "builtin"
        assert task.entry_point and f"def {task.entry_point}(" in (task.solution or "")
        _, tests = assert_steps(task.tests.code)
        assert len(tests) >= 3, task.entry_point


def test_builtin_reference_solutions_pass_their_tests_in_process() -> None:
    """The sandbox runs them in the integration tests; here, plainly, so that a broken task is caught fast."""
    for task in load_instructions("builtin:tasks"):
        namespace: dict = {}
        exec(task.solution, namespace)
        exec(task.tests.code, namespace)  # type: ignore[union-attr]


def test_a_source_with_asserts_and_cases(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    rows = [{"instruction": "Add.", "entry_point": "add", "tests": "assert add(1, 2) == 3\nassert add(0, 0) == 0"},
            {"instruction": "Neg.", "entry_point": "neg", "solution": "def neg(x):\n    return -x\n",
             "tests": [{"input": [1], "output": -1}, {"input": [[1]], "output": None}]},
            {"instruction": "Plain, no tests."}]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    first, second, third = load_instructions(path)
    assert first.tests and first.tests.kind == "asserts" and first.tests.origin == "file"
    assert second.tests and [(c.input, c.output) for c in second.tests.cases] == [("[1]", "-1"), ("[[1]]", "null")]
    assert second.solution and third.tests is None and third.entry_point is None


@pytest.mark.skipif(not (SHARED / "MbppPlus.jsonl.gz").exists(), reason="../shared/data/MbppPlus.jsonl.gz is absent")
def test_an_evalplus_file_is_a_source_of_tasks() -> None:
    tasks = load_instructions(SHARED / "MbppPlus.jsonl.gz")
    assert len(tasks) == 378
    task = tasks[0]
    assert task.id == "Mbpp/2" and task.tests and task.tests.kind == "evalplus" and task.tests.dataset == "mbpp+"
    assert "```python" in task.text and task.entry_point and f"def {task.entry_point}" in (task.solution or "")


@pytest.mark.parametrize(
    ("tests", "expect"),
    [("def f(:", "not valid Python"), ("x = 1", "no assert"), ([{"input": 1, "output": 2}], "tests.0"),
     (7, "expected Python asserts")],
)  # fmt: skip
def test_bad_tests_name_file_line_and_field(tmp_path: Path, tests: object, expect: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"instruction": "ok", "entry_point": "f"}) + "\n"
                    + json.dumps({"instruction": "x", "entry_point": "f", "tests": tests}) + "\n")  # fmt: skip
    with pytest.raises(InputError) as info:
        load_instructions(path)
    assert "t.jsonl:2: field 'tests" in str(info.value) and expect in str(info.value)


@pytest.mark.parametrize(
    ("text", "executed", "why"),
    [
        ("```python\ndef f(x):\n    return x\n```", True, ""),
        ("Sure! Here it is:\n```\ndef f(x):\n    return x\n```\nHope it helps.", True, ""),
        ("def f(x):\n    return x\n", True, ""),
        ("I would use a dictionary and a loop.", False, "no code"),
        ("", False, "empty response"),
        ("```javascript\nfunction f(x) { return x; }\n```", False, "no Python code (code blocks in javascript)"),
        ("```python\ndef f(x) return x\n```", True, "syntax error"),
    ],
)
def test_what_counts_as_python_code(text: str, executed: bool, why: str) -> None:
    code, reason = response_code(text, "f")
    assert (code is not None) is executed and reason.startswith(why)


def test_assert_steps_count_tests_not_setup() -> None:
    steps, tests = assert_steps("import math\nx = [1]\nassert f(x) == 1\nfor v in x:\n    assert v\nf(x)\n")
    assert len(steps) == 5 and tests == [2, 3]


def test_json_equals_compares_as_json_with_float_tolerance() -> None:
    check = JsonEquals(([1, 2], 0.3, {"a": [True]}, None, "s"))
    assert check(0, (1, 2)) and check(1, 0.1 + 0.2) and check(2, {"a": [True]}) and check(3, None) and check(4, "s")
    assert not check(0, [1, 2, 3]) and not check(2, {"a": [1]}) and not check(4, b"s") and not check(1, "0.3")
