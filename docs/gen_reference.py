"""Generate the reference pages from the code, so that they cannot drift from it (as simonw/llm does for its
CLI reference): every command of the Typer app with its arguments and options, and every key of a run config
with its type, default and description (the pydantic models' field descriptions).

Run: .venv/bin/python docs/gen_reference.py          (rewrite docs/reference/*.md and docs/index.md)
     .venv/bin/python docs/gen_reference.py --check  (exit 1 when a page differs from the code; a test runs it)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PAGES = {"reference/cli.md": "cli", "reference/config.md": "config", "index.md": "index"}
"""Generated pages, relative to docs/: the reference from the code, and the site's home page from README.md
(the same text, its links made relative to docs/)."""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _commands(command: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    """(name path, command) of every command under `command`, in the app's order."""
    found = [(path, command)] if path else []
    for name, sub in getattr(command, "commands", {}).items():
        if not getattr(sub, "hidden", False):
            found.extend(_commands(sub, [*path, name]))
    return found


def cli_page() -> str:
    import typer
    from typer._click.core import Context

    from codeuf.cli import app

    root = typer.main.get_command(app)
    lines = ["# Command reference", "", "Generated from the code by `docs/gen_reference.py`; a test fails when it",
             "differs. `codeuf COMMAND --help` prints the same.", ""]  # fmt: skip
    for path, command in _commands(root, []):
        name = " ".join(["codeuf", *path])
        ctx = Context(command, info_name=name)
        lines += [f"## `{name}`", "", (command.help or "").strip(), ""]
        if getattr(command, "commands", None):
            lines += ["Subcommands: " + ", ".join(f"`{n}`" for n in command.commands), ""]
            continue
        lines += ["```", " ".join([name, *command.collect_usage_pieces(ctx)]), "```", ""]
        arguments = [p for p in command.params if p.param_type_name == "argument"]
        options = [p for p in command.params if p.param_type_name == "option" and not p.hidden]
        if arguments:
            lines += ["| argument | |", "|---|---|"]
            for argument in arguments:
                label = (argument.metavar or argument.name or "").upper()
                lines.append(f"| `{label}` | {_cell(getattr(argument, 'help', None) or '')} |")
            lines.append("")
        if options:
            lines += ["| option | |", "|---|---|"]
            for option in options:
                record = option.get_help_record(ctx)
                if record:
                    lines.append(f"| `{_cell(record[0])}` | {_cell(record[1])} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _models() -> list[Any]:
    from codeuf.config import PoolModel, Price, RunConfig, TestSynthesis

    return [RunConfig, PoolModel, TestSynthesis, Price]


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    return text or str(annotation).replace("typing.", "").replace("pathlib.", "").replace("codeuf.config.", "")


def config_page() -> str:
    from pydantic_core import PydanticUndefined

    lines = ["# Run config reference", "", "The keys of a YAML run config (`codeuf run CONFIG`, `--config` of the",
             "stage commands). Generated from the pydantic models by `docs/gen_reference.py`; a test fails when it",
             "differs. Unknown keys and wrongly typed values are refused in one line naming the file, line and key.",
             ""]  # fmt: skip
    for model in _models():
        lines += [f"## `{model.__name__}`", "", " ".join((model.__doc__ or "").split()), "",
                  "| key | type | default | description |", "|---|---|---|---|"]  # fmt: skip
        for key, field in model.model_fields.items():
            if field.default_factory is not None:
                default = "(computed)"
            elif field.default is PydanticUndefined:
                default = "required"
            else:
                default = f"`{field.default!r}`"
            description = _cell(field.description or "")
            lines.append(f"| `{key}` | `{_cell(_type_name(field.annotation))}` | {_cell(default)} | {description} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def index_page() -> str:
    text = (HERE.parent / "README.md").read_text()
    text = text.replace("](docs/", "](")
    return "<!-- Generated from README.md by docs/gen_reference.py: edit README.md. -->\n\n" + text


def render() -> dict[str, str]:
    builders = {"cli": cli_page, "config": config_page, "index": index_page}
    return {page: builders[kind]() for page, kind in PAGES.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for page, text in render().items():
        path = HERE / page
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"out of date (run docs/gen_reference.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
