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


def write_manifest(
    path: str | Path, *, stage: str, config: dict[str, Any], changes: dict[str, Any] | None = None, **fields: Any
) -> Path:
    """Write `path` atomically. `config` must hold no secrets (specs and paths only).

    A manifest that is there is updated, not replaced: a stage command run later on the folder replaces the
    fields it gives (its own statistics) and keeps the others, and `changes` (the config fields it changed,
    as `codeuf.config.config_changes` gives them) is appended to the folder's `changes` history."""
    path = Path(path)
    body = _existing(path)
    history = list(body.get("changes") or [])
    if changes:
        history.append({"stage": stage, "at": _now(), "fields": changes})
    body.update(stage=stage, finished_at=_now(), config=config, versions=package_versions(), **fields)
    if history:
        body["changes"] = history
    atomic_write_text(path, json.dumps(body, indent=2, default=str) + "\n")
    return path


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _existing(path: Path) -> dict[str, Any]:
    """The manifest as it is (a run writes it whole; one unreadable is started anew)."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}
