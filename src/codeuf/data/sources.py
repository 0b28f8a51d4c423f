"""Loading inputs: the built-in instructions, local files, saved datasets and hub ids.

Local files are read strictly: a missing column, a wrong type, bad JSON or bytes that are not
UTF-8 give one InputError naming the file, the line (or row) and the field.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeuf.data.schema import CallCase, CodeTests, is_test_statement
from codeuf.errors import CodeufError, InputError, invalid
from codeuf.io import iter_jsonl_lines, read_json_file

BUILTIN_INSTRUCTIONS = Path(__file__).parent / "builtin" / "instructions.jsonl"
BUILTIN_TASKS = Path(__file__).parent / "builtin" / "tasks.jsonl"
"""42 function-level Python tasks with reference solutions and assert tests, written for codeuf."""
BUILTIN_SOURCES = {"builtin": BUILTIN_INSTRUCTIONS, "builtin:tasks": BUILTIN_TASKS}
LOCAL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet")
EVALPLUS_CHAT = "Please provide a self-contained Python code solving the following problem:\n```python\n{prompt}\n```"


@dataclass(frozen=True)
class Instruction:
    """One instruction of a source, with the tests, entry point and reference solution it may carry."""

    id: str
    text: str
    tests: CodeTests | None = None
    entry_point: str | None = None
    solution: str | None = None


def record_id(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).hexdigest()


def iter_rows(
    source: str | Path, split: str = "train", *, evalplus_numbers: bool = False
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Yield (where, line or row number, row) from a local file, a saved dataset folder or a hub id.
    `evalplus_numbers` reads NaN, Infinity and deep nesting in JSON as EvalPlus's releases hold them."""
    path = Path(source)
    kind = _kind(path)
    if kind == "file":
        name = path.name
        if name.endswith((".jsonl", ".jsonl.gz")):
            relaxed = {"allow_nan": True, "max_depth": None} if evalplus_numbers else {}
            rows: Iterator[tuple[int, Any]] = iter_jsonl_lines(path, **relaxed)
        elif name.endswith(".json"):
            data = read_json_file(path)
            if isinstance(data, dict) and isinstance(data.get(split), list):
                data = data[split]
            if not isinstance(data, list):
                raise InputError("expected a JSON list of records", path=path)
            rows = enumerate(data, start=1)
        elif name.endswith(".parquet"):
            import pyarrow.parquet as pq

            try:
                table = pq.read_table(path)
                data = table.to_pylist()
            except Exception as exc:
                raise InputError(f"not a readable Parquet file: {type(exc).__name__}", path=path) from None
            rows = enumerate(data, start=1)
        else:
            raise InputError(f"unsupported file type (use {', '.join(LOCAL_SUFFIXES)})", path=path)
        for number, row in rows:
            if not isinstance(row, dict):
                raise InputError("expected a JSON object", path=path, line=number)
            yield (
                str(path),
                number,
                row if name.endswith((".jsonl", ".jsonl.gz", ".json")) else _check_row(row, str(path), number),
            )
        return
    if kind == "dir":
        yield from _iter_dataset(_load_saved(path), split, str(path))
        return
    if kind == "other":
        raise InputError("not a regular file or folder", path=source)
    if path.suffix or "/" not in str(source) or str(source).startswith((".", "/")) or kind == "bad":
        raise InputError("file or folder not found", path=source)
    yield from _iter_dataset(_load_hub(str(source), split), split, str(source))


