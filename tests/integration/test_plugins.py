"""Extensions from another package: tests/plugins/codeuf-example-plugin declares a backend, a judging method and
a language as entry points; installed (into a folder of its own on PYTHONPATH, so the shared venv is left as it
was), each is used from the command line like a built-in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CODEUF, cli_env

pytestmark = pytest.mark.integration

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "codeuf-example-plugin"
TINY = Path(__file__).resolve().parents[1] / "data" / "codeultrafeedback_tiny.jsonl"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    target = tmp_path_factory.mktemp("plugin")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target"]
    install = subprocess.run([*pip, str(target), str(PLUGIN)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    return cli_env(PYTHONPATH=str(target))


def codeuf(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CODEUF, *args], capture_output=True, text=True, env=env, timeout=300, cwd=cwd)


def test_a_plugin_backend_answers_a_batch(plugin_env: dict[str, str], tmp_path: Path) -> None:
    requests = tmp_path / "in.jsonl"
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
            "body": {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}}  # fmt: skip
    requests.write_text(json.dumps(line) + "\n")
    result = codeuf(plugin_env, "llm", "batch", "--model", "echo:test", "--in", str(requests), "--out",
                    str(tmp_path / "out.jsonl"), "--no-cache", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer = json.loads((tmp_path / "out.jsonl").read_text())
    assert answer["response"]["body"]["choices"][0]["message"]["content"] == "echo: hello"
    without = codeuf(cli_env(), "llm", "batch", "--model", "echo:test", "--in", str(requests), "--out",
                     str(tmp_path / "no.jsonl"), "--no-cache", cwd=tmp_path)  # fmt: skip
    assert without.returncode == 2 and "unknown backend 'echo'" in without.stderr  # only where it is installed


def test_a_plugin_judging_method_rates_through_a_plugin_backend(plugin_env: dict[str, str], tmp_path: Path) -> None:
    judge = tmp_path / "judge.yaml"
    judge.write_text("spec: echo:judge\nname: fixed-judge\nmethod: fixed\n")
    result = codeuf(plugin_env, "annotate", "--input", str(TINY), "--out", str(tmp_path / "run"), "--judge-config",
                    str(judge), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(x) for x in (tmp_path / "run" / "annotations.jsonl").read_text().splitlines()]
    ratings = [a["rating"] for row in rows for a in row["annotations"]]
    assert len(rows) == 3 and ratings and set(ratings) == {"3"}  # the middle of 1..5, as the method says
    judge.write_text("spec: openai:j@http://127.0.0.1:9/v1\nname: fixed-judge\nmethod: fixed\n")
    refused = codeuf(cli_env(), "annotate", "--input", str(TINY), "--out", str(tmp_path / "no"), "--judge-config",
                     str(judge), cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 2 and "unknown method 'fixed'" in refused.stderr and refused.stderr.count("\n") == 1


def test_a_plugin_language_is_listed_and_recognised(plugin_env: dict[str, str], tmp_path: Path) -> None:
    listed = codeuf(plugin_env, "languages", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if x.startswith("dash "))
    assert "ready: /usr/bin/dash" in line or "ready: /bin/dash" in line
    code = "from codeuf.sandbox.languages import blocks; print(blocks('```dash\\necho hi\\n```')[0][0].name)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=plugin_env, timeout=60)
    assert found.stdout.strip() == "dash", found.stderr


def test_a_plugin_task_is_evaluated_in_the_sandbox(plugin_env: dict[str, str], tmp_path: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    rows = [{"task_id": "hello/0", "solution": 'print("hello")'}, {"task_id": "hello/0", "solution": 'print("bye")'}]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = codeuf(plugin_env, "humaneval", "--dataset", "hello", "--samples", str(samples), "--out",
                    str(tmp_path / "o"), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["dataset"] == "hello" and summary["base"]["pass@1"] == 0.5  # one right program of two


def test_a_plugin_algorithm_is_a_train_command(plugin_env: dict[str, str], tmp_path: Path) -> None:
    listed = codeuf(plugin_env, "train", "--help", cwd=tmp_path)
    assert listed.returncode == 0 and "dpo-hinge" in listed.stdout and "DPO with the hinge loss" in listed.stdout
    assert "dpo-hinge" not in codeuf(cli_env(), "train", "--help", cwd=tmp_path).stdout
