"""`codeuf loop` end to end, kept small: a scripted pool on 127.0.0.1 writes the responses (two correct, one
wrong, one half right, so both criteria find pairs), the embedded model is trained twice from the same
generations (judge pairs and test pairs, 2 DPO steps each), then base and both trained models answer a
2-item CODAL bench and 2 HumanEval problems; a rerun resumes every step instead of redoing it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("trl")
pytest.importorskip("llama_cpp")

from codeuf.train.loop import BUILTIN_BENCH
from tests.conftest import CODEUF, cli_env
from tests.fakeserver import FakeServer

TASKS = {json.loads(line)["id"]: json.loads(line) for line in
         (Path(__file__).parents[2] / "src/codeuf/data/builtin/tasks.jsonl").read_text().splitlines()}  # fmt: skip


def pool(req: dict[str, Any]) -> str | None:
    """Every pool model answers with the task's reference solution, `wrong` with a mutant of it."""
    if req.get("response_format"):
        return None  # the judge: a value of its schema
    text = req["messages"][-1]["content"]
    task = next(t for t in TASKS.values() if t["instruction"] == text)
    code = task["solution"]
    if req["model"] == "wrong":
        code = code.replace("return ", "return None if True else ", 1)
    return f"```python\n{code}```"


@pytest.mark.timeout(3600)  # its subprocesses have 2400 s and 900 s: the test's own limit must not cut them
def test_loop_judge_and_test_pairs_then_resumed(tmp_path: Path) -> None:
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(BUILTIN_BENCH.read_text().splitlines(keepends=True)[:2]))
    out = tmp_path / "loop"
    with FakeServer() as server:
        server.script = pool
        pool_models = {m: {"spec": f"openai:{m}@{server.url}"} for m in ("a", "b", "wrong")}
        run = {"source": "builtin:tasks", "pool": pool_models, "models_per_instruction": 3,
               "judges": [f"openai:judge@{server.url}"], "execution_workers": 2}  # fmt: skip
        (tmp_path / "run.yaml").write_text(yaml.safe_dump(run))
        (tmp_path / "loop.yaml").write_text(yaml.safe_dump({
            "out": str(out), "run_config": str(tmp_path / "run.yaml"), "instructions": 6, "test_fraction": 0.34,
            "criteria": ["judge", "tests"], "train_overrides": ["--max_steps", "2"], "bench": str(bench),
            "answer_max_tokens": 48, "judge": "embedded", "humaneval_dataset": "humaneval",
            "humaneval_limit": 2, "humaneval_max_tokens": 48, "concurrency": 2,
        }))  # fmt: skip
        # One cache for both runs, as a user's would be: the rerun must not convert the model again.
        env = cli_env(CODEUF_CACHE_DIR=str(tmp_path / "cache"))
        first = subprocess.run([*CODEUF, "loop", str(tmp_path / "loop.yaml")], capture_output=True, text=True,
                               env=env, timeout=2400)  # fmt: skip
        assert first.returncode == 0, first.stderr[-3000:]
        comparison = json.loads((out / "comparison.json").read_text())
        assert list(comparison["models"]) == ["base", "dpo-judge", "dpo-tests"]
        assert comparison["models"]["dpo-tests"] == f"llamacpp:{(out / 'dpo-tests.gguf').resolve()}"

        judge_pairs = [json.loads(x) for x in (out / "pairs/dpo-judge/train.jsonl").read_text().splitlines()]
        test_pairs = [json.loads(x) for x in (out / "pairs/dpo-tests/train.jsonl").read_text().splitlines()]
        assert test_pairs and all(p["model_rejected"] == "wrong" and p["criterion"] == "tests" for p in test_pairs)
        assert judge_pairs and all(p["criterion"] == "judge" for p in judge_pairs)
        for arm in ("dpo-judge", "dpo-tests"):
            train = comparison["train"][arm]
            assert train["pairs"] >= 1 and train["held_out_pairs"] >= 1
            assert 0 <= train["reward_accuracy"] <= 1
            assert abs(train["first_loss"] - 0.6931) < 1e-3  # step 1: policy == reference

        for name in comparison["models"]:
            codal = comparison["codal"][name]
            assert codal["items"] == 2 and codal["n"] + codal["na"] == 2  # every item graded or counted N/A
            humaneval = comparison["humaneval"][name]
            assert humaneval["dataset"] == "humaneval" and humaneval["tasks"] == 2
            results = [json.loads(x) for x in (out / "humaneval" / name / "results.jsonl").read_text().splitlines()]
            assert humaneval["pass@1"] == sum(r["base"] == "pass" for r in results) / 2
        pairs = [(d["a"], d["b"]) for d in comparison["differences"]]
        assert pairs == [("dpo-judge", "base"), ("dpo-tests", "base"), ("dpo-tests", "dpo-judge")]
        assert all(d["humaneval"]["n"] == 2 for d in comparison["differences"])
        table = (out / "comparison.md").read_text()
        assert table.startswith("| model | CODAL-Bench overall") and "| dpo-tests |" in table
        assert "pass@1 difference, dpo-tests - dpo-judge (2 paired tasks)" in table

        # The rerun resumes: no retraining, no re-export, no new call to the pool, the same table.
        calls = sum(server.attempts.values())
        stamps = {p: p.stat().st_mtime_ns for arm in ("dpo-judge", "dpo-tests")
                  for p in (out / arm / "metrics.json", out / f"{arm}.gguf")}  # fmt: skip
        second = subprocess.run([*CODEUF, "loop", str(tmp_path / "loop.yaml")], capture_output=True, text=True,
                                env=env, timeout=900)  # fmt: skip
        assert second.returncode == 0, second.stderr[-3000:]
        assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
        assert sum(server.attempts.values()) == calls
        assert json.loads((out / "comparison.json").read_text()) == comparison
