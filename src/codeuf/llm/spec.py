"""Model specs: one string names a backend, a model and where it is served.

llamacpp:default                       the embedded Gemma 3 270M
llamacpp:/path/to/model.gguf           any GGUF file
openai:gpt-4o-mini                     the OpenAI API (OPENAI_API_KEY)
openai:codellama-7b@http://h:8000/v1   any OpenAI-compatible server
openai:m@http://a:8000/v1,http://b:8000/v1   replicas; requests are spread over them
anthropic:claude-3-haiku-20240307      the Anthropic API (ANTHROPIC_API_KEY)
hf:/path/to/folder                     a local transformers model (or a hub id when online)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codeuf.errors import InputError
from codeuf.llm.registry import BACKENDS

_URL = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(:\d{1,5})?(/[^\s]*)?")


@dataclass(frozen=True)
class ModelSpec:
    backend: str
    model: str
    base_urls: tuple[str, ...] = ()

    def __str__(self) -> str:
        urls = "@" + ",".join(self.base_urls) if self.base_urls else ""
        return f"{self.backend}:{self.model}{urls}"


def parse_spec(text: str) -> ModelSpec:
    """Parse a spec string; a malformed one raises InputError naming the problem."""
    backend, sep, rest = text.strip().partition(":")
    if not sep or not rest:
        raise InputError(f"model spec {text!r} is not BACKEND:MODEL (backends: {', '.join(BACKENDS)})")
    if backend not in BACKENDS:
        raise InputError(f"model spec {text!r}: unknown backend {backend!r} (backends: {', '.join(BACKENDS)})")
    model, at, urls = rest.partition("@") if BACKENDS[backend].urls else (rest, "", "")
    base_urls = tuple(u.strip().rstrip("/") for u in urls.split(",") if u.strip()) if at else ()
    if at and not base_urls:
        raise InputError(f"model spec {text!r}: no base URL after '@'")
    for url in base_urls:
        if not _URL.fullmatch(url):
            raise InputError(f"model spec {text!r}: base URL {url!r} is not http(s)://HOST[:PORT][/PATH]")
    if not model:
        raise InputError(f"model spec {text!r}: empty model name")
    return ModelSpec(backend, model, base_urls)


def short_name(label: str) -> str:
    """A name for a table cell: a spec without its backend and servers (`openai:gpt-4@http://h/v1` -> `gpt-4`,
    `llamacpp:/runs/x/trained.gguf` -> `trained.gguf`); any other label as it is."""
    backend, sep, rest = label.partition(":")
    if not sep or backend not in BACKENDS or not rest:
        return label
    model = rest.partition("@")[0] if BACKENDS[backend].urls else rest
    return model.rstrip("/").rsplit("/", 1)[-1] if model.startswith(("/", ".", "~")) else model
