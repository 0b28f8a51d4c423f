"""Over a thousand bad inputs across every command that reads a file, a config or an option value: each
must end in exit 2 and one line naming what is wrong, with no traceback and nothing written (not even
the cache). The cases are generated in tests/badinputs.py; they run in this process through codeuf's
real entry point, so that they take seconds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.badinputs import Case, all_cases, run_case, trust_cases

CASES = all_cases()


def test_there_are_over_a_thousand_cases_across_the_commands() -> None:
    assert len(CASES) >= 1000, len(CASES)
    commands = {c.argv[0] if c.argv[0] not in ("llm", "codal", "train") else " ".join(c.argv[:2]) for c in CASES}
    expected = {"run", "instructions", "generate", "annotate", "binarize", "codal answer", "codal grade",
                "codal report", "judge-eval", "humaneval", "llm batch", "train dpo", "loop", "sft-data", "convert",
                "export"}  # fmt: skip
    assert expected <= commands, expected - commands


def test_over_five_hundred_cases_cover_the_stages_and_options_added_since() -> None:
    """execute, tests, judge files, batch settings and prices, executor addresses, recipes, export, the batch
    journal, non-finite ratings and keys that are not text: each break the issue-22 probe found is a case."""
    added = trust_cases()
    assert len(added) >= 500, len(added)
    kinds = {c.name.split("/")[0] for c in added}
    expected = {"execute--input-executions", "binarize--input-ratings", "run-config-key", "tests-config-key",
                "judge-file", "judge-file-key", "run-batch-settings", "executor", "batches-status", "batches-cancel",
                "export", "train-dpo--recipe-number", "train-dpo--recipe-key"}  # fmt: skip
    assert expected <= kinds, expected - kinds


@pytest.mark.parametrize("case", [c for c in CASES if c.needs is None], ids=lambda c: c.name)
def test_bad_input_is_one_line_exit_2_and_nothing_written(case: Case, tmp_path: Path) -> None:
    outcome = run_case(case, tmp_path / "work", tmp_path / "cache")
    assert outcome.problems(case) == [], outcome.stderr


@pytest.mark.integration
@pytest.mark.parametrize("case", [c for c in CASES if c.needs is not None], ids=lambda c: c.name)
def test_bad_input_needing_an_extra(case: Case, tmp_path: Path) -> None:
    if importlib.util.find_spec(case.needs or "") is None:
        pytest.skip(f"{case.needs} is not installed (pip install 'codeuf[train]')")
    outcome = run_case(case, tmp_path / "work", tmp_path / "cache")
    assert outcome.problems(case) == [], outcome.stderr
