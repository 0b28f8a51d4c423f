"""A response's code in any language but Python against its tests: one program per response (codeuf.sandbox.
languages writes it), built once per distinct source and run in the sandbox; what it printed is compared here,
in the codeuf process, with what the tests expect.

Python keeps its own path (codeuf.execution.checks), where each test is a call the worker checks."""

from __future__ import annotations

import json
from typing import Any

from codeuf.data.schema import CodeTests, Execution
from codeuf.execution.checks import MAX_JOB_SECONDS, STEP_SECONDS, _close
from codeuf.sandbox.languages import Language, Untranslatable, dialect_of, report_lines
from codeuf.sandbox.programs import ProgramResult, Run


def run_program_tests(language: Language, code: str, tests: CodeTests, entry_point: str | None,
                      pool: Any) -> Execution:  # fmt: skip
    """One response's code against its tests (the model name is filled in by the caller), run in the dialect it
    is written in (SQL in MySQL's runs in MariaDB: the execution says `mysql`)."""
    language = dialect_of(language, code)
    try:
        verdicts, status, reason = program_verdicts(language, code, tests, entry_point, pool)
    except Untranslatable as exc:
        return Execution(model="", status="not_executed", reason=str(exc), language=language.name)
    return Execution(model="", status=status, passed=sum(verdicts), total=len(verdicts), reason=reason,  # type: ignore[arg-type]
                     language=language.name)  # fmt: skip


def program_verdicts(language: Language, code: str, tests: CodeTests, entry_point: str | None,
                     pool: Any) -> tuple[list[bool], str, str]:  # fmt: skip
    """Whether the code passes each test, its status (passed, failed, timeout) and the first failure."""
    if tests.kind == "stdio":
        return _stdio(language, code, tests, pool)
    if tests.kind == "sql":
        return _sql(language, code, tests, pool)
    if tests.kind == "cases":
        if not entry_point:
            raise Untranslatable("call cases need the record's entry_point")
        inputs = [json.loads(c.input) for c in tests.cases]
        program = language.calls(code, entry_point, inputs)
        expected = [json.loads(c.output) for c in tests.cases]
        return _reported(language, program, len(inputs), pool, lambda i, value: _same_json(value, expected[i]))
    program, total = language.asserts(code, tests.code)
    return _reported(language, program, total, pool, None)


def _budget(count: int) -> float:
    return min(MAX_JOB_SECONDS, STEP_SECONDS * max(count, 1)) + 2


def _reported(language: Language, source: str, total: int, pool: Any, check: Any) -> tuple[list[bool], str, str]:
    """Run one test program; each test is what its `@@codeuf` line says (checked by `check` for values)."""
    result: ProgramResult = pool.run_program(language.program(source, time_limit=_budget(total)))
    if result.build in ("failed", "timeout"):
        return [False] * total, "failed", f"the code does not build: {_first_error(result.build_log)}"
    run = result.runs[0] if result.runs else Run("timeout", None, "", "", 0.0)
    lines = report_lines(run.stdout)
    verdicts, first = [], ""
    for index in range(total):
        kind, rest = lines.get(index, ("missing", ""))
        if kind == "value" and check is not None:
            ok = _parses(rest) and check(index, json.loads(rest))
            why = "wrong output"
        else:
            ok, why = kind == "pass", rest or kind
        verdicts.append(ok)
        if not ok and not first:
            first = f"test {index}: {why}" if kind != "missing" else f"test {index}: did not run ({_ended(run)})"
    status = "passed" if all(verdicts) else "timeout" if run.status == "timeout" and len(lines) < total else "failed"
    return verdicts, status, "" if status == "passed" else first


