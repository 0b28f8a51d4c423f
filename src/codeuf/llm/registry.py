"""The backends, one entry each: a new backend is its module plus one line here, or, from another package, an
entry point in the group `codeuf.backends` (codeuf.plugins). Nothing is imported until a spec names the backend
(codeuf.llm.base.load_backend), so `codeuf --help` loads no SDK."""

from __future__ import annotations

from typing import Any, NamedTuple

from codeuf.plugins import GROUPS, Registry


class BackendEntry(NamedTuple):
    module: str
    cls: str
    package: str
    """The package it needs, named in the one-line error when it is missing."""
    extra: str
    """The extra that installs it: pip install 'codeuf[EXTRA]'."""
    urls: bool
    """Its specs may name servers after '@' (MODEL@URL[,URL...])."""


BUILTIN: dict[str, BackendEntry] = {
    "llamacpp": BackendEntry("codeuf.llm.llamacpp", "LlamaCppBackend", "llama-cpp-python", "llamacpp", False),
    "openai": BackendEntry("codeuf.llm.openai", "OpenAIBackend", "aiohttp", "openai", True),
    "anthropic": BackendEntry("codeuf.llm.anthropic", "AnthropicBackend", "anthropic", "anthropic", True),
    "hf": BackendEntry("codeuf.llm.transformers", "TransformersBackend", "transformers", "hf", False),
}


def _plugin(point: Any) -> BackendEntry:
    """A backend another package declares: its class is imported now (to read whether its specs take URLs,
    `takes_urls`), so that a spec naming it is checked like a built-in one."""
    cls = point.load()
    package = point.dist.name if point.dist is not None else point.module
    return BackendEntry(point.module, point.attr, package, "", bool(getattr(cls, "takes_urls", False)))


BACKENDS: Registry[BackendEntry] = Registry(GROUPS["backends"], BUILTIN, _plugin)
