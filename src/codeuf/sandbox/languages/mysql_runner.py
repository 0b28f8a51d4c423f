"""Runs one MySQL script against a private MariaDB server; written into the job's directory and run there, in
the sandbox, as the program (it imports nothing of codeuf's).

    python -I mysql_runner.py MARIADBD SCRIPT

The server starts in the run's directory with no network (a Unix socket there), no grant tables and a small
buffer pool, and stops when the script ends. The script runs statement by statement in a database `main`; each
result set after the line `.mode json` (the form of codeuf's SQL tests: the schema, then the response) or, with
no such line, every result set, is printed as one JSON list of rows. The first error ends the run (exit 1), as
sqlite3 -bail does. A script that creates no table (a query given alone) first gets empty tables with the
columns it names: each statement is prepared (compiled and resolved, never run) and what the server says is
missing is added, as codeuf's SQLite stubs do. A script that creates tables gets those its foreign keys
reference and it never creates (`referenced_tables`), and, as its statements run, the other tables it names
and never creates, with the columns it names on them: a statement that names what is missing fails before it
runs, and runs again once it is there. One that creates a stored procedure or function gets the system table
they are kept in (`routines_table`)."""

from __future__ import annotations

import datetime
import decimal
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

STARTUP_SECONDS = 20.0
STUB_ROUNDS = 80
_NAMED = re.compile(
    r"\b(?:FROM|JOIN|UPDATE|INTO)\s+[`\"]?([\w$]+)[`\"]?(?:\s+(?:AS\s+)?(?!(?:ON|WHERE|JOIN|INNER|LEFT|RIGHT|FULL|"
    r"CROSS|NATURAL|GROUP|ORDER|LIMIT|SET|USING|HAVING|UNION|VALUES|SELECT|WINDOW|EXCEPT|INTERSECT)\b)([\w$]+))?",
    re.IGNORECASE,
)
_MISSING_TABLE = re.compile(r"Table '[\w$]+\.([\w$]+)' doesn't exist")
_CREATED = re.compile(r"(?i)\bCREATE\s+(?:TEMPORARY\s+)?(?:TABLE|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?`?([\w$]+)`?")
_FOREIGN_KEY = re.compile(r"(?i)\bFOREIGN\s+KEY\s*(?:`?\w+`?\s*)?\(([^)]*)\)\s*REFERENCES\s+`?([\w$]+)`?\s*\(([^)]*)\)")
_TYPE = r"(\w+(?:\s*\([^)]*\))?(?:\s+UNSIGNED)?)"
"""A column's type in its definition (`INT`, `VARCHAR(50)`, `DECIMAL(10, 2)`, `INT UNSIGNED`)."""
_COMMENT = re.compile(r"--[^\n]*|#[^\n]*|/\*.*?\*/", re.DOTALL)
"""A MySQL comment (`-- `, `#`, `/* */`)."""
_LEADING_COMMENTS = re.compile(rf"(?:\s*(?:{_COMMENT.pattern}))*", re.DOTALL)
_ROUTINE = re.compile(r"(?i)\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:DEFINER\s*=\s*\S+\s+)?(?:PROCEDURE|FUNCTION)\b")
_MISSING_COLUMN = re.compile(r"Unknown column '(?:([\w$]+)\.)?([\w$]+)'")


def statements(code: str) -> list[str]:
    """The script's statements, split where a statement is complete (SQLite's tokenizer: quotes and comments
    are MySQL's too); `DELIMITER` lines change the delimiter, as the mysql client's do."""
    found, current, delimiter = [], "", ";"
    for line in code.splitlines(keepends=True):
        if re.match(r"\.[a-z]+\b", line):  # sqlite3's dot-commands in codeuf's SQL test scripts
            continue
        if match := re.match(r"(?i)\s*DELIMITER\s+(\S+)\s*$", line):
            delimiter = match.group(1)
            continue
        if delimiter != ";":
            current += line
            if line.rstrip().endswith(delimiter):
                found.append(current.rstrip()[: -len(delimiter)].strip())
                current = ""
            continue
        for piece in re.split(r"(;)", line):  # several statements may share a line
            current += piece
            if piece == ";" and sqlite3.complete_statement(current):
                found.append(current.strip().rstrip(";").strip())
                current = ""
    rest = current.strip().rstrip(";").strip()
    return [s for s in [*found, rest] if _has_sql(s)]


def _has_sql(statement: str) -> bool:
    return bool(_COMMENT.sub("", statement).strip())


def _after_comments(statement: str) -> str:
    """The statement from its first word on, past the comments that lead it."""
    match = _LEADING_COMMENTS.match(statement)  # it always matches, if only the empty string
    return statement[match.end() :] if match else statement


