"""SQL, run by SQLite's command-line shell (`sqlite3`), the script on its standard input in safe mode (no
`.shell`, `.system`, ATTACH or file output). SQL tests are a schema with rows (the tests' `code`,
run first) and the expected result set of each case (`output`: a JSON list of rows): the response's
statements run after the schema, and the rows of the last SELECT are compared with the expected ones, in order
when the query says ORDER BY, as a multiset otherwise.

SQL that names tables it never creates (a query given alone, as answers often give it, or beside a table of its
own) runs against empty tables with the columns it names (`stub_schema`), as a C function alone is linked with
an empty `main`: that checks it is SQLite's SQL, its names agree with each other and its functions exist, not
what it returns."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from codeuf.sandbox.languages.base import Language


def script(schema: str, code: str) -> str:
    """The schema, then the response's statements, its result sets printed as JSON."""
    return f".bail on\n.mode list\n{schema.strip()}\n.mode json\n{code.strip()}\n"


def result_sets(stdout: str) -> list[list[list[Any]]]:
    """Each result set sqlite3 printed in JSON mode (rows as objects), or MySQL's runner (rows as lists), as rows
    of values in column order."""
    sets, decoder, position, text = [], json.JSONDecoder(), 0, stdout.strip()
    while position < len(text):
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        value, position = decoder.raw_decode(text, position)
        if isinstance(value, list):
            sets.append([list(row.values()) if isinstance(row, dict) else row if isinstance(row, list) else [row]
                         for row in value])  # fmt: skip
    return sets


_MISSING_TABLE = re.compile(r"no such table: (?:main\.)?([\w$]+)$")
_MISSING_COLUMN = re.compile(r"no such column: ([\w$]+)(?:\.([\w$]+))?$")
_NO_COLUMN_NAMED = re.compile(r"table ([\w$]+) has no column named ([\w$]+)$")
_NAMED = re.compile(
    r"\b(?:FROM|JOIN|UPDATE|INTO)\s+[`\"\[]?([\w$]+)[`\"\]]?(?:\s+(?:AS\s+)?(?!(?:ON|WHERE|JOIN|INNER|LEFT|RIGHT|FULL|"
    r"CROSS|NATURAL|GROUP|ORDER|LIMIT|SET|USING|HAVING|UNION|VALUES|SELECT|WINDOW|EXCEPT|INTERSECT)\b)([\w$]+))?",
    re.IGNORECASE,
)
"""A table named after FROM, JOIN, UPDATE or INTO, and its alias if one follows."""


def statements(code: str) -> list[str]:
    """The code's statements, split where SQLite's own tokenizer says one is complete."""
    found, current = [], ""
    for line in code.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            found.append(current.strip())
            current = ""
    return found + ([current.strip()] if current.strip() else [])


def _compile_only(action: int, *_: object) -> int:
    return sqlite3.SQLITE_DENY if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH, sqlite3.SQLITE_PRAGMA) else 0


_CREATES = re.compile(
    r"(?i)\bCREATE\s+(?:TEMP\w*\s+|VIRTUAL\s+)?(?:TABLE|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?[`\"\[]?([\w$]+)"
)
"""A table or view the code creates, by name."""
_DECLARES = re.compile(
    r"(?is)\s*CREATE\s+(?:(?:TEMP\w*\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?[^\s(]+\s*\(|(?:TEMP\w*\s+)?(?:VIEW|TRIGGER)\b|"
    r"(?:UNIQUE\s+)?INDEX\b)"
)
"""A statement the probe makes for real: it declares names and runs no query (a table by its columns, not
`AS SELECT`; a view, a trigger, an index), and a later statement may need what it declares."""


def stub_schema(code: str, rounds: int = 80) -> str | None:
    """CREATE TABLE statements for the tables (and their columns) that `code` names but never creates; None
    when it needs none, names a table it creates only later, or SQLite cannot compile it for another reason (a
    MySQL-only keyword or function: then the run fails as it should). Found by compiling each statement
    (EXPLAIN: compiled, never run, in codeuf's process, ATTACH and PRAGMA denied) against the tables found so
    far, and adding what SQLite says is missing, until it compiles. The code's own CREATE TABLE, VIEW, INDEX and
    TRIGGER statements are made for real in the probe (its empty in-memory database), so that later statements
    compile against them; a CREATE TABLE ... AS SELECT is compiled only, since it would run its query."""
    created = {name.lower() for name in _CREATES.findall(code)}
    named = _NAMED.findall(code)
    aliases = {alias.lower(): table for table, alias in named if alias} | {t.lower(): t for t, _ in named}
    tables: dict[str, list[str]] = {}
    for _ in range(rounds):
        ddl = "".join(
            f"CREATE TABLE {json.dumps(t)} ({', '.join(json.dumps(c) for c in columns) or '_'});\n"
            for t, columns in tables.items()
        )
        db = sqlite3.connect(":memory:")
        try:
            db.executescript(ddl)
            db.set_authorizer(_compile_only)
            for statement in statements(code):
                bare = re.sub(r"^(?:\s*(?:--[^\n]*|/\*.*?\*/))*", "", statement, flags=re.DOTALL)  # leading comments
                db.execute(bare if _DECLARES.match(bare) else "EXPLAIN " + statement)
        except sqlite3.Error as exc:
            error = str(exc)
        else:
            return ddl or None
        finally:
            db.close()
        table, column = _missing(error, aliases, {t: tables[t] for t, _ in named if t in tables}, code)
        if table is None or table.lower() in created:
            return None  # another error, or a table the code makes only after it uses it: the run reports it
        if table in tables and (column is None or column in tables[table]):
            return None
        tables.setdefault(table, [])
        if column is not None:
            tables[table].append(column)
    return None


