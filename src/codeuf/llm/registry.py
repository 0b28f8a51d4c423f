"""The backends, one entry each: a new backend is its module plus one line here. Nothing is imported until a
spec names the backend (codeuf.llm.base.load_backend), so `codeuf --help` loads no SDK."""

from __future__ import annotations

from typing import NamedTuple


class BackendEntry(NamedTuple):
    module: str
    cls: str
    package: str
    """The package it needs, named in the one-line error when it is missing."""
    extra: str
    """The extra that installs it: pip install 'codeuf[EXTRA]'."""
    urls: bool
    """Its specs may name servers after '@' (MODEL@URL[,URL...])."""


BACKENDS: dict[str, BackendEntry] = {
    "llamacpp": BackendEntry("codeuf.llm.llamacpp", "LlamaCppBackend", "llama-cpp-python", "llamacpp", False),
    "openai": BackendEntry("codeuf.llm.openai", "OpenAIBackend", "aiohttp", "openai", True),
    "anthropic": BackendEntry("codeuf.llm.anthropic", "AnthropicBackend", "anthropic", "anthropic", True),
    "hf": BackendEntry("codeuf.llm.transformers", "TransformersBackend", "transformers", "hf", False),
}
