# ruff: noqa: E501  (lines of the harness source in another language, kept as that language reads best)
"""Ruby. Asserts are `assert(...)`, `assert_equal(expected, actual)` or `raise ... unless ...` lines (codeuf
defines the first two), each in its own `begin`/`rescue`; call cases pass Ruby literals and print the result
with the `json` library."""

from __future__ import annotations

import json
from typing import Any

from codeuf.sandbox.languages.base import MARK, Language, script_literal

PRELUDE = f"""
require 'json'
def codeuf_report(i, kind, rest) $stdout.puts("{MARK} #{{i}} #{{kind}} #{{rest}}"); $stdout.flush end
def assert(c, message = 'assertion failed') raise message unless c end
def assert_equal(expected, actual) raise "expected #{{expected.inspect}}, got #{{actual.inspect}}" unless expected == actual end
"""


def tests_program(code: str, tests: list[tuple[int, str]], setup: list[str]) -> str:
    wrapped = "\n".join(f"begin; {line}; codeuf_report({i}, 'pass', ''); "
                        f"rescue Exception => e; codeuf_report({i}, 'fail', e.class.name); end" for i, line in tests)  # fmt: skip
    return f"{PRELUDE}\n{code}\n" + "\n".join(setup) + "\n" + wrapped + "\n"


def literal(value: Any) -> str:
    return script_literal(value, "Ruby", null="nil", true="true", false="false", infinity="Float::INFINITY",
                          nan="Float::NAN", string=lambda text: json.dumps(text).replace("#", "\\#"))  # fmt: skip


def calls_program(code: str, entry_point: str, inputs: list[list[Any]]) -> str:
    lines = [f"begin; codeuf_report({i}, 'value', JSON.generate({entry_point}({', '.join(literal(a) for a in args)}))); "
             f"rescue Exception => e; codeuf_report({i}, 'error', e.class.name); end" for i, args in enumerate(inputs)]  # fmt: skip
    return f"{PRELUDE}\n{code}\n" + "\n".join(lines) + "\n"


LANGUAGE = Language(
    name="ruby", title="Ruby", fences=("ruby", "rb"), tools=("ruby",), install="apt-get install ruby", source="main.rb",
    markers=(r"^\s*def\s+\w+[?!]?(\(.*\))?\s*$", r"^\s*end\s*$", r"\bputs\s", r"\.each\s+do\s*\|", r"^\s*require\s+'"),
    run=lambda tools, source: [tools["ruby"], "--disable-gems", source], threads=8,
    tests_program=tests_program, calls_program=calls_program,
    assert_line=r"^\s*(assert\b|assert_equal\b|raise\b.*\bunless\b)",
    assert_example='assert_equal expected, NAME(...)',
)  # fmt: skip
