"""Bad inputs for every command that reads a file, a config or a command-line value.

Each `Case` is one command line plus the files it reads, all bad in one way. `run_case` runs it through
codeuf's real entry point (`codeuf.cli.main`, in this process, so a thousand cases take seconds) and
reports what happened; the test asserts exit 2, one line on stderr, no traceback, and nothing written.
`benchmarks/failure_scenarios.py` runs the same cases against another source tree to compare.

The cases are generated: generic corruptions of each kind of file (truncation, bad bytes, deep nesting,
huge numbers, NaN, lone surrogates, wrong shapes), then every field of each record or config given
values of the wrong type or out of range, then odd paths and command-line values.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

URL = "http://127.0.0.1:9/v1"  # nothing listens there: a case that wrongly got as far as a call fails fast
DELETE = object()


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]
    files: dict[str, bytes | None] = field(default_factory=dict)
    """Relative path -> content, or None for an empty folder."""
    names: tuple[str, ...] = ()
    """Substrings the one line must contain (the file, its line)."""
    needs: str | None = None
    """A module the case needs (trl for recipes); skipped where it is missing."""


@dataclass
class Outcome:
    code: int | None
    stdout: str
    stderr: str
    left_behind: list[str]
    exception: str | None = None

    def problems(self, case: Case) -> list[str]:
        found = []
        if self.exception is not None:
            found.append(f"traceback: {self.exception}")
        if self.code != 2:
            found.append(f"exit {self.code}")
        lines = self.stderr.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("codeuf: error: "):
            found.append(f"stderr is not one error line: {self.stderr[:300]!r}")
        elif any(name not in lines[0] for name in case.names):
            found.append(f"the line does not name {case.names}: {lines[0][:300]!r}")
        if self.left_behind:
            found.append(f"left behind: {self.left_behind[:5]}")
        return found


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def run_case(case: Case, workdir: Path, cache_dir: Path) -> Outcome:
    """Write the case's files into an empty `workdir`, run the command there, see what it did."""
    workdir.mkdir(parents=True, exist_ok=True)
    for rel, content in case.files.items():
        target = workdir / rel
        if content is None:
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    before = _snapshot(workdir)
    from codeuf.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_argv, old_cwd = sys.argv, os.getcwd()
    code: int | None = None
    exception = None
    try:
        os.chdir(workdir)
        sys.argv = ["codeuf", *case.argv]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # what main() let through: a traceback for a user
        exception = f"{type(exc).__name__}: {exc}"[:500]
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
    left = sorted(_snapshot(workdir) - before)
    if cache_dir.exists():
        left += [f"$CODEUF_CACHE_DIR/{p}" for p in sorted(_snapshot(cache_dir))]
    return Outcome(code, out.getvalue(), err.getvalue(), left, exception)


# ----------------------------------------------------------------------------- valid bases


def jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def ydump(value: Any) -> bytes:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True).encode()


RUN_CONFIG: dict[str, Any] = {
    "n": 3,
    "seed": 1,
    "pool": {
        "a": {"spec": f"openai:a@{URL}", "max_tokens": 8},
        "b": {"spec": f"openai:b@{URL}", "format": "chatml", "max_tokens": 8},
    },
    "models_per_instruction": 2,
    "judges": [{"spec": f"openai:j@{URL}", "name": "j"}],
    "synthesize_tests": {"spec": f"openai:w@{URL}"},
    "out": "out",
    "concurrency": 2,
}  # only keys every version of codeuf knows, so that benchmarks/failure_scenarios.py compares like with like
INSTRUCTIONS = [{"instruction": "Write a function that reverses a string."},
                {"instruction": "Explain what a Python generator is, with an example."},
                {"instruction": "Write SQL that counts the rows of a table per day."}]  # fmt: skip
INSTRUCTION_RECORDS = [
    {"id": "i1", "instruction": "Reverse a string.", "preference": "style", "models": ["a", "b"]},
    {"id": "i2", "instruction": "Sum a list.", "preference": "readability", "models": ["b", "a"]},
]
FEEDBACK = [
    {"instruction": "Reverse a string.", "preference": "readability", "models": ["x", "y"],
     "responses": [{"model": "x", "response": "s[::-1]"}, {"model": "y", "response": "reversed(s)"}],
     "annotations": [{"model": "x", "rating": "4", "rationale": "short"},
                     {"model": "y", "rating": "2", "rationale": "an iterator"}]},
    {"instruction": "Sum a list.", "preference": "style", "models": ["x", "y"],
     "responses": [{"model": "x", "response": "sum(xs)"}, {"model": "y", "response": "for loop"}],
     "annotations": [{"model": "x", "rating": "5", "rationale": "idiomatic"},
                     {"model": "y", "rating": "N/A", "rationale": ""}]},
]  # fmt: skip
BENCH = [
    {"instruction": "Reverse a string.", "preference": "readability", "gpt-4-turbo_response": "s[::-1]"},
    {"instruction": "Explain a list comprehension.", "preference": "explanation", "gpt-4-turbo_response": "..."},
]
PAIRWISE = [
    {"instruction": "Reverse a string.", "response_a": "s[::-1]", "response_b": "no", "label": "a"},
    {"instruction": "Sum a list.", "response_a": "loop", "response_b": "sum(xs)", "label": "b"},
]
POINTWISE = [
    {"instruction": "Reverse a string.", "response": "s[::-1]", "score": 9},
    {"instruction": "Sum a list.", "response": "no idea", "score": 2},
]
TASKS = [
    {"task_id": "T/0", "prompt": "def add(a, b):\n", "entry_point": "add", "canonical_solution": "    return a + b\n",
     "base_input": [[1, 2], [3, 4]], "plus_input": [[5, 6]], "atol": 0},
    {"task_id": "T/1", "prompt": "def neg(a):\n", "entry_point": "neg", "canonical_solution": "    return -a\n",
     "base_input": [[1]], "plus_input": [[2]], "atol": 0},
]  # fmt: skip
SAMPLES = [{"task_id": "T/0", "solution": "def add(a, b):\n    return a + b\n"},
           {"task_id": "T/1", "completion": "    return -a\n"}]  # fmt: skip
