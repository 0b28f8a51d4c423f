"""The languages codeuf runs: one module each (see base.Language for what a module says), one line each here;
another package adds one with an entry point in the group `codeuf.languages` (codeuf.plugins) naming its
`Language`.

`blocks` finds a response's fenced code blocks and the language of each: the fence label, or for an unlabelled
block a careful guess (the language with the most markers, and at least two of them, and no tie). `code_in`
picks the code a response gives in one language, or says why there is none; an answer with no fence that reads
as code is that code (`first_code`).
"""

from __future__ import annotations

import functools
import os
import re

from codeuf.plugins import GROUPS, Registry
from codeuf.sandbox.languages import (
    bash,
    c,
    cpp,
    csharp,
    css,
    go,
    html,
    java,
    javascript,
    mongodb,
    mysql,
    perl,
    php,
    python,
    r,
    ruby,
    rust,
    sql,
    typescript,
)
from codeuf.sandbox.languages.base import MARK, NODE_PACKAGES, Language, Untranslatable, report_lines

BUILTIN: dict[str, Language] = {
    "python": python.LANGUAGE,
    "javascript": javascript.LANGUAGE,
    "typescript": typescript.LANGUAGE,
    "java": java.LANGUAGE,
    "c": c.LANGUAGE,
    "cpp": cpp.LANGUAGE,
    "rust": rust.LANGUAGE,
    "go": go.LANGUAGE,
    "php": php.LANGUAGE,
    "ruby": ruby.LANGUAGE,
    "bash": bash.LANGUAGE,
    "sql": sql.LANGUAGE,
    "mysql": mysql.LANGUAGE,
    "mongodb": mongodb.LANGUAGE,
    "csharp": csharp.LANGUAGE,
    "perl": perl.LANGUAGE,
    "html": html.LANGUAGE,
    "css": css.LANGUAGE,
    "r": r.LANGUAGE,
}


def _plugin(point: object) -> Language:
    language = point.load()  # type: ignore[attr-defined]
    if not isinstance(language, Language):
        raise TypeError(f"{point.value} is not a codeuf Language")  # type: ignore[attr-defined]
    return language


REGISTRY: Registry[Language] = Registry(GROUPS["languages"], BUILTIN, _plugin)

