# ruff: noqa: E501  (lines of the harness source in another language, kept as that language reads best)
"""PHP, run by the PHP CLI with assertions on (`-d zend.assertions=1`, so `assert(...)` throws). Asserts are
`assert(...)` lines, each in its own try; call cases pass PHP array literals and print `json_encode` of the
result.

The CLI runs without the machine's php.ini (`-n`: no host settings, no `auto_prepend_file`), which also leaves
out every extension Debian builds as a module; the ones answers call that reach nothing outside the process
(`ctype_digit`, `mb_substr`, `iconv`, PDO on SQLite, ...) are loaded by name where the machine has them."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from typing import Any

from codeuf.sandbox.languages.base import MARK, Language, script_literal, single_quoted

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
    return script_literal(value, "PHP", null="null", true="true", false="false", infinity="INF", nan="NAN",
                          string=single_quoted, maps="[]")  # fmt: skip


def calls_program(code: str, entry_point: str, inputs: list[list[Any]]) -> str:
    lines = [f"try {{ codeuf_report({i}, 'value', json_encode({entry_point}({', '.join(literal(a) for a in args)}), "
             f"JSON_PRESERVE_ZERO_FRACTION)); }} catch (\\Throwable $e) {{ codeuf_report({i}, 'error', codeuf_why($e)); }}"
             for i, args in enumerate(inputs)]  # fmt: skip
    return f"<?php\n{body(code)}\n{PRELUDE}\n" + "\n".join(lines) + "\n"


EXTENSIONS = ("ctype", "mbstring", "iconv", "calendar", "tokenizer", "fileinfo", "exif", "gettext", "readline",
              "pdo", "pdo_sqlite", "sqlite3")  # fmt: skip
"""Loaded where present. Left out: FFI (calls into C), sockets and ftp, posix, shared memory and System V IPC."""


@functools.cache
def extensions(php: str) -> tuple[str, ...]:
    """`-d extension=NAME` for each of EXTENSIONS in this PHP's extension folder (asked once per process)."""
    try:
        folder = subprocess.run([php, "-n", "-r", "echo ini_get('extension_dir');"], capture_output=True,
                                text=True, timeout=30).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ()
    present = [name for name in EXTENSIONS if os.path.isfile(os.path.join(folder, f"{name}.so"))]
    return tuple(arg for name in present for arg in ("-d", f"extension={name}"))


LANGUAGE = Language(
    name="php", title="PHP", fences=("php",), tools=("php",), install="apt-get install php-cli php-mbstring php-sqlite3", source="main.php",
    markers=(r"<\?php", r"\$\w+\s*=", r"\bfunction\s+\w+\s*\(\s*(\??\w+\s+)?\$", r"\becho\s"),
    run=lambda tools, source: [tools["php"], "-n", *extensions(tools["php"]), "-d", "zend.assertions=1",
                               "-d", "assert.exception=1", "-d", "memory_limit=512M", source],
    tests_program=tests_program, calls_program=calls_program,
    assert_example='assert(NAME(...) === ...);',
)  # fmt: skip
