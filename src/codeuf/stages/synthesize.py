"""Stage 1b (`codeuf tests`): a model writes tests for the instructions that have none.

The recipe is AceCoder's (Zeng et al., 2025): ask a model for many short assert tests per instruction, then
keep only the tests a trusted program passes. Here:

1. **The function under test.** The instruction's `entry_point`, else the function its reference solution
   defines (the top-level function no other one calls), else one the test writer names. When the instruction
   does not name it, one sentence is appended to it ("Write it as a Python function `def f(x)`."), recorded
   in `tests.synthesis.note`, so that responses define what the tests call (AceCoder rewrites its questions
   for the same reason).
2. **Candidates.** The writer answers `{"tests": ["assert f(...) == ...", ...]}` (a JSON schema where the
   backend takes one). A candidate is runnable when it is one statement that asserts and calls the function;
   the others are dropped with their reason, as are duplicates.
3. **Validation.** With a reference solution (Evol-Instruct's `output`, a task's `solution`): each candidate
   is run against it in the sandbox and kept only if it passes. Without one, the config's `agreement` rule is
   applied to the pool's responses once they exist (`codeuf execute` settles it, see `settle_agreement`):
   - `codet` (the default): CodeT's dual execution agreement (Chen et al., ICLR 2023): responses that pass
     the same set of tests form a consensus set, scored (responses in it) x (tests it passes); the tests of
     the best set are kept, if at least `min_agree` responses form it. CodeDPO (Zhang et al., 2024) ranks
     self-generated code and tests by the same mutual-verification idea.
   - `majority`: each test that more than half of the executed responses, and at least `min_agree`, pass.
   - `none`: without a reference solution, no tests.
   Fewer than `min_tests` validated tests and the instruction keeps none. Agreement makes the tests agree
   with the pool's consensus, so its pairs say "consensus against the rest"; a reference solution is the
   stronger check, and the card says which one each record had.

Every record says where its tests came from (`origin: synthesized:<writer>`), how many were dropped and why
(`dropped`, `reasons`), and every candidate the writer gave (`synthesis.candidates`). Records are appended
to OUT/tests.jsonl as they finish; a rerun skips them; a failed call leaves its record for the next run.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from codeuf.config import TestSynthesis
from codeuf.data.schema import CodeTests, InstructionRecord, Synthesis
from codeuf.data.sources import is_test_statement
from codeuf.io import RecordLog
from codeuf.llm.formats import get_format
from codeuf.llm.types import LLMRequest, LLMResult, Message
from codeuf.prompts import render
from codeuf.session import StageSession, progress_bar

TEST_CHARS = 200
"""Longest test the schema allows: ten of them fit well inside the writer's default max_tokens."""
SIGNATURE = re.compile(r"^\s*def\s+([A-Za-z_]\w*)\s*\(.*\)\s*(->.*)?:?\s*$")


# ----------------------------------------------------------------------------- the function under test


def reference_code(solution: str | None) -> tuple[str, str] | None:
    """(code, entry point) of a reference solution, or None when it defines no top-level function. The entry
    point is the function no other top-level function calls (the one called at top level, where several)."""
    from codeuf.execution.sanitize import CODE_FENCE, sanitize

    if not solution:
        return None
    for block in [*sorted(CODE_FENCE.findall(solution), key=len, reverse=True), solution]:
        try:
            tree = ast.parse(block)
        except SyntaxError:
            continue
        functions = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        if not functions:
            continue
        called = {c.func.id for f in functions for c in ast.walk(f)
                  if isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id != f.name}  # fmt: skip
        top = [f.name for f in functions if f.name not in called]
        at_top_level = {c.func.id for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                        for c in ast.walk(n) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}  # fmt: skip
        entry = next((name for name in reversed(top) if name in at_top_level), (top or [functions[-1].name])[-1])
        return sanitize(f"```python\n{block}\n```", entry), entry
    return None


