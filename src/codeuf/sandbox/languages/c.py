# ruff: noqa: E501  (lines of the harness source in another language, kept as that language reads best)
"""C, built by gcc (C17). Asserts are `assert(...)` lines: codeuf's own `assert` counts each one and goes on.
A response's `main` is renamed so that the tests' program has its own. Call cases need typed lists, which C
does not have: give C asserts or stdin/stdout cases."""

from __future__ import annotations

import re

from codeuf.sandbox.languages.base import MARK, Language

HARNESS = f"""
#include <stdio.h>
#undef assert
static int codeuf_failed;
#define assert(c) do {{ if (!(c)) codeuf_failed = 1; }} while (0)
static void codeuf_done(int i) {{ printf("{MARK} %d %s\\n", i, codeuf_failed ? "fail assertion" : "pass"); fflush(stdout); codeuf_failed = 0; }}
"""


def without_main(code: str) -> str:
    """The code with its `main` renamed (it may hold one, for a demo), so that the tests' `main` is the one run."""
    return re.sub(r"\bint\s+main\s*\(", "int codeuf_user_main(", code, count=1)


def tests_program(code: str, tests: list[tuple[int, str]], setup: list[str]) -> str:
    body = "\n".join(f"    {line}" for line in setup)
    wrapped = "\n".join(f"    codeuf_failed = 0; {line} codeuf_done({i});" for i, line in tests)
    return f"#include <assert.h>\n{without_main(code)}\n{HARNESS}\nint main(void) {{\n{body}\n{wrapped}\n    return 0;\n}}\n"


LANGUAGE = Language(
    name="c", title="C", fences=("c", "h"), tools=("gcc",), install="apt-get install gcc", source="main.c",
    markers=(r"^\s*#include\s*<(stdio|stdlib|string|math|stdbool|stdint)\.h>", r"\bprintf\s*\(",
             r"\bint\s+main\s*\(", r"\bmalloc\s*\("),
    build=lambda tools, source: [tools["gcc"], "-std=gnu17", "-O1", "-w", "-o", "main", source, "-lm"],
    run=lambda tools, source: ["{build}/main"], artifacts=("main",), threads=64, tests_program=tests_program,
    assert_example='assert(NAME(...) == ...);',
    definition=r"^\s*(?:static\s+|inline\s+|const\s+|unsigned\s+)*[A-Za-z_][\w:<>,\s*&]*?[\s*&]([A-Za-z_]\w*)\s*\([^;]*$",
    library=lambda code: None if re.search(r"\bmain\s*\(", code) else code + "\nint main(void) { return 0; }\n",
)  # fmt: skip
