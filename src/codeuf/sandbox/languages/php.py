# ruff: noqa: E501  (lines of the harness source in another language, kept as that language reads best)
"""PHP, run by the PHP CLI with assertions on (`-d zend.assertions=1`, so `assert(...)` throws). Asserts are
`assert(...)` lines, each in its own try; call cases pass PHP array literals and print `json_encode` of the
result."""

from __future__ import annotations

import re
from typing import Any

from codeuf.sandbox.languages.base import MARK, Language, Untranslatable

PRELUDE = f"""
function codeuf_report($i, $kind, $rest) {{ echo "{MARK} $i $kind $rest\\n"; }}
function codeuf_why($e) {{ return get_class($e); }}
"""


def body(code: str) -> str:
    code = re.sub(r"^\s*<\?(php)?", "", code.strip())
    return re.sub(r"\?>\s*$", "", code)


def tests_program(code: str, tests: list[tuple[int, str]], setup: list[str]) -> str:
    wrapped = "\n".join(f"try {{ {line} codeuf_report({i}, 'pass', ''); }} "
                        f"catch (\\Throwable $e) {{ codeuf_report({i}, 'fail', codeuf_why($e)); }}" for i, line in tests)  # fmt: skip
    return f"<?php\n{body(code)}\n{PRELUDE}\n" + "\n".join(setup) + "\n" + wrapped + "\n"


def literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "[" + ", ".join(f"{literal(k)} => {literal(v)}" for k, v in value.items()) + "]"
    raise Untranslatable(f"no PHP literal for {type(value).__name__}")


def calls_program(code: str, entry_point: str, inputs: list[list[Any]]) -> str:
    lines = [f"try {{ codeuf_report({i}, 'value', json_encode({entry_point}({', '.join(literal(a) for a in args)}), "
             f"JSON_PRESERVE_ZERO_FRACTION)); }} catch (\\Throwable $e) {{ codeuf_report({i}, 'error', codeuf_why($e)); }}"
             for i, args in enumerate(inputs)]  # fmt: skip
    return f"<?php\n{body(code)}\n{PRELUDE}\n" + "\n".join(lines) + "\n"


LANGUAGE = Language(
    name="php", title="PHP", fences=("php",), tools=("php",), install="apt-get install php-cli", source="main.php",
    markers=(r"<\?php", r"\$\w+\s*=", r"\bfunction\s+\w+\s*\(\s*(\??\w+\s+)?\$", r"\becho\s"),
    run=lambda tools, source: [tools["php"], "-n", "-d", "zend.assertions=1", "-d", "assert.exception=1",
                               "-d", "memory_limit=512M", source],
    tests_program=tests_program, calls_program=calls_program,
    assert_example='assert(NAME(...) === ...);',
)  # fmt: skip