def signature_of(code: str, entry_point: str) -> str:
    """`def name(params)` of a function defined in `code` (annotations kept), or `def name(...)`."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return f"def {entry_point}(...)"
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
            returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
            return f"def {entry_point}({ast.unparse(node.args)}){returns}"
    return f"def {entry_point}(...)"


def naming_note(instruction: str, entry_point: str, signature: str, language: str = "Python") -> str:
    """The sentence that tells a response which function the tests call, or "" when the instruction names it."""
    name = re.escape(entry_point)
    # `name`, name( or a snake_case word name the function; a plain word ("cosine") may just be a word
    if re.search(rf"`{name}`|\b{name}\s*\(" + (rf"|\b{name}\b" if "_" in entry_point else ""), instruction):
        return ""
    return f"\n\nWrite it as a {language} function with this signature: `{signature}`."


# ----------------------------------------------------------------------------- the writer's request


def tests_schema(count: int, with_signature: bool) -> dict[str, Any]:
    """At most `count` bounded test strings (and the function's signature, where the writer chooses it)."""
    properties: dict[str, Any] = {}
    if with_signature:
        properties["signature"] = {"type": "string", "maxLength": 120}
    properties["tests"] = {"type": "array", "items": {"type": "string", "maxLength": TEST_CHARS},
                           "minItems": 1, "maxItems": count}  # fmt: skip
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def synthesis_request(record: InstructionRecord, entry_point: str | None, signature: str | None,
                      settings: TestSynthesis, prompts: Path | None, language: Any = None) -> LLMRequest:  # fmt: skip
    other = {}
    if language is not None and language.name != "python":
        example = language.assert_example.replace("NAME", entry_point or "name")
        other = {"language": language.title, "example": example}
    prompt = render("synthesize_tests.j2", prompts, instruction=record.instruction, entry_point=entry_point,
                    signature=signature, count=settings.count, **other)  # fmt: skip
    messages = [Message(role="user", content=prompt)]
    schema = tests_schema(settings.count, entry_point is None) if settings.structured else None
    sampling = {"temperature": settings.temperature, "max_tokens": settings.max_tokens, "json_schema": schema}
    if settings.format is None:
        return LLMRequest(messages=messages, **sampling)
    fmt = get_format(settings.format)
    return LLMRequest(prompt=fmt.render(messages), stop=list(fmt.stop), **sampling)


def parse_candidates(result: LLMResult, entry_point: str | None,
                     language: Any = None) -> tuple[str | None, list[str], list[str]]:  # fmt: skip
    """(entry point, runnable candidate tests, reasons for the others) from the writer's answer."""
    other = language is not None and language.name != "python"
    parsed = result.parsed if isinstance(result.parsed, dict) else None
    if parsed is None:
        from codeuf.llm.types import parse_json_output

        parsed, _ = parse_json_output(result.text or "")
        parsed = parsed if isinstance(parsed, dict) else None
    if parsed is None or not isinstance(parsed.get("tests"), list):
        return entry_point, [], [f"the writer's answer is unreadable ({result.parse_error or 'no tests list'})"]
    if entry_point is None:
        signature = str(parsed.get("signature", ""))
        match = re.search(language.definition, signature) or SIGNATURE.match(signature) if other else (
            SIGNATURE.match(signature))  # fmt: skip
        if not match:
            return None, [], [f"the writer named no function (signature {str(parsed.get('signature'))[:60]!r})"]
        entry_point = match.group(1)
    kept: list[str] = []
    reasons = []
    for index, test in enumerate(parsed["tests"], start=1):
        why = _unrunnable_in(test, entry_point, language) if other else _unrunnable(test, entry_point)
        if why is None and test.strip() in kept:
            why = "a duplicate"
        if why:
            reasons.append(f"test {index}: {why}")
        else:
            kept.append(test.strip())
    return entry_point, kept, reasons


def _unrunnable(test: Any, entry_point: str) -> str | None:
    if not isinstance(test, str):
        return "not a string"
    try:
        tree = ast.parse(test.strip())
    except SyntaxError as exc:
        return f"not valid Python ({exc.msg})"
    if len(tree.body) != 1 or not is_test_statement(tree.body[0]):
        return "not one assert statement"
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    if entry_point not in calls:
        return f"does not call {entry_point}"
    return None


def _unrunnable_in(test: Any, entry_point: str, language: Any) -> str | None:
    """A candidate in another language: one line that the language counts as a test, calling the function."""
    if not isinstance(test, str):
        return "not a string"
    line = test.strip()
    if "\n" in line or not re.search(language.assert_line, line):
        return f"not one {language.title} assertion line"
    if not re.search(rf"\b{re.escape(entry_point)}\s*\(", line):
        return f"does not call {entry_point}"
    return None


def instruction_language(record: InstructionRecord) -> Any:
    """The language a record's tests are written in: that of its reference solution's first code block, else the
    one language its instruction names ("a JavaScript function"), else Python."""
    from codeuf.sandbox import languages

    found = [lang for lang, _, _ in languages.blocks(record.solution or "") if lang is not None]
    if found:
        return found[0]
    named = {languages.get(_NAMED[m.lower()]).name for m in _LANGUAGE_NAMES.findall(record.instruction)}
    return languages.get(named.pop()) if len(named) == 1 else languages.get("python")


_NAMED = {"javascript": "javascript", "node.js": "javascript", "typescript": "typescript", "java": "java",
          "c++": "cpp", "c#": "csharp", "rust": "rust", "golang": "go", "php": "php", "ruby": "ruby", "perl": "perl",
          "python": "python"}  # fmt: skip
_LANGUAGE_NAMES = re.compile(
    r"(?<![\w+#])(JavaScript|Node\.js|TypeScript|Java|C\+\+|C#|Rust|Golang|PHP|Ruby|Perl|Python)(?![\w+#])",
    re.IGNORECASE,
)


# ----------------------------------------------------------------------------- validation


def validate_with_reference(code: str, candidates: list[str], pool: Any,
                            language: Any = None) -> tuple[list[str], list[str]]:  # fmt: skip
    """(the candidates the reference solution passes, reasons for the others)."""
    from codeuf.execution.checks import assert_verdicts

    if language is not None and language.name != "python":
        from codeuf.execution.programs import program_verdicts

        tests = CodeTests(kind="asserts", code="\n".join(candidates), language=language.name)
        verdicts, _, reason = program_verdicts(language, code, tests, None, pool)
    else:
        verdicts, _, reason = assert_verdicts(code, "\n".join(candidates), pool)
    kept = [t for t, ok in zip(candidates, verdicts, strict=True) if ok]
    detail = f" ({reason})" if reason and len(kept) < len(candidates) else ""
    reasons = [f"test {candidates.index(t) + 1} of the runnable ones: the reference solution fails it{detail}"
               for t, ok in zip(candidates, verdicts, strict=True) if not ok]  # fmt: skip
    return kept, reasons


# ----------------------------------------------------------------------------- the stage


def settings_key(settings: TestSynthesis) -> str:
    """What makes a saved record reusable: the writer and every setting that changes its tests."""
    text = json.dumps(settings.model_dump(mode="json"), sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def synthesize_tests(records: list[InstructionRecord], settings: TestSynthesis, session: StageSession,
                     out_path: Path, *, workers: int | None = None, prompts: Path | None = None,
                     progress: bool | None = None) -> list[InstructionRecord]:  # fmt: skip
    """Every record, with tests where the writer's were validated; a record whose call failed is left out."""
    from codeuf.cluster import sandbox_pool

    key = settings_key(settings)
    wanted = {r.id: r for r in records}
    log = RecordLog(out_path)

    def reusable(row: dict[str, Any]) -> bool:
        record = wanted.get(row.get("id"))  # type: ignore[arg-type]
        return record is not None and row.get("synthesis_key") == key and row.get("source") == record.instruction

    fields = InstructionRecord.model_fields
    done, todo = log.resume_items(records, reusable, lambda row: InstructionRecord.model_validate(
        {f: v for f, v in row.items() if f in fields}))  # fmt: skip
    with log:

        def finish(source: InstructionRecord, record: InstructionRecord) -> None:
            done[record.id] = record
            log.append({**record.model_dump(), "source": source.instruction, "synthesis_key": key})

        for record in [r for r in todo if r.tests is not None]:
            finish(record, record)  # tests from the source stay as they are
        asked = [r for r in todo if r.tests is None]
        plans = {r.id: _plan(r) for r in asked}
        jobs = [(session.backend(settings.spec), synthesis_request(r, plans[r.id][1], plans[r.id][2], settings,
                                                                  prompts, plans[r.id][3])) for r in asked]  # fmt: skip
        results = session.run("tests", jobs) if jobs else []
        answered = [(r, res) for r, res in zip(asked, results, strict=True) if res.ok]
        with sandbox_pool(workers) as pool, ThreadPoolExecutor(pool.size) as executor:
            finished = executor.map(lambda pair: _validated(pair[0], pair[1], plans[pair[0].id], settings, pool),
                                    answered)  # fmt: skip
            for (source, _), record in zip(answered, progress_bar(finished, len(answered), progress, "tests"),
                                           strict=True):  # fmt: skip
                finish(source, record)
    return [done[r.id] for r in records if r.id in done]


def _plan(record: InstructionRecord) -> tuple[str | None, str | None, str | None, Any]:
    """(reference code, entry point, signature, language) known before the writer is asked."""
    language = instruction_language(record)
    if language.name != "python":
        return (*_plan_other(record, language), language)
    reference = reference_code(record.solution)
    if record.entry_point:
        code = reference[0] if reference and reference[1] == record.entry_point else None
        return code, record.entry_point, signature_of(code or "", record.entry_point), language
    if reference:
        return reference[0], reference[1], signature_of(reference[0], reference[1]), language
    return None, None, None, language


def _plan_other(record: InstructionRecord, language: Any) -> tuple[str | None, str | None, str | None]:
    """The reference code in the instruction's language, its function (the record's entry point, else the
    first one the code defines) and that function's first line."""
    from codeuf.sandbox import languages

    code = languages.code_in(record.solution, language)[0] if record.solution else None
    defined = [(m.group(1), m.group(0).strip()) for m in re.finditer(language.definition, code or "", re.MULTILINE)]
    entry = record.entry_point or (defined[0][0] if defined else None)
    signature = next((line.rstrip("{ ").strip() for name, line in defined if name == entry), None)
    return code, entry, signature


def _validated(record: InstructionRecord, result: LLMResult, plan: tuple[str | None, str | None, str | None, Any],
               settings: TestSynthesis, pool: Any) -> InstructionRecord:  # fmt: skip
    reference, entry_point, signature, language = plan
    entry_point, candidates, reasons = parse_candidates(result, entry_point, language)
    origin = f"synthesized:{settings.label}"
    synthesis = Synthesis(writer=settings.label, candidates=candidates, validation="none",
                          min_agree=settings.min_agree, min_tests=settings.min_tests)  # fmt: skip
    code = ""
    if candidates and reference is not None:
        kept, failed = validate_with_reference(reference, candidates, pool, language)
        reasons += failed
        synthesis.validation = "reference"
        code = _kept(kept, settings.min_tests, reasons)
    elif candidates and settings.agreement != "none":
        synthesis.validation, synthesis.rule = f"pending:{settings.agreement}", settings.agreement
    elif candidates:
        reasons.append("no reference solution to validate the tests, and agreement: none")
    instruction = record.instruction
    if entry_point is not None and (code or synthesis.validation.startswith("pending:")):
        if signature is None:  # the writer chose the function: its signature is the one in its answer
            signature = str((result.parsed or {}).get("signature", f"def {entry_point}(...)")).strip().rstrip(":")
        synthesis.note = naming_note(instruction, entry_point, signature, language.title)
        instruction += synthesis.note
    tests = CodeTests(kind="asserts", code=code, origin=origin, dropped=len(reasons), reasons=reasons,
                      synthesis=synthesis, language=language.name)  # fmt: skip
    return record.model_copy(update={"instruction": instruction, "tests": tests, "entry_point": entry_point})


def _kept(tests: list[str], min_tests: int, reasons: list[str]) -> str:
    """The kept tests as asserts code, or "" (with the reason) when there are fewer than `min_tests`."""
    if len(tests) < min_tests:
        reasons.append(f"only {len(tests)} validated test{'s' if len(tests) != 1 else ''} (min_tests: {min_tests})")
        return ""
    return "\n".join(tests) + "\n"
