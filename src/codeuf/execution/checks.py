"""Running a response's code against tests in the sandbox: assert statements one by one, calls compared with
their expected results (outside the code under test), EvalPlus tasks as `codeuf humaneval` checks them."""

from __future__ import annotations

import ast
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeuf.data.schema import CodeTests, Execution
from codeuf.data.sources import is_test_statement

STEP_SECONDS = 5.0
"""Time limit of each test statement or case."""
MAX_JOB_SECONDS = 60.0


@dataclass(frozen=True)
class _ReturnsNone:
    """Checker (runs in the worker): the test statement ran to its end."""

    def __call__(self, index: int, out: Any) -> bool:
        return out is None


@dataclass(frozen=True)
class JsonEquals:
    """Checker (runs in the worker): output i equals expected[i] once both are JSON (tuples are lists),
    floats within 1e-6."""

    expected: tuple[Any, ...]

    def __call__(self, index: int, out: Any) -> bool:
        try:
            value = json.loads(json.dumps(out))
        except (TypeError, ValueError):
            return False
        return _close(value, self.expected[index])


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def assert_steps(code: str) -> tuple[list[str], list[int]]:
    """The top-level statements of asserts code, and the indexes of those that are tests."""
    tree = ast.parse(code)
    steps = [ast.unparse(node) for node in tree.body]
    return steps, [i for i, node in enumerate(tree.body) if is_test_statement(node)]


def _dispatcher(steps: list[str]) -> str:
    return (
        f"\n\n__codeuf_steps__ = [compile(s, '<tests>', 'exec') for s in {steps!r}]\n"
        "def __codeuf_step__(index):\n    exec(__codeuf_steps__[index], globals())\n"
    )


def assert_verdicts(code: str, test_code: str, pool: Any) -> tuple[list[bool], str, str]:
    """Whether the code passes each test of asserts code (in order), its status and the first failure."""
    from codeuf.sandbox import Job

    steps, test_indexes = assert_steps(test_code)
    inputs: list[Any] = [(i,) for i in range(len(steps))]
    job = Job(code + _dispatcher(steps), "__codeuf_step__", inputs, [STEP_SECONDS] * len(steps),
              wall_timeout=min(MAX_JOB_SECONDS, STEP_SECONDS * len(steps)) + 2, check=_ReturnsNone(),
              keep_going=True)  # fmt: skip
    result = pool.run(job)
    verdicts = [i < len(result.details) and bool(result.details[i]) for i in test_indexes]
    return verdicts, _STATUS.get(result.status, "failed"), result.reason


_STATUS = {"pass": "passed", "timeout": "timeout"}


def run_tests(code: str, tests: CodeTests, entry_point: str | None, pool: Any, evalplus: Any) -> Execution:
    """One response's code against its tests (the model name is filled in by the caller)."""

    if tests.kind == "evalplus":
        return evalplus.check(code, tests)
    if tests.kind == "asserts":
        verdicts, status, reason = assert_verdicts(code, tests.code, pool)
        return Execution(model="", status=status, passed=sum(verdicts), total=len(verdicts), reason=reason)  # type: ignore[arg-type]
    assert entry_point is not None
    verdicts, status, reason = case_verdicts(code, entry_point, tests, pool)
    return Execution(model="", status=status, passed=sum(verdicts), total=len(verdicts), reason=reason)  # type: ignore[arg-type]


def case_verdicts(code: str, entry_point: str, tests: CodeTests, pool: Any) -> tuple[list[bool], str, str]:
    """Whether the code's entry point returns each case's expected output, its status and the first failure."""
    from codeuf.sandbox import Job

    inputs = [json.loads(c.input) for c in tests.cases]
    expected = tuple(json.loads(c.output) for c in tests.cases)
    job = Job(code, entry_point, inputs, [STEP_SECONDS] * len(inputs),
              wall_timeout=min(MAX_JOB_SECONDS, STEP_SECONDS * len(inputs)) + 2, check=JsonEquals(expected),
              keep_going=True)  # fmt: skip
    result = pool.run(job)
    verdicts = [i < len(result.details) and bool(result.details[i]) for i in range(len(inputs))]
    return verdicts, _STATUS.get(result.status, "failed"), result.reason


class EvalPlusTasks:
    """EvalPlus tasks and their expected outputs, loaded once per file and computed once per task."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._tasks: dict[tuple[str, str], dict[str, Any]] = {}
        self._truths: dict[tuple[str, str], dict[str, Any]] = {}

    def prepare(self, tests: list[CodeTests]) -> None:
        from codeuf.execution.evalplus import ground_truth, load_tasks

        wanted: dict[tuple[str, str], set[str]] = {}
        for t in tests:
            wanted.setdefault((t.dataset, t.data), set()).add(t.task_id)
        for key, ids in wanted.items():
            if key not in self._tasks:
                tasks, _ = load_tasks(*key)
                self._tasks[key] = {task.task_id: task for task in tasks}
            needed = [self._tasks[key][i] for i in sorted(ids) if i not in self._truths.get(key, {})]
            if needed:
                self._truths.setdefault(key, {}).update(ground_truth(needed, key[0], Path(key[1]), self.pool))

    def check(self, code: str, tests: CodeTests) -> Execution:
        from codeuf.execution.evalplus import check_sample

        key = (tests.dataset, tests.data)
        task = self._tasks[key][tests.task_id]
        verdict = check_sample(task, self._truths[key].get(task.task_id), code, tests.dataset, self.pool)
        suites = [s for s in (verdict["base"], verdict["plus"]) if s is not None]
        passed = sum(s == "pass" for s in suites)
        status = "passed" if passed == len(suites) else "timeout" if "timeout" in suites else "failed"
        return Execution(model="", status=status, passed=passed, total=len(suites), reason=verdict.get("reason", ""))


def agreed_tests(verdicts: dict[str, list[bool]], rule: str, min_agree: int) -> tuple[list[int], str]:
    """The indexes of the tests an agreement rule keeps, given each executed response's verdict per
    candidate test, and a word on why (see the module's docstring for the rules)."""
    if not verdicts:
        return [], "no response ran against the candidate tests"
    count = len(next(iter(verdicts.values())))
    if rule == "majority":
        keep = [i for i in range(count) if (n := sum(v[i] for v in verdicts.values())) >= min_agree
                and n * 2 > len(verdicts)]  # fmt: skip
        return keep, "" if keep else f"no test passed by a majority of {len(verdicts)} responses and {min_agree}"
    sets = Counter(tuple(v) for v in verdicts.values())
    scored = sorted(((size * sum(key), sum(key), key) for key, size in sets.items() if size >= min_agree
                     and any(key)), reverse=True)  # fmt: skip
    if not scored:
        return [], f"no set of {min_agree} or more responses agrees on any test"
    best = scored[0][2]
    return [i for i, ok in enumerate(best) if ok], ""