ALIASES = {"js": "javascript", "ts": "typescript", "c++": "cpp", "golang": "go", "rs": "rust", "sh": "bash",
           "py": "python", "sqlite": "sql", "shell": "bash", "rb": "ruby",
           "c#": "csharp", "cs": "csharp", "pl": "perl", "htm": "html"}  # fmt: skip

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def get(name: str) -> Language:
    """The language of a name or alias; KeyError (with the known names) for another."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in REGISTRY:
        raise KeyError(f"unknown language {name!r} (known: {', '.join(REGISTRY)})")
    return REGISTRY[key]


def by_label(label: str) -> Language | None:
    label = label.lower()
    return next((language for language in REGISTRY.values() if language.labelled(label)), None)


def guess(code: str, fenced: bool = False) -> Language | None:
    """The language of an unlabelled block: the most markers, at least two, and no tie; else None. In a fenced
    block (its author marked it as code), one marker is enough where no other language has any and the language
    is one whose markers are statements (`ONE_MARKER`; a program's printed output reads as Bash, JavaScript or
    HTML by one marker), and Python must then parse (pseudo-code reads as Python by one marker too)."""
    scores = sorted(((language.guess(code), name) for name, language in REGISTRY.items()), reverse=True)
    (best, name), (second, _) = scores[0], scores[1]
    if fenced and best == 1 and second == 0:
        careful = name in ONE_MARKER and all(re.search(alone, code, re.MULTILINE) for alone in ONE_MARKER[name])
        return REGISTRY[name] if careful and (name != "python" or _parses(code)) else None
    if best < 2 or best == second:
        # TypeScript is JavaScript with types: its markers on top of JavaScript's decide
        if best >= 2 and {name, _} == {"typescript", "javascript"}:
            return REGISTRY["typescript"]
        return None
    if name == "javascript" and REGISTRY["typescript"].guess(code) >= 1:
        return REGISTRY["typescript"]
    if name == "c" and REGISTRY["cpp"].guess(code) >= 1:
        return REGISTRY["cpp"]
    return REGISTRY[name]


ONE_MARKER: dict[str, tuple[str, ...]] = {
    "python": (), "sql": (), "java": (), "csharp": (), "c": (), "cpp": (),
    "go": (r"^\s*package\s+main\b|\bfmt\.Print",), "rust": (r"\bprintln!\(|\bfn\s+\w+\s*\(",),
}  # fmt: skip
"""Languages a fenced, unlabelled block may be read as by one marker (see `guess`), and what that marker must
then be where a language has markers pseudo-code uses too (Go's `:=`, Rust's `let x`): a statement of its own."""


def _parses(code: str) -> bool:
    import ast

    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def dialect_of(language: Language, code: str) -> Language:
    """The language that runs `code`: `language`, or the dialect it is written in (SQL in MySQL's: MySQL)."""
    name = language.dialect(code) if language.dialect is not None else None
    return REGISTRY[name] if name is not None and name in REGISTRY else language


def same_family(one: Language, other: Language) -> bool:
    """Whether code in `one` answers tests in `other`: the same language, or one a dialect of the other."""
    return one is other or other.name == one.family or one.name == other.family


def blocks(text: str) -> list[tuple[Language | None, str, str]]:
    """Each fenced block: (its language or None, its label, its code)."""
    found = []
    for label, code in _FENCE.findall(text):
        language = by_label(label) if label else guess(code, fenced=True)
        found.append((dialect_of(language, code) if language is not None else None, label, code))
    return found


def first_code(text: str) -> tuple[Language | None, str, str] | None:
    """The code an answer gives first, as `code_in` reads answers: its first fenced block (language, label,
    code), or, when it has no fence, the whole answer if it reads as one language (label ""); None for prose."""
    found = blocks(text)
    if found:
        return found[0]
    guessed = guess(text)
    return (dialect_of(guessed, text), "", text) if guessed is not None else None


def code_in(text: str, language: Language) -> tuple[str | None, str]:
    """(the code the response gives in `language`, "") or (None, why not): the longest block in it (a response
    with one block that holds a `main` and one that holds the function keeps the longer), or the whole text
    when it has no fence and reads as that language."""
    if not text.strip():
        return None, "empty response"
    found = blocks(text)
    mine = [code for lang, _, code in found if lang is not None and same_family(lang, language)]
    if mine:
        return max(mine, key=len), ""
    if not found and (guessed := guess(text)) is not None and same_family(guessed, language):
        return text, ""
    others = sorted({(lang.title if lang else label or "unlabelled") for lang, label, _ in found})
    if others:
        return None, f"no {language.title} code (code blocks in {', '.join(others)})"
    return None, "no code"


@functools.cache
def toolchain_folders() -> tuple[str, ...]:
    """Folders outside the system ones that toolchains live in (rustup's under a home, a TypeScript package):
    the sandbox binds them, read-only, into the workers' namespaces."""
    folders = set()
    for language in REGISTRY.values():
        if language.toolchain.missing:
            continue
        for tool, path in language.toolchain.paths.items():
            if tool == "rustc":
                folders.add(os.path.dirname(os.path.dirname(path)))  # the toolchain's sysroot
            elif tool in NODE_PACKAGES:
                folders.add(os.path.dirname(path))  # the packages beside it: jsdom's own, react
    return tuple(sorted(folders))


__all__ = [
    "MARK",
    "REGISTRY",
    "Language",
    "Untranslatable",
    "blocks",
    "code_in",
    "dialect_of",
    "first_code",
    "get",
    "guess",
    "report_lines",
    "same_family",
    "toolchain_folders",
]
