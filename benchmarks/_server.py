"""Run the test suite's loopback server in its own process (so it does not share our GIL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
from tests.fakeserver import FakeServer
with FakeServer(latency={latency}) as server:
    print(server.url, flush=True)
    sys.stdin.read()
"""


class ServerProcess:
    """`with ServerProcess(latency=0.2) as url:` an OpenAI-compatible server with fixed latency."""

    def __init__(self, latency: float) -> None:
        self.latency = latency

    def __enter__(self) -> str:
        code = _CHILD.format(repo=str(REPO), latency=self.latency)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)
