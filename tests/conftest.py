"""Shared fixtures. Unit tests use `ScriptedBackend`; integration tests use real parts only."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from codeuf.llm.base import Backend, BackendError
from codeuf.llm.spec import ModelSpec
from codeuf.llm.types import LLMRequest, LLMResult, Usage

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CODEUF_REFERENCE_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's real cache from a test."""
    monkeypatch.setenv("CODEUF_CACHE_DIR", str(tmp_path / "cache"))


class ScriptedBackend(Backend):
    """An in-memory backend for unit tests: answers `echo:<text>` or raises scripted errors."""

    name = "scripted"
    supports_schema = True

    def __init__(
        self,
        script: Callable[[LLMRequest, int], BackendError | None] | None = None,
        in_process: bool = False,
        delay: float = 0.0,
    ) -> None:
        super().__init__(ModelSpec("openai", "scripted"))
        self.script, self.delay = script, delay
        self.in_process = in_process  # type: ignore[misc]
        self.calls: list[LLMRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def generate(self, request: LLMRequest) -> LLMResult:
        self.calls.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            text = request.prompt if request.prompt is not None else (request.messages or [])[-1].content
            attempt = sum(1 for c in self.calls if c == request)
            if self.script is not None and (error := self.script(request, attempt)) is not None:
                raise error
            return LLMResult.from_text(request, f"echo:{text}", usage=Usage(prompt_tokens=3, completion_tokens=2))
        finally:
            self.in_flight -= 1


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for running the `codeuf` command in a subprocess."""
    env = dict(os.environ)
    env.update(extra)
    return env


CODEUF = [sys.executable, "-m", "codeuf"]


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under `-m "not integration"`, tests/integration is not even imported: its modules import trl, torch,
    llama_cpp and ray at the top, and the unit suite is meant to run without them."""
    integration = Path(__file__).parent / "integration"
    if config.getoption("markexpr", "").strip() == "not integration" and (
        collection_path == integration or integration in collection_path.parents
    ):
        return True
    return None


UNIT_SUITE_NEVER_IMPORTS = ("torch", "trl", "transformers", "peft", "llama_cpp", "ray")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The unit suite fails if it loaded a model library: what it claims (no model, no trl, no torch) holds."""
    if session.config.getoption("markexpr", "").strip() != "not integration":
        return
    loaded = [name for name in UNIT_SUITE_NEVER_IMPORTS if name in sys.modules]
    if loaded:
        sys.stderr.write(f"\nthe unit suite imported {', '.join(loaded)}: move that test under tests/integration\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration is an integration test, marked or not, so that
    `pytest -m "not integration"` never loads a model, trains or starts a server."""
    integration = Path(__file__).parent / "integration"
    for item in items:
        if integration in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)
