"""Runs that fail loudly and heal on rerun, against a loopback server the tests stop, restart and break:
a dead server stops the run early with one line; failed calls are retried by the next run and nothing
else is; two runs on one folder cannot both run; several processes share one cache safely."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.conftest import CODEUF, cli_env
from tests.fakeserver import FakeServer
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration


def config(url: str, out: Path, **extra: object) -> dict:
    return {
        "n": 20, "seed": 3, "out": str(out), "concurrency": 4, "test_fraction": 0.2,
        "pool": {f"model-{i}": {"spec": f"openai:model-{i}@{url}", "max_tokens": 16} for i in range(4)},
        "judges": [{"spec": f"openai:judge@{url}", "name": "judge"}],
        **extra,
    }  # fmt: skip


def write_config(path: Path, values: dict) -> Path:
    path.write_text(yaml.safe_dump(values))
    return path


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CODEUF, *args], capture_output=True, text=True, env=cli_env(), timeout=timeout)


def bodies(server: FakeServer, counter: Counter) -> set[str]:
    """The distinct requests (canonical bodies) that `counter` of `server` counted."""
    return {key for key, n in counter.items() if n}


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("codeuf:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def ids_per_line(path: Path) -> Counter:
    return Counter(json.loads(line)["id"] for line in path.read_text().splitlines())


def test_a_dead_server_stops_the_run_early_and_the_rerun_heals_it(tmp_path: Path) -> None:
    port = free_port()
    values = config(f"http://127.0.0.1:{port}/v1", tmp_path / "run", down_after_s=3)
    path = write_config(tmp_path / "c.yaml", values)
    with FakeServer(latency=0.02, port=port) as first:
        proc = subprocess.Popen([*CODEUF, "run", str(path)], env=cli_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.time() + 60
        while sum(first.completed.values()) < 30 and time.time() < deadline:
            time.sleep(0.01)
    stopped = time.time()  # the server is gone: every attempt is refused from now on
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 4, stderr
    assert time.time() - stopped < 30  # stopped early, not after every item's retries
    line = one_line(stderr)
    assert f"127.0.0.1:{port}" in line and "stopped early" in line and "connection" in line
    generations = tmp_path / "run" / "generations.jsonl"
    saved = ids_per_line(generations)
    assert saved and max(saved.values()) == 1  # one line per id...
    assert all(not json.loads(r)["errors"] for r in generations.read_text().splitlines())  # ...none failed
    done_first = bodies(first, first.completed)

    with FakeServer(latency=0.02, port=port) as second:
        result = run("run", str(path))
    assert result.returncode == 0, result.stderr
    asked_again = bodies(second, second.completed)
    assert not done_first & asked_again  # no call that had succeeded is made again
    assert len(done_first | asked_again) == 20 * 4 + 20  # and every call is made: 80 generations, 20 judgements
    feedback = [json.loads(x) for x in (tmp_path / "run/feedback/train.jsonl").read_text().splitlines()]
    assert len(feedback) == 20 and all(a["rating"] != "N/A" for r in feedback for a in r["annotations"])

    with FakeServer() as fresh:  # the same run, never interrupted (URLs are not part of a result)
        clean = config(fresh.url, tmp_path / "clean", down_after_s=3)
        assert run("run", str(write_config(tmp_path / "d.yaml", clean))).returncode == 0
    for name in ("feedback/train.jsonl", "binarized/train.jsonl", "binarized/test.jsonl"):
        assert (tmp_path / "run" / name).read_text() == (tmp_path / "clean" / name).read_text(), name


def test_failed_calls_exit_3_and_the_rerun_makes_just_those(tmp_path: Path) -> None:
    with FakeServer(latency=0.01) as server:
        path = write_config(tmp_path / "c.yaml", config(server.url, tmp_path / "run", max_retries=0))
        server.fail_generations = 3
        first = run("run", str(path))
        assert first.returncode == 3, first.stderr
        line = one_line(first.stderr)
        assert line.startswith("codeuf: error: 3 calls failed after retries (generate: ") and "server on" in line
        assert "rerun the same command" in line
        annotated = len(ids_per_line(tmp_path / "run" / "annotations.jsonl"))
        unfinished = 20 - annotated
        assert 1 <= unfinished <= 3  # records with a failed generation were neither written nor judged
        summary = json.loads((tmp_path / "run" / "manifest.json").read_text())
        assert summary["unfinished"]["generate"] == unfinished and summary["feedback"]["records"] == annotated
        before = Counter(server.attempts)
        second = run("run", str(path))
        assert second.returncode == 0, second.stderr
        made = sum((Counter(server.attempts) - before).values())
        assert made == 3 + unfinished  # the 3 failed generations, then the judge for each record they completed
        assert ids_per_line(tmp_path / "run" / "annotations.jsonl") == Counter(
            {k: 1 for k in ids_per_line(tmp_path / "run" / "generations.jsonl")}
        )
        assert len(ids_per_line(tmp_path / "run" / "annotations.jsonl")) == 20
        third = run("run", str(path))
        assert third.returncode == 0 and sum((Counter(server.attempts) - before).values()) == made  # nothing left


def test_two_runs_on_one_folder_cannot_both_run(tmp_path: Path) -> None:
    with FakeServer(latency=0.05) as server:
        path = write_config(tmp_path / "c.yaml", config(server.url, tmp_path / "run", concurrency=2))
        first = subprocess.Popen([*CODEUF, "run", str(path)], env=cli_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.time() + 60
        while not (tmp_path / "run" / ".codeuf.lock").exists() and time.time() < deadline:
            time.sleep(0.01)
        started = time.perf_counter()
        second = run("run", str(path))
        assert time.perf_counter() - started < 15  # at once (the time is the interpreter starting)
        assert second.returncode == 5
        assert f"in use by codeuf process {first.pid}" in one_line(second.stderr)
        _, stderr = first.communicate(timeout=300)
        assert first.returncode == 0, stderr
        assert max(server.completed.values()) == 1  # no call was made twice
    for name in ("generations.jsonl", "annotations.jsonl"):
        counts = ids_per_line(tmp_path / "run" / name)
        assert len(counts) == 20 and set(counts.values()) == {1}, name
    assert not (tmp_path / "run" / ".codeuf.lock").exists()


def test_processes_share_one_cache(tmp_path: Path) -> None:
    """Two `llm batch` runs at once on the same (shared user) cache: both finish, and the cache holds each
    answer once."""
    with FakeServer(latency=0.01) as server:
        requests = tmp_path / "in.jsonl"
        requests.write_text("".join(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
                                                "body": {"messages": [{"role": "user", "content": f"q{i}"}]}}) + "\n"
                                    for i in range(200)))  # fmt: skip
        cache = tmp_path / "shared" / "llm.sqlite"
        procs = [subprocess.Popen([*CODEUF, "llm", "batch", "--model", f"openai:m@{server.url}", "--in",
                                   str(requests), "--out", str(tmp_path / f"out{i}.jsonl"), "--cache", str(cache)],
                                  env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(3)]  # fmt: skip
        outcomes = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outcomes]
    import sqlite3

    rows = sqlite3.connect(cache).execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    assert rows == 200
    answers = [[json.loads(x)["response"]["body"]["choices"][0]["message"]["content"]
                for x in (tmp_path / f"out{i}.jsonl").read_text().splitlines()] for i in range(3)]  # fmt: skip
    assert answers[0] == answers[1] == answers[2] == [f"echo: q{i} (m)" for i in range(200)]  # model m
