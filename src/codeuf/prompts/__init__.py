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


def template_path(name: str, user_dir: str | Path | None = None) -> Path:
    """The file a template is read from: the user's, where the folder has one, else the built-in one."""
    if user_dir is not None and (Path(user_dir) / name).is_file():
        return Path(user_dir) / name
    return BUILTIN / name


def render(name: str, user_dir: str | Path | None = None, **context: Any) -> str:
    """Render a template; any problem in it (syntax, an unknown variable, bad bytes) is one InputError
    naming its file and, where Jinja knows it, the line."""
    from jinja2 import TemplateError, TemplateSyntaxError

    if user_dir is not None and not Path(user_dir).is_dir():
        raise InputError("prompt folder not found", path=user_dir, field="prompts")
    try:
        folder = str(Path(user_dir).resolve()) if user_dir else None
        return _environment(folder).get_template(name).render(**context).strip()
    except TemplateSyntaxError as exc:
        raise InputError(f"template error: {exc.message}", path=template_path(name, user_dir),
                         line=exc.lineno) from None  # fmt: skip
    except TemplateError as exc:
        raise InputError(f"template error: {exc}", path=template_path(name, user_dir)) from None
    except UnicodeDecodeError:
        raise InputError("template is not valid UTF-8", path=template_path(name, user_dir)) from None
    except (RecursionError, OverflowError, MemoryError, TypeError, ValueError, ArithmeticError) as exc:
        raise InputError(f"template error: {type(exc).__name__}: {exc}", path=template_path(name, user_dir)) from None
