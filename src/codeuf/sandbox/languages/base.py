"""What a language module says: how to recognise its code, build it, run it and test it.

A module fills in one `Language`; `codeuf.sandbox.languages` keeps the registry (one line per language). Tests
come in three forms, and a module turns each into one program that prints a line per test:

- **asserts** written in the language: each line of the test code that is an assertion (`assert_line`) is one
  test, wrapped (`wrap`) so that a failing one does not stop the next; the other lines set up;
- **call cases** (`{input, output}` as JSON): each input is translated into the language's literals
  (`literal`, with the types MultiPL-E uses: integers as 64-bit, lists as the language's growable list), the
  entry point called, and its result printed as JSON (`print_value`). The codeuf process compares that JSON
  with the expected output: the program never holds the expected values, so it cannot fake a pass;
- **stdin/stdout cases**: the program run once per input, its output compared line by line.

Every test line a program prints starts with `@@codeuf <index> ` (`pass`, `fail <why>`, `value <json>` or
`error <why>`), so that what the code under test prints itself is told apart.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MARK = "@@codeuf"


class Untranslatable(ValueError):
    """Tests that cannot be written in a language (a JSON object as a C argument, say): one line why."""


@dataclass(frozen=True)
class Toolchain:
    """The programs a language needs, found on this machine."""

    paths: dict[str, str]
    missing: str = ""
    """Why the language cannot run here, with how to get it; "" when it can."""


@dataclass(frozen=True)
class Language:
    name: str
    title: str
    fences: tuple[str, ...]
    """Fence labels (lower case) that name this language."""
    tools: tuple[str, ...]
    install: str
    """How to get the tools, in a `not_executed` reason: `apt-get install ruby`."""
    source: str
    """The file the code goes in (`main.rs`); `program_files` may choose another (a Java public class)."""
    markers: tuple[str, ...] = ()
    """Regular expressions (multiline) that, in an unlabelled block, point to this language; see `guess`."""
    build: Callable[[dict[str, str], str], list[str]] | None = None
    """(tools, source) -> the build's argv, run in the folder of the files; None for an interpreter."""
    run: Callable[[dict[str, str], str], list[str]] = lambda tools, source: [source]
    artifacts: tuple[str, ...] = ()
    threads: int = 0
    """Threads a run may start (Program.threads)."""
    forks: bool = False
    """Whether its programs start processes (a shell's commands); otherwise they run threads-only."""
    memory_bytes: int | None = None
    address_space_bytes: int | None = None
    """RLIMIT_AS where the runtime reserves address space it never writes (see Limits.address_space_bytes)."""
    open_files: int | None = None
    """RLIMIT_NOFILE where the runtime needs more than the pool's (Program.open_files)."""
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[str], dict[str, str]] | None = None
    """code -> the files to write (default: the code in `source`)."""
    assert_line: str = r"^\s*assert"
    """A line of test code that is one test."""
    tests_program: Callable[[str, list[tuple[int, str]], list[str]], str] | None = None
    """(code, [(index, test line)], setup lines in order, as given) -> one program that runs the tests."""
    calls_program: Callable[[str, str, list[list[Any]]], str] | None = None
    """(code, entry point, each case's arguments) -> one program that prints each call's result as JSON."""
    find_tool: Callable[[str], str | None] = shutil.which
    code_on_stdin: bool = False
    """The program is read on standard input (sqlite3, whose safe mode holds only for what it reads there)."""
    library: Callable[[str], str | None] | None = None
    """code -> the code with an empty entry point added, when it has none (a class or functions alone, as
    answers often give): such code is built, linked and loaded, which is all it can do by itself."""
    assert_example: str = ""
    """One test line in the language, with NAME for the function (what `codeuf tests` shows its writer)."""
    definition: str = r"^\s*(?:export\s+)?(?:pub\s+)?(?:async\s+)?(?:function|def|fn|func|sub)\s+([A-Za-z_]\w*)"
    """A line that defines a function, its name the first group (Java and C-family modules say their own)."""
    dialect: Callable[[str], str | None] | None = None
    """code -> the name of the language that runs it instead, when it is written in a dialect this language's
    toolchain does not run (SQL in MySQL's dialect: `mysql`), else None."""
    family: str = ""
    """The language this one is a dialect of (`sql` for MySQL): each runs the other's tests."""

    @property
    def schema_tests(self) -> bool:
        """Whether its tests are a schema with rows and the expected result (SQL, and its dialects)."""
        return "sql" in (self.name, self.family)

    # ---------------------------------------------------------------- the toolchain

    @functools.cached_property
    def toolchain(self) -> Toolchain:
        paths, missing = {}, []
        for tool in self.tools:
            found = self.find_tool(tool)
            if found is None:
                missing.append(tool)
            else:
                paths[tool] = os.path.realpath(found) if tool != "rustc" else found
        if missing:
            return Toolchain(paths, f"no {' or '.join(missing)} on this machine: {self.install}")
        return Toolchain(paths)

    # ---------------------------------------------------------------- recognising code

    def labelled(self, label: str) -> bool:
        return label.lower() in self.fences

    def guess(self, code: str) -> int:
        """How many of the language's markers an unlabelled block holds."""
        return sum(1 for marker in self.markers if re.search(marker, code, re.MULTILINE))

    # ---------------------------------------------------------------- programs

    def files(self, code: str) -> dict[str, str]:
        return self.prepare(code) if self.prepare else {self.source: code}

    def program(self, code: str, stdins: list[str] | None = None, time_limit: float = 5.0) -> Any:
        """A sandbox Program that builds and runs `code` (whole), once per stdin."""
        from codeuf.sandbox.programs import Program

        if self.library is not None:
            code = self.library(code) or code
        files = self.files(code)
        source = next(iter(files))
        tools = self.toolchain.paths
        if self.code_on_stdin:
            files, stdins = {}, [code]
        return Program(files=files, run=self.run(tools, source), stdins=stdins if stdins is not None else [""],
                       build=self.build(tools, source) if self.build else None, artifacts=self.artifacts,
                       time_limit=time_limit, env=dict(self.env), threads=self.threads, forks=self.forks,
                       memory_bytes=self.memory_bytes, address_space_bytes=self.address_space_bytes,
                       open_files=self.open_files)  # fmt: skip

    def asserts(self, code: str, test_code: str) -> tuple[str, int]:
        """One program running each assertion line of `test_code` after `code`, and how many tests it holds."""
        if self.tests_program is None:
            raise Untranslatable(f"codeuf cannot run {self.title} asserts (yet): give stdin/stdout cases")
        pattern = re.compile(self.assert_line)
        tests, setup = [], []
        for line in test_code.splitlines():
            if pattern.search(line):
                tests.append((len(tests), line.strip()))
            elif line.strip():
                setup.append(line)
        return self.tests_program(code, tests, setup), len(tests)

    def calls(self, code: str, entry_point: str, inputs: list[list[Any]]) -> str:
        if self.calls_program is None:
            raise Untranslatable(f"call cases cannot be written in {self.title}: give asserts or stdin/stdout cases")
        return self.calls_program(code, entry_point, inputs)