def _stdio(language: Language, code: str, tests: CodeTests, pool: Any) -> tuple[list[bool], str, str]:
    stdins = [json.loads(c.input) for c in tests.cases]
    result: ProgramResult = pool.run_program(language.program(code, stdins, time_limit=STEP_SECONDS))
    if result.build in ("failed", "timeout"):
        return [False] * len(stdins), "failed", f"the code does not build: {_first_error(result.build_log)}"
    verdicts, first = [], ""
    for index, case in enumerate(tests.cases):
        run = result.runs[index] if index < len(result.runs) else None
        ok = run is not None and run.status == "ok" and _same_text(run.stdout, json.loads(case.output))
        verdicts.append(ok)
        if not ok and not first:
            first = f"test {index}: " + ("wrong output" if run is not None and run.status == "ok" else _ended(run))
    timed_out = any(r.status == "timeout" for r in result.runs)
    status = "passed" if all(verdicts) else "timeout" if timed_out else "failed"
    return verdicts, status, "" if status == "passed" else first


def _sql(language: Language, code: str, tests: CodeTests, pool: Any) -> tuple[list[bool], str, str]:
    from codeuf.sandbox.languages.sql import result_sets, script

    ordered = "order by" in code.lower()
    verdicts, first, timed_out = [], "", False
    for index, case in enumerate(tests.cases):
        result: ProgramResult = pool.run_program(language.program(script(tests.code, code), time_limit=STEP_SECONDS))
        run = result.runs[0] if result.runs else None
        ok, why = False, _ended(run)
        if run is not None and run.status == "ok":
            try:
                sets = result_sets(run.stdout)
            except ValueError:
                sets = []
            expected = json.loads(case.output)
            ok = bool(sets) and _same_rows(sets[-1], expected, ordered)
            why = "wrong rows" if sets else "no result set"
        timed_out = timed_out or (run is not None and run.status == "timeout")
        verdicts.append(ok)
        if not ok and not first:
            first = f"test {index}: {why}"
    status = "passed" if all(verdicts) else "timeout" if timed_out else "failed"
    return verdicts, status, "" if status == "passed" else first


def _same_rows(rows: list[list[Any]], expected: list[list[Any]], ordered: bool) -> bool:
    if len(rows) != len(expected):
        return False
    if ordered:
        return all(_same_json(a, b) for a, b in zip(rows, expected, strict=True))
    key = lambda row: json.dumps(row, sort_keys=True)  # noqa: E731
    return all(_same_json(a, b) for a, b in zip(sorted(rows, key=key), sorted(expected, key=key), strict=True))


def _same_json(value: Any, expected: Any) -> bool:
    """Deep equality of JSON values; numbers within 1e-6 (an int and a float of the same value are equal, since
    a JSON encoder may print 2.0 as 2)."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    if isinstance(value, (int, float)) and isinstance(expected, (int, float)):
        return _close(float(value), float(expected))
    if isinstance(value, list) and isinstance(expected, list):
        return len(value) == len(expected) and all(_same_json(a, b) for a, b in zip(value, expected, strict=True))
    if isinstance(value, dict) and isinstance(expected, dict):
        return value.keys() == expected.keys() and all(_same_json(value[k], expected[k]) for k in value)
    return _close(value, expected)


def _same_text(printed: str, expected: str) -> bool:
    """Output compared line by line, trailing spaces and trailing blank lines ignored."""
    clean = lambda text: [line.rstrip() for line in text.rstrip().splitlines()]  # noqa: E731
    return clean(printed) == clean(expected)


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _ended(run: Run | None) -> str:
    if run is None:
        return "not run"
    if run.status == "timeout":
        return "over its time limit"
    if run.status == "flood":
        return "printed more than the sandbox allows"
    if run.exit_code is not None and run.exit_code < 0:
        return f"killed by signal {-run.exit_code}"
    last = (run.stderr.strip().splitlines() or [f"exit {run.exit_code}"])[-1]
    return last[:200]


def _first_error(log: str) -> str:
    for line in log.splitlines():
        if "error" in line.lower():
            return line.strip()[:200]
    return (log.strip().splitlines() or ["no output"])[0][:200]
