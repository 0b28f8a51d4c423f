"""A researcher's own data on their own server, first try: `codeuf serve`, `codeuf init`, `codeuf run --config`,
exactly as docs/guide/own-data.md walks through it."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import CODEUF, cli_env


def test_init_then_run_on_a_served_model_builds_a_dataset(llama_server: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "instructions.jsonl"
    source.write_text(json.dumps({"instruction": "Write a Python function add(a, b) that returns a + b."}) + "\n")
    config = tmp_path / "mine.yaml"
    init = subprocess.run([*CODEUF, "init", str(config), "--source", str(source), "--server", llama_server],
                          capture_output=True, text=True, env=cli_env(), cwd=tmp_path)  # fmt: skip
    assert init.returncode == 0, init.stderr
    out = tmp_path / "run"
    run = subprocess.run([*CODEUF, "run", "--config", str(config), "--out", str(out), "--no-progress"],
                         capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=900)  # fmt: skip
    feedback = [json.loads(line) for line in (out / "feedback" / "train.jsonl").read_text().splitlines()]
    assert len(feedback) == 1 and sorted(r["model"] for r in feedback[0]["responses"]) == ["chat", "code"]
    responses = {r["model"]: r["response"] for r in feedback[0]["responses"]}
    assert responses["code"].startswith("```python\n")  # the raw prompt starts the answer on a code fence
    ratings = [a["rating"] for a in feedback[0]["annotations"]]
    assert all(r in {"1", "2", "3", "4", "5"} for r in ratings), ratings  # constrained: the judge always parses
    # Two different ratings make a pair (exit 0); equal ones are a tie, dropped by default: the stage made
    # nothing, and says so (exit 6).
    assert run.returncode == (0 if len(set(ratings)) == 2 else 6), run.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["source"] == str(source)