# ---------------------------------------------------------------- shared by the modules


_BLANKS = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|//[^\n]*|/\*.*?\*/', re.DOTALL)


def blank(code: str) -> str:
    """C-family code (C, C++, Java, C#) with its strings, characters and comments blanked (same length and
    lines), so that braces, semicolons and names in them do not count."""
    return _BLANKS.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), code)


def segments(code: str) -> list[str]:
    """C-family code's top-level pieces: each ends where its braces close, or at a `;` outside any brace (an
    `else`, `catch`, `finally` or do-while's `while` goes on the piece before it)."""
    bare, pieces, depth, start = blank(code), [], 0, 0
    for index, char in enumerate(bare):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        if (
            depth == 0
            and char in ";}"
            and not re.match(r"\s*(else\b|catch\b|finally\b|while\s*\(.*\)\s*;)", bare[index + 1 :])
        ):
            pieces.append(code[start : index + 1])
            start = index + 1
    rest = code[start:]
    return [p for p in [*pieces, rest] if blank(p).strip()]


def snippet_parts(code: str, kind: re.Pattern[str], members: tuple[re.Pattern[str], ...], main: re.Pattern[str],
                  static: str = "static") -> tuple[list[str], list[str], list[str], bool] | None:  # fmt: skip
    """C-family code given as a script takes it (Java's JShell, C# scripts: statements, methods and fields with no
    class around them) split into (its types, its methods and fields made `static`, its statements, whether a
    member is its `main`); None where there is nothing to wrap (types alone) or statements stand beside a `main`
    of the code's own. `kind` matches a type's declaration, `members` a method's or a field's, `main` the entry
    point among the members; `static` is the modifiers that already make a member static."""
    types, found, statements = [], [], []
    for piece in segments(code):
        bare = blank(piece)
        if kind.match(bare):
            types.append(piece)
        elif any(pattern.match(bare) for pattern in members):
            is_static = re.match(rf"\s*(\w+\s+)*({static})\s", bare)
            found.append(piece if is_static else re.sub(r"^(\s*)", r"\1static ", piece, count=1))
        else:
            statements.append(piece)
    has_main = any(main.search(blank(m)) for m in found)
    if (not found and not statements) or (statements and has_main):
        return None
    return types, found, statements, has_main


NODE_PACKAGES = ("typescript", "jsdom", "mingo")
"""Tools that are npm packages codeuf runs code with, not commands: found by `node_package`."""


def find_node_tool(tool: str) -> str | None:
    """A language's tool: the folder of an npm package of NODE_PACKAGES, else a command on PATH."""
    return node_package(tool) if tool in NODE_PACKAGES else shutil.which(tool)


