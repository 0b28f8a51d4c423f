# ruff: noqa: E501  (lines of the harness source in another language, kept as that language reads best)
"""Bash scripts. Each test line is a command whose exit status is its verdict (`[[ "$(add 2 3)" == 5 ]]`, or
`test ...`), run in a subshell after the code; stdin/stdout cases run the script as a whole program."""

from __future__ import annotations

from codeuf.sandbox.languages.base import MARK, Language


def tests_program(code: str, tests: list[tuple[int, str]], setup: list[str]) -> str:
    wrapped = "\n".join(f"if ( {line} ) >/dev/null 2>&1; then echo '{MARK} {i} pass '; else echo '{MARK} {i} fail exit'; fi"
                        for i, line in tests)  # fmt: skip
    return f"{code}\n" + "\n".join(setup) + "\n" + wrapped + "\n"


LANGUAGE = Language(
    name="bash", title="Bash", fences=("bash", "sh", "shell", "zsh"), tools=("bash",), install="apt-get install bash",
    source="main.sh",
    markers=(r"^#!\s*/(usr/)?bin/(env\s+)?(ba)?sh", r"^\s*(echo|fi|done|esac)\b", r"\$\{?\w+\}?", r"^\s*if\s+\[\[?"),
    run=lambda tools, source: [tools["bash"], source], threads=16, forks=True, tests_program=tests_program,
    assert_line=r"^\s*(\[\[|\[\s|test\s)",
)  # fmt: skip
