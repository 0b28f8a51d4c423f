"""Training data in every accepted shape, the paper's SFT set and recipe overrides: no trl, no torch."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from codeuf.errors import InputError
from codeuf.train.data import completion_row, load_pairs, preference_row, sft_data
from codeuf.train.recipe import parse_overrides
from tests.conftest import CODEUF, cli_env


def test_overrides_parse_flags_lists_and_equals() -> None:
    assert parse_overrides(["--bf16", "--lr=3", "--mods", "a", "b", "--x", "1"]) == {
        "bf16": "true", "lr": "3", "mods": ["a", "b"], "x": "1"}  # fmt: skip
    with pytest.raises(InputError, match="expected --name value"):
        parse_overrides(["stray"])


def test_preference_rows_in_every_accepted_shape() -> None:
    user = [{"role": "user", "content": "Q"}]
    expected = {"prompt": user, "chosen": [{"role": "assistant", "content": "good"}],
                "rejected": [{"role": "assistant", "content": "bad"}]}  # fmt: skip
    released = {"instruction": "Q", "chosen": "good", "rejected": "bad", "rating_chosen": 5}
    trl_style = {"prompt": user, "chosen": expected["chosen"], "rejected": expected["rejected"]}
    handbook = {"chosen": [*user, *expected["chosen"]], "rejected": [*user, *expected["rejected"]]}
    for row in (released, trl_style, handbook, {**handbook, "prompt": "Q"}):
        assert preference_row(row, "f", 1) == expected
    with pytest.raises(InputError, match="f:3: field 'rejected': missing column"):
        preference_row({"instruction": "Q", "chosen": "good"}, "f", 3)
    with pytest.raises(InputError, match="field 'chosen': expected a string or a list"):
        preference_row({"instruction": "Q", "chosen": 5, "rejected": "x"}, "f", 1)


def test_completion_rows_in_every_accepted_shape() -> None:
    expected = {"prompt": [{"role": "user", "content": "Q"}], "completion": [{"role": "assistant", "content": "A"}]}
    for row in ({"instruction": "Q", "output": "A"}, {"instruction": "Q", "response": "A"}, {"prompt": "Q",
                "completion": "A"}, {"messages": [*expected["prompt"], *expected["completion"]]}):  # fmt: skip
        assert completion_row(row, "f", 1) == expected
    with pytest.raises(InputError, match="f:2: expected messages, prompt\\+completion"):
        completion_row({"text": "x"}, "f", 2)


def test_load_pairs_reads_a_codeuf_run_folder_and_files(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text(json.dumps({"instruction": "Q", "chosen": "a", "rejected": "b"}) + "\n")
    train, test = load_pairs("dpo", str(tmp_path / "train.jsonl"))
    assert len(train) == 1 and test is None
    train, test = load_pairs("dpo", str(tmp_path / "train.jsonl"), test_split=str(tmp_path / "train.jsonl"))
    assert test == train


def test_sft_data_removes_the_feedback_instructions(tmp_path: Path) -> None:
    source = tmp_path / "evol.jsonl"
    source.write_text("".join(json.dumps({"instruction": t, "output": "o"}) + "\n" for t in ("a  b", "c", "d")))
    feedback = tmp_path / "cuf.jsonl"
    feedback.write_text(json.dumps({"instruction": "a b", "preference": "x"}) + "\n")
    rows, stats = sft_data(str(source), [str(feedback)])
    assert [r["instruction"] for r in rows] == ["c", "d"]
    assert stats == {"source_rows": 3, "excluded_instructions": 1, "removed": 1, "kept": 2}
    out = tmp_path / "sft.jsonl"
    done = subprocess.run([*CODEUF, "sft-data", "--source", str(source), "--exclude", str(feedback), "--out",
                           str(out)], capture_output=True, text=True, env=cli_env(), timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 of 3 rows kept (1 removed" in done.stdout and len(out.read_text().splitlines()) == 2