def node_package(name: str) -> str | None:
    """The folder of an npm package codeuf runs code with (TypeScript's compiler, jsdom): `CODEUF_<NAME>`, the
    virtual environment's `lib/codeuf-node` (where `make install` puts them), or npm's global folder."""
    import subprocess
    import sys

    candidates = [os.environ.get(f"CODEUF_{name.upper()}", ""),
                  os.path.join(sys.prefix, "lib", "codeuf-node", "node_modules", name)]  # fmt: skip
    found = next((c for c in candidates if c and os.path.isfile(os.path.join(c, "package.json"))), None)
    npm = shutil.which("npm")
    if found is None and npm:  # asking npm costs a Node start: only where the usual places have none
        try:
            root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
        found = os.path.join(root, name) if os.path.isfile(os.path.join(root, name, "package.json")) else None
    return found


def report_lines(stdout: str) -> dict[int, tuple[str, str]]:
    """The test lines a program printed: index -> (kind, rest). The first line for an index wins."""
    found: dict[int, tuple[str, str]] = {}
    for line in stdout.splitlines():
        if not line.startswith(MARK + " "):
            continue
        parts = line[len(MARK) + 1 :].split(" ", 2)
        if len(parts) >= 2 and parts[0].isdigit():
            found.setdefault(int(parts[0]), (parts[1], parts[2] if len(parts) > 2 else ""))
    return found


def json_type(values: list[Any]) -> str:
    """The type of the values of one argument over every case, as a small grammar: int, float, bool, str,
    list[T] (T of the elements, `int` for an empty list), dict[str, T]; raises Untranslatable on a mix."""
    kinds = {_one_type(v) for v in values}
    kinds.discard("empty")
    if not kinds:
        return "list[int]"
    if kinds == {"int", "float"}:
        return "float"
    if len(kinds) == 1:
        kind = kinds.pop()
        if kind == "list":
            return f"list[{json_type([x for v in values for x in v])}]"
        if kind == "dict":
            return f"dict[str, {json_type([x for v in values for x in v.values()])}]"
        return kind
    raise Untranslatable(f"an argument takes values of several types ({', '.join(sorted(kinds))})")


def _one_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list" if value else "empty"
    if isinstance(value, dict):
        return "dict"
    raise Untranslatable("null cannot be written as an argument in a typed language")


def arg_types(inputs: list[list[Any]]) -> list[str]:
    counts = {len(args) for args in inputs}
    if len(counts) != 1:
        raise Untranslatable("the cases call the function with different numbers of arguments")
    return [json_type([args[i] for args in inputs]) for i in range(counts.pop())]


def element(kind: str) -> str:
    """list[T] -> T, dict[str, T] -> T."""
    return kind[kind.index("[") + 1 : -1].removeprefix("str, ")


def boxed_literal(value: Any, real: Callable[[float], str], items: Callable[[list[str]], str],
                  entries: Callable[[list[str]], str]) -> str:  # fmt: skip
    """A JSON value as an expression in a language whose harness takes untyped values and converts them to the
    parameters' types by reflection (Java, C#): booleans, 64-bit integers, reals written by `real`, strings, and
    the runtime's own builders for lists (`items` of the elements' literals) and maps (`entries` of key, value,
    key, value, ...)."""

    def literal(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return f"{value}L"
        if isinstance(value, float):
            return real(value)
        if isinstance(value, str):
            return quoted(value)
        if isinstance(value, list):
            return items([literal(v) for v in value])
        if isinstance(value, dict):
            return entries([part for k, v in value.items() for part in (quoted(k), literal(v))])
        return "null"

    return literal(value)


def script_literal(value: Any, title: str, *, null: str, true: str, false: str, infinity: str, nan: str,
                   string: Callable[[str], str], maps: str = "{}") -> str:  # fmt: skip
    """A JSON value as a literal in a dynamic language whose functions take it as it is (PHP, Ruby, Perl): its
    own null, booleans, infinity and NaN (see `real`), strings written by `string`, lists in `[...]` and maps
    in the two brackets of `maps`, each entry `key => value`."""

    def literal(value: Any) -> str:
        if value is None:
            return null
        if isinstance(value, bool):
            return true if value else false
        if isinstance(value, float):
            return real(value, infinity, nan)
        if isinstance(value, int):
            return repr(value)
        if isinstance(value, str):
            return string(value)
        if isinstance(value, list):
            return "[" + ", ".join(literal(v) for v in value) + "]"
        if isinstance(value, dict):
            return maps[0] + ", ".join(f"{literal(k)} => {literal(v)}" for k, v in value.items()) + maps[1]
        raise Untranslatable(f"no {title} literal for {type(value).__name__}")

    return literal(value)


def single_quoted(text: str) -> str:
    """A single-quoted string literal that PHP and Perl read as it is (only `\\` and `\'` escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def real(value: float, infinity: str, nan: str, suffix: str = "") -> str:
    """A real as a literal: Python's repr (then `suffix`) where it is finite, which every language here reads;
    else the language's own infinity (negated by a leading minus) or NaN, which none spells as Python does
    (`inf`, `nan`)."""
    if math.isnan(value):
        return nan
    if math.isinf(value):
        return infinity if value > 0 else f"-{infinity}"
    return f"{value!r}{suffix}"


def quoted(text: str) -> str:
    """A double-quoted string literal that C, C++, Java, Go, Rust, JavaScript and PHP (with `$` escaped) read."""
    return json.dumps(text, ensure_ascii=True)