def _kind(path: Path) -> str:
    """file, dir, other (a device, a socket), missing, or bad (a name the system cannot take)."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except (OSError, ValueError):
        return "bad"
    import stat

    return "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other"


def _load_saved(path: Path) -> Any:
    import datasets

    target = path / "hf" if (path / "hf").is_dir() else path
    try:
        return datasets.load_from_disk(str(target))
    except Exception as exc:
        raise InputError(f"not a saved dataset: {exc}", path=path) from None


def _load_hub(repo: str, split: str) -> Any:
    import datasets

    from codeuf import hub

    hub.quiet(with_datasets=True)
    try:
        return datasets.load_dataset(repo, split=split)
    except Exception as exc:
        raise CodeufError(
            f"cannot load {repo!r} (split {split}) from the Hugging Face hub: {hub.reason(exc, 160)}; "
            "offline, give a local file instead"
        ) from None


def _iter_dataset(data: Any, split: str, where: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
    import datasets

    if isinstance(data, datasets.DatasetDict):
        if split not in data:
            raise InputError(f"no split {split!r} (splits: {', '.join(data)})", path=where)
        data = data[split]
    for number, row in enumerate(data, start=1):
        yield where, number, _check_row(dict(row), where, number)


def _check_row(row: dict[str, Any], where: str, number: int) -> dict[str, Any]:
    """Rows from Parquet and saved datasets did not pass through the JSON reader: check them the same way."""
    from codeuf.io import JsonProblem, check_value

    try:
        check_value(row)
    except JsonProblem as exc:
        raise InputError(str(exc), path=where, line=number) from None
    return row


def load_instructions(
    source: str | Path | None, column: str = "instruction", split: str = "train", solution_column: str = "solution"
) -> list[Instruction]:
    """The instructions of a source; ids come from an `id` column or the text itself. A row may carry
    `tests` (Python asserts as a string, or a list of {input, output} cases), `entry_point` and a reference
    solution (in `solution_column`: code, or an answer holding a fenced code block); a row in EvalPlus's format
    (HumanEval+, MBPP+) becomes a task whose tests are its inputs."""
    origin = "file"
    if str(source).startswith(POLYGLOT_PREFIX):
        return polyglot_tasks(str(source)[len(POLYGLOT_PREFIX) :])
    if source is None or str(source) in BUILTIN_SOURCES:
        name = "builtin" if source is None else str(source)
        source, column, origin = BUILTIN_SOURCES[name], "instruction", name.replace("builtin:tasks", "builtin")
        solution_column = "solution"
    out: list[Instruction] = []
    problems = RowProblems()
    # EvalPlus's files hold -Infinity and NaN among their test inputs; the fields read here are checked.
    for where, number, row in iter_rows(source, split, evalplus_numbers=True):
        with problems.collect():
            out.append(_instruction(row, where, number, column, solution_column, origin))
    problems.raise_if_any()
    if not out:
        raise InputError("no instructions: the source is empty", path=str(source))
    return out


POLYGLOT = Path(__file__).parent / "builtin" / "polyglot"
POLYGLOT_PREFIX = "builtin:tasks:"
_EXTENSIONS = {"javascript": "js", "typescript": "ts", "java": "java", "cpp": "cpp", "rust": "rs", "go": "go",
               "php": "php", "ruby": "rb"}  # fmt: skip
_CAMEL = {"javascript", "typescript", "java", "go"}


def polyglot_languages() -> list[str]:
    return list(_EXTENSIONS)


def polyglot_tasks(which: str) -> list[Instruction]:
    """`builtin:tasks:<languages>`: 10 function-level tasks written for this project, in each language named
    (comma-separated, or `all`), each with a reference solution in that language and call cases translated
    into it (`source: builtin:tasks` keeps the 42 Python tasks)."""
    names = polyglot_languages() if which.strip() == "all" else [n.strip() for n in which.split(",") if n.strip()]
    unknown = [n for n in names if n not in _EXTENSIONS]
    if unknown or not names:
        raise InputError(f"no built-in tasks in {unknown[0] if unknown else 'no language'!r} (there are: all, "
                         f"{', '.join(_EXTENSIONS)})", field="source")  # fmt: skip
    tasks = json.loads((POLYGLOT / "tasks.json").read_text(encoding="utf-8"))
    out = []
    for language in names:
        from codeuf.sandbox.languages import get

        title = get(language).title
        for task in tasks:
            name = _camel(task["id"]) if language in _CAMEL else task["id"]
            solution = (POLYGLOT / language / f"{task['id']}.{_EXTENSIONS[language]}").read_text(encoding="utf-8")
            where = " as a static method of a class `Solution`" if language == "java" else ""
            text = (f"Write a {title} function `{name}`{where} that {task['text']}. In Python terms its signature "
                    f"is `{task['signature']}`; use the {title} types that fit (64-bit integers where the values "
                    f"need them).")  # fmt: skip
            cases = [CallCase(input=json.dumps(args), output=json.dumps(result)) for args, result in task["cases"]]
            tests = CodeTests(kind="cases", cases=cases, origin="builtin", language=language)
            out.append(Instruction(f"codeuf-{language}-{task['id']}", text, tests, name,
                                   f"```{language}\n{solution}```\n"))  # fmt: skip
    return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _finite_row(row: dict[str, Any], where: str, number: int) -> None:
    """Only EvalPlus's files may hold NaN and Infinity (among their test inputs), and they are read relaxed for
    that; in any other row a non-finite number is bad input."""
    import math

    from codeuf.io import walk

    for _, path, value in walk(row):
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{value} is not a number a source may hold (numbers must be finite)", path=where,
                             line=number, field=path or None)  # fmt: skip


class RowProblems:
    """A source's bad rows, all reported at once: one line that names each (file, line and field), up to
    `cap`, and how many more there are, so that fixing row 9 does not reveal row 10 on the next run."""

    def __init__(self, cap: int = 10) -> None:
        self.cap, self.errors = cap, []  # type: ignore[var-annotated]

    @contextmanager
    def collect(self) -> Iterator[None]:
        try:
            yield
        except InputError as exc:
            self.errors.append(exc)

    def raise_if_any(self) -> None:
        if not self.errors:
            return
        first = self.errors[0]
        if len(self.errors) == 1:
            raise first
        shown = "; ".join(str(e) for e in self.errors[: self.cap])
        more = f"; and {len(self.errors) - self.cap} more" if len(self.errors) > self.cap else ""
        error = InputError(f"{len(self.errors)} bad rows: {shown}{more}")
        error.path, error.line, error.field = first.path, first.line, first.field
        raise error


def _instruction(row: dict[str, Any], where: str, number: int, column: str, solution_column: str,
                 origin: str) -> Instruction:  # fmt: skip
    if _is_evalplus(row):
        return _evalplus_instruction(row, where, number)
    _finite_row(row, where, number)
    for name, what in ((column, "column"), (solution_column, "solution_column")):
        if name not in row and (name == column or solution_column != "solution"):
            raise InputError(f"missing column named by `{what}` (columns: {', '.join(sorted(row)) or 'none'})",
                             path=where, line=number, field=name)  # fmt: skip
    text = row[column]
    if not isinstance(text, str):
        raise InputError(f"expected a string, got {type(text).__name__}", path=where, line=number, field=column)
    identifier = row.get("id")
    entry_point = _optional_name(row, "entry_point", where, number)
    solution = _optional_text(row, solution_column, where, number)
    tests = _tests(row.get("tests"), entry_point, origin, where, number)
    return Instruction(str(identifier) if identifier is not None else record_id(text), text, tests, entry_point,
                       solution)  # fmt: skip


def _is_evalplus(row: dict[str, Any]) -> bool:
    return {"task_id", "prompt", "canonical_solution", "entry_point", "base_input"} <= set(row)


def _evalplus_instruction(row: dict[str, Any], where: str, number: int) -> Instruction:
    """An EvalPlus task as an instruction: its prompt asked as `codeuf humaneval` asks it in chat mode, and
    tests that are the task itself (checked with EvalPlus's semantics, on the same file)."""
    for field in ("task_id", "prompt", "canonical_solution", "entry_point"):
        if not isinstance(row[field], str):
            raise InputError("not a string", path=where, line=number, field=field)
    dataset = "mbpp+" if row["task_id"].startswith("Mbpp/") else "humaneval+"
    canonical = row["canonical_solution"]
    solution = canonical if f"def {row['entry_point']}" in canonical else row["prompt"] + canonical
    tests = CodeTests(kind="evalplus", dataset=dataset, task_id=row["task_id"], data=str(Path(where).resolve()),
                      origin="evalplus")  # fmt: skip
    return Instruction(row["task_id"], EVALPLUS_CHAT.format(prompt=row["prompt"].strip()), tests,
                       row["entry_point"], solution)  # fmt: skip


def _optional_name(row: dict[str, Any], field: str, where: str, number: int) -> str | None:
    import keyword

    value = row.get(field)
    if value is not None and (not isinstance(value, str) or not value.isidentifier() or keyword.iskeyword(value)):
        raise InputError("not a function name", path=where, line=number, field=field)
    return value


def _optional_text(row: dict[str, Any], field: str, where: str, number: int) -> str | None:
    value = row.get(field)
    if value is not None and not isinstance(value, str):
        raise InputError("not a string", path=where, line=number, field=field)
    return value


def _tests(value: Any, entry_point: str | None, origin: str, where: str, number: int) -> CodeTests | None:
    """A row's `tests`: Python asserts (a string) or calls with their results (a list of {input, output})."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            tree = ast.parse(value)
        except SyntaxError as exc:
            language = guess_test_language(value)
            if language is None:
                raise InputError(f"not valid Python (line {exc.lineno} of the tests: {exc.msg}), nor tests in "
                                 "another language", path=where, line=number, field="tests") from None  # fmt: skip
            return CodeTests(kind="asserts", code=value, origin=origin, language=language)
        if not any(is_test_statement(node) for node in tree.body):
            raise InputError("no tests: no assert in the tests", path=where, line=number, field="tests")
        return CodeTests(kind="asserts", code=value, origin=origin)
    if isinstance(value, dict):
        return _language_tests(value, entry_point, origin, where, number)
    if isinstance(value, list) and value:
        if entry_point is None:
            raise InputError("cases need an `entry_point` to call", path=where, line=number, field="entry_point")
        cases = []
        for index, case in enumerate(value):
            if not isinstance(case, dict) or set(case) != {"input", "output"} or not isinstance(case["input"], list):
                raise InputError("each case is {input: [arguments], output: result}", path=where, line=number,
                                 field=f"tests.{index}")  # fmt: skip
            cases.append(_case(case, where, number, index))
        return CodeTests(kind="cases", cases=cases, origin=origin)
    raise InputError("expected Python asserts (a string), a non-empty list of {input, output} cases, or "
                     "{language, asserts|cases|stdio|schema}", path=where, line=number, field="tests")  # fmt: skip


_TEST_FORMS = {"asserts": "a string of assertion lines", "cases": "a non-empty list of {input: [arguments], output}",
               "stdio": "a non-empty list of {input: stdin text, output: stdout text}",
               "schema": "SQL statements, with `expected` (a list of rows) or `cases` ({output: rows})"}  # fmt: skip


def _language_tests(value: dict[str, Any], entry_point: str | None, origin: str, where: str,
                    number: int) -> CodeTests:  # fmt: skip
    """Tests for responses in any language: {language, asserts} (assertion lines in it), {language, cases}
    (call cases, translated into it), {language, stdio} (whole programs), or {language: sql, schema, expected}."""
    from codeuf.sandbox import languages

    def bad(message: str, field: str = "tests") -> InputError:
        return InputError(message, path=where, line=number, field=field)

    name = value.get("language", "python")
    if not isinstance(name, str):
        raise bad("expected a language name", "tests.language")
    try:
        language = languages.get(name).name
    except KeyError as exc:
        raise bad(str(exc.args[0]), "tests.language") from None
    forms = [k for k in _TEST_FORMS if k in value]
    unknown = sorted(set(value) - {"language", "expected", *_TEST_FORMS})
    if unknown or len(forms) != 1:
        what = f"unknown key {unknown[0]!r}" if unknown else "exactly one of asserts, cases, stdio, schema"
        raise bad(f"{what}: tests in a language are {{language, asserts|cases|stdio|schema}}",
                  f"tests.{unknown[0]}" if unknown else "tests")  # fmt: skip
    form = forms[0]
    field = f"tests.{form}"
    if form == "asserts":
        if not isinstance(value["asserts"], str) or not value["asserts"].strip():
            raise bad(f"expected {_TEST_FORMS[form]}", field)
        tests = CodeTests(kind="asserts", code=value["asserts"], origin=origin, language=language)
        if tests.unrunnable.startswith("no tests"):
            raise bad(tests.unrunnable, field)
        return tests
    if form == "cases":
        body = _tests(value["cases"], entry_point, origin, where, number)
        assert body is not None
        return body.model_copy(update={"language": language})
    if form == "stdio":
        cases = value["stdio"]
        if not isinstance(cases, list) or not cases:
            raise bad(f"expected {_TEST_FORMS[form]}", field)
        for index, case in enumerate(cases):
            if (not isinstance(case, dict) or set(case) != {"input", "output"}
                    or not all(isinstance(case[k], str) for k in case)):  # fmt: skip
                raise bad("each case is {input: text, output: text}", f"{field}.{index}")
        made = [CallCase(input=json.dumps(c["input"]), output=json.dumps(c["output"])) for c in cases]
        return CodeTests(kind="stdio", cases=made, origin=origin, language=language)
    if not languages.get(language).schema_tests or not isinstance(value["schema"], str):
        raise bad("a schema is SQL text, for tests in sql or mysql", field)
    expected = value.get("expected")
    rows = [expected] if expected is not None else [c.get("output") if isinstance(c, dict) else None
                                                    for c in value.get("cases") or []]  # fmt: skip
    if not rows or not all(isinstance(r, list) and all(isinstance(row, list) for row in r) for r in rows):
        raise bad("expected rows: a list of lists (one per row)", "tests.expected")
    made = [CallCase(input="[]", output=json.dumps(r)) for r in rows]
    return CodeTests(kind="sql", code=value["schema"], cases=made, origin=origin, language=language)


def _case(case: dict[str, Any], where: str, number: int, index: int) -> CallCase:
    """A case as standard JSON text: NaN, Infinity and nesting deeper than 100 are refused here (EvalPlus's
    relaxed reading lets them into the row)."""
    from pydantic import ValidationError

    try:
        return CallCase(input=json.dumps(case["input"]), output=json.dumps(case["output"]))
    except (ValueError, RecursionError, ValidationError) as exc:
        detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else "nested too deeply"
        raise InputError(detail.removeprefix("Value error, "), path=where, line=number,
                         field=f"tests.{index}") from None  # fmt: skip


_TEST_LANGUAGES = (
    ("php", ("<?php", "assert($")),
    ("javascript", ("console.assert", "assert.strictEqual", "assert.deepStrictEqual", "expect(", "=== ")),
    ("java", ("assertEquals", "public static void", "System.out.println")),
    ("cpp", ("#include", "std::", "assert(")),
    ("rust", ("assert_eq!", "fn main", "#[test]")),
    ("go", ("func Test", "t.Errorf", "package main")),
    ("ruby", ("assert_equal", "raise unless", " end\n")),
    ("bash", ("#!/bin/bash", "[[ ", "exit 1")),
    ("sql", ("SELECT ", "INSERT INTO", "CREATE TABLE")),
)


def guess_test_language(code: str) -> str | None:
    """The language of tests that are not Python, from marks only that language's tests carry, or None."""
    for language, marks in _TEST_LANGUAGES:
        if any(mark in code for mark in marks):
            return language
    return None


def load_records(source: str | Path, model: type[Any], split: str = "train") -> list[Any]:
    """Rows in the released schema (or codeuf's own) as records of `model`, validated."""
    from pydantic import ValidationError

    records = []
    problems = RowProblems()
    for where, number, row in iter_rows(source, split):
        row = dict(row)
        if "id" not in row or row["id"] is None:
            row["id"] = record_id(str(row.get("instruction", "")), str(row.get("preference", "")))
        fields = set(model.model_fields)
        with problems.collect():
            try:
                records.append(model.model_validate({k: v for k, v in row.items() if k in fields}))
            except ValidationError as exc:
                raise invalid(exc, path=where, line=number) from None
    problems.raise_if_any()
    if not records:
        raise InputError("no records: the source is empty", path=str(source))
    return records