def _missing(error: str, aliases: dict[str, str], known: dict[str, list[str]],
             code: str = "") -> tuple[str | None, str | None]:  # fmt: skip
    """(table, column or None) that an error says is missing; (None, None) for any other error. An unqualified
    column goes to a table of the query it stands in that lacks it (`_owner`)."""
    if match := _MISSING_TABLE.search(error):
        return match.group(1), None
    if match := _NO_COLUMN_NAMED.search(error):
        return match.group(1), match.group(2)
    if match := _MISSING_COLUMN.search(error):
        if match.group(2):  # alias.column
            return aliases.get(match.group(1).lower()), match.group(2)
        return _owner(code, match.group(1), known), match.group(1)
    return None, None


def _owner(code: str, column: str, known: dict[str, list[str]]) -> str | None:
    """The table an unqualified column belongs to: for each place the code names it, the tables of the query it
    stands in (the innermost parenthesised SELECT around it, its own subqueries left out), the first that lacks
    it; else the first table the code names that lacks it."""
    bare = re.sub(r"'(?:''|[^'])*'", lambda m: " " * len(m.group(0)), code)
    spans, opened = [], []
    for index, char in enumerate(bare):
        if char == "(":
            opened.append(index)
        elif char == ")" and opened:
            start = opened.pop()
            if re.match(r"\(\s*SELECT\b", bare[start:], re.IGNORECASE):
                spans.append((start, index + 1))
    for place in re.finditer(rf"(?<![\w.]){re.escape(column)}\b", bare):
        around = [(a, b) for a, b in spans if a < place.start() < b]
        start, end = max(around) if around else (0, len(bare))
        scope = list(bare[start:end])
        for a, b in spans:  # its own subqueries, blanked
            if start < a and b <= end:
                scope[a - start : b - start] = " " * (b - a)
        for table, _ in _NAMED.findall("".join(scope)):
            if table in known and column not in known[table]:
                return table
    return next((table for table, columns in known.items() if column not in columns), None)


_MYSQL_ONLY = re.compile(
    r"(?im)\bAUTO_INCREMENT\b|\bENGINE\s*=|\bDATE_(SUB|ADD)\s*\(|\b(NOW|CURDATE|CURTIME|UNIX_TIMESTAMP|RAND|"
    r"LAST_INSERT_ID)\s*\(\s*\)|\bINTERVAL\s+'?-?\d+'?\s+(MICROSECOND|SECOND|MINUTE|HOUR|DAY|WEEK|MONTH|QUARTER|YEAR)\b|"
    r"\b(YEAR|MONTH|DAYOFWEEK|DAYNAME|MONTHNAME|DATEDIFF|TIMESTAMPDIFF|DATE_FORMAT|STR_TO_DATE|CONCAT|CONCAT_WS|IF|"
    r"FIND_IN_SET|LOCATE)\s*\(|\bREGEXP\b|^\s*DELIMITER\b|^\s*(SHOW|DESCRIBE)\s|\bON\s+DUPLICATE\s+KEY\b|"
    r"\bENUM\s*\(|(DEFAULT\s+)?CHARSET\s*=|^\s*SET\s+@\w+|@\w+\s*:="
)
_OTHER_DIALECT = re.compile(
    r"(?im)\bGETDATE\s*\(|\bDATEADD\s*\(|\bSELECT\s+TOP\b|^\s*DECLARE\s+@|\bNVARCHAR\b|::\w|\bSERIAL\b"
)


def dialect(code: str) -> str | None:
    """ "mysql" when the code uses what MySQL has and SQLite does not (and nothing of SQL Server's or PostgreSQL's,
    which neither runs): it runs in MariaDB (codeuf.sandbox.languages.mysql)."""
    return "mysql" if _MYSQL_ONLY.search(code) and not _OTHER_DIALECT.search(code) else None


LANGUAGE = Language(
    name="sql", title="SQL", fences=("sql", "sqlite", "postgresql", "postgres", "plsql", "tsql"),
    tools=("sqlite3",), install="apt-get install sqlite3", source="main.sql",
    markers=(r"(?i)^\s*SELECT\b[\s\S]*\bFROM\b", r"(?i)^\s*CREATE\s+TABLE\b", r"(?i)^\s*INSERT\s+INTO\b",
             r"(?i)^\s*(UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b",
             r"(?i)^\s*(WHERE|GROUP\s+BY|ORDER\s+BY|HAVING|((INNER|LEFT|RIGHT)\s+)?JOIN)\s+\w"),
    # on stdin, in safe mode: no .shell, .system, ATTACH or writing files from the script
    run=lambda tools, source: [tools["sqlite3"], "-batch", "-bail", "-safe", ":memory:"],
    code_on_stdin=True, library=lambda code: None if (ddl := stub_schema(code)) is None else ddl + code,
    dialect=dialect,
)  # fmt: skip
