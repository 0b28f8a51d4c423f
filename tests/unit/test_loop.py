"""`codeuf loop`: its config, the overlap check, the orientation of the paired tests, and the table."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from codeuf.data.decontaminate import find_overlaps
from codeuf.errors import InputError
from codeuf.evals.codal import CodalGrade
from codeuf.evals.report import GradedRun
from codeuf.train.loop import LoopConfig, check_loop, comparison_markdown, load_loop_config, paired_differences
from tests.conftest import CODEUF, cli_env


def graded(model: str, ratings: list[str]) -> GradedRun:
    grades = [CodalGrade(id=f"q{i}", preference="style", model=model, judge="j", reference_model="r", rating=r)
              for i, r in enumerate(ratings)]  # fmt: skip
    return GradedRun(model, "j", grades, {}, {})


def test_each_trained_model_is_compared_with_the_base_and_execution_ones_with_the_judge_one() -> None:
    runs = {"base": graded("base", ["2", "2", "N/A"]), "dpo-judge": graded("dpo-judge", ["4", "3", "5"]),
            "dpo-tests": graded("dpo-tests", ["2", "5", "1"])}  # fmt: skip
    humaneval = {"base": {"passed": [0.0, 1.0]}, "dpo-judge": {"passed": [0.0, 0.0]},
                 "dpo-tests": {"passed": [1.0, 1.0]}}  # fmt: skip
    diffs = {(d["a"], d["b"]): d for d in paired_differences(list(runs), runs, humaneval)}
    assert list(diffs) == [("dpo-judge", "base"), ("dpo-tests", "base"), ("dpo-tests", "dpo-judge")]
    # a - b over the items both graded: the N/A item of base is left out
    assert diffs["dpo-judge", "base"]["codal"]["difference"] == 1.5 and diffs["dpo-judge", "base"]["codal"]["n"] == 2
    assert diffs["dpo-tests", "dpo-judge"]["codal"]["difference"] == pytest.approx(-4 / 3)
    assert diffs["dpo-tests", "base"]["humaneval"]["difference"] == 0.5
    assert diffs["dpo-tests", "dpo-judge"]["humaneval"]["difference"] == 1.0
    assert [(d["a"], d["b"]) for d in paired_differences(["base", "dpo-tests"], runs, humaneval)] == [
        ("dpo-tests", "base")]  # fmt: skip


def _comparison() -> dict:
    he = {"dataset": "humaneval+", "tasks": 40, "pass@1": 0.075, "ci_low": 0.0, "ci_high": 0.15}
    train = {"pairs": 18, "held_out_pairs": 6, "reward_accuracy": 0.667, "reward_margin": 0.02,
             "first_loss": 0.6931471824645996, "train_loss": None}  # fmt: skip
    diff = {"difference": 0.025, "ci_low": 0.0, "ci_high": 0.075, "p_value": 0.716, "n": 40}
    return {
        "models": {"base": "llamacpp:default", "dpo-judge": "llamacpp:/x/dpo-judge.gguf"},
        "train": {"dpo-judge": train},
        "skipped": {"dpo-tests-then-judge": "no training pairs by tests-then-judge (0 pairs in all)"},
        "codal": {"base": {"value": 3.5, "ci_low": 2.0, "ci_high": 5.0, "na": 1, "items": 10}, "dpo-judge": None},
        "humaneval": {"base": he, "dpo-judge": {**he, "pass@1": 0.1, "ci_low": 0.025, "ci_high": 0.2}},
        "differences": [{"a": "dpo-judge", "b": "base", "codal": None, "humaneval": diff}],
    }


def test_comparison_table_has_cis_na_counts_paired_tests_and_what_was_not_trained() -> None:
    table = comparison_markdown(_comparison())
    assert "| base | 3.50 [2.00, 5.00] | 1/10 | 0.075 [0.000, 0.150] (40 tasks) | - |" in table
    # A model with no gradable answers is N/A, not a number.
    assert "| dpo-judge | N/A | 0/0 | 0.100 [0.025, 0.200] (40 tasks) | 0.667 |" in table
    assert "| dpo-tests-then-judge | not trained: no training pairs by tests-then-judge (0 pairs in all) |" in table
    assert "CODAL-Bench difference, dpo-judge - base: no paired items" in table
    assert "pass@1 difference, dpo-judge - base (40 paired tasks): +0.025 [+0.000, +0.075], p = 0.716" in table
    assert "dpo-judge: 18 training pairs, 6 held out; first logged loss 0.6931, mean train loss N/A" in table


def test_no_held_out_pairs_is_said_not_scored() -> None:
    comparison = _comparison()
    comparison["train"]["dpo-judge"]["reward_accuracy"] = None
    assert "n/a (no held-out pairs)" in comparison_markdown(comparison)


def test_overlap_is_found_by_task_id_and_by_thirteen_words_in_a_row() -> None:
    evaluation = [("HumanEval/0", 'def has_close_elements(numbers, threshold):\n    """Check if in given list of '
                   'numbers, are any two numbers closer to each other than given threshold."""'),
                  ("Mbpp/2", "Write a function to find the shared elements.")]  # fmt: skip
    train = [("HumanEval/0", "anything"),
             ("pasted", "Please solve: check if in given list of numbers, are any two numbers closer to each "
              "other than given threshold. Thanks!"),
             ("short", "Please write a function to find the shared elements, fast."),
             ("unrelated", "Write a function to find the largest prime factor of a number.")]  # fmt: skip
    found = {o.train_id: (o.eval_id, o.why) for o in find_overlaps(train, evaluation)}
    assert found == {"HumanEval/0": ("HumanEval/0", "the same task id"), "pasted": ("HumanEval/0", "13 words in a row"),
                     "short": ("Mbpp/2", "its whole text")}  # fmt: skip


