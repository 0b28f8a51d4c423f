"""The providers' batch APIs against a loopback server written here that speaks OpenAI's files and batches
endpoints and Anthropic's Message Batches (statuses validating, in_progress, completed, expired, failed, ended;
partial results and error files; latency): a run in batch mode makes the dataset a live run makes; a run killed
while polling attaches to its batches when run again, none submitted twice; what a batch did not answer is
retried, never dropped; keys reach no file; the cost ledger halves."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import CODEUF, cli_env
from tests.fakeserver import FakeServer

pytestmark = pytest.mark.integration
SECRET = "sk-codeuf-batch-secret-0123456789"


def config(tmp_path: Path, name: str, url: str, root: str, **extra: object) -> Path:
    values = {
        "source": "builtin", "n": 6, "seed": 3, "out": str(tmp_path / name), "models_per_instruction": 2,
        "pool": {"a": {"spec": f"openai:model-a@{url}", "max_tokens": 32},
                 "b": {"spec": f"openai:model-b@{url}", "max_tokens": 32}},
        "judges": [{"spec": f"anthropic:claude-judge@{root}", "name": "judge"}],
        "test_fraction": 0.0, "batch_poll_s": 0.05,
        "prices": {"model-a": {"input": 2.0, "output": 8.0}, "model-b": {"input": 1.0, "output": 4.0},
                   "claude-judge": {"input": 3.0, "output": 15.0}}, **extra,
    }  # fmt: skip
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = cli_env(CODEUF_ENDPOINT_API_KEY=SECRET, ANTHROPIC_API_KEY=SECRET)
    return subprocess.run([*CODEUF, *args], capture_output=True, text=True, env=env, timeout=timeout)


def dataset(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "feedback/train.jsonl").read_text().splitlines()]


def journal(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "batches.jsonl").read_text().splitlines()]


def submitted(out: Path) -> int:
    return sum(e["event"] == "submitted" for e in journal(out))


def kill_while_polling(path: Path, out: Path) -> Path:
    """`codeuf run --batch-api` killed (SIGKILL) once its two generation batches are in the journal."""
    env = cli_env(CODEUF_ENDPOINT_API_KEY=SECRET, ANTHROPIC_API_KEY=SECRET)
    proc = subprocess.Popen([*CODEUF, "run", str(path), "--batch-api"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline and not ((out / "batches.jsonl").exists() and submitted(out) >= 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    return out


def test_batch_mode_makes_the_dataset_live_mode_makes_and_keys_reach_no_file(tmp_path: Path) -> None:
    with FakeServer() as server:
        live = run("run", str(config(tmp_path, "live", server.url, server.root)))
        assert live.returncode == 0, live.stderr
        live_calls = sum(server.attempts.values())
        batched = run("run", str(config(tmp_path, "batched", server.url, server.root)), "--batch-api")
        assert batched.returncode == 0, batched.stderr
        assert sum(server.attempts.values()) == live_calls  # batch mode made no live call
        uploads = b"".join(server.files.values())
        batches = dict(server.batches)
    assert dataset(tmp_path / "batched") == dataset(tmp_path / "live")
    # 6 instructions x 2 models: one OpenAI batch per model; 6 judge calls: one Anthropic batch
    assert len(batches) == 3 and {b.split("_")[0] for b in batches} == {"batch", "msgbatch"}
    events = journal(tmp_path / "batched")
    assert [e["event"] for e in events].count("submitted") == 3 and all(
        e["status"] in ("completed", "ended") for e in events if e["event"] == "finished")  # fmt: skip
    manifest = json.loads((tmp_path / "batched/manifest.json").read_text())
    usage = {m: u for stage in manifest["stages"].values() for m, u in stage["usage"].items()}
    assert sum(u["batch_requests"] for u in usage.values()) == 18 and sum(u["batches"] for u in usage.values()) == 3
    live_usage = json.loads((tmp_path / "live/manifest.json").read_text())["stages"]
    live_cost = sum(u["cost_usd"] for stage in live_usage.values() for u in stage["usage"].values())
    assert live_cost > 0 and sum(u["cost_usd"] for u in usage.values()) == pytest.approx(live_cost / 2)
    assert "| 12 calls in 2 batches |" in (tmp_path / "batched/feedback/README.md").read_text()
    assert SECRET.encode() not in uploads
    for path in (tmp_path / "batched").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_run_killed_while_polling_attaches_to_its_batches(tmp_path: Path) -> None:
    with FakeServer() as server:
        server.batch_delay = 4.0
        path = config(tmp_path, "killed", server.url, server.root)
        out = kill_while_polling(path, tmp_path / "killed")
        submitted_before = len(server.batches)
        events = sorted(e["event"] for e in journal(out))  # the two models' batches are created at once
        assert submitted_before == 2 and events == ["intent", "intent", "submitted", "submitted"]
        status = run("batches", "status", str(out))
        assert status.returncode == 0 and status.stdout.count("open: ") == 2, status.stdout
        again = run("run", str(path), "--batch-api")
        assert again.returncode == 0, again.stderr
        generation_batches = [b for b in server.batches if b.startswith("batch_")]
        assert len(generation_batches) == 2  # attached to both: none submitted twice
        keys = [k for e in journal(out) if e["event"] == "submitted" for k in e["keys"]]
        assert len(keys) == len(set(keys))
        clean = run("run", str(config(tmp_path, "clean", server.url, server.root)))
        assert clean.returncode == 0, clean.stderr
    assert dataset(out) == dataset(tmp_path / "clean")


@pytest.mark.parametrize("outcome", ["expired", "failed"])
@pytest.mark.parametrize("retry", ["live", "batch"])
def test_what_a_batch_did_not_answer_is_retried_never_dropped(tmp_path: Path, outcome: str, retry: str) -> None:
    with FakeServer() as server:
        clean = run("run", str(config(tmp_path, "clean", server.url, server.root)))
        assert clean.returncode == 0, clean.stderr
        live_before = sum(server.attempts.values())
        server.batch_outcome = outcome
        server.batch_fail = {"test"}  # inside completed batches too: requests whose text says "test" error
        path = config(tmp_path, "partial", server.url, server.root, batch_retry=retry)
        if retry == "batch":  # later batches complete
            server.batch_delay = 0.2
        done = run("run", str(path), "--batch-api")
        assert done.returncode == 0, done.stderr
        live_calls = sum(server.attempts.values()) - live_before
        resubmitted = len(server.batches)
    assert dataset(tmp_path / "partial") == dataset(tmp_path / "clean")  # nothing dropped, nothing different
    if retry == "live":
        assert live_calls > 0 and resubmitted == 3
    else:
        assert resubmitted > 3  # retried in new batches (and live once those are spent)


def test_llm_batch_through_the_batch_api_at_half_the_price(tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(json.dumps({"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions",
                        "body": {"messages": [{"role": "user", "content": f"question {i}"}]}}) + "\n"
                        for i in range(5)))  # fmt: skip
    prices = tmp_path / "prices.yaml"
    prices.write_text("fake: {input: 2.0, output: 8.0}\n")
    costs, outputs = {}, {}
    with FakeServer() as server:
        for name, extra in (("live", []), ("batch", ["--batch-api"])):
            out = tmp_path / f"{name}.jsonl"
            done = run("llm", "batch", "--model", f"openai:fake@{server.url}", "--in", str(requests), "--out",
                       str(out), "--no-cache", "--prices", str(prices), *extra)  # fmt: skip
            assert done.returncode == 0, done.stderr
            manifest = json.loads((tmp_path / f"{name}.manifest.json").read_text())
            [usage] = manifest["usage"].values()
            costs[name] = usage["cost_usd"]
            outputs[name] = [json.loads(x)["response"]["body"]["choices"][0]["message"]["content"]
                             for x in out.read_text().splitlines()]  # fmt: skip
        assert len(server.batches) == 1
    assert outputs["batch"] == outputs["live"] and costs["batch"] == pytest.approx(costs["live"] / 2)


def test_cancel_the_open_batches_of_a_run(tmp_path: Path) -> None:
    with FakeServer() as server:
        server.batch_delay = 60.0
        out = kill_while_polling(config(tmp_path, "cancel", server.url, server.root), tmp_path / "cancel")
        cancelled = run("batches", "cancel", str(out))
        assert cancelled.returncode == 0 and cancelled.stdout.count("cancelled (by codeuf batches cancel)") == 2
        assert all(b["status"] == "cancelled" for b in server.batches.values())
        assert run("batches", "status", str(out)).stdout.count("open: ") == 0
    missing = run("batches", "status", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no batches here" in missing.stderr


def test_chat_and_completion_requests_of_one_model_go_in_separate_batches(tmp_path: Path) -> None:
    """OpenAI's batches take one endpoint each (the fake server fails a batch that mixes them, as OpenAI does)."""
    with FakeServer() as server:
        pool = {"raw": {"spec": f"openai:model-a@{server.url}", "format": "chatml", "max_tokens": 32},
                "chat": {"spec": f"openai:model-a@{server.url}", "max_tokens": 32}}  # fmt: skip
        prices = {"model-a": {"input": 2.0, "output": 8.0}}  # a price for a model not in the run is refused
        path = config(tmp_path, "mixed", server.url, server.root, pool=pool, prices=prices)
        done = run("run", str(path), "--batch-api")
        assert done.returncode == 0, done.stderr
        endpoints = sorted(b["endpoint"] for b in server.batches.values() if "endpoint" in b)
        assert endpoints == ["/v1/chat/completions", "/v1/completions"]
        assert all(b["status"] == "completed" for b in server.batches.values() if "endpoint" in b)
        assert sum(server.attempts.values()) == 0  # none fell back to live calls


