"""codeuf's heavy work on a real local Ray cluster (`ray start --head` on 127.0.0.1 and a worker node joined):
sandbox jobs (the hostile ones too) give the verdicts they give here; the embedded model served by an actor
gives the same greedy answers; a sandbox actor killed mid-run and a driver killed mid-run both end with the
output of an uninterrupted run, nothing executed twice that was recorded; an unreachable cluster is one line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import CODEUF, cli_env
from tests.integration.test_execute import attack, fenced, mutant, records_with

pytestmark = pytest.mark.timeout(900)
ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'codeuf[ray]')")


RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
"""The test cluster listens on 127.0.0.1 only, without tokens (a token file left in ~/.ray by an earlier local
cluster would otherwise be asked for by one node and not the other)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A head node and a worker node on 127.0.0.1 (one CPU each); yields the GCS address."""
    ray_bin = shutil.which("ray", path=str(Path(CODEUF[0]).parent))
    assert ray_bin, "the ray command is missing"
    port = free_port()
    temp = tmp_path_factory.mktemp("ray")
    env = cli_env(**RAY_ENV)
    common = ["--num-cpus", "1", "--disable-usage-stats", "--include-dashboard=false"]
    head = [ray_bin, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--temp-dir", str(temp)]
    subprocess.run([*head, *common], check=True, capture_output=True, env=env, timeout=180)
    address = f"127.0.0.1:{port}"
    try:
        subprocess.run([ray_bin, "start", "--address", address, "--node-ip-address", "127.0.0.1",
                        "--num-cpus", "1", "--disable-usage-stats"], check=True, capture_output=True, env=env,
                       timeout=180)  # fmt: skip
        yield address
    finally:
        subprocess.run([ray_bin, "stop", "--force"], capture_output=True, env=env, timeout=120)


def run_folder(tmp_path: Path, name: str, responses: dict, n: int = 8) -> tuple[Path, Path]:
    """A run folder with generations of built-in tasks answered as `responses` says, and its config."""
    run = tmp_path / name
    run.mkdir()
    records = records_with(responses, n=n)
    (run / "generations.jsonl").write_text("".join(json.dumps(r.model_dump()) + "\n" for r in records))
    config = tmp_path / f"{name}.yaml"
    pool = {m: {"spec": f"openai:{m}@http://127.0.0.1:9/v1"} for m in responses}
    config.write_text(yaml.safe_dump({"out": str(run), "pool": pool, "models_per_instruction": len(responses),
                                      "judges": ["openai:j@http://127.0.0.1:9/v1"],
                                      "execution_workers": 2}))  # fmt: skip
    return run, config


def codeuf(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CODEUF, *args], capture_output=True, text=True, env=cli_env(**RAY_ENV), timeout=timeout)


def executions(run: Path) -> dict[str, list]:
    rows = [json.loads(x) for x in (run / "executions.jsonl").read_text().splitlines()]
    return {r["id"]: r["executions"] for r in rows}


RESPONSES = {
    "reference": lambda t: fenced(t.solution), "mutant": mutant, "prose": "Sort it, then scan once.",
    "loop": attack("while True: pass"), "exits": attack("import sys; sys.exit(0)"),
    "kills-parent": attack("import os, signal; os.kill(os.getppid(), signal.SIGKILL)"),
}  # fmt: skip


def test_sandbox_jobs_on_ray_give_the_local_verdicts_hostile_ones_too(cluster: str, tmp_path: Path) -> None:
    local, local_config = run_folder(tmp_path, "local", RESPONSES, n=4)
    remote, remote_config = run_folder(tmp_path, "remote", RESPONSES, n=4)
    assert codeuf("execute", "-c", str(local_config)).returncode == 0
    result = codeuf("execute", "-c", str(remote_config), "--executor", cluster)
    assert result.returncode == 0, result.stderr
    assert executions(remote) == executions(local)
    statuses = {e["model"]: e["status"] for rows in executions(remote).values() for e in rows}
    assert statuses == {"reference": "passed", "mutant": "failed", "prose": "not_executed", "loop": "timeout",
                        "exits": "failed", "kills-parent": "failed"}  # fmt: skip


def test_the_embedded_model_as_a_ray_actor_answers_as_it_does_here(cluster: str, tmp_path: Path) -> None:
    """One sequence at a time on both sides (--parallel 1): decoded together, greedy answers can part at
    near-ties depending on which requests share a batch (see tests/integration/test_batched_decoding.py)."""
    requests = tmp_path / "requests.jsonl"
    lines = [{"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"messages": [{"role": "user", "content": f"Write a Python function that adds {i}."}],
                       "max_tokens": 24, "temperature": 0}} for i in range(3)]  # fmt: skip
    requests.write_text("".join(json.dumps(x) + "\n" for x in lines))
    answers = {}
    for name, extra in (("local", []), ("ray", ["--executor", cluster])):
        out = tmp_path / f"{name}.jsonl"
        result = codeuf("llm", "batch", "--model", "llamacpp:default", "--in", str(requests), "--out", str(out),
                        "--no-cache", "--no-progress", "--parallel", "1", *extra)  # fmt: skip
        assert result.returncode == 0, result.stderr
        answers[name] = [json.loads(x)["response"]["body"]["choices"][0]["message"]["content"]
                         for x in out.read_text().splitlines()]  # fmt: skip
    assert answers["ray"] == answers["local"] and all(answers["local"])


def actor_pids(name: str) -> list[int]:
    """The processes of Ray actors of a class (their command line names it)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if f"ray::{name}" in cmdline:
                pids.append(int(entry))
    return pids