def _runs_more(statement: str) -> bool:
    """Whether the statement runs others (a procedure, a prepared statement): one of them may fail after another
    ran, so it is never run again."""
    return bool(re.match(r"(?i)\s*(?:CALL|EXECUTE)\b", _after_comments(statement)))


def value(item: object) -> object:
    """A column value as JSON: numbers as numbers (a whole DECIMAL as an integer), times as ISO text."""
    if isinstance(item, decimal.Decimal):
        return int(item) if item == item.to_integral_value() else float(item)
    if isinstance(item, (datetime.datetime, datetime.date, datetime.time)):
        return item.isoformat(sep=" ") if isinstance(item, datetime.datetime) else item.isoformat()
    if isinstance(item, datetime.timedelta):
        return str(item)
    if isinstance(item, (bytes, bytearray)):
        return item.decode("utf-8", "replace")
    return item


def start(mariadbd: str, here: str) -> tuple[subprocess.Popen[bytes], str]:
    """The server, its files in `here` (a new folder), and its socket once it listens."""
    data, socket = os.path.join(here, "data"), os.path.join(here, "mysql.sock")
    os.mkdir(data)
    server = subprocess.Popen(
        [mariadbd, "--no-defaults", f"--datadir={data}", f"--socket={socket}", "--skip-networking",
         "--skip-grant-tables", "--skip-log-bin", "--innodb-buffer-pool-size=8M", "--innodb-log-file-size=4M",
         "--max-connections=4", "--table-open-cache=16", "--open-files-limit=48", "--default-time-zone=+00:00",
         f"--secure-file-priv={here}", f"--pid-file={here}/mysql.pid", f"--log-error={here}/mysql.log",
         # run directly by root (a benchmark's direct arm); in the sandbox the run is never root
         *(["--user=root"] if os.geteuid() == 0 else [])],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + STARTUP_SECONDS
    while not os.path.exists(socket):
        if server.poll() is not None or time.monotonic() > deadline:
            errors = []
            if os.path.exists(os.path.join(here, "mysql.log")):
                with open(os.path.join(here, "mysql.log"), encoding="utf-8", errors="replace") as log:
                    errors = [line.strip() for line in log if "[ERROR]" in line]
            sys.exit(f"the MariaDB server did not start (exit {server.poll()}): {(errors or ['no error logged'])[-1]}")
        time.sleep(0.01)
    return server, socket


class Stubs:
    """Empty tables for the tables a script names and never creates, with the columns it names on them."""

    def __init__(self, cursor: object, script: list[str], created: set[str] | None = None) -> None:
        named = _NAMED.findall("\n".join(script))
        self.aliases = {alias.lower(): table for table, alias in named if alias} | {t.lower(): t for t, _ in named}
        self.cursor, self.created = cursor, created or set()
        self.tables: dict[str, list[str]] = {}

    def add(self, message: str, statement: str) -> bool:
        """Make what an error of `statement` says is missing; False where no missing name explains it, or the
        table is one the script creates (later: the run reports it)."""
        if match := _MISSING_TABLE.search(message):
            table, column = match.group(1), None
        elif (match := _MISSING_COLUMN.search(message)) and self.tables:
            column = match.group(2)
            if match.group(1):
                table = self.aliases.get(match.group(1).lower())
            else:  # unqualified: a table of this statement that lacks it, else the first made that does
                lacking = [t for t, columns in self.tables.items() if column not in columns]
                here = {t.lower() for t, _ in _NAMED.findall(statement)}
                table = next((t for t in lacking if t.lower() in here), lacking[0] if lacking else None)
        else:
            return False
        if table is None or table.lower() in self.created:
            return False
        if table in self.tables and (column is None or column in self.tables[table]):
            return False
        if table not in self.tables:
            self.cursor.execute(f"CREATE TABLE `{table}` (`_` TEXT)")  # type: ignore[attr-defined]
            self.tables[table] = []
        if column is not None:
            self.cursor.execute(f"ALTER TABLE `{table}` ADD COLUMN `{column}` TEXT")  # type: ignore[attr-defined]
            self.tables[table].append(column)
        return True


def stubs(cursor: object, script: list[str]) -> None:
    """Empty tables with the columns the statements name, found by preparing them (see the module's doc)."""
    import pymysql

    made = Stubs(cursor, script)
    for _ in range(STUB_ROUNDS):
        for statement in script:
            try:
                cursor.execute("PREPARE codeuf_stub FROM %s", (statement,))  # type: ignore[attr-defined]
            except pymysql.MySQLError as error:
                message, failed = str(error.args[-1]), statement
                break
        else:
            return
        if not made.add(message, failed):
            return  # an error that no missing name explains: the run reports it


def routines_table(mariadbd: str, cursor: object) -> None:
    """`mysql.proc`, where stored procedures and functions live: a server started on an empty folder has no
    system tables, so the statement that makes it is taken from the server's own install script."""
    share = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(mariadbd))), "share")
    for folder in ("mariadb", "mysql"):
        path = os.path.join(share, folder, "mysql_system_tables.sql")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                found = re.search(r"CREATE TABLE IF NOT EXISTS proc \(.*?;\n", handle.read(), re.DOTALL)
            if found:
                made = found.group(0).replace("IF NOT EXISTS proc", "IF NOT EXISTS mysql.proc", 1)
                cursor.execute("CREATE DATABASE IF NOT EXISTS mysql")  # type: ignore[attr-defined]
                cursor.execute(made)  # type: ignore[attr-defined]
            return


