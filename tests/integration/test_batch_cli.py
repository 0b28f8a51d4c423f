"""`codeuf llm batch` as a user runs it: a subprocess, real files, real servers, real kills."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CODEUF, cli_env
from tests.fakeserver import FakeServer

pytestmark = pytest.mark.integration


def requests_file(path: Path, texts: list[str], **body: object) -> Path:
    with path.open("w") as handle:
        for i, text in enumerate(texts):
            line = {"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
                    "body": {"messages": [{"role": "user", "content": text}], "max_tokens": 16, **body}}  # fmt: skip
            handle.write(json.dumps(line) + "\n")
    return path


def batch(tmp_path: Path, model: str, in_path: Path, out: Path, *extra: str, **env: str) -> subprocess.CompletedProcess:
    args = [*CODEUF, "llm", "batch", "--model", model, "--in", str(in_path), "--out", str(out), *extra]
    return subprocess.run(args, capture_output=True, text=True, env=cli_env(**env), timeout=300, cwd=tmp_path)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def content(line: dict) -> str:
    return line["response"]["body"]["choices"][0]["message"]["content"]


def test_batch_against_a_server_then_from_cache(tmp_path: Path, fake_server: FakeServer) -> None:
    in_path = requests_file(tmp_path / "in.jsonl", [f"question {i}" for i in range(12)] + ["fault=400 bad"])
    out = tmp_path / "out.jsonl"
    cache = tmp_path / "c.sqlite"
    first = batch(tmp_path, f"openai:fake@{fake_server.url}", in_path, out, "--cache", str(cache))
    # One request failed: every line is written, and the command says so in one line and exits 3.
    assert first.returncode == 3, first.stderr
    assert first.stderr.count("\n") == 1 and "1 call failed after retries (llm batch: 1 bad_request on" in first.stderr
    lines = read_lines(out)
    assert [x["custom_id"] for x in lines] == [f"req-{i}" for i in range(13)]
    assert [content(x) for x in lines[:12]] == [f"echo: question {i}" for i in range(12)]
    assert lines[12]["error"]["code"] == "bad_request" and lines[12]["response"]["status_code"] == 400
    manifest = json.loads((tmp_path / "out.manifest.json").read_text())
    assert manifest["counts"]["errors"] == 1 and manifest["usage"][f"openai:fake@{fake_server.url}"]["requests"] == 13
    calls = sum(fake_server.attempts.values())
    second = batch(tmp_path, f"openai:fake@{fake_server.url}", in_path, tmp_path / "again.jsonl", "--cache", str(cache))
    assert second.returncode == 3  # the 400 fails again: it is retried, never cached
    assert sum(fake_server.attempts.values()) == calls + 1  # only the failed request is tried again
    assert [content(x) for x in read_lines(tmp_path / "again.jsonl")[:12]] == [content(x) for x in lines[:12]]


def test_killed_batch_resumes_without_repeating_completed_calls(tmp_path: Path) -> None:
    texts = [f"item {i}" for i in range(40)]
    in_path = requests_file(tmp_path / "in.jsonl", texts)
    out = tmp_path / "out.jsonl"
    with FakeServer(latency=0.05) as server:
        model = f"openai:fake@{server.url}"
        args = [*CODEUF, "llm", "batch", "--model", model, "--in", str(in_path), "--out", str(out),
                "--concurrency", "4", "--cache", str(tmp_path / "c.sqlite")]  # fmt: skip
        proc = subprocess.Popen(args, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while sum(server.completed.values()) < 15 and time.time() < deadline:
            time.sleep(0.01)
        server.holding = True  # requests stay in flight; nothing is mid-delivery
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        server.holding = False
        time.sleep(0.2)
        done_before = sum(server.completed.values())
        assert 15 <= done_before < 40 and not out.exists()
        assert (tmp_path / "out.jsonl.partial").exists()
        resumed = batch(tmp_path, model, in_path, out, "--concurrency", "4", "--cache", str(tmp_path / "c.sqlite"))
        assert resumed.returncode == 0, resumed.stderr
        assert max(server.completed.values()) == 1, "a completed request was sent twice"
        assert sum(server.completed.values()) == 40
    with FakeServer() as clean:
        reference = tmp_path / "ref.jsonl"
        whole = batch(tmp_path, f"openai:fake@{clean.url}", in_path, reference, "--cache", str(tmp_path / "c2.sqlite"))
        assert whole.returncode == 0
    got, want = read_lines(out), read_lines(reference)
    assert [x["custom_id"] for x in got] == [f"req-{i}" for i in range(40)]
    assert [content(x) for x in got] == [content(x) for x in want]
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_resume_from_partial_file_without_a_cache(tmp_path: Path) -> None:
    in_path = requests_file(tmp_path / "in.jsonl", [f"n{i}" for i in range(10)])
    out = tmp_path / "out.jsonl"
    with FakeServer(latency=0.02) as server:
        model = f"openai:fake@{server.url}"
        args = [*CODEUF, "llm", "batch", "--model", model, "--in", str(in_path), "--out", str(out), "--no-cache",
                "--concurrency", "1"]  # fmt: skip
        proc = subprocess.Popen(args, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while sum(server.completed.values()) < 4:
            time.sleep(0.005)
        server.holding = True
        time.sleep(0.3)
        proc.kill()
        proc.wait(10)
        server.holding = False
        again = batch(tmp_path, model, in_path, out, "--no-cache")
        assert again.returncode == 0 and "resumed" in again.stdout
        assert max(server.completed.values()) == 1 and sum(server.completed.values()) == 10


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        (b"", "empty"),
        (b'{"custom_id": "a", "method": "POST"\n', ":1: not valid JSON"),
        (b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": "hi"}}\n',
         ":1: field 'body.messages'"),
        (b'{"custom_id": "a", "method": "GET", "url": "/v1/chat/completions", "body": {}}\n', ":1: field 'method'"),
        (b'{"custom_id": 5, "method": "POST", "url": "/v1/chat/completions", "body": {}}\n', ":1: field 'custom_id'"),
        (b"\xff\xfe\x00garbage\n", ":1: not valid UTF-8"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path: Path, content: bytes, expect: str) -> None:
    in_path = tmp_path / "in.jsonl"
    in_path.write_bytes(content)
    out = tmp_path / "out.jsonl"
    result = batch(tmp_path, "openai:x@http://127.0.0.1:9/v1", in_path, out)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and expect in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [in_path]


@pytest.mark.parametrize(
    ("model", "expect"),
    [("nope:x", "unknown backend"), ("llamacpp:/no/such.gguf", "no GGUF file"), ("openai:gpt-4o", "OPENAI_API_KEY")],
)
def test_bad_model_is_one_line(tmp_path: Path, model: str, expect: str) -> None:
    in_path = requests_file(tmp_path / "in.jsonl", ["hi"])
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    args = [*CODEUF, "llm", "batch", "--model", model, "--in", str(in_path), "--out", str(tmp_path / "o.jsonl")]
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0 and expect in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.jsonl").exists()


def test_api_keys_never_reach_outputs_cache_or_messages(tmp_path: Path, fake_server: FakeServer) -> None:
    secret = "sk-codeuf-test-secret-0123456789"
    in_path = requests_file(tmp_path / "in.jsonl", ["hello", "fault=authecho nope"])
    out, cache = tmp_path / "out.jsonl", tmp_path / "c.sqlite"
    result = batch(tmp_path, f"openai:fake@{fake_server.url}", in_path, out, "--cache", str(cache),
                   CODEUF_ENDPOINT_API_KEY=secret)  # fmt: skip
    assert result.returncode == 3 and "1 auth on" in result.stderr  # the auth failure is reported, redacted
    assert f"Bearer {secret}" in fake_server.auth_headers  # the key was really used...
    lines = read_lines(out)
    assert lines[1]["error"]["code"] == "auth" and "***" in lines[1]["error"]["message"]
    everything = out.read_text() + (tmp_path / "out.manifest.json").read_text() + result.stdout + result.stderr
    dump = "\n".join(sqlite3.connect(cache).iterdump())
    assert secret not in everything and secret not in dump  # ...and went nowhere else


def test_embedded_model_batch(tmp_path: Path, gguf_path: str) -> None:
    in_path = requests_file(tmp_path / "in.jsonl", ["Write hello world in Python.", "What is a list?"], temperature=0)
    out = tmp_path / "out.jsonl"
    result = batch(tmp_path, "llamacpp:default", in_path, out, "--cache", str(tmp_path / "c.sqlite"))
    assert result.returncode == 0, result.stderr
    lines = read_lines(out)
    assert all(x["error"] is None and content(x) for x in lines)
    assert all(0 < x["response"]["body"]["usage"]["completion_tokens"] <= 16 for x in lines)
