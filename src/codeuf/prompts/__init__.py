"""Prompts are data: Jinja2 templates shipped with the package, overridable from a user folder.

A user folder holding a file of the same name (for example `annotate.j2`) replaces the built-in
template, so a study's exact prompts can be run without touching the code.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from codeuf.errors import InputError

BUILTIN = Path(__file__).parent


@cache
def _environment(user_dir: str | None):  # type: ignore[no-untyped-def]
    from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    loaders = [FileSystemLoader(user_dir)] if user_dir else []
    loaders.append(FileSystemLoader(str(BUILTIN)))
    return ImmutableSandboxedEnvironment(
        loader=ChoiceLoader(loaders), undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )


def render(name: str, user_dir: str | Path | None = None, **context: Any) -> str:
    from jinja2 import TemplateError

    if user_dir is not None and not Path(user_dir).is_dir():
        raise InputError("prompt folder not found", path=user_dir)
    try:
        return _environment(str(user_dir) if user_dir else None).get_template(name).render(**context).strip()
    except TemplateError as exc:
        raise InputError(f"template error: {exc}", path=name) from None
