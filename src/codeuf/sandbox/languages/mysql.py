"""MySQL's SQL, run by MariaDB: a private server started for each run in its directory (no network, no grant
tables; about half a second to start), the script sent by PyMySQL. SQL labelled `sql`, or unlabelled, that
uses what only MySQL has (`AUTO_INCREMENT`, `DATE_SUB`, `NOW()`, `REGEXP`, ...) runs here instead of in SQLite
(`sql.dialect`), and SQL's tests run here for it: a schema with rows, then the response, the last result set
compared with the expected rows. A query given alone runs against empty tables with the columns it names, found
by preparing it (the server compiles and resolves it, never runs it), as SQLite's stubs are. The runner is
mysql_runner.py, written into the run's directory."""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import sys
from importlib.resources import files

from codeuf.sandbox.languages.base import Language

RUNNER = "mysql_runner.py"


def find_tool(tool: str) -> str | None:
    """mariadbd (in /usr/sbin, which a user's PATH may lack) and the PyMySQL package."""
    if tool == "pymysql":
        spec = importlib.util.find_spec("pymysql")
        return os.path.dirname(spec.origin) if spec is not None and spec.origin else None
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/local/sbin")


@functools.cache
def _runner() -> str:
    """The runner's source, read once per process (each run gets it as a file)."""
    return files("codeuf.sandbox.languages").joinpath(RUNNER).read_text(encoding="utf-8")


def prepare(code: str) -> dict[str, str]:
    return {"main.sql": code, RUNNER: _runner()}


LANGUAGE = Language(
    name="mysql", title="MySQL (MariaDB)", fences=("mysql", "mariadb"), tools=("mariadbd", "pymysql"),
    install="apt-get install mariadb-server-core; pip install pymysql", source="main.sql",
    # the venv's interpreter (os.path.abspath: a relative sys.executable would not resolve from the run's folder)
    run=lambda tools, source: [os.path.abspath(sys.executable), "-I", RUNNER, tools["mariadbd"], source],
    prepare=prepare, find_tool=find_tool, forks=True, threads=64, family="sql",
)  # fmt: skip
