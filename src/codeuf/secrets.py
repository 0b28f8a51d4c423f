"""Keep API keys out of messages, logs and files."""

from __future__ import annotations

import os
import re

_SECRET_NAME = re.compile(r"(API_KEY|_TOKEN|_SECRET)$")
_KEY_SHAPES = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|sk-ant-[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{8,})")


def secret_values() -> list[str]:
    return [v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= 6]


def redact(text: str) -> str:
    """Replace every secret from the environment, and anything shaped like a key, with ***."""
    for value in secret_values():
        text = text.replace(value, "***")
    return _KEY_SHAPES.sub("***", text)


def clean_environment() -> dict[str, str]:
    """This process's environment without any variable that looks like a secret."""
    return {k: v for k, v in os.environ.items() if not _SECRET_NAME.search(k)}
