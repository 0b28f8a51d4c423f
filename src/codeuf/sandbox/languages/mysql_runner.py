"""Runs one MySQL script against a private MariaDB server; written into the job's directory and run there, in
the sandbox, as the program (it imports nothing of codeuf's).

    python -I mysql_runner.py MARIADBD SCRIPT

The server starts in the run's directory with no network (a Unix socket there), no grant tables and a small
buffer pool, and stops when the script ends. The script runs statement by statement in a database `main`; each
result set after the line `.mode json` (the form of codeuf's SQL tests: the schema, then the response) or, with
no such line, every result set, is printed as one JSON list of rows. The first error ends the run (exit 1), as
sqlite3 -bail does. A script that creates no table (a query given alone) first gets empty tables with the
columns it names: each statement is prepared (compiled and resolved, never run) and what the server says is
missing is added, as codeuf's SQLite stubs do."""

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
    return bool(re.sub(r"--[^\n]*|#[^\n]*|/\*.*?\*/", "", statement, flags=re.DOTALL).strip())


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


def stubs(cursor: object, script: list[str]) -> None:
    """Empty tables with the columns the statements name, found by preparing them (see the module's doc)."""
    import pymysql

    named = _NAMED.findall("\n".join(script))
    aliases = {alias.lower(): table for table, alias in named if alias} | {t.lower(): t for t, _ in named}
    tables: dict[str, list[str]] = {}
    for _ in range(STUB_ROUNDS):
        for statement in script:
            try:
                cursor.execute("PREPARE codeuf_stub FROM %s", (statement,))  # type: ignore[attr-defined]
            except pymysql.MySQLError as error:
                message = str(error.args[-1])
                break
        else:
            return
        if match := _MISSING_TABLE.search(message):
            table, column = match.group(1), None
        elif (match := _MISSING_COLUMN.search(message)) and tables:
            column = match.group(2)  # unqualified: the first table made that does not have it yet
            table = (aliases.get(match.group(1).lower()) if match.group(1)
                     else next((t for t, columns in tables.items() if column not in columns), None))  # fmt: skip
        else:
            return  # an error that no missing name explains: the run reports it
        if table is None or (table in tables and (column is None or column in tables[table])):
            return
        if table not in tables:
            cursor.execute(f"CREATE TABLE `{table}` (`_` TEXT)")  # type: ignore[attr-defined]
            tables[table] = []
        if column is not None:
            cursor.execute(f"ALTER TABLE `{table}` ADD COLUMN `{column}` TEXT")  # type: ignore[attr-defined]
            tables[table].append(column)


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
        if not schema and not re.search(r"(?i)\bCREATE\s+(TEMPORARY\s+)?TABLE\b", code):
            stubs(cursor, script)
        for printed, part in ((False, statements(schema)), (True, script)):
            for statement in part:
                try:
                    cursor.execute(statement)
                except pymysql.MySQLError as error:
                    print(f"ERROR {error.args[0]}: {error.args[-1]}", file=sys.stderr)
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
