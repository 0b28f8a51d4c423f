"""Stage 2b: every response run against its instruction's tests, in the sandbox.

For an instruction with tests, each response's Python code (the sanitizer of `codeuf humaneval`: the
fenced block that defines the entry point, its imports and the helpers it uses) runs in a sandbox child:

- `asserts` tests: each top-level statement runs in turn after the code; each one that asserts counts as a
  test (the others set up), and a failing test does not stop the next (passed/total counts them all);
- `cases`: the entry point is called on each input and the output compared with the expected one in the
  trusted worker, never in the child, so code under test cannot fake a pass;
- `evalplus`: the task's base and plus inputs with EvalPlus's semantics, exactly as `codeuf humaneval`
  checks them (passed/total count the two suites).

A response with no code, or code in another language, is `not_executed`, never `failed`. Each response
gets an `execution: {status, passed, total, reason}`, in `executions` beside `responses`. Records are
appended to OUT/executions.jsonl as they finish, and a rerun skips the records already there for the same
responses and tests; hostile code is contained as in `codeuf humaneval` (see codeuf.sandbox).
"""

from __future__ import annotations

import ast
import json
import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeuf.data.io import RecordLog
from codeuf.data.schema import CodeTests, Execution, GenerationRecord
from codeuf.data.sources import is_test_statement

STEP_SECONDS = 5.0
"""Time limit of each test statement or case."""
MAX_JOB_SECONDS = 60.0
_TAGS = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[^\n]*\n")
_PYTHON_TAGS = {"", "python", "py", "python3", "pycon"}


def response_code(text: str, entry_point: str | None) -> tuple[str | None, str]:
    """(code, "") for the Python a response submits, or (None, why it is not executed)."""
    from codeuf.bench.humaneval import CODE_FENCE, sanitize

    tags = {t.lower() for t in _TAGS.findall(text)}
    if tags and not tags & _PYTHON_TAGS:
        return None, f"no Python code (code blocks in {', '.join(sorted(tags))})"
    if not text.strip():
        return None, "empty response"
    if entry_point:
        code = sanitize(text, entry_point)
    else:
        blocks = CODE_FENCE.findall(text)
        code = max(blocks, key=len) if blocks else text
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        if not tags:
            return None, "no code"
        return code, f"syntax error: {exc.msg}"
    if not tags and not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom,
                                           ast.AsyncFunctionDef)) for n in tree.body):  # fmt: skip
        return None, "no code"
    return code, ""


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
    from codeuf.sandbox import Job

    if tests.kind == "evalplus":
        return evalplus.check(code, tests)
    if tests.kind == "asserts":
        verdicts, status, reason = assert_verdicts(code, tests.code, pool)
        return Execution(model="", status=status, passed=sum(verdicts), total=len(verdicts), reason=reason)  # type: ignore[arg-type]
    assert entry_point is not None
    inputs = [json.loads(c.input) for c in tests.cases]
    expected = tuple(json.loads(c.output) for c in tests.cases)
    job = Job(code, entry_point, inputs, [STEP_SECONDS] * len(inputs),
              wall_timeout=min(MAX_JOB_SECONDS, STEP_SECONDS * len(inputs)) + 2, check=JsonEquals(expected),
              keep_going=True)  # fmt: skip
    result = pool.run(job)
    passed = sum(1 for i in range(len(inputs)) if i < len(result.details) and result.details[i])
    status = _STATUS.get(result.status, "failed")
    return Execution(model="", status=status, passed=passed, total=len(inputs), reason=result.reason)  # type: ignore[arg-type]