SLOW = {"reference": lambda t: fenced(t.solution), "slow": attack("import time; time.sleep(0.3)")}


def test_a_killed_sandbox_actor_loses_nothing(cluster: str, tmp_path: Path) -> None:
    clean, clean_config = run_folder(tmp_path, "clean", SLOW, n=10)
    assert codeuf("execute", "-c", str(clean_config)).returncode == 0
    run, config = run_folder(tmp_path, "killed", SLOW, n=10)
    proc = subprocess.Popen([*CODEUF, "execute", "-c", str(config), "--executor", cluster], env=cli_env(**RAY_ENV),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 300
    path = run / "executions.jsonl"
    while (not path.exists() or len(path.read_text().splitlines()) < 2) and time.time() < deadline:
        time.sleep(0.1)
    victims = actor_pids("SandboxActor")
    assert victims, "no sandbox actor found"
    os.kill(victims[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert executions(run) == executions(clean)


def test_a_killed_driver_resumes_without_executing_a_recorded_response_again(cluster: str, tmp_path: Path) -> None:
    clean, clean_config = run_folder(tmp_path, "clean", SLOW, n=12)
    assert codeuf("execute", "-c", str(clean_config)).returncode == 0
    run, config = run_folder(tmp_path, "driver", SLOW, n=12)
    proc = subprocess.Popen([*CODEUF, "execute", "-c", str(config), "--executor", cluster], env=cli_env(**RAY_ENV),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    path = run / "executions.jsonl"
    deadline = time.time() + 300
    while (not path.exists() or len(path.read_text().splitlines()) < 3) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    kept = [line for line in path.read_bytes().split(b"\n") if line.strip()][:-1]  # the last line may be torn
    assert 2 <= len(kept) < 12
    again = codeuf("execute", "-c", str(config), "--executor", cluster)
    assert again.returncode == 0, again.stderr
    assert path.read_bytes().split(b"\n")[: len(kept)] == kept  # recorded lines stay: not executed again
    assert executions(run) == executions(clean)


def test_an_unreachable_cluster_is_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    run, config = run_folder(tmp_path, "nowhere", SLOW, n=2)
    before = sorted(p.name for p in run.iterdir())
    result = codeuf("execute", "-c", str(config), "--executor", f"127.0.0.1:{free_port()}", timeout=300)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "cannot reach the Ray cluster at 127.0.0.1:" in result.stderr
    assert sorted(p.name for p in run.iterdir()) == before


def test_a_run_whose_pool_asks_for_replicas_builds_its_dataset_on_ray(cluster: str, tmp_path: Path) -> None:
    entry = {"spec": "llamacpp:default", "max_tokens": 16, "replicas": 2, "cpus_per_replica": 1.0}
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "source": "builtin:tasks", "n": 2, "out": str(tmp_path / "run"), "models_per_instruction": 2,
        "pool": {"greedy": {**entry, "temperature": 0.0}, "warm": {**entry, "temperature": 0.8}},
        "judges": ["embedded"], "concurrency": 4, "execution_workers": 2,
    }))  # fmt: skip
    result = codeuf("run", str(config), "--executor", cluster, timeout=800)
    assert result.returncode == 0, result.stderr
    feedback = [json.loads(x) for x in (tmp_path / "run/feedback/train.jsonl").read_text().splitlines()]
    assert len(feedback) == 2 and all(len(r["responses"]) == 2 and r["responses"][0]["response"] for r in feedback)
    assert all(a["rating"] in {"1", "2", "3", "4", "5"} for r in feedback for a in r["annotations"])
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert manifest["stages"]["generate"]["calls"] == 4 and manifest["executions"]["records_with_tests"] == 2