def test_the_batch_api_failing_for_a_moment_is_retried_and_a_server_without_one_is_one_line(tmp_path: Path) -> None:
    with FakeServer() as server:
        server.batch_api_errors = 4  # uploads, creations and polls answered 503 for a while
        flaky = run("run", str(config(tmp_path, "flaky", server.url, server.root)), "--batch-api")
        assert flaky.returncode == 0, flaky.stderr
        assert server.batch_api_errors == 0 and len(server.batches) == 3 and sum(server.attempts.values()) == 0
        server.batch_api = False
        missing = run("run", str(config(tmp_path, "none", server.url, server.root)), "--batch-api")
    lines = missing.stderr.strip().splitlines()
    assert missing.returncode == 4 and len(lines) == 1, missing.stderr
    assert "openai:model-" in lines[0] and "no batch API there" in lines[0] and SECRET not in lines[0]
    assert not (tmp_path / "none/generations.jsonl").exists() or not (tmp_path / "none/generations.jsonl").read_text()


def test_codal_answer_and_grade_through_batch_apis_give_what_live_calls_give(tmp_path: Path) -> None:
    """`codal answer --batch-api` (OpenAI batches) and `codal grade --batch-api` (Anthropic Message Batches):
    the same answers and grades as live calls, each folder with its journal."""
    bench = Path(__file__).resolve().parents[2] / "src" / "codeuf" / "data" / "builtin" / "codal_mini.jsonl"
    results = {}
    with FakeServer() as server:
        for name, extra in (("live", []), ("batch", ["--batch-api"])):
            out = tmp_path / name
            answered = run("codal", "answer", "--model", f"openai:coder@{server.url}", "--bench", str(bench),
                           "--out", str(out), *extra)  # fmt: skip
            graded = run("codal", "grade", "--answers", str(out), "--judge",
                         f"anthropic:claude-judge@{server.root}", *extra)  # fmt: skip
            assert answered.returncode == 0 and graded.returncode == 0, answered.stderr + graded.stderr
            grades = next((out / "grades").glob("*.jsonl")).read_text().splitlines()
            results[name] = ((out / "answers.jsonl").read_text(), [json.loads(g)["rating"] for g in grades])
        assert len(server.batches) == 2  # one OpenAI batch of answers, one Anthropic batch of grades
    assert results["batch"] == results["live"] and len(results["live"][1]) == 10
    assert [e["event"] for e in journal(tmp_path / "batch")] == ["intent", "submitted", "finished"] * 2
    assert not (tmp_path / "live" / "batches.jsonl").exists()
