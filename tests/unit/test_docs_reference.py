"""The reference pages are generated from the code (docs/gen_reference.py) and must match it: a command, an
option or a config key added, renamed or documented differently fails here until the pages are regenerated."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reference_pages_are_what_the_code_says() -> None:
    for page, text in _generator().render().items():
        stale = f"docs/{page} is out of date: run docs/gen_reference.py"
        assert (DOCS / page).read_text() == text, stale


def test_every_command_and_config_key_is_in_the_reference() -> None:
    import typer

    from codeuf.cli import app
    from codeuf.config import PoolModel, RunConfig

    cli = (DOCS / "reference" / "cli.md").read_text()
    root = typer.main.get_command(app)
    for name, command in root.commands.items():
        assert f"## `codeuf {name}`" in cli
        for sub in getattr(command, "commands", {}):
            assert f"## `codeuf {name} {sub}`" in cli
    config = (DOCS / "reference" / "config.md").read_text()
    for model in (RunConfig, PoolModel):
        for key in model.model_fields:
            assert f"| `{key}` |" in config
    assert "`parallel`" in config  # the embedded model's batching setting is documented


def test_readme_is_a_front_page_and_nothing_points_outside_the_repository() -> None:
    import re

    repo = DOCS.parent
    readme = (repo / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert readme.startswith("# codeuf\n\n```bash\nmake demo") and "make test" in readme.split("```")[1]
    pages = [repo / "README.md", *sorted(DOCS.rglob("*.md"))]
    for page in pages:
        text = page.read_text()
        assert "../shared" not in text, f"{page} points outside the repository"
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            resolved = (page.parent / target).resolve()
            assert resolved.is_relative_to(repo) and resolved.exists(), f"{page}: broken link {target}"