def referenced_tables(cursor: object, script: list[str], made: Stubs) -> None:
    """Tables that the script's foreign keys reference and that it never creates (the user's own, as a query
    alone names them): each made with the referenced columns, typed as the columns that reference them, and
    an index on them, so that the key can be formed. A table the script creates later is not made: creating
    it in that order fails in MySQL, and the run says so."""
    created = made.created
    wanted: dict[str, dict[str, str]] = {}
    keys: dict[str, list[list[str]]] = {}
    for statement in script:
        if not re.match(r"(?i)\s*CREATE\s+(?:TEMPORARY\s+)?TABLE\b", _after_comments(statement)):
            continue
        for own, parent, columns in _FOREIGN_KEY.findall(statement):
            own_columns = [c.strip(" `") for c in own.split(",")]
            parent_columns = [c.strip(" `") for c in columns.split(",")]
            if parent.lower() in created or len(own_columns) != len(parent_columns):
                continue
            types = [re.search(rf"(?im)(?:^|[(,])\s*`?{re.escape(c)}`?\s+{_TYPE}", statement) for c in own_columns]
            if not all(types):
                continue
            for column, found in zip(parent_columns, types, strict=True):
                wanted.setdefault(parent, {}).setdefault(column, found.group(1))  # type: ignore[union-attr]
            if parent_columns not in keys.setdefault(parent, []):
                keys[parent].append(parent_columns)
    for parent, columns in wanted.items():
        definitions = [f"`{c}` {t}" for c, t in columns.items()]
        definitions += [f"KEY ({', '.join(f'`{c}`' for c in key)})" for key in keys[parent]]
        cursor.execute(f"CREATE TABLE `{parent}` ({', '.join(definitions)})")  # type: ignore[attr-defined]
        made.tables[parent] = list(columns)  # a stub like the others: a later statement may name more columns


def main() -> int:
    import pymysql

    mariadbd, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    printing_from = text.find("\n.mode json\n")
    schema, code = (text[:printing_from], text[printing_from:]) if printing_from >= 0 else ("", text)
    here = tempfile.mkdtemp(prefix="mysql-", dir=os.getcwd())
    server, socket = start(mariadbd, here)
    try:
        connection = pymysql.connect(unix_socket=socket, user="root", autocommit=True, charset="utf8mb4")
        cursor = connection.cursor()
        cursor.execute("CREATE DATABASE main")
        cursor.execute("USE main")
        script = statements(code)
        if _ROUTINE.search(schema + code):
            routines_table(mariadbd, cursor)
        lazy = None
        if not schema and not re.search(r"(?i)\bCREATE\s+(TEMPORARY\s+)?TABLE\b", code):
            stubs(cursor, script)
        elif not schema:  # its own tables first, as it makes them: the others it names as a statement needs them
            lazy = Stubs(cursor, script, {name.lower() for name in _CREATED.findall(code)})
            referenced_tables(cursor, script, lazy)
        for printed, part in ((False, statements(schema)), (True, script)):
            for statement in part:
                for _ in range(STUB_ROUNDS):
                    try:
                        cursor.execute(statement)  # a statement that names what is missing fails before it runs
                        break
                    except pymysql.MySQLError as error:
                        if not (
                            printed and lazy and not _runs_more(statement) and lazy.add(str(error.args[-1]), statement)
                        ):
                            print(f"ERROR {error.args[0]}: {error.args[-1]}", file=sys.stderr)
                            return 1
                else:
                    print(f"ERROR: still missing names after {STUB_ROUNDS} stubs: {statement[:200]}", file=sys.stderr)
                    return 1
                if printed and cursor.description is not None:
                    rows = [[value(item) for item in row] for row in cursor.fetchall()]
                    print(json.dumps(rows, ensure_ascii=False))
        return 0
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(here, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
