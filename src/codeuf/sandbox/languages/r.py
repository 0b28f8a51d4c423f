# ruff: noqa: E501  (lines of the harness source in another language, kept as that language reads best)
"""R, run by its interpreter binary (`R_HOME/bin/exec/R --vanilla`: no profile, no saved workspace; the `R` and
`Rscript` launchers are shell scripts; the interpreter itself may start processes, as its utils package runs
`which` when it loads). Asserts are `stopifnot(...)` lines or
testthat's `expect_equal`, `expect_identical`, `expect_true` and `expect_false` (codeuf defines them: testthat
itself is not needed), each in its own `tryCatch`; whole programs take stdin/stdout cases. Call cases are not
translated: R's length-one vectors are its scalars, so a JSON list of one element and that element would print
alike."""

from __future__ import annotations

import functools
import os
import shutil

from codeuf.sandbox.languages.base import MARK, Language

PRELUDE = f"""
codeuf_report <- function(i, kind, rest) {{ cat("{MARK}", i, kind, rest, "\\n"); flush(stdout()) }}
expect_equal <- function(object, expected, ...) if (!isTRUE(all.equal(object, expected, ...))) stop("not equal")
expect_identical <- function(object, expected) if (!identical(object, expected)) stop("not identical")
expect_true <- function(object) if (!isTRUE(object)) stop("not TRUE")
expect_false <- function(object) if (!isFALSE(object)) stop("not FALSE")
"""


@functools.cache
def r_home() -> str | None:
    """R's home: $R_HOME, or the folder the `R` launcher on PATH belongs to (Debian's /usr/lib/R)."""
    launcher = shutil.which("R")
    homes = [os.environ.get("R_HOME", ""), "/usr/lib/R", "/usr/local/lib/R", "/usr/lib64/R", "/opt/R"]
    if launcher:
        homes.insert(1, os.path.dirname(os.path.dirname(os.path.realpath(launcher))))
    return next((h for h in homes if h and os.access(os.path.join(h, "bin", "exec", "R"), os.X_OK)), None)


def find_tool(tool: str) -> str | None:
    home = r_home() if tool == "R" else None
    return os.path.join(home, "bin", "exec", "R") if home else None


def tests_program(code: str, tests: list[tuple[int, str]], setup: list[str]) -> str:
    wrapped = "\n".join(f"tryCatch({{ {line}; codeuf_report({i}, 'pass', '') }}, "
                        f"error = function(e) codeuf_report({i}, 'fail', class(e)[1]))" for i, line in tests)  # fmt: skip
    return f"{PRELUDE}\n{code}\n" + "\n".join(setup) + "\n" + wrapped + "\n"


LANGUAGE = Language(
    name="r", title="R", fences=("r",), tools=("R",), install="apt-get install r-base-core", source="main.R",
    markers=(r"\b\w+\s*<-\s*function\s*\(", r"\bcat\s*\(", r"^\s*library\(\w+\)", r"\bc\(\s*-?\d",
             r"\b(paste0?|seq_len|seq_along|sapply|lapply|nchar|is\.na)\s*\("),
    run=lambda tools, source: [tools["R"], "--vanilla", "--no-echo", "-f", source], find_tool=find_tool,
    # R wants 167 open files at least; its utils package runs `which` as it loads, so R may start processes
    env={"R_HOME": r_home() or ""}, open_files=256, threads=16, forks=True, tests_program=tests_program,
    assert_line=r"^\s*(stopifnot\s*\(|expect_(equal|identical|true|false)\s*\()",
    assert_example="stopifnot(NAME(...) == expected)",
    definition=r"^\s*([A-Za-z_.][\w.]*)\s*<-\s*function\s*\(",
)  # fmt: skip
