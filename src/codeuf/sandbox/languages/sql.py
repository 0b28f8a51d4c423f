"""SQL, run by SQLite's command-line shell (`sqlite3`), the script on its standard input in safe mode (no
`.shell`, `.system`, ATTACH or file output). SQL tests are a schema with rows (the tests' `code`,
run first) and the expected result set of each case (`output`: a JSON list of rows): the response's
statements run after the schema, and the rows of the last SELECT are compared with the expected ones, in order
when the query says ORDER BY, as a multiset otherwise."""

from __future__ import annotations

import json
from typing import Any

from codeuf.sandbox.languages.base import Language


def script(schema: str, code: str) -> str:
    """The schema, then the response's statements, its result sets printed as JSON."""
    return f".bail on\n.mode list\n{schema.strip()}\n.mode json\n{code.strip()}\n"


def result_sets(stdout: str) -> list[list[list[Any]]]:
    """Each result set sqlite3 printed in JSON mode, as rows of values in column order."""
    sets, decoder, position, text = [], json.JSONDecoder(), 0, stdout.strip()
    while position < len(text):
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        value, position = decoder.raw_decode(text, position)
        if isinstance(value, list):
            sets.append([list(row.values()) if isinstance(row, dict) else [row] for row in value])
    return sets


LANGUAGE = Language(
    name="sql", title="SQL", fences=("sql", "sqlite", "mysql", "postgresql", "postgres", "plsql", "tsql"),
    tools=("sqlite3",), install="apt-get install sqlite3", source="main.sql",
    markers=(r"(?i)^\s*SELECT\b[\s\S]*\bFROM\b", r"(?i)^\s*CREATE\s+TABLE\b", r"(?i)^\s*INSERT\s+INTO\b",
             r"(?i)^\s*(UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b"),
    # on stdin, in safe mode: no .shell, .system, ATTACH or writing files from the script
    run=lambda tools, source: [tools["sqlite3"], "-batch", "-bail", "-safe", ":memory:"],
    code_on_stdin=True,
)  # fmt: skip
