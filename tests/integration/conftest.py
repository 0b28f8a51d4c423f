"""Real parts: the embedded model, `python -m llama_cpp.server`, the fault-injecting server."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.conftest import CODEUF, cli_env
from tests.fakeserver import FakeServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def gguf_path() -> str:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'codeuf[llamacpp]')")
    from codeuf.llm.llamacpp import default_model_path

    return str(default_model_path())


@pytest.fixture(scope="session")
def embedded(gguf_path: str):  # type: ignore[no-untyped-def]
    """One embedded model for the whole session: loading it takes a second or two."""
    from codeuf.llm.base import load_backend

    backend = load_backend("llamacpp:default", n_ctx=4096)
    yield backend


@pytest.fixture(scope="session")
def llama_server(gguf_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`codeuf serve` (llama-cpp-python's server, the embedded model's path and Gemma's chat format filled in)
    on 127.0.0.1; yields its /v1 URL."""
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama_server") / "server.log"
    log = log_path.open("wb")  # a pipe nobody reads would fill up and stall the server
    proc = subprocess.Popen([*CODEUF, "serve", "--n-ctx", "4096", "--port", str(port)], stdout=log,
                            stderr=subprocess.STDOUT, env=cli_env())  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError("llama_cpp.server did not start in 120 s")
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    with FakeServer(hang_seconds=5.0) as server:
        yield server
