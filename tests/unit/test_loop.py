"""`codeuf loop`: its config, the orientation of the paired tests, and the comparison table."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from codeuf.errors import InputError
from codeuf.train.loop import _dpo_minus_base, comparison_markdown, load_loop_config
from tests.conftest import CODEUF, cli_env


def _report(a: str, difference: float, low: float, high: float) -> dict:
    test = {"difference": difference, "ci_low": low, "ci_high": high, "p_value": 0.04, "n": 10}
    return {"comparisons": [{"a": a, "b": "dpo" if a == "base" else "base", "overall": test}]}


def test_codal_difference_is_dpo_minus_base_whatever_the_run_order() -> None:
    # The report computes a - b; with base first, a +0.5 difference means base is ahead.
    flipped = _dpo_minus_base(_report("base", 0.5, 0.1, 0.9))
    assert flipped == {"difference": -0.5, "ci_low": -0.9, "ci_high": -0.1, "p_value": 0.04, "n": 10}
    assert _dpo_minus_base(_report("dpo", 0.5, 0.1, 0.9))["difference"] == 0.5
    zero = _dpo_minus_base(_report("base", 0.0, 0.0, 0.0))
    assert "-" not in f"{zero['difference']:+.2f}{zero['ci_low']:+.2f}"
    assert _dpo_minus_base({"comparisons": []}) is None
    assert _dpo_minus_base({"comparisons": [{"a": "base", "b": "dpo", "overall": None}]}) is None


def _comparison(reward_accuracy: float | None, codal_dpo: dict | None) -> dict:
    he = {"dataset": "humaneval+", "tasks": 40, "pass@1": 0.075, "ci_low": 0.0, "ci_high": 0.15}
    return {
        "models": {"base": "llamacpp:default", "dpo": "llamacpp:/x/trained.gguf"},
        "train": {
            "pairs": 18,
            "held_out_pairs": 6,
            "reward_accuracy": reward_accuracy,
            "reward_margin": 0.02,
            "first_loss": 0.6931471824645996,
            "train_loss": None,
        },
        "codal": {"base": {"value": 3.5, "ci_low": 2.0, "ci_high": 5.0, "na": 1, "items": 10}, "dpo": codal_dpo},
        "codal_difference": {"difference": 0.5, "ci_low": -1.0, "ci_high": 2.0, "p_value": 0.5, "n": 9},
        "humaneval": {"base": he, "dpo": {**he, "pass@1": 0.1, "ci_low": 0.025, "ci_high": 0.2}},
        "humaneval_difference": {"difference": 0.025, "ci_low": 0.0, "ci_high": 0.075, "p_value": 0.716, "n": 40},
    }


def test_comparison_table_has_cis_na_counts_and_both_paired_tests() -> None:
    table = comparison_markdown(_comparison(0.667, None))
    assert "| base | 3.50 [2.00, 5.00] | 1/10 | 0.075 [0.000, 0.150] (40 tasks) | - |" in table
    # A model with no gradable answers is N/A, not a number.
    assert "| dpo | N/A | 0/0 | 0.100 [0.025, 0.200] (40 tasks) | 0.667 |" in table
    assert "CODAL-Bench difference, dpo - base (9 paired items): +0.50 [-1.00, +2.00], p = 0.500" in table
    assert "pass@1 difference, dpo - base (40 paired tasks): +0.025 [+0.000, +0.075], p = 0.716" in table
    assert "first logged loss 0.6931, mean train loss N/A" in table


def test_no_held_out_pairs_is_said_not_scored() -> None:
    assert "n/a (no held-out pairs)" in comparison_markdown(_comparison(None, None))


def test_bad_loop_config_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("instructions: 1\n")
    with pytest.raises(InputError) as error:
        load_loop_config(path)
    assert "loop.yaml" in str(error.value) and "instructions" in str(error.value)
    path.write_text("instructons: 4\n")
    result = subprocess.run([*CODEUF, "loop", str(path)], capture_output=True, text=True, env=cli_env(),
                            cwd=tmp_path, timeout=120)  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "loop.yaml" in lines[0] and "instructons" in lines[0], result.stderr
    assert not (tmp_path / "runs").exists()