BATCH = [
    {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
     "body": {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "temperature": 0,
              "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}}},
    {"custom_id": "r2", "method": "POST", "url": "/v1/chat/completions",
     "body": {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
              "max_tokens": 8, "logprobs": True, "top_logprobs": 2, "stop": ["\n"], "seed": 3}},
]  # fmt: skip
LOOP = {"out": "loop", "instructions": 4, "judge": f"openai:j@{URL}", "humaneval_limit": 2, "concurrency": 1}
JUDGES = {"judges": [{"spec": f"openai:j@{URL}", "name": "j", "temperature": 0}], "reference": "gpt-4-turbo"}
PRICES = {"m": {"input": 0.5, "output": 1.5}}  # keyed by the model's name: a spec's dots would split the path


# ----------------------------------------------------------------------------- generic corruptions


def _set(row: Any, path: str, value: Any) -> Any:
    """A copy of `row` with the dotted `path` set to `value` (or deleted, for DELETE)."""
    row = copy.deepcopy(row)
    parts = path.split(".")
    node = row
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last: Any = int(parts[-1]) if isinstance(node, list) else parts[-1]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return row


def _first_string_field(row: dict[str, Any]) -> str:
    return next(k for k, v in row.items() if isinstance(v, str))


def jsonl_corruptions(rows: list[dict[str, Any]]) -> Iterator[tuple[str, bytes, str | None]]:
    """(name, content, the line the error must name or None) of JSONL files broken in generic ways.
    The second record is the one broken, so that an error must name line 2."""
    good = jsonl(rows)
    first, second = jsonl(rows[:1]), json.dumps(rows[1])
    key = _first_string_field(rows[1])
    yield "empty", b"", None
    yield "blank-lines", b"\n  \n\t\n", None
    ends, total = set(), 0
    for row in rows:
        total += len(jsonl([row]))
        ends |= {total, total - 1}  # a cut at a line's end (or just before its newline) leaves valid lines
    for fraction in (0.1, 0.3, 0.5, 0.7, 0.9):
        cut = max(1, int(len(good) * fraction))
        if cut not in ends:
            yield f"truncated-{fraction}", good[:cut], None
    yield "torn-second", first + second[: len(second) // 2].encode(), ":2"
    yield "bad-utf8", first + second.encode()[:5] + b"\xff\xfe" + second.encode()[5:] + b"\n", ":2"
    yield "utf8-surrogate-bytes", first + second.encode()[:5] + b"\xed\xa0\x80" + second.encode()[5:] + b"\n", ":2"
    yield "latin1", first + second.replace(rows[1][key], "caf\u00e9").encode("latin-1", "replace") + b"\n", None
    yield "nul-byte", first + second.encode()[:3] + b"\x00" + second.encode()[3:] + b"\n", ":2"
    yield "bom", b"\xef\xbb\xbf" + good, ":1"
    yield "deep", first + ("[" * 100_000).encode() + b"\n", ":2"
    yield "deep-valid", first + json.dumps(_set(rows[1], key, _nest(150))).encode() + b"\n", ":2"
    yield "huge-int", first + json.dumps(rows[1]).replace(json.dumps(rows[1][key]), "9" * 5000).encode() + b"\n", ":2"
    for constant in ("NaN", "Infinity", "-Infinity"):
        yield f"const-{constant}", first + second.replace(json.dumps(rows[1][key]), constant).encode() + b"\n", ":2"
    yield "surrogate-value", first + second.replace(json.dumps(rows[1][key]), '"x\\ud800y"').encode() + b"\n", ":2"
    yield "surrogate-key", first + second.replace(f'"{key}"', '"\\udc00"', 1).encode() + b"\n", ":2"
    for label, value in (("array", "[1, 2]"), ("number", "7"), ("string", '"text"'), ("null", "null"),
                         ("true", "true")):  # fmt: skip
        yield f"not-an-object-{label}", first + value.encode() + b"\n", ":2"
    yield "trailing-garbage", first + second.encode() + b" x\n", ":2"
    yield "two-on-a-line", first + (second + second).encode() + b"\n", ":2"


def _nest(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def field_corruptions(
    rows: list[dict[str, Any]], fields: dict[str, list[Any]]
) -> Iterator[tuple[str, bytes, str | None]]:
    """The second record with each field given each bad value (DELETE removes it)."""
    for path, values in fields.items():
        for index, value in enumerate(values):
            label = "missing" if value is DELETE else json.dumps(value)[:20]
            broken = _set(rows[1], path, value)
            yield f"{path}={label}#{index}", jsonl([rows[0], broken]), ":2"


def yaml_corruptions(config: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
    """YAML files broken in generic ways."""
    good = ydump(config)
    yield "empty", b""
    yield "not-yaml", b"a: [b\n"
    yield "tabs", b"n:\t\t- 1\n\t:x\n"
    yield "list", b"- 1\n- 2\n"
    yield "scalar", b"just text\n"
    yield "bad-utf8", good[:4] + b"\xff" + good[4:]
    yield "nul-byte", good[:4] + b"\x00" + good[4:]
    yield "deep", b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n"
    yield "deep-100k", b"a: " + b"[" * 100_000 + b"\n"
    yield (
        "alias-bomb",
        b"a: &a [x,x,x,x,x,x,x,x,x]\n"
        + b"".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n".encode() for i in range(8)
        ),
    )
    yield "huge-int", b"seed: " + b"9" * 5000 + b"\n" + good
    yield "surrogate", good + b'zzz: "\\ud800"\n'
    yield "unknown-key", good + b"no_such_setting: 1\n"
    yield "truncated", good[: len(good) // 2] + b"\nlast: [unclosed, {\n"


def yaml_fields(config: dict[str, Any], fields: dict[str, list[Any]]) -> Iterator[tuple[str, bytes]]:
    for path, values in fields.items():
        for index, value in enumerate(values):
            label = "missing" if value is DELETE else json.dumps(value, default=str)[:24]
            yield f"{path}={label}#{index}", ydump(_set(config, path, value))


# ----------------------------------------------------------------------------- the cases, per command


BAD_STR = [5, None, True, [], {"a": 1}]
BAD_POS_INT = [0, -3, 1.5, True, "4", None, []]
BAD_TEMPERATURE = [-1, 2.5, "hot", True, float("nan"), float("inf")]


def _file_cases(prefix: str, filename: str, argv: Callable[[str], list[str]], rows: list[dict[str, Any]],
                fields: dict[str, list[Any]], extra: dict[str, bytes] | None = None) -> Iterator[Case]:  # fmt: skip
    """Generic and field-level corruptions of one kind of JSONL input of one command."""
    for label, content, line in [*jsonl_corruptions(rows), *field_corruptions(rows, fields)]:
        names = (filename + line,) if line else (filename,)
        yield Case(f"{prefix}/{label}", argv(filename), {filename: content, **(extra or {})}, names)


def source_cases() -> Iterator[Case]:
    config = ydump(RUN_CONFIG)
    fields = {"instruction": [*BAD_STR, DELETE]}
    extra = {"c.yaml": config}
    yield from _file_cases("instructions--source", "src.jsonl",
                           lambda f: ["instructions", "--config", "c.yaml", "--source", f], INSTRUCTIONS, fields,
                           extra)  # fmt: skip
    cjk = jsonl([{"instruction": "写一个函数"}, {"instruction": "문자열을 뒤집는 함수"}])
    blank = jsonl([{"instruction": ""}, {"instruction": "   "}])
    for label, content in (("cjk-only", cjk), ("blank-only", blank)):
        yield Case(f"instructions--source/{label}", ["instructions", "--config", "c.yaml", "--source", "src.jsonl"],
                   {"src.jsonl": content, **extra}, ("src.jsonl", "no instructions left"))  # fmt: skip
        with_source = ydump({**RUN_CONFIG, "source": "src.jsonl"})
        yield Case(f"run-source/{label}", ["run", "c.yaml"], {"src.jsonl": content, "c.yaml": with_source},
                   ("src.jsonl",))  # fmt: skip
    tasks = [{"instruction": "Add two numbers.", "entry_point": "add", "tests": "assert add(1, 2) == 3"},
             {"instruction": "Negate.", "entry_point": "neg", "tests": [{"input": [1], "output": -1}]}]  # fmt: skip
    yield from _file_cases("instructions--source-tests", "tasks.jsonl",
                           lambda f: ["instructions", "--config", "c.yaml", "--source", f], tasks, {
        "tests": [5, "def (", "x = 1", [], [5], [{"input": 1, "output": 2}], [{"input": []}], {"a": 1}, True],
        "entry_point": ["not a name", 5, DELETE], "solution": [5, []],
    }, extra)  # fmt: skip
    for label, content in (("gz-not-gzip", b"not gzip"), ("gz-truncated", b"\x1f\x8b\x08\x00\x00")):
        yield Case(f"instructions--source/{label}", ["instructions", "-c", "c.yaml", "--source", "src.jsonl.gz"],
                   {"src.jsonl.gz": content, **extra}, ("src.jsonl.gz",))  # fmt: skip
    for label, content in (("json-not-list", b'{"a": 1}'), ("json-deep", b"[" * 100_000),
                           ("json-nan", b'[{"instruction": NaN}]'), ("json-bad", b"[{")):  # fmt: skip
        yield Case(f"instructions--source/{label}", ["instructions", "-c", "c.yaml", "--source", "src.json"],
                   {"src.json": content, **extra}, ("src.json",))  # fmt: skip
    yield Case("instructions--source/parquet-garbage", ["instructions", "-c", "c.yaml", "--source", "s.parquet"],
               {"s.parquet": b"PAR1 not really", **extra}, ("s.parquet",))  # fmt: skip
    yield Case("instructions--source/txt", ["instructions", "-c", "c.yaml", "--source", "s.txt"],
               {"s.txt": b"hello", **extra}, ("s.txt",))  # fmt: skip


def record_cases() -> Iterator[Case]:
    extra = {"c.yaml": ydump(RUN_CONFIG)}
    yield from _file_cases(
        "generate--input", "in.jsonl", lambda f: ["generate", "-c", "c.yaml", "--input", f], INSTRUCTION_RECORDS,
        {"id": [5, [], True], "instruction": [*BAD_STR, DELETE], "preference": ["speed", 5, None, DELETE],
         "models": [[], "a", [1], ["a", "a"], None, DELETE]}, extra,
    )  # fmt: skip
    yield Case("generate--input/model-not-in-pool", ["generate", "-c", "c.yaml", "--input", "in.jsonl"],
               {"in.jsonl": jsonl([INSTRUCTION_RECORDS[0], {**INSTRUCTION_RECORDS[1], "models": ["a", "zzz"]}]),
                **extra}, ("'zzz'",))  # fmt: skip
    generation_fields = {
        "instruction": [*BAD_STR, DELETE], "preference": ["speed", 5, DELETE], "models": ["x", [], [1], DELETE],
        "responses": ["x", [], [5], DELETE], "responses.0.response": [5, None, DELETE],
        "responses.0.model": ["other", 5, DELETE], "responses.1": [{}, "x"],
    }  # fmt: skip
    yield from _file_cases("annotate--input", "in.jsonl", lambda f: ["annotate", "-c", "c.yaml", "--input", f],
                           FEEDBACK, generation_fields, extra)  # fmt: skip
    feedback_fields = {
        **generation_fields, "annotations": ["x", [5], DELETE], "annotations.0.rating": [5, None, DELETE],
        "annotations.0.model": ["other", 5], "annotations.0.rationale": [5, DELETE],
    }  # fmt: skip
    yield from _file_cases("binarize--input", "in.jsonl", lambda f: ["binarize", "-c", "c.yaml", "--input", f],
                           FEEDBACK, feedback_fields, extra)  # fmt: skip


def codal_cases() -> Iterator[Case]:
    answer = ["codal", "answer", "--model", f"openai:m@{URL}", "--out", "ans"]
    yield from _file_cases(
        "codal-answer--bench", "bench.jsonl", lambda f: [*answer, "--bench", f], BENCH,
        {"instruction": [*BAD_STR, DELETE], "preference": ["speed", 5, None, DELETE],
         "gpt-4-turbo_response": [5, True, {"a": 1}, [1]]},
    )  # fmt: skip
    answer_row = {"id": "1", "preference": "style", "model": "m", "answer": "z"}
    folder = {"ans/bench.jsonl": jsonl([{"id": "1", "instruction": "x", "preference": "style",
                                         "references": {"gpt-4-turbo": "y"}}]),
              "ans/answers.jsonl": jsonl([answer_row])}  # fmt: skip
    grade = ["codal", "grade", "--answers", "ans", "--judge-config", "j.yaml"]
    for label, content in [*yaml_corruptions(JUDGES), *yaml_fields(JUDGES, {
        "judges": [[], "x", [5], None, DELETE], "judges.0.spec": ["bogus:j", "", 5, DELETE],
        "judges.0.temperature": BAD_TEMPERATURE, "judges.0.max_tokens": [1, "x", True],
        "judges.0.rationale_chars": [-1, "x"], "judges.0.structured": ["yes", 1], "judges.0.nmae": ["typo"],
        "reference": [5, []],
    })]:  # fmt: skip
        if label == "empty":
            continue  # an empty judge file is a mapping with no judges: covered by judges=missing
        yield Case(f"codal-grade--judge-config/{label}", grade, {"j.yaml": content, **folder}, ("j.yaml",))
    two = {"judges": [{"spec": f"openai:j@{URL}", "name": "same"}, {"spec": f"openai:k@{URL}", "name": "same"}]}
    yield Case("codal-grade--judge-config/same-names", grade, {"j.yaml": ydump(two), **folder}, ("same",))
    broken_folders: dict[str, dict[str, bytes | None]] = {
        "missing": {},
        "a-file": {"ans": b"x"},
        "empty": {"ans": None},
        "no-answers": {"ans/bench.jsonl": folder["ans/bench.jsonl"]},  # type: ignore[dict-item]
        "bad-bench-record": {"ans/bench.jsonl": jsonl([{"id": 5}]), "ans/answers.jsonl": folder["ans/answers.jsonl"]},
        "bad-answer-record": {"ans/bench.jsonl": folder["ans/bench.jsonl"], "ans/answers.jsonl": jsonl([{"id": "1"}])},
        "stray-answer": {"ans/bench.jsonl": folder["ans/bench.jsonl"],
                         "ans/answers.jsonl": jsonl([{"id": "9", "preference": "style", "model": "m", "answer": "z"}])},
    }  # fmt: skip
    for label, files in broken_folders.items():
        yield Case(f"codal-grade--answers/{label}", ["codal", "grade", "--answers", "ans", "--judge",
                                                      f"openai:j@{URL}"], files, ("ans",))  # fmt: skip
    yield Case("codal-grade/no-reference", ["codal", "grade", "--answers", "ans", "--judge", f"openai:j@{URL}",
                                            "--reference", "claude-9"], folder, ("claude-9",))  # fmt: skip
    graded = {**folder, "ans/grades/j.jsonl": jsonl([{"id": "1", "rating": 5}])}
    for label, files in {**broken_folders, "bad-grade": graded}.items():
        if label == "missing":
            continue
        yield Case(f"codal-report/{label}", ["codal", "report", "ans", "--out", "rep"], files, ("ans",))
    yield Case("codal-report/missing", ["codal", "report", "nope", "--out", "rep"], {}, ("nope",))


def label_cases() -> Iterator[Case]:
    argv = ["judge-eval", "--judge", f"openai:j@{URL}", "--out", "je", "--labels"]
    yield from _file_cases("judge-eval--labels-pairwise", "labels.jsonl", lambda f: [*argv, f], PAIRWISE, {
        "instruction": [*BAD_STR, DELETE], "response_a": [5, None, DELETE], "response_b": [5, []],
        "label": ["c", None, 1, "A", DELETE], "preference": ["speed", 5],
    })  # fmt: skip
    yield from _file_cases("judge-eval--labels-pointwise", "labels.jsonl", lambda f: [*argv, f], POINTWISE, {
        "instruction": [5, DELETE], "response": [5, None, DELETE], "score": ["5", True, None, [], DELETE, 1e999],
        "preference": ["speed"],
    })  # fmt: skip
    for label, row in (("mixed", POINTWISE[0]), ("neither", {"instruction": "x", "text": "y"})):
        yield Case(f"judge-eval--labels/{label}", [*argv, "labels.jsonl"],
                   {"labels.jsonl": jsonl([PAIRWISE[0], row])}, ("labels.jsonl:2",))  # fmt: skip


def humaneval_cases() -> Iterator[Case]:
    base = ["humaneval", "--dataset", "humaneval+", "--out", "he"]
    data = {"data.jsonl": jsonl(TASKS)}
    yield from _file_cases("humaneval--samples", "samples.jsonl", lambda f: [*base, "--data", "data.jsonl",
                           "--samples", f], SAMPLES, {"task_id": ["T/9", 5, None, DELETE],
                           "completion": [5, None, DELETE]}, data)  # fmt: skip
    yield from _file_cases("humaneval--data", "data.jsonl", lambda f: [*base, "--data", f, "--samples",
                           "samples.jsonl"], TASKS, {"task_id": [5, None, DELETE, "T/0"], "prompt": [5, DELETE],
                           "entry_point": ["not a name", 5, DELETE], "canonical_solution": [5, DELETE],
                           "base_input": ["x", [1], None, DELETE], "plus_input": [{"a": 1}, DELETE],
                           "atol": ["x", -1, True, [0]]}, {"samples.jsonl": jsonl(SAMPLES)})  # fmt: skip
    mbpp = ["humaneval", "--dataset", "mbpp+", "--out", "he", "--samples", "samples.jsonl", "--data", "data.jsonl"]
    named = [{**t, "task_id": f"Mbpp/{t['entry_point']}"} for t in TASKS]  # MBPP+ ids end in a number
    yield Case("humaneval--data/mbpp-task-id", mbpp, {"data.jsonl": jsonl(named), "samples.jsonl": jsonl(SAMPLES)},
               ("data.jsonl:1",))  # fmt: skip


def batch_cases() -> Iterator[Case]:
    argv = ["llm", "batch", "--model", f"openai:m@{URL}", "--out", "out.jsonl", "--cache", "c.sqlite", "--in"]
    yield from _file_cases("llm-batch--in", "in.jsonl", lambda f: [*argv, f], BATCH, {
        "custom_id": [5, "", None, "r1", DELETE], "method": ["GET", None, DELETE], "url": ["/v1/embeddings", 5,
        DELETE], "body": ["x", [], None, DELETE], "body.messages": [[], "hi", [5], None, DELETE],
        "body.messages.0.role": ["robot", 5, DELETE], "body.messages.0.content": [5, None, [{"type": "image"}],
        DELETE], "body.max_tokens": [0, -1, "8", True, 1.5], "body.temperature": [-1, 3, "0"],
        "body.top_p": [0, 1.5], "body.stop": [5, [5]], "body.seed": ["x", 1.5], "body.n": [2],
        "body.logprobs": ["yes"], "body.top_logprobs": [21, -1], "body.unknown_field": [1],
        "body.messages.1": ["x", {}],
    })  # fmt: skip
    schema = [BATCH[0], _set(BATCH[0], "custom_id", "r9")]
    for label, fmt in (("type", {"type": "xml"}), ("schema-missing", {"type": "json_schema"}),
                       ("schema-name", {"type": "json_schema", "json_schema": {"schema": {}}})):  # fmt: skip
        yield Case(f"llm-batch--in/response_format-{label}", [*argv, "in.jsonl"],
                   {"in.jsonl": jsonl([schema[0], _set(schema[1], "body.response_format", fmt)])},
                   ("in.jsonl:2",))  # fmt: skip
    completion = {"custom_id": "c1", "method": "POST", "url": "/v1/completions", "body": {"prompt": "x"}}
    for label, value in (("prompt", 5), ("messages-instead", [{"role": "user", "content": "x"}])):
        key = "prompt" if label == "prompt" else "messages"
        yield Case(
            f"llm-batch--in/completion-{label}",
            [*argv, "in.jsonl"],
            {"in.jsonl": jsonl([BATCH[0], _set(completion, f"body.{key}", value)])},
            ("in.jsonl:2",),
        )
    good = {"in.jsonl": jsonl(BATCH)}
    prices = [*argv, "in.jsonl", "--prices", "p.yaml"]
    for label, content in [*yaml_corruptions(PRICES), *yaml_fields(PRICES, {
        "m": [5, "cheap", [], None], "m.input": ["x", -1, True, float("nan"), float("inf")], "m.currency": ["usd"],
        "m.batch_discount": [0, 1.5, "half"],
    })]:  # fmt: skip
        if label == "empty":
            continue  # no prices is a valid price table
        yield Case(f"llm-batch--prices/{label}", prices, {"p.yaml": content, **good}, ("p.yaml",))
    odd = {"out-is-folder": (["--out", "dir"], {"dir": None}), "out-under-file": (["--out", "f/x.jsonl"], {"f": b""}),
           "cache-is-folder": (["--cache", "dir"], {"dir": None}), "in-missing": (["--in", "nope.jsonl"], {}),
           "in-folder": (["--in", "dir"], {"dir": None}), "in-dev-null": (["--in", "/dev/null"], {})}  # fmt: skip
    for label, (flags, files) in odd.items():
        args = [*argv[:-1], "--in", "in.jsonl", *flags]
        yield Case(f"llm-batch/{label}", args, {**good, **files})
    yield Case("llm-batch/model-bogus", ["llm", "batch", "--model", "bogus:x", "--in", "in.jsonl", "--out", "o.jsonl",
                                         "--cache", "c.sqlite"], good, ("bogus",))  # fmt: skip
    yield Case("llm-batch/cache-not-sqlite", [*argv, "in.jsonl"], {**good, "c.sqlite": b"not a database"},
               ("c.sqlite",))  # fmt: skip


def run_config_cases() -> Iterator[Case]:
    """The run config, read by `run` and by every stage command."""
    fields: dict[str, list[Any]] = {
        "n": BAD_POS_INT, "seed": ["x", True, 1.5, None],
        "pool": [{}, [], "x", None, {"a": RUN_CONFIG["pool"]["a"]}],
        "pool.a": ["x", None, [], {}], "pool.a.spec": ["bogus:x", "", "openai:", "openai:m@ftp://h", "openai:m@",
        5, None], "pool.a.format": ["zzz", 5], "pool.a.temperature": BAD_TEMPERATURE, "pool.a.top_p": [0, 1.5, "x"],
        "pool.a.max_tokens": BAD_POS_INT, "pool.a.extra": [1], "pool.a.prefill": [5, "```python\n"],
        "pool.a.stop": ["x", [5], ["```"]],
        "models_per_instruction": [1, 3, True, "2"],
        "judges": [[], "x", None, [5], [{}], [{"spec": "bogus:j"}],
                   [{"spec": f"openai:j@{URL}"}, {"spec": f"openai:j@{URL}"}],
                   [{"spec": f"openai:j@{URL}", "name": "x"}, {"spec": f"openai:k@{URL}", "name": "x"}]],
        "judges.0.temperature": BAD_TEMPERATURE, "judges.0.max_tokens": [8, "x", True],
        "judges.0.rationale_chars": [-1, "x"], "judges.0.structured": ["yes", 1], "judges.0.nmae": ["typo"],
        "orders": [0, True, "2"], "ties": ["maybe", True], "min_margin": [-1, "x", float("nan")],
        "test_fraction": [1, -0.1, "x"], "out": ["c.yaml", "/dev/null/run", "c.yaml/sub", 5],
        "concurrency": [0, True], "prompts": ["missing", "c.yaml", "broken", "undefined", "latin1"],
        "source": ["missing.jsonl", "emptydir", "x.txt", "bad.jsonl"], "column": ["nope", 5], "split": [5],
        "max_retries": [-1, True], "timeout": [0, "x"], "down_after_s": [-1, "x"], "judge": [["typo"]],
        "synthesize_tests": ["x", 5, {}, {"spec": "bogus:w"}], "solution_column": [5, None],
        "synthesize_tests.count": [0, 51, "x"], "synthesize_tests.agreement": ["vote", 1],
        "synthesize_tests.min_tests": [0, "x"], "synthesize_tests.min_agree": [0], "synthesize_tests.format": ["zzz"],
        "synthesize_tests.typo": [1],
        "batch_api": ["yes", 1], "batch_poll_s": [0, "x"], "batch_retry": ["never", 5], "pool.a.batch_api": ["x"],
        "pool.a.replicas": [0, "x"], "pool.a.cpus_per_replica": [0], "pool.a.gpus_per_replica": [-1],
        "prices": ["x", [], {"m": 5}, {"m": {"input": -1}}, {"m": {"input": "x"}}, {"m": {"batch_discount": 0}},
                   {"m": {"batch_discount": 2}}, {"m": {"currency": "usd"}}, {"m": {"output": float("inf")}}],
    }  # fmt: skip
    folders: dict[str, bytes | None] = {
        "broken/annotate.j2": b"{{ instruction ", "undefined/annotate.j2": b"{{ no_such_variable.attribute }}",
        "latin1/annotate.j2": "caf\u00e9 {{ instruction }}".encode("latin-1"), "emptydir": None,
        "x.txt": b"hi", "bad.jsonl": b'{"instruction": "a"\n',
    }  # fmt: skip
    for label, content in [*yaml_corruptions(RUN_CONFIG), *yaml_fields(RUN_CONFIG, fields)]:
        if label == "empty":
            content = b"n: 3\n"  # an empty file lacks pool and judges; say it once with a key
        commands = [["run", "c.yaml"], ["instructions", "--config", "c.yaml"], ["annotate", "-c", "c.yaml"]]
        if label.startswith("synthesize_tests"):
            commands.append(["tests", "-c", "c.yaml"])
        for command in commands:
            yield Case(f"{command[0]}-config/{label}", command, {"c.yaml": content, **folders})
    yield Case("run-config/missing", ["run", "nope.yaml"], {}, ("nope.yaml",))
    yield Case("run-config/folder", ["run", "cfgdir"], {"cfgdir": None}, ("cfgdir",))
    yield Case("run-config/long-name", ["run", "x" * 300 + ".yaml"], {})


def other_yaml_cases() -> Iterator[Case]:
    loop_fields = {
        "out": [5, "/dev/null/loop"], "base": [5], "instructions": [1, True, "4"], "test_fraction": [0, 1, "x"],
        "recipe": [5], "train_overrides": ["--max_steps 2", [5]], "judge": ["bogus:j", 5, "no-such-judge"],
        "judge_max_tokens": [400], "algorithm": ["sft", "vibes", 5],
        "humaneval_limit": [0, "x"], "concurrency": [0], "run_config": ["missing.yaml", 5], "bench": ["nope.jsonl"],
        "criteria": [[], ["vibes"], "judge", ["judge", "judge"]], "source": ["missing.jsonl", 5],
        "unknown": [1],
    }  # fmt: skip
    for label, content in [*yaml_corruptions(LOOP), *yaml_fields(LOOP, loop_fields)]:
        if label == "empty":
            content = b"unknown_key: 1\n"
        yield Case(f"loop/{label}", ["loop", "l.yaml"], {"l.yaml": content})
    recipe = {"model": "default", "max_steps": 2}
    for label, content in [*yaml_corruptions(recipe), *yaml_fields(recipe, {
        "max_steps": ["x", True, [1]], "lerning_rate": [1e-5], "beta": ["x"], "lora_r": ["eight"], "model": [5],
    })]:  # fmt: skip
        if label == "empty":
            continue  # an empty recipe is the defaults
        yield Case(f"train-dpo--recipe/{label}", ["train", "dpo", "--recipe", "r.yaml"], {"r.yaml": content},
                   ("r.yaml",), needs="trl")  # fmt: skip


def sft_cases() -> Iterator[Case]:
    exclude = {"ex.jsonl": jsonl(FEEDBACK)}
    yield from _file_cases("sft-data--source", "src.jsonl", lambda f: ["sft-data", "--source", f, "--exclude",
                           "ex.jsonl", "--out", "sft.jsonl"], INSTRUCTIONS, {"instruction": [*BAD_STR, DELETE]},
                           exclude)  # fmt: skip
    yield from _file_cases("sft-data--exclude", "ex.jsonl", lambda f: ["sft-data", "--source", "src.jsonl",
                           "--exclude", f, "--out", "sft.jsonl"], INSTRUCTIONS, {"instruction": [5, DELETE]},
                           {"src.jsonl": jsonl(INSTRUCTIONS)})  # fmt: skip
    for label, out, files in (("out-folder", "dir", {"dir": None}), ("out-under-file", "f/x.jsonl", {"f": b""})):
        yield Case(f"sft-data/{label}", ["sft-data", "--source", "src.jsonl", "--exclude", "ex.jsonl", "--out", out],
                   {"src.jsonl": jsonl(INSTRUCTIONS), **exclude, **files})  # fmt: skip


def option_cases() -> Iterator[Case]:
    """Command-line values out of range or of the wrong type, missing or unknown options."""
    good = {"in.jsonl": jsonl(BATCH), "c.yaml": ydump(RUN_CONFIG), "labels.jsonl": jsonl(PAIRWISE),
            "bench.jsonl": jsonl(BENCH), "data.jsonl": jsonl(TASKS), "samples.jsonl": jsonl(SAMPLES),
            "not.gguf": b"GGUF? no", "t.j2": b"\xff\xfe"}  # fmt: skip
    batch = ["llm", "batch", "--model", f"openai:m@{URL}", "--in", "in.jsonl", "--out", "o.jsonl"]
    he = ["humaneval", "--data", "data.jsonl", "--dataset", "humaneval+", "--samples", "samples.jsonl"]
    answer = ["codal", "answer", "--model", f"openai:m@{URL}", "--bench", "bench.jsonl", "--out", "a"]
    judge_eval = ["judge-eval", "--judge", f"openai:j@{URL}", "--labels", "labels.jsonl"]
    argvs: dict[str, list[str]] = {
        "run-n-0": ["run", "c.yaml", "--n", "0"], "run-n-neg": ["run", "c.yaml", "--n", "-2"],
        "run-n-abc": ["run", "c.yaml", "--n", "abc"], "run-n-float": ["run", "c.yaml", "--n", "1.5"],
        "run-concurrency-0": ["run", "c.yaml", "--concurrency", "0"], "run-unknown": ["run", "--bogus"],
        "run-two-configs": ["run", "c.yaml", "c.yaml"], "run-out-file": ["run", "c.yaml", "--out", "c.yaml"],
        "batch-concurrency-0": [*batch, "--concurrency", "0"], "batch-timeout-0": [*batch, "--timeout", "0"],
        "batch-timeout-nan": [*batch, "--timeout", "nan"], "batch-timeout-inf": [*batch, "--timeout", "inf"],
        "batch-timeout-x": [*batch, "--timeout", "x"], "batch-retries-neg": [*batch, "--max-retries", "-1"],
        "batch-no-model": ["llm", "batch", "--in", "in.jsonl", "--out", "o.jsonl"],
        "batch-no-in": ["llm", "batch", "--model", f"openai:m@{URL}", "--out", "o.jsonl"],
        "batch-spec-no-url": ["llm", "batch", "--model", "openai:m@", "--in", "in.jsonl", "--out", "o.jsonl"],
        "batch-spec-ftp": ["llm", "batch", "--model", "openai:m@ftp://x", "--in", "in.jsonl", "--out", "o.jsonl"],
        "he-n-0": [*he, "--n-samples", "0"], "he-temp-neg": [*he, "--temperature", "-1"],
        "he-temp-3": [*he, "--temperature", "3"], "he-temp-nan": [*he, "--temperature", "nan"],
        "he-mode": [*he, "--mode", "poetry"], "he-dataset": [*he[:3], "--dataset", "apps", *he[5:]],
        "he-limit-0": [*he, "--limit", "0"], "he-workers-0": [*he, "--workers", "0"],
        "he-both": [*he, "--model", f"openai:m@{URL}"], "he-neither": ["humaneval", "--data", "data.jsonl"],
        "he-data-missing": ["humaneval", "--data", "nope.jsonl", "--samples", "samples.jsonl"],
        "he-out-file": [*he, "--out", "in.jsonl"],
        "answer-max-tokens-0": [*answer, "--max-tokens", "0"], "answer-format": [*answer, "--format", "zzz"],
        "answer-model-bogus": ["codal", "answer", "--model", "bogus:x", "--bench", "bench.jsonl", "--out", "a"],
        "answer-no-out": ["codal", "answer", "--model", f"openai:m@{URL}", "--bench", "bench.jsonl"],
        "answer-out-file": [*answer[:-2], "--out", "in.jsonl"],
        "answer-bench-missing": [*answer[:4], "--bench", "nope.jsonl", "--out", "a"],
        "grade-no-judge": ["codal", "grade", "--answers", "a"],
        "grade-judge-bogus": ["codal", "grade", "--answers", "a", "--judge", "bogus:x"],
        "grade-max-tokens": ["codal", "grade", "--answers", "a", "--judge", f"openai:j@{URL}", "--max-tokens", "5"],
        "grade-judge-config-missing": ["codal", "grade", "--answers", "a", "--judge-config", "nope.yaml"],
        "report-no-dirs": ["codal", "report"],
        "judge-eval-bogus": ["judge-eval", "--judge", "bogus:x", "--labels", "labels.jsonl"],
        "judge-eval-max-tokens": [*judge_eval, "--max-tokens", "1"], "judge-eval-out-file": [*judge_eval, "--out",
        "in.jsonl"], "judge-eval-labels-missing": ["judge-eval", "--judge", f"openai:j@{URL}", "--labels", "no"],
        "binarize-ties": ["binarize", "-c", "c.yaml", "--ties", "maybe"],
        "binarize-margin-neg": ["binarize", "-c", "c.yaml", "--min-margin", "-1"],
        "binarize-margin-nan": ["binarize", "-c", "c.yaml", "--min-margin", "nan"],
        "binarize-no-input": ["binarize", "-c", "c.yaml"],
        "binarize-private-alone": ["binarize", "-c", "c.yaml", "--input", "in.jsonl", "--private"],
        "run-private-alone": ["run", "c.yaml", "--private"],
        "annotate-private-alone": ["annotate", "-c", "c.yaml", "--input", "in.jsonl", "--private"],
        "annotate-orders-0": ["annotate", "-c", "c.yaml", "--orders", "0"],
        "annotate-judge-bogus": ["annotate", "-c", "c.yaml", "--judge", "bogus:x", "--input", "in.jsonl"],
        "annotate-judge-empty-model": ["annotate", "-c", "c.yaml", "--judge", "openai:"],
        "generate-no-input": ["generate", "-c", "c.yaml"],
        "instructions-n-0": ["instructions", "-c", "c.yaml", "--n", "0"],
        "instructions-seed-x": ["instructions", "-c", "c.yaml", "--seed", "x"],
        "instructions-source-missing": ["instructions", "-c", "c.yaml", "--source", "nope.jsonl"],
        "instructions-source-dev-null": ["instructions", "-c", "c.yaml", "--source", "/dev/null"],
        "convert-not-gguf": ["convert", "in.jsonl"], "convert-missing": ["convert", "nope.gguf"],
        "convert-template-latin1": ["convert", "not.gguf", "--chat-template", "t.j2"],
        "export-missing": ["export", "nope", "--out", "x.gguf"], "export-no-out": ["export", "nope"],
        "export-outtype": ["export", "nope", "--out", "x.gguf", "--outtype", "q2"],
        "loop-missing": ["loop", "nope.yaml"], "loop-folder": ["loop", "."],
        "sft-no-exclude": ["sft-data", "--source", "in.jsonl", "--out", "s.jsonl"],
        "unknown-command": ["frobnicate"], "llm-unknown": ["llm", "frob"], "codal-unknown": ["codal", "frob"],
    }  # fmt: skip
    for label, argv in argvs.items():
        yield Case(f"options/{label}", argv, good)


def all_cases() -> list[Case]:
    cases = [*source_cases(), *record_cases(), *codal_cases(), *label_cases(), *humaneval_cases(), *batch_cases(),
             *run_config_cases(), *other_yaml_cases(), *sft_cases(), *option_cases(), *trust_cases()]  # fmt: skip
    names = [c.name for c in cases]
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates, duplicates
    return cases


# ----------------------------------------------------------------------------- the stages and options added since


GENERATIONS = [
    {"id": "g1", "instruction": "Add two numbers.", "preference": "style", "models": ["x", "y"],
     "entry_point": "add", "tests": {"kind": "cases", "cases": [{"input": "[1, 2]", "output": "3"}]},
     "responses": [{"model": "x", "response": "```python\ndef add(a, b):\n    return a + b\n```"},
                   {"model": "y", "response": "```python\ndef add(a, b):\n    return a - b\n```"}]},
    {"id": "g2", "instruction": "Negate.", "preference": "readability", "models": ["x", "y"], "entry_point": "neg",
     "tests": {"kind": "cases", "cases": [{"input": "[1]", "output": "-1"}, {"input": "[0]", "output": "0"}]},
     "responses": [{"model": "x", "response": "def neg(a): return -a"}, {"model": "y", "response": "no idea"}],
     "executions": [{"model": "x", "status": "passed", "passed": 2, "total": 2},
                    {"model": "y", "status": "not_executed", "reason": "no code"}]},
]  # fmt: skip
NOT_JSON_TEXT = ["[NaN]", "[Infinity]", "[-Infinity]", "[1e400]", "[" * 150 + "]" * 150, "[1, 2", "not json",
                 '{"a": 1}', "7", "[\"\\ud800\"]"]  # fmt: skip
BAD_RATINGS = ["nan", "NaN", "inf", "-inf", "Infinity", "-Infinity", "1e400", "five", "", " 3", 5, None, 4.5]
BAD_NAMES = ["class", "def", "lambda", "1add", "a b", "", "add()", 5]
KEYS_NOT_TEXT = ["1", "2.5", "true", "null", "2020-01-01", "0x1f"]
BAD_EXECUTORS = ["127.0.0.1:100000000000000000000", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:-1", ":80",
                 "host:", "ray:/x", "tcp://127.0.0.1:5", "rayy", "LOCAL", "127.0.0.1:80:90"]  # fmt: skip


def execution_record_cases() -> Iterator[Case]:
    """Records with tests and executions as `codeuf execute --input` (and the stages after it) read them."""
    extra = {"c.yaml": ydump(RUN_CONFIG)}
    fields: dict[str, list[Any]] = {
        "tests.cases.0.input": [*NOT_JSON_TEXT, 5, None, DELETE], "tests.cases.0.output": [*NOT_JSON_TEXT[:7], 5],
        "tests.cases": ["x", [5], [{}], [{"input": "[1]"}]], "tests.kind": ["shell", 5, None, DELETE],
        "tests": ["assert True", 5, []], "entry_point": BAD_NAMES,
        "executions.0.model": ["stranger", 5, DELETE], "executions.0.status": ["ok", 5, None, DELETE],
        "executions.0.passed": [-1, 3, "x", 1.5], "executions.0.total": [-2, "x", 0],
        "executions": ["x", [5]], "tests.origin": [5], "tests.language": [5], "tests.checked": [5],
    }  # fmt: skip
    commands = {"execute": ["execute", "-c", "c.yaml", "--out", "out", "--input"],
                "annotate": ["annotate", "-c", "c.yaml", "--input"]}  # fmt: skip
    for name, argv in commands.items():
        yield from _file_cases(f"{name}--input-executions", "in.jsonl", lambda f, a=argv: [*a, f], GENERATIONS,
                               fields, extra)  # fmt: skip


def rating_cases() -> Iterator[Case]:
    """Ratings that are not finite numbers, in annotations and in the judge's calls, for binarize."""
    extra = {"c.yaml": ydump(RUN_CONFIG)}
    judged = copy.deepcopy(FEEDBACK)
    for row in judged:
        row["judgements"] = [{"judge": "j", "order_index": 0, "order": row["models"], "ratings": ["4", "2"],
                              "rationales": ["", ""]}]  # fmt: skip
    fields = {"annotations.0.rating": BAD_RATINGS, "judgements.0.ratings.0": BAD_RATINGS,
              "judgements.0.ratings": ["4", [5]], "judgements.0.order": ["x", [5]]}  # fmt: skip
    yield from _file_cases("binarize--input-ratings", "in.jsonl", lambda f: ["binarize", "-c", "c.yaml", "--input", f],
                           judged, fields, extra)  # fmt: skip


def _with_key(config: dict[str, Any], where: str, key: str) -> bytes:
    """The config's YAML with a key that YAML reads as a number, a bool, null or a date added at `where`."""
    text = ydump(config).decode()
    if where == "":
        return f"{key}: 2\n{text}".encode()
    lines = text.splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.strip().startswith(where.split(".")[-1] + ":"))
    indent = len(lines[index + 1]) - len(lines[index + 1].lstrip())
    return "".join([*lines[: index + 1], " " * indent + f"{key}: 2\n", *lines[index + 1 :]]).encode()


def key_cases() -> Iterator[Case]:
    """`1: 2` and its kin as a key anywhere in a run config, a judge file or a recipe."""
    places = {"": "top", "pool": "pool", "a": "pool-entry", "synthesize_tests": "test-writer"}
    commands = [["run", "c.yaml"], ["instructions", "--config", "c.yaml"], ["generate", "-c", "c.yaml"],
                ["annotate", "-c", "c.yaml"], ["binarize", "-c", "c.yaml"], ["tests", "-c", "c.yaml"],
                ["execute", "-c", "c.yaml"]]  # fmt: skip
    for key in KEYS_NOT_TEXT:
        for where, label in places.items():
            content = _with_key(RUN_CONFIG, where, key)
            for command in commands:
                yield Case(f"{command[0]}-config-key/{label}-{key}", command, {"c.yaml": content}, ("c.yaml",))
        judge = f"{key}: 2\nspec: openai:j@{URL}\n".encode()
        for label, argv in (
            ("annotate", ["annotate", "--judge-config", "j.yaml", "--input", "in.jsonl"]),
            ("grade", ["codal", "grade", "--answers", "a", "--judge-config", "j.yaml"]),
            ("judge-eval", ["judge-eval", "--judge-config", "j.yaml", "--labels", "l.jsonl"]),
        ):
            yield Case(f"judge-file-key/{label}-{key}", argv, {"j.yaml": judge, "in.jsonl": jsonl(FEEDBACK),
                                                                "l.jsonl": jsonl(PAIRWISE)}, ("j.yaml",))  # fmt: skip
        yield Case(f"train-dpo--recipe-key/{key}", ["train", "dpo", "--recipe", "r.yaml"],
                   {"r.yaml": f"{key}: 2\nmax_steps: 2\n".encode()}, ("r.yaml",), needs="trl")  # fmt: skip


def judge_file_cases() -> Iterator[Case]:
    """A judge file's fields, for every command that takes --judge-config."""
    judge = {"spec": f"openai:j@{URL}", "name": "j", "method": "json", "temperature": 0, "max_tokens": 256}
    fields = {"spec": ["bogus:x", "", 5, None, DELETE], "method": ["vibes", 5], "temperature": BAD_TEMPERATURE,
              "max_tokens": [0, 8, "x", float("nan")], "name": [5, []], "rationale_chars": [-1, "x", float("inf")],
              "typo": [1]}  # fmt: skip
    commands = {"annotate": ["annotate", "--judge-config", "j.yaml", "--input", "in.jsonl"],
                "grade": ["codal", "grade", "--answers", "a", "--judge-config", "j.yaml"],
                "judge-eval": ["judge-eval", "--judge-config", "j.yaml", "--labels", "l.jsonl"]}  # fmt: skip
    for label, content in yaml_fields(judge, fields):
        for name, argv in commands.items():
            yield Case(f"judge-file/{name}/{label}", argv, {"j.yaml": content, "in.jsonl": jsonl(FEEDBACK),
                                                             "l.jsonl": jsonl(PAIRWISE)}, ("j.yaml",))  # fmt: skip


def batch_setting_cases() -> Iterator[Case]:
    """The batch API's settings and prices in a run config, for the commands that call models."""
    fields: dict[str, list[Any]] = {
        "batch_poll_s": [0, -1, float("nan"), float("inf"), "x", True], "batch_retry": ["later", 5, None],
        "batch_keep_files": ["yes", 1, None], "batch_api": [float("nan")],
        "prices": [{"gpt-5": {"input": 1.0}}, {"a": {"input": float("nan")}}, {"a": {"output": -1}},
                   {"a": {"batch_discount": 0}}, {"a": 5}, {"openai:zzz@http://127.0.0.1:9/v1": {"input": 1}},
                   {"a": {"input": 1}, "nobody": {"input": 1}}],
        "warn": ["x", {"flip_rate": 2}, {"na_rate": -0.1}, {"min_n": 0}, {"typo": 1}, {"flip_rate": float("nan")}],
        "strict": ["yes"], "order_disagreements": ["keep", 5],
    }  # fmt: skip
    for label, content in yaml_fields(RUN_CONFIG, fields):
        for command in (["run", "c.yaml"], ["generate", "-c", "c.yaml"], ["binarize", "-c", "c.yaml"]):
            yield Case(f"{command[0]}-batch-settings/{label}", command, {"c.yaml": content}, ("c.yaml",))


def executor_cases() -> Iterator[Case]:
    """--executor values that name no cluster: one line at once, without a connection."""
    files = {"c.yaml": ydump(RUN_CONFIG), "in.jsonl": jsonl(BATCH), "data.jsonl": jsonl(TASKS),
             "samples.jsonl": jsonl(SAMPLES), "bench.jsonl": jsonl(BENCH)}  # fmt: skip
    commands = {
        "run": ["run", "c.yaml"], "execute": ["execute", "-c", "c.yaml"], "tests": ["tests", "-c", "c.yaml"],
        "generate": ["generate", "-c", "c.yaml"],
        "humaneval": ["humaneval", "--data", "data.jsonl", "--dataset", "humaneval+", "--samples", "samples.jsonl"],
        "answer": ["codal", "answer", "--model", f"openai:m@{URL}", "--bench", "bench.jsonl", "--out", "a"],
        "batch": ["llm", "batch", "--model", f"openai:m@{URL}", "--in", "in.jsonl", "--out", "o.jsonl"],
    }  # fmt: skip
    for index, value in enumerate(BAD_EXECUTORS):
        for name, argv in commands.items():
            yield Case(f"executor/{name}/{index}", [*argv, "--executor", value], files, ("--executor",))


def journal_cases() -> Iterator[Case]:
    """A run's batches.jsonl with lines of the wrong shape (a line cut by a crash is skipped, not an error)."""
    good = {"event": "submitted", "batch": "b1", "spec": f"openai:m@{URL}", "keys": ["v1:a"], "time": 1.0}
    bad = {"keys-number": {**good, "keys": 5}, "keys-of-numbers": {**good, "keys": [1, 2]},
           "spec-number": {**good, "spec": 5}, "spec-bogus": {**good, "spec": "bogus:x"}, "batch-list": {**good,
           "batch": ["b1"]}, "event-unknown": {**good, "event": "exploded"}, "intent-keys": {"event": "intent",
           "tag": "t", "spec": f"openai:m@{URL}", "keys": {"a": 1}}, "finished-errors": {"event": "finished",
           "batch": "b1", "status": "completed", "errors": [1]}}  # fmt: skip
    for label, event in bad.items():
        content = jsonl([good, event]) if label != "spec-bogus" else jsonl([event])
        for command in ("status", "cancel"):
            yield Case(f"batches-{command}/{label}", ["batches", command, "run"], {"run/batches.jsonl": content},
                       ("batches.jsonl",))  # fmt: skip


def export_cases() -> Iterator[Case]:
    """An adapter folder whose adapter_config.json is not what PEFT writes."""
    contents = {"garbage": b"{garbage", "list": b"[]", "number": b"5", "base-number": b'{"base_model_name_or_path": 5}',
                "no-base": b"{}", "bad-utf8": b'{"base_model_name_or_path": "\xff"}', "nan": b'{"r": NaN}',
                "deep": b"[" * 5000 + b"]" * 5000, "empty": b""}  # fmt: skip
    for label, content in contents.items():
        yield Case(f"export/adapter-config-{label}", ["export", "adapter", "--out", "x.gguf"],
                   {"adapter/adapter_config.json": content}, ("adapter_config.json",))  # fmt: skip


def recipe_number_cases() -> Iterator[Case]:
    """Numbers a recipe must not take (TRL would fail deep inside, or train on nothing)."""
    values = {"learning_rate": ["1" + "0" * 400, ".nan", ".inf", -1, 0], "num_train_epochs": [0, -1, ".nan"],
              "beta": [".nan", -0.1, 0], "per_device_train_batch_size": [0, -1], "max_length": [0, -5],
              "lora_r": [0], "gradient_accumulation_steps": [0]}  # fmt: skip
    for key, options in values.items():
        for index, value in enumerate(options):
            yield Case(f"train-dpo--recipe-number/{key}#{index}", ["train", "dpo", "--recipe", "r.yaml"],
                       {"r.yaml": f"{key}: {value}\nmax_steps: 2\n".encode()}, ("r.yaml",), needs="trl")  # fmt: skip


def trust_cases() -> list[Case]:
    """The cases of the stages and options added since the first bad-input suite (execute, tests, judge files,
    batch settings, executor addresses, recipes, export), and each break the issue-22 probe found."""
    return [*execution_record_cases(), *rating_cases(), *key_cases(), *judge_file_cases(), *batch_setting_cases(),
            *executor_cases(), *journal_cases(), *export_cases(), *recipe_number_cases()]  # fmt: skip
