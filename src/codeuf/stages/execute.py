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

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from codeuf.data.schema import CodeTests, Execution, GenerationRecord
from codeuf.execution.checks import EvalPlusTasks, agreed_tests, assert_steps, assert_verdicts, run_tests
from codeuf.execution.sanitize import response_code
from codeuf.io import RecordLog
from codeuf.session import progress_bar


def execute_responses(records: list[GenerationRecord], out_path: Path, workers: int | None = None,
                      progress: bool | None = None) -> list[GenerationRecord]:  # fmt: skip
    """Every record with its `executions` (empty where the instruction has no tests), in input order."""
    from codeuf.cluster import sandbox_pool

    wanted = {r.id: r for r in records}
    log = RecordLog(out_path)

    def reusable(row: dict[str, Any]) -> bool:
        try:
            saved = GenerationRecord.model_validate(row)
        except ValueError:
            return False
        record = wanted.get(saved.id)
        return record is not None and saved.responses == record.responses and same_tests(record.tests, saved.tests)

    done, todo = log.resume_items(records, reusable, GenerationRecord.model_validate)
    with log:
        for record in [r for r in todo if not r.has_tests]:
            done[record.id] = record.model_copy(update={"executions": _not_run(record)})
            log.append(done[record.id].model_dump())
        tested = [r for r in todo if r.has_tests]
        if tested:
            with sandbox_pool(workers) as pool:
                evalplus = EvalPlusTasks(pool)
                evalplus.prepare([r.tests for r in tested if r.tests and r.tests.kind == "evalplus"])
                with ThreadPoolExecutor(pool.size) as executor:
                    results = executor.map(lambda r: _execute(r, pool, evalplus), tested)
                    for record in progress_bar(results, len(tested), progress, "execute"):
                        done[record.id] = record
                        log.append(record.model_dump())
    return [done[r.id] for r in records]


def _not_run(record: GenerationRecord) -> list[Execution]:
    """No executions without tests; with tests that cannot run, every response is `not_executed` and says why
    (no test in them, another language): never "passed 0 of 0"."""
    if record.tests is None:
        return []
    return [Execution(model=r.model, status="not_executed", reason=record.tests.unrunnable) for r in record.responses]


def same_tests(given: CodeTests | None, recorded: CodeTests | None) -> bool:
    """The tests a stage was given are those `codeuf execute` recorded (settled, where they were pending)."""
    return (given is None and recorded is None) or (given is not None and given.same_source(recorded))


def _execute(record: GenerationRecord, pool: Any, evalplus: EvalPlusTasks) -> GenerationRecord:
    assert record.tests is not None
    if record.tests.pending:
        return settle_agreement(record, pool)
    failed = record.failed()
    if record.tests.as_programs:
        return _execute_other(record, pool)
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
            executions.append(result.model_copy(update={"model": response.model, "language": "python"}))
    return record.model_copy(update={"executions": executions})


def _execute_other(record: GenerationRecord, pool: Any) -> GenerationRecord:
    """Tests for another language: each response's code in that language, built and run in the sandbox; a
    response in another language is not run against them."""
    from codeuf.execution.programs import run_program_tests
    from codeuf.sandbox import languages

    assert record.tests is not None
    language = languages.get(record.tests.language)
    failed, executions = record.failed(), []
    for response in record.responses:
        code, why = (None, "no response") if response.model in failed else languages.code_in(response.response,
                                                                                              language)  # fmt: skip
        if code is None:
            executions.append(Execution(model=response.model, status="not_executed", reason=why))
            continue
        result = run_program_tests(language, code, record.tests, record.entry_point, pool)
        executions.append(result.model_copy(update={"model": response.model}))
    return record.model_copy(update={"executions": executions})


def settle_agreement(record: GenerationRecord, pool: Any) -> GenerationRecord:
    """Synthesized tests without a reference solution: every response runs against every candidate test,
    the agreement rule keeps some (see codeuf.stages.synthesize), and each response's execution counts the
    kept tests. The record's tests become the kept ones, with the others' reasons."""
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
                else _why_no_code(response.response, record.entry_point, tests.language)
            )
            executions.append(Execution(model=response.model, status="not_executed", reason=why_not))
            continue
        verdicts, status, reason = runs[response.model]
        passed = sum(verdicts[i] for i in keep)
        outcome = "passed" if passed == len(keep) else "timeout" if status == "timeout" else "failed"
        executions.append(Execution(model=response.model, status=outcome, passed=passed, total=len(keep),
                                    reason="" if outcome == "passed" else reason, language=tests.language))  # fmt: skip
    return record.model_copy(update={"tests": settled, "executions": executions})


def _why_no_code(text: str, entry_point: str | None, language: str) -> str:
    if language == "python":
        return response_code(text, entry_point)[1]
    from codeuf.sandbox import languages

    return languages.code_in(text, languages.get(language))[1]


def _candidate_runs(record: GenerationRecord, candidates: str, pool: Any) -> dict[str, tuple[list[bool], str, str]]:
    """Each response with code: (its verdict on each candidate test, its status, its first failure)."""
    assert record.tests is not None
    if record.tests.language != "python":
        return _candidate_runs_other(record, candidates, pool)
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


def _candidate_runs_other(record: GenerationRecord, candidates: str,
                          pool: Any) -> dict[str, tuple[list[bool], str, str]]:  # fmt: skip
    from codeuf.execution.programs import program_verdicts
    from codeuf.sandbox import languages

    assert record.tests is not None
    language = languages.get(record.tests.language)
    tests = CodeTests(kind="asserts", code=candidates, language=language.name)
    failed, runs = record.failed(), {}
    for response in record.responses:
        code = None if response.model in failed else languages.code_in(response.response, language)[0]
        if code is not None:
            runs[response.model] = program_verdicts(language, code, tests, record.entry_point, pool)
    return runs


def _total(tests: CodeTests) -> int:
    if tests.kind == "asserts":
        return len(assert_steps(tests.code)[1])
    return len(tests.cases) if tests.kind == "cases" else 2


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
