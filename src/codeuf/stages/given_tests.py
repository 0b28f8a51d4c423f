"""Given tests checked like synthesized ones: a source's own tests run against its reference solution first.

A researcher's file may carry tests beside a reference solution (`tests`, `solution`). A wrong test there
(`assert factorial(5) == 121` beside a correct factorial) would make every correct response fail, and the
pairs would reward wrong code. So before anything is generated, each record with a reference solution and
asserts or `{input, output}` tests runs the solution against them in the sandbox, as `codeuf tests` does
for the tests a model writes:

- a test the solution fails is dropped, and the record says why ("the reference solution fails
  `assert factorial(5) == 121`");
- a record whose solution fails every test loses them all, with the reason (its responses are then
  `not_executed`: no tests);
- a solution that defines no function to test leaves the tests as they are (nothing to check them with).

Each checked record's tests say `checked: reference`, so that a rerun does not check them again; the card
and the manifest count what was checked and dropped (`codeuf.data.card.test_stats`).
"""

from __future__ import annotations

import ast
from typing import Any

from codeuf.data.schema import CodeTests, InstructionRecord
from codeuf.execution.checks import assert_steps, assert_verdicts, case_verdicts
from codeuf.stages.synthesize import reference_code

CHECKED = "reference"


def needs_check(record: InstructionRecord) -> bool:
    """Given (not synthesized) asserts or cases tests beside a reference solution, not checked yet."""
    tests = record.tests
    return (tests is not None and tests.synthesis is None and tests.kind in ("asserts", "cases", "stdio", "sql")
            and not tests.checked and bool(record.solution) and tests.runnable)  # fmt: skip


def check_given_tests(records: list[InstructionRecord], workers: int | None = None) -> list[InstructionRecord]:
    """The records with their given tests checked against their reference solutions (see the module)."""
    todo = [r for r in records if needs_check(r)]
    if not todo:
        return records
    from codeuf.cluster import sandbox_pool

    with sandbox_pool(workers) as pool:
        checked = {r.id: r.model_copy(update={"tests": check_record(r, pool)}) for r in todo}
    return [checked.get(r.id, r) for r in records]


def check_record(record: InstructionRecord, pool: Any) -> CodeTests:
    """One record's tests after its reference solution ran against them."""
    tests = record.tests
    assert tests is not None and record.solution
    if tests.as_programs:
        return _checked_other(record, tests, pool)
    reference = reference_code(record.solution)
    entry = record.entry_point or (reference[1] if reference else None)
    if reference is None or (tests.kind == "cases" and entry is None):
        return tests.model_copy(update={"checked": "no reference code to run"})
    code = reference[0]
    if tests.kind == "asserts":
        return _checked_asserts(tests, code, pool)
    verdicts, _, _ = case_verdicts(code, entry, tests, pool)  # type: ignore[arg-type]
    kept = [case for case, ok in zip(tests.cases, verdicts, strict=True) if ok]
    reasons = [f"the reference solution fails the case {case.input} -> {case.output}"
               for case, ok in zip(tests.cases, verdicts, strict=True) if not ok]  # fmt: skip
    return _result(tests, {"cases": kept}, reasons, len(kept), len(verdicts))


def _checked_other(record: InstructionRecord, tests: CodeTests, pool: Any) -> CodeTests:
    """Tests in another language, checked against the reference solution in that language: an assertion line
    or a case it fails is dropped, with its reason."""
    import re

    from codeuf.execution.programs import program_verdicts
    from codeuf.sandbox import languages

    language = languages.get(tests.language)
    assert record.solution is not None
    code, _ = languages.code_in(record.solution, language)
    if code is None and "```" not in record.solution:
        code = record.solution
    if code is None:
        return tests.model_copy(update={"checked": f"no {language.title} reference code to run"})
    try:
        verdicts, _, _ = program_verdicts(language, code, tests, record.entry_point, pool)
    except languages.Untranslatable as exc:
        return tests.model_copy(update={"checked": str(exc)})
    if tests.kind == "asserts":
        pattern, lines, index, kept_lines, reasons = re.compile(language.assert_line), [], 0, 0, []
        for line in tests.code.splitlines():
            if pattern.search(line):
                if verdicts[index]:
                    lines.append(line)
                    kept_lines += 1
                else:
                    reasons.append(f"the reference solution fails `{_short(line.strip())}`")
                index += 1
            else:
                lines.append(line)
        text = "\n".join(lines) + "\n" if kept_lines else ""
        return _result(tests, {"code": text}, reasons, kept_lines, len(verdicts))
    kept = [case for case, ok in zip(tests.cases, verdicts, strict=True) if ok]
    reasons = [f"the reference solution fails the case {case.input} -> {case.output}"
               for case, ok in zip(tests.cases, verdicts, strict=True) if not ok]  # fmt: skip
    return _result(tests, {"cases": kept}, reasons, len(kept), len(verdicts))


def _checked_asserts(tests: CodeTests, code: str, pool: Any) -> CodeTests:
    steps, indexes = assert_steps(tests.code)
    verdicts, _, _ = assert_verdicts(code, tests.code, pool)
    failed = {i for i, ok in zip(indexes, verdicts, strict=True) if not ok}
    tree = ast.parse(tests.code)
    kept = "".join(ast.get_source_segment(tests.code, node) + "\n" for i, node in enumerate(tree.body)  # type: ignore[operator]
                   if i not in failed)  # fmt: skip
    reasons = [f"the reference solution fails `{_short(steps[i])}`" for i in sorted(failed)]
    remaining = len(indexes) - len(failed)
    return _result(tests, {"code": kept if remaining else ""}, reasons, remaining, len(indexes))


def _result(tests: CodeTests, update: dict[str, Any], reasons: list[str], kept: int, total: int) -> CodeTests:
    if kept == 0:
        reasons = [*reasons, f"the reference solution fails all {total} tests: the record keeps none"]
        update = {"code": "", "cases": []} if tests.kind == "asserts" else {"cases": []}
    return tests.model_copy(update={**update, "checked": CHECKED, "dropped": tests.dropped + total - kept,
                                    "reasons": [*tests.reasons, *reasons]})  # fmt: skip


def _short(statement: str, limit: int = 120) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
