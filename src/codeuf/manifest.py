"""Run manifests: what ran, with which versions and settings, how much it cost, how long it took."""

from __future__ import annotations

import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from codeuf.io import atomic_write_text

_PACKAGES = ("codeuf", "llama-cpp-python", "openai", "anthropic", "transformers", "trl", "peft", "datasets", "torch")


def package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_manifest(path: str | Path, *, stage: str, config: dict[str, Any], **fields: Any) -> Path:
    """Write `path` atomically. `config` must hold no secrets (specs and paths only)."""
    body = {
        "stage": stage,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": config,
        "versions": package_versions(),
        **fields,
    }
    atomic_write_text(path, json.dumps(body, indent=2, default=str) + "\n")
    return Path(path)