def test_the_loop_refuses_a_source_that_holds_evaluation_tasks(tmp_path: Path) -> None:
    from codeuf.execution.evalplus import load_tasks

    task = load_tasks("humaneval")[0][7]
    source = tmp_path / "train.jsonl"
    source.write_text(json.dumps({"id": "mine-1", "instruction": "Complete the code.\n" + task.prompt}) + "\n"
                      + json.dumps({"id": "mine-2", "instruction": "Reverse a string in Python."}) + "\n")  # fmt: skip
    config = LoopConfig(out=tmp_path / "loop", source=str(source), humaneval_dataset="humaneval")
    with pytest.raises(InputError) as error:
        check_loop(config)
    assert "1 training instructions overlap the evaluation set (first: mine-1 and HumanEval/7" in str(error.value)
    assert str(source) in str(error.value)
    (tmp_path / "loop.yaml").write_text(f"source: {source}\nhumaneval_dataset: humaneval\nout: {tmp_path / 'loop'}\n")
    result = subprocess.run([*CODEUF, "loop", str(tmp_path / "loop.yaml")], capture_output=True, text=True,
                            env=cli_env(), timeout=120)  # fmt: skip
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "overlap the evaluation set" in result.stderr
    assert not (tmp_path / "loop").exists()
    check_loop(config.model_copy(update={"source": "builtin:tasks"}))  # the built-in tasks are not HumanEval's


def test_bad_loop_config_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("instructions: 1\n")
    with pytest.raises(InputError) as error:
        load_loop_config(path)
    assert "loop.yaml" in str(error.value) and "instructions" in str(error.value)
    path.write_text("criteria: [judge, judge]\n")
    with pytest.raises(InputError, match="a criterion is named twice"):
        load_loop_config(path)
    path.write_text("instructons: 4\n")
    result = subprocess.run([*CODEUF, "loop", str(path)], capture_output=True, text=True, env=cli_env(),
                            cwd=tmp_path, timeout=120)  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "loop.yaml" in lines[0] and "instructons" in lines[0], result.stderr
    assert not (tmp_path / "runs").exists()
