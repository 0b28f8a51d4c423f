"""Pairs a researcher can trust without reading JSONL: stage commands keep the run's config, bad signals are
warned about, given tests are checked, input errors come together, recorded work is never lost."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from codeuf.data.schema import (
    NA,
    Annotation,
    CodeTests,
    Execution,
    FeedbackRecord,
    GenerationRecord,
    Judgement,
    Response,
)
from codeuf.errors import InputError
from codeuf.stages.binarize import binarize_feedback
from codeuf.stages.signals import feedback_signals, pair_signals
from codeuf.stats import interval_text
from tests.conftest import CODEUF, cli_env


def record(rid: str, ratings: dict[str, str], texts: dict[str, str] | None = None,
           judgements: list[Judgement] | None = None) -> FeedbackRecord:  # fmt: skip
    models = list(ratings)
    texts = texts or {m: f"answer of {m} for {rid}" for m in models}
    return FeedbackRecord(
        id=rid, instruction=f"do {rid}", preference="style", models=models,
        responses=[Response(model=m, response=texts[m]) for m in models],
        annotations=[Annotation(model=m, rating=r, rationale="") for m, r in ratings.items()],
        judgements=judgements or [],
    )  # fmt: skip


def thresholds():  # type: ignore[no-untyped-def]
    from codeuf.config import WarnThresholds

    return WarnThresholds()


# ----------------------------------------------------------------------------- bad signals


def test_identical_pairs_are_dropped_counted_and_warned_about() -> None:
    same = record("same", {"a": "5", "b": "1"}, {"a": "def f():\n    return 1", "b": "def f():  \n    return 1\n"})
    fine = record("fine", {"a": "5", "b": "1"})
    splits, stats = binarize_feedback([same, fine], seed=0, test_fraction=0)
    assert [row["id"] for row in splits["train"]] == ["fine"]
    assert stats["dropped_identical"] == 1 and stats["pairs"] == 1
    [warning] = [w for w in pair_signals(stats, splits, thresholds()) if w.code == "identical_pairs"]
    assert warning.figure == 1 and "same text" in warning.message


def flipping(rid: str) -> FeedbackRecord:
    """Two orders of one judge that reverse each other: the first position always gets 5."""
    return record(rid, {"a": "3", "b": "3"}, judgements=[
        Judgement(judge="j", order_index=0, order=["a", "b"], ratings=["5", "1"], rationales=["", ""]),
        Judgement(judge="j", order_index=1, order=["b", "a"], ratings=["5", "1"], rationales=["", ""]),
    ])  # fmt: skip


def test_a_flip_rate_above_the_threshold_is_a_warning_naming_its_figure() -> None:
    from codeuf.stages.annotate import flip_rate

    flips = flip_rate([flipping("x"), flipping("y")])
    assert flips["flip_rate"] == 1.0
    stats = {"na_rate": 0.0, "na": 0, "annotations": 4}
    [warning] = feedback_signals(stats, flips, thresholds())
    assert warning.code == "flip_rate" and warning.figure == 1.0 and "100.0%" in warning.message
    calm = {"comparable_pairs": 10, "flips": 2, "flip_rate": 0.2}
    assert feedback_signals(stats, calm, thresholds()) == []


def test_a_pair_whose_judge_orders_disagree_is_flagged_or_dropped() -> None:
    disputed = record("d", {"a": "4", "b": "2"}, judgements=[
        Judgement(judge="j", order_index=0, order=["a", "b"], ratings=["5", "1"], rationales=["", ""]),
        Judgement(judge="j", order_index=1, order=["b", "a"], ratings=["4", "3"], rationales=["", ""]),
    ])  # fmt: skip
    splits, stats = binarize_feedback([disputed], seed=0, test_fraction=0)
    [row] = splits["train"]
    assert row["orders_disagree"] is True and stats["order_disagreements"] == 1
    splits, stats = binarize_feedback([disputed], seed=0, test_fraction=0, order_disagreements="drop")
    assert splits["train"] == [] and stats["order_disagreements"] == 1
    agreed, _ = binarize_feedback([record("ok", {"a": "4", "b": "2"})], seed=0, test_fraction=0)
    assert agreed["train"][0]["orders_disagree"] is False


def test_an_interval_over_too_few_items_says_so_instead_of_a_zero_width_interval() -> None:
    one = {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n": 1}
    assert interval_text(one) == "0.000 (n = 1, too few for an interval)"
    assert interval_text({"value": 0.5, "ci_low": 0.25, "ci_high": 0.75, "n": 40}) == "0.500 [0.250, 0.750]"
    assert interval_text({"value": None, "ci_low": None, "ci_high": None, "n": 0}) == "undefined"
    stats = {"judge_vs_tests": {"agreement": one}}
    codes = [w.code for w in pair_signals(stats, {"train": [], "test": []}, thresholds())]
    assert codes == ["agreement_n"]


def test_one_model_winning_nearly_every_pair_and_an_empty_test_split_are_warnings() -> None:
    records = [record(f"r{i}", {"a": "5", "b": "1", "c": "2"}) for i in range(12)]
    splits, stats = binarize_feedback(records, seed=0, test_fraction=0)
    codes = {w.code: w for w in pair_signals(stats, splits, thresholds())}
    assert codes["model_wins"].figure == 1.0 and "a is chosen in 12 of 12" in codes["model_wins"].message
    assert "empty_test_split" in codes
    splits, stats = binarize_feedback(records, seed=0, test_fraction=0.25)
    assert "empty_test_split" not in {w.code for w in pair_signals(stats, splits, thresholds())}


def test_the_na_rate_above_its_threshold_is_a_warning() -> None:
    stats = {"na_rate": 0.5, "na": 4, "annotations": 8}
    [warning] = feedback_signals(stats, {"flip_rate": None}, thresholds())
    assert warning.code == "na_rate" and "4 of 8" in warning.message


# ----------------------------------------------------------------------------- records refuse what is not data


@pytest.mark.parametrize("rating", ["nan", "NaN", "inf", "-Infinity", "1e400", "five"])
def test_a_rating_that_is_not_a_finite_number_is_refused(rating: str) -> None:
    with pytest.raises(ValueError, match="rating"):
        Annotation(model="a", rating=rating, rationale="")
    assert Annotation(model="a", rating=NA, rationale="").rating == NA


def test_an_execution_of_a_model_without_a_response_and_impossible_counts_are_refused() -> None:
    base = {"id": "x", "instruction": "i", "preference": "style", "models": ["a"],
            "responses": [{"model": "a", "response": "r"}]}  # fmt: skip
    with pytest.raises(ValueError, match="has no response"):
        GenerationRecord.model_validate({**base, "executions": [{"model": "b", "status": "passed"}]})
    with pytest.raises(ValueError, match="exceeds total"):
        Execution(model="a", status="passed", passed=3, total=1)


@pytest.mark.parametrize("name", ["class", "def", "1abc", "a b"])
def test_an_entry_point_must_be_a_function_name(name: str) -> None:
    with pytest.raises(ValueError, match="function name"):
        GenerationRecord.model_validate({"id": "x", "instruction": "i", "preference": "style", "models": ["a"],
                                         "responses": [{"model": "a", "response": "r"}],
                                         "entry_point": name})  # fmt: skip


@pytest.mark.parametrize("value", ["[NaN]", "[Infinity]", "[1e400]", "[" * 150 + "]" * 150, '{"a": 1}'])
def test_case_inputs_are_standard_json_lists(value: str) -> None:
    from codeuf.data.schema import CallCase

    with pytest.raises(ValueError):
        CallCase(input=value, output="1")


# ----------------------------------------------------------------------------- sources: all bad rows at once


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_every_bad_row_of_a_source_is_named_at_once(tmp_path: Path) -> None:
    from codeuf.data.sources import load_instructions

    rows = [{"instruction": "fine"}, {"instruction": 3}, {"instruction": "ok"}, {"text": "no column"},
            {"instruction": "x", "entry_point": "class", "tests": "assert x() == 1"}]  # fmt: skip
    path = write_rows(tmp_path / "rows.jsonl", rows)
    with pytest.raises(InputError) as error:
        load_instructions(path)
    message = str(error.value)
    assert message.startswith("3 bad rows:") and "\n" not in message
    for line in (":2:", ":4:", ":5:"):
        assert f"rows.jsonl{line}" in message, message


def test_more_bad_rows_than_the_cap_are_counted(tmp_path: Path) -> None:
    from codeuf.data.sources import load_instructions

    path = write_rows(tmp_path / "rows.jsonl", [{"instruction": i} for i in range(25)])
    with pytest.raises(InputError, match=r"25 bad rows: .*; and 15 more$"):
        load_instructions(path)


def test_a_solution_column_named_in_the_config_and_missing_from_the_file_is_an_error(tmp_path: Path) -> None:
    from codeuf.data.sources import load_instructions

    path = write_rows(tmp_path / "evol.jsonl", [{"instruction": "Add two numbers."}])
    with pytest.raises(InputError, match=r"evol.jsonl:1: field 'output': missing column named by `solution_column`"):
        load_instructions(path, solution_column="output")
    assert load_instructions(path)[0].solution is None  # the default column is optional


def test_tests_in_another_language_are_marked_with_it_and_run_where_its_toolchain_is(tmp_path: Path) -> None:
    from codeuf.data.sources import load_instructions
    from codeuf.sandbox import languages

    rows = [{"instruction": "Add in JS.", "entry_point": "add", "tests": "console.assert(add(1, 2) === 3);"},
            {"instruction": "Add.", "entry_point": "add", "tests": "assert add(1, 2) == 3"},
            {"instruction": "Add in Kotlin.", "tests": {"language": "javascript", "asserts": "x = 1"}}]  # fmt: skip
    with pytest.raises(InputError, match=r"t\.jsonl:3: field .tests\.asserts.: no tests: the tests hold no JavaScript"):
        load_instructions(write_rows(tmp_path / "t.jsonl", rows))
    js, py = load_instructions(write_rows(tmp_path / "t.jsonl", rows[:2]))
    assert js.tests is not None and js.tests.language == "javascript"
    assert js.tests.runnable == (not languages.get("javascript").toolchain.missing)
    assert py.tests is not None and py.tests.language == "python" and py.tests.runnable


def test_tests_without_any_assert_are_no_tests() -> None:
    tests = CodeTests(kind="asserts", code="x = 1\nprint(x)\n")
    assert not tests.runnable and tests.unrunnable == "no tests: the tests hold no assert"


def test_an_unknown_price_key_is_refused_and_pool_names_price_their_specs(tmp_path: Path) -> None:
    from codeuf.config import load_config

    pool = ("pool:\n  mine: {spec: 'openai:m1@http://127.0.0.1:9/v1'}\n"
            "  theirs: {spec: 'openai:m2@http://127.0.0.1:9/v1'}\n")  # fmt: skip
    head = f"{pool}models_per_instruction: 2\njudges: ['openai:judge@http://127.0.0.1:9/v1']\n"
    good = tmp_path / "good.yaml"
    good.write_text(head + "prices:\n  mine: {input: 1.0, output: 2.0}\n  judge: {input: 3.0}\n")
    config = load_config(good)
    assert set(config.spec_prices()) == {"openai:m1@http://127.0.0.1:9/v1", "openai:judge@http://127.0.0.1:9/v1"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(head + "prices:\n  gpt-5: {input: 1.0}\n")
    with pytest.raises(InputError, match=r"bad.yaml:6: field 'prices': prices for 'gpt-5', which is no model"):
        load_config(bad)


# ----------------------------------------------------------------------------- recorded work is never lost


def generation(rid: str, tests: CodeTests | None = None) -> GenerationRecord:
    return GenerationRecord(id=rid, instruction=f"task {rid}", preference="style", models=["a", "b"],
                            responses=[Response(model="a", response="x"), Response(model="b", response="y")],
                            tests=tests)  # fmt: skip


def test_execute_on_a_subset_merges_into_the_runs_file(tmp_path: Path) -> None:
    from codeuf.io import RecordLog
    from codeuf.stages.execute import execute_responses

    path = tmp_path / "executions.jsonl"
    everything = [generation(f"r{i}") for i in range(4)]
    execute_responses(everything, path)
    assert len(RecordLog(path).read()) == 4
    no_test = generation("r1", CodeTests(kind="asserts", code="print('no assert')"))
    [done] = execute_responses([no_test], path)
    assert [e.status for e in done.executions] == ["not_executed", "not_executed"]
    assert done.executions[0].reason == "no tests: the tests hold no assert"
    saved = RecordLog(path).read()
    assert sorted(saved) == ["r0", "r1", "r2", "r3"] and saved["r1"]["executions"][0]["reason"].startswith("no tests")


# ----------------------------------------------------------------------------- stage commands keep the run


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CODEUF, *args], capture_output=True, text=True, env=cli_env(), timeout=120)


USER_CONFIG = """source: my-instructions.jsonl
seed: 7
pool:
  mine: {spec: 'openai:m1@http://127.0.0.1:9/v1'}
  theirs: {spec: 'openai:m2@http://127.0.0.1:9/v1'}