class EvalPlusTasks:
    """EvalPlus tasks and their expected outputs, loaded once per file and computed once per task."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._tasks: dict[tuple[str, str], dict[str, Any]] = {}
        self._truths: dict[tuple[str, str], dict[str, Any]] = {}

    def prepare(self, tests: list[CodeTests]) -> None:
        from codeuf.bench.humaneval import ground_truth, load_tasks

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
        from codeuf.bench.humaneval import check_sample

        key = (tests.dataset, tests.data)
        task = self._tasks[key][tests.task_id]
        verdict = check_sample(task, self._truths[key].get(task.task_id), code, tests.dataset, self.pool)
        suites = [s for s in (verdict["base"], verdict["plus"]) if s is not None]
        passed = sum(s == "pass" for s in suites)
        status = "passed" if passed == len(suites) else "timeout" if "timeout" in suites else "failed"
        return Execution(model="", status=status, passed=passed, total=len(suites), reason=verdict.get("reason", ""))


def execute_responses(records: list[GenerationRecord], out_path: Path, workers: int | None = None,
                      progress: bool | None = None) -> list[GenerationRecord]:  # fmt: skip
    """Every record with its `executions` (empty where the instruction has no tests), in input order."""
    from codeuf.sandbox import SandboxPool

    wanted = {r.id: r for r in records}
    log = RecordLog(out_path)

    def reusable(row: dict[str, Any]) -> bool:
        try:
            saved = GenerationRecord.model_validate(row)
        except ValueError:
            return False
        record = wanted.get(saved.id)
        return record is not None and saved.responses == record.responses and same_tests(record.tests, saved.tests)

    done = {k: GenerationRecord.model_validate(v) for k, v in log.resume(reusable).items()}
    todo = [r for r in records if r.id not in done]
    with log:
        for record in [r for r in todo if not r.has_tests]:
            done[record.id] = record.model_copy(update={"executions": []})
            log.append(done[record.id].model_dump())
        tested = [r for r in todo if r.has_tests]
        if tested:
            with SandboxPool(workers) as pool:
                evalplus = EvalPlusTasks(pool)
                evalplus.prepare([r.tests for r in tested if r.tests and r.tests.kind == "evalplus"])
                with ThreadPoolExecutor(pool.size) as executor:
                    for record in _progress(executor.map(lambda r: _execute(r, pool, evalplus), tested),
                                            len(tested), progress):  # fmt: skip
                        done[record.id] = record
                        log.append(record.model_dump())
    return [done[r.id] for r in records]


def same_tests(given: CodeTests | None, recorded: CodeTests | None) -> bool:
    """The tests a stage was given are those `codeuf execute` recorded (settled, where they were pending)."""
    return (given is None and recorded is None) or (given is not None and given.same_source(recorded))


def _execute(record: GenerationRecord, pool: Any, evalplus: EvalPlusTasks) -> GenerationRecord:
    assert record.tests is not None
    if record.tests.pending:
        return settle_agreement(record, pool)
    failed = record.failed()
    executions = []
    for response in record.responses:
        if response.model in failed:
            executions.append(Execution(model=response.model, status="not_executed", reason="no response"))
            continue
        code, why = response_code(response.response, record.entry_point)
        if code is None:
            executions.append(Execution(model=response.model, status="not_executed", reason=why))
        elif why:  # Python that does not parse: it was meant to run, and cannot
            total = _total(record.tests)
            executions.append(Execution(model=response.model, status="failed", total=total, reason=why))
        else:
            result = run_tests(code, record.tests, record.entry_point, pool, evalplus)
            executions.append(result.model_copy(update={"model": response.model}))
    return record.model_copy(update={"executions": executions})


def settle_agreement(record: GenerationRecord, pool: Any) -> GenerationRecord:
    """Synthesized tests without a reference solution: every response runs against every candidate test,
    the agreement rule keeps some (see codeuf.stages.synthesize), and each response's execution counts the
    kept tests. The record's tests become the kept ones, with the others' reasons."""
    from codeuf.stages.synthesize import agreed_tests

    tests = record.tests
    assert tests is not None and tests.synthesis is not None
    synthesis = tests.synthesis
    runs = _candidate_runs(record, "\n".join(synthesis.candidates), pool)
    keep, why = agreed_tests({m: v for m, (v, _, _) in runs.items()}, synthesis.rule, synthesis.min_agree)
    reasons = [*tests.reasons, *(f"candidate {i + 1}: not kept by {synthesis.rule} agreement"
                                 for i in range(len(synthesis.candidates)) if i not in keep)]  # fmt: skip
    if why:
        reasons.append(why)
    if keep and len(keep) < synthesis.min_tests:
        reasons.append(f"only {len(keep)} agreed tests (min_tests: {synthesis.min_tests})")
        keep = []
    settled = tests.model_copy(update={
        "code": "".join(synthesis.candidates[i] + "\n" for i in keep), "reasons": reasons,
        "dropped": tests.dropped + len(synthesis.candidates) - len(keep),
        "synthesis": synthesis.model_copy(update={"validation": f"agreement:{synthesis.rule}"}),
    })  # fmt: skip
    executions = []
    for response in record.responses if keep else []:
        if response.model not in runs:
            why_not = (
                "no response"
                if response.model in record.failed()
                else response_code(response.response, record.entry_point)[1]
            )
            executions.append(Execution(model=response.model, status="not_executed", reason=why_not))
            continue
        verdicts, status, reason = runs[response.model]
        passed = sum(verdicts[i] for i in keep)
        outcome = "passed" if passed == len(keep) else "timeout" if status == "timeout" else "failed"
        executions.append(Execution(model=response.model, status=outcome, passed=passed, total=len(keep),
                                    reason="" if outcome == "passed" else reason))  # fmt: skip
    return record.model_copy(update={"tests": settled, "executions": executions})


def _candidate_runs(record: GenerationRecord, candidates: str, pool: Any) -> dict[str, tuple[list[bool], str, str]]:
    """Each response with code: (its verdict on each candidate test, its status, its first failure)."""
    failed, runs = record.failed(), {}
    count = len(assert_steps(candidates)[1])
    for response in record.responses:
        if response.model in failed:
            continue
        code, why = response_code(response.response, record.entry_point)
        if code is None:
            continue
        runs[response.model] = ([False] * count, "failed", why) if why else assert_verdicts(code, candidates, pool)
    return runs


def _total(tests: CodeTests) -> int:
    if tests.kind == "asserts":
        return len(assert_steps(tests.code)[1])
    return len(tests.cases) if tests.kind == "cases" else 2


def _progress(results: Any, total: int, enabled: bool | None, description: str = "execute") -> Any:
    import sys

    if not (enabled if enabled is not None else sys.stderr.isatty()):
        yield from results
        return
    from rich.progress import track

    yield from track(results, total=total, description=description, console=None, transient=False)


def execution_stats(records: list[GenerationRecord]) -> dict[str, Any]:
    """Counts of execution outcomes, overall and per model, for the manifest and the card."""
    overall: dict[str, int] = {}
    per_model: dict[str, dict[str, int]] = {}
    for record in records:
        for execution in record.executions:
            overall[execution.status] = overall.get(execution.status, 0) + 1
            model = per_model.setdefault(execution.model, {})
            model[execution.status] = model.get(execution.status, 0) + 1
    tested = sum(1 for r in records if r.has_tests)
    return {"records_with_tests": tested, "responses": overall, "per_model": per_model}
