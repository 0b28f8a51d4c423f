"""Batch APIs that never pay twice, against the loopback server of tests/fakeserver.py: a command killed while
the provider holds the answer to its create call finds that batch on the rerun instead of submitting again
(OpenAI by the batch's metadata, Anthropic by what the batch holds); the provider's per-request errors and a
failed batch's errors reach the journal and `codeuf batches status`; cancelling reports the provider's state
until it is final; input files are deleted once answered; `llm batch` writes OpenAI's finish reasons; the
Anthropic API gets its key in `x-api-key`."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CODEUF, cli_env
from tests.fakeserver import FakeServer
from tests.integration.test_batch_api import SECRET, config, dataset, journal, kill_while_polling, run

pytestmark = pytest.mark.integration


def anthropic_pool(root: str) -> dict[str, dict[str, object]]:
    return {"a": {"spec": f"anthropic:claude-a@{root}", "max_tokens": 32},
            "b": {"spec": f"anthropic:claude-b@{root}", "max_tokens": 32}}  # fmt: skip


def kill_during_create(path: Path, server: FakeServer, batches: int) -> None:
    """`codeuf run --batch-api` SIGKILLed once the provider has created `batches` batches and holds the answers."""
    server.create_hold = 30.0
    env = cli_env(CODEUF_ENDPOINT_API_KEY=SECRET, ANTHROPIC_API_KEY=SECRET)
    proc = subprocess.Popen([*CODEUF, "run", str(path), "--batch-api"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline and len(server.batches) < batches:
        time.sleep(0.02)
    time.sleep(0.2)  # the answers are held: the client waits for ids the provider has already given out
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    server.create_hold = 0.0


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_kill_while_the_create_call_is_in_flight_pays_once(tmp_path: Path, provider: str) -> None:
    """Both models' generation batches are being created (the pool's two specs submit at once) when the
    command is killed: the rerun finds both at the provider and submits only the judge's batch."""
    with FakeServer() as server:
        extra = {"pool": anthropic_pool(server.root), "prices": {}} if provider == "anthropic" else {}
        path = config(tmp_path, "killed", server.url, server.root, **extra)
        kill_during_create(path, server, 2)
        created = sorted(server.batches)
        assert len(created) == 2
        assert [e["event"] for e in journal(tmp_path / "killed")] == ["intent", "intent"]  # no id reached it
        again = run("run", str(path), "--batch-api")
        assert again.returncode == 0, again.stderr
        assert len(server.batches) == 3  # the two found, and the judge's (Anthropic) batch: none paid twice
        events = journal(tmp_path / "killed")
        tags = [e["tag"] for e in events[:2]]
        found = {e["tag"]: e["batch"] for e in events if e["event"] == "submitted" and e["tag"] in tags}
        assert sorted(found.values()) == created
        keys = [k for e in events if e["event"] == "submitted" for k in e["keys"]]
        assert len(keys) == len(set(keys))  # no request in two batches
        clean = run("run", str(config(tmp_path, "clean", server.url, server.root, **extra)))
        assert clean.returncode == 0, clean.stderr
    assert dataset(tmp_path / "killed") == dataset(tmp_path / "clean")


def test_an_intent_the_provider_never_received_is_submitted_again(tmp_path: Path) -> None:
    """The journal says a create call was started; the provider has no such batch: it is abandoned and the
    requests go out once."""
    with FakeServer() as server:
        path = config(tmp_path, "lost", server.url, server.root)
        out = tmp_path / "lost"
        out.mkdir()
        spec = f"openai:model-a@{server.url}"
        (out / "batches.jsonl").write_text(json.dumps({"event": "intent", "tag": "codeuf-lost", "spec": spec,
                                                       "keys": ["v1:x"], "time": time.time()}) + "\n")  # fmt: skip
        done = run("run", str(path), "--batch-api")
        assert done.returncode == 0, done.stderr
        assert len([b for b in server.batches if b.startswith("batch_")]) == 2
    abandoned = [e for e in journal(out) if e["event"] == "abandoned"]
    assert [e["tag"] for e in abandoned] == ["codeuf-lost"]