models_per_instruction: 2
judges: ['openai:judge@http://127.0.0.1:9/v1']
test_fraction: 0.25
"""


def user_run(tmp_path: Path) -> tuple[Path, Path]:
    """A run folder with annotations, and the user's config it is to be binarized with."""
    folder = tmp_path / "run"
    folder.mkdir()
    records = [record(f"r{i}", {"mine": "5", "theirs": str(1 + i % 3)}) for i in range(8)]
    (folder / "annotations.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records))
    config = tmp_path / "mine.yaml"
    config.write_text(USER_CONFIG)
    return folder, config


def test_a_stage_command_on_a_run_folder_keeps_the_runs_config(tmp_path: Path) -> None:
    folder, config = user_run(tmp_path)
    made = run("binarize", "--config", str(config), "--out", str(folder))
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("8 pairs of 8 records (train 6, test 2; dropped: none)"), made.stdout
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["config"]["seed"] == 7 and manifest["binarized"]["pairs"] == 8

    again = run("binarize", "--out", str(folder))  # no --config: the run's own, not the demo's
    assert again.returncode == 0, again.stderr
    card = (folder / "binarized" / "README.md").read_text()
    assert '"seed": 7' in card and "my-instructions.jsonl" in card and "builtin:tasks" not in card

    pairs = (folder / "binarized" / "train.jsonl").read_bytes()
    empty = run("binarize", "--out", str(folder), "--criterion", "tests")
    assert empty.returncode == 6, empty.stderr
    assert "0 pairs of 8 records (dropped: no test contrast 8)" in empty.stderr
    assert "left as it was" in empty.stderr
    assert (folder / "binarized" / "train.jsonl").read_bytes() == pairs
    assert json.loads((folder / "manifest.json").read_text())["binarized"]["pairs"] == 8

    changed = run("binarize", "--out", str(folder), "--ties", "keep")
    assert changed.returncode == 0, changed.stderr
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["changes"][-1]["stage"] == "binarize"
    assert manifest["changes"][-1]["fields"] == {"ties": {"from": "drop", "to": "keep"}}
    assert manifest["config"]["ties"] == "keep" and manifest["config"]["seed"] == 7


def test_another_config_on_a_run_folder_is_refused_unless_forced(tmp_path: Path) -> None:
    folder, config = user_run(tmp_path)
    assert run("binarize", "--config", str(config), "--out", str(folder)).returncode == 0
    other = tmp_path / "other.yaml"
    other.write_text(USER_CONFIG.replace("seed: 7", "seed: 8"))
    before = (folder / "binarized" / "train.jsonl").read_bytes()
    refused = run("binarize", "--config", str(other), "--out", str(folder))
    assert refused.returncode == 2
    assert "manifest.json: field 'seed': this run was made with another configuration" in refused.stderr
    assert refused.stderr.count("\n") == 1 and (folder / "binarized" / "train.jsonl").read_bytes() == before
    forced = run("binarize", "--config", str(other), "--out", str(folder), "--force")
    assert forced.returncode == 0, forced.stderr
    assert json.loads((folder / "manifest.json").read_text())["changes"][-1]["fields"]["seed"] == {"from": 7, "to": 8}


def test_strict_turns_warnings_into_exit_7_after_writing(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    records = [record(f"r{i}", {"a": "5", "b": "1"}) for i in range(4)]
    (folder / "annotations.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records))
    loose = run("binarize", "--out", str(folder))
    assert loose.returncode == 0 and "warning: a is chosen in 4 of 4 pairs" in loose.stderr
    strict = run("binarize", "--out", str(folder), "--strict")
    assert strict.returncode == 7, strict.stderr
    assert "--strict: 2 warnings (model_wins, empty_test_split)" in strict.stderr
    assert (folder / "binarized" / "train.jsonl").exists()
    card = (folder / "binarized" / "README.md").read_text()
    assert card.index("## Warnings") < card.index("## Statistics") and "**model_wins**" in card


# ----------------------------------------------------------------------------- no hang on odd places


def test_a_fifo_where_a_stage_file_belongs_is_refused_not_waited_on(tmp_path: Path) -> None:
    import os

    folder = tmp_path / "run"
    folder.mkdir()
    os.mkfifo(folder / "generations.jsonl")
    done = run("annotate", "--out", str(folder))
    assert done.returncode == 2 and "generations.jsonl: not a regular file" in done.stderr


def test_an_executor_address_where_something_else_listens_is_refused_within_seconds(tmp_path: Path) -> None:
    """A plain TCP server on 127.0.0.1 (not Ray's gRPC): one line, not minutes of Ray's retries."""
    import socket
    import threading
    import time

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        for _ in range(2):
            connection, _ = server.accept()
            with connection:
                connection.recv(1024)
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    started = time.monotonic()
    done = run("execute", "--executor", f"127.0.0.1:{port}", "--out", str(tmp_path / "run"))
    server.close()
    assert done.returncode == 1 and "is not a Ray cluster" in done.stderr and done.stderr.count("\n") == 1
    assert time.monotonic() - started < 30


def test_the_lock_names_a_holder_that_has_just_taken_it(tmp_path: Path) -> None:
    """The holder writes its PID a moment after taking the flock; the busy message waits for it."""
    import fcntl
    import os
    import threading
    import time

    from codeuf.errors import FolderBusyError
    from codeuf.io import exclusive

    lock = tmp_path / ".codeuf.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)

    def write_later() -> None:
        time.sleep(0.2)
        os.write(fd, b"4242 (codeuf run)\n")

    threading.Thread(target=write_later).start()
    busy = pytest.raises(FolderBusyError, match=r"in use by codeuf process 4242 \(codeuf run\)")
    with busy, exclusive(lock, "folder x"):
        pass
    os.close(fd)
