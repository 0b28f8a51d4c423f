"""`codeuf loop` end to end on the embedded model, kept small: 4 instructions, 2 DPO steps, a 2-item
CODAL bench and 2 HumanEval problems; then a rerun, which resumes every step instead of redoing it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytest.importorskip("llama_cpp")

from codeuf.train.loop import BUILTIN_BENCH
from tests.conftest import CODEUF, cli_env


def test_loop_small_then_resumed(tmp_path: Path) -> None:
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(BUILTIN_BENCH.read_text().splitlines(keepends=True)[:2]))
    out = tmp_path / "loop"
    config = tmp_path / "loop.yaml"
    config.write_text(
        f"out: {out}\ninstructions: 4\ntest_fraction: 0.25\ntrain_overrides: ['--max_steps', '2']\n"
        f"bench: {bench}\nanswer_max_tokens: 64\njudge_max_tokens: 300\n"
        "humaneval_dataset: humaneval\nhumaneval_limit: 2\nhumaneval_max_tokens: 64\nconcurrency: 2\n"
    )
    # One cache for both runs, as a user's would be: the rerun must not convert the model again.
    env = cli_env(CODEUF_CACHE_DIR=str(tmp_path / "cache"))

    first = subprocess.run([*CODEUF, "loop", str(config)], capture_output=True, text=True, env=env, timeout=2400)
    assert first.returncode == 0, first.stderr[-3000:]
    comparison = json.loads((out / "comparison.json").read_text())
    assert set(comparison["models"]) == {"base", "dpo"}
    assert comparison["models"]["dpo"] == f"llamacpp:{(out / 'trained.gguf').resolve()}"

    train = comparison["train"]
    assert train["pairs"] >= 1 and train["held_out_pairs"] >= 1
    assert 0 <= train["reward_accuracy"] <= 1
    assert abs(train["first_loss"] - 0.6931) < 1e-3  # step 1: policy == reference

    for name in ("base", "dpo"):
        codal = comparison["codal"][name]
        assert codal["items"] == 2 and codal["n"] + codal["na"] == 2  # every item graded or counted N/A
        humaneval = comparison["humaneval"][name]
        assert humaneval["dataset"] == "humaneval" and humaneval["tasks"] == 2
        assert humaneval["pass@1"] in (0.0, 0.5, 1.0)
    assert comparison["humaneval_difference"]["n"] == 2
    table = (out / "comparison.md").read_text()
    assert table.startswith("| model | CODAL-Bench overall") and "| dpo |" in table
    assert "pass@1 difference, dpo - base (2 paired tasks)" in table

    # The rerun resumes: no retraining, no re-export, the same table.
    stamps = {p: p.stat().st_mtime_ns for p in (out / "dpo" / "metrics.json", out / "trained.gguf")}
    second = subprocess.run([*CODEUF, "loop", str(config)], capture_output=True, text=True, env=env, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert json.loads((out / "comparison.json").read_text()) == comparison