def test_the_providers_errors_reach_the_journal_and_batches_status(tmp_path: Path) -> None:
    with FakeServer() as server:
        server.batch_fail = {"model-a"}  # model-a's requests error inside completed batches (then go live), and the
        # judge's too (its prompts quote model-a's answers): an OpenAI error file and Anthropic's errored results
        path = config(tmp_path, "errors", server.url, server.root)
        done = run("run", str(path), "--batch-api")
        assert done.returncode == 0, done.stderr
        finished = [e for e in journal(tmp_path / "errors") if e["event"] == "finished" and e.get("errored")]
        assert [e["errored"] for e in finished] == [6, 6] and finished[1]["batch"].startswith("msgbatch_")
        assert all("injected failure of v1_" in m for e in finished for m in e["errors"].values())
        status = run("batches", "status", str(tmp_path / "errors"))
        assert "requests errored at the provider; the first: bad_request: injected failure of" in status.stdout

        server.batch_fail, server.batch_outcome = set(), "failed"
        failed = run("run", str(config(tmp_path, "failed", server.url, server.root)), "--batch-api")
        assert failed.returncode == 0, failed.stderr  # retried live, as before
        events = [
            e for e in journal(tmp_path / "failed") if e["event"] == "finished" and e["batch"].startswith("batch_")
        ]
        assert len(events) == 2 and all(e["batch_errors"] == ["the batch failed"] for e in events)
        status = run("batches", "status", str(tmp_path / "failed"))
        assert status.stdout.count("the provider failed the batch: the batch failed") == len(events)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_cancel_reports_the_providers_state_until_it_is_final(tmp_path: Path, provider: str) -> None:
    with FakeServer() as server:
        server.batch_delay, server.cancel_delay = 60.0, 5.0
        extra = {"pool": anthropic_pool(server.root), "prices": {}} if provider == "anthropic" else {}
        out = kill_while_polling(config(tmp_path, "cancel", server.url, server.root, **extra), tmp_path / "cancel")
        asked = run("batches", "cancel", str(out))
        cancelling = "cancelling" if provider == "openai" else "canceling"
        assert asked.returncode == 0 and asked.stdout.count(f"{cancelling}: the provider is cancelling it") == 2
        assert run("batches", "status", str(out)).stdout.count(f"open: {cancelling}") == 2
        waited = run("batches", "cancel", str(out), "--wait", "10")
        final = "cancelled" if provider == "openai" else "ended"
        assert waited.stdout.count(f"{final} (by codeuf batches cancel)") == 2, waited.stdout
        assert run("batches", "status", str(out)).stdout.count("open: ") == 0


def test_uploaded_input_files_are_deleted_once_answered_unless_kept(tmp_path: Path) -> None:
    with FakeServer() as server:
        assert run("run", str(config(tmp_path, "clean", server.url, server.root)), "--batch-api").returncode == 0
        uploads = [b["input_file_id"] for b in server.batches.values() if "input_file_id" in b]
        assert len(uploads) == 2 and sorted(server.deleted_files) == sorted(uploads)
        kept = run("run", str(config(tmp_path, "kept", server.url, server.root, batch_keep_files=True)), "--batch-api")
        assert kept.returncode == 0, kept.stderr
        assert len(server.deleted_files) == 2  # none more


def test_llm_batch_writes_openais_finish_reasons_for_anthropic_models(tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(json.dumps({"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions",
                        "body": {"messages": [{"role": "user", "content": f"question {i}"}], "max_tokens": 16}})
                        + "\n" for i in range(3)))  # fmt: skip
    with FakeServer() as server:
        out = tmp_path / "out.jsonl"
        done = run("llm", "batch", "--model", f"anthropic:claude@{server.root}", "--in", str(requests),
                   "--out", str(out), "--no-cache")  # fmt: skip
        assert done.returncode == 0, done.stderr
        headers = list(server.auth_headers)
    reasons = {json.loads(x)["response"]["body"]["choices"][0]["finish_reason"] for x in out.read_text().splitlines()}
    assert reasons == {"stop"}  # Anthropic said end_turn
    assert headers and all(h == SECRET for h in headers)  # x-api-key, as the API reference asks; never a Bearer


def test_a_killed_and_rerun_batch_run_counts_its_batch_calls_on_the_card(tmp_path: Path) -> None:
    with FakeServer() as server:
        server.batch_delay = 3.0
        path = config(tmp_path, "recount", server.url, server.root)
        out = kill_while_polling(path, tmp_path / "recount")
        server.batch_delay = 0.2
        assert run("run", str(path), "--batch-api").returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    usage = manifest["stages"]["generate"]["usage"]
    assert sum(u["batches"] for u in usage.values()) == 2  # attached to, in this process
    assert sum(u["batch_requests"] for u in usage.values()) == 12
    assert "12 calls in 2 batches" in (out / "feedback" / "README.md").read_text()
