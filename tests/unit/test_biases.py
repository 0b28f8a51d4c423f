"""The judge's biases measured on a run: position, length and self-preference, each with an interval; and the
share of pairs whose chosen response is the longer."""

from __future__ import annotations

import pytest

from codeuf.data.card import bias_lines
from codeuf.data.schema import FeedbackRecord
from codeuf.stages.biases import family, measure_biases
from codeuf.stages.binarize import chosen_longer


def record(i: int, texts: dict[str, str], judgements: list[tuple[str, list[str], list[str]]],
           final: dict[str, str]) -> FeedbackRecord:  # fmt: skip
    return FeedbackRecord.model_validate({
        "id": f"r{i}", "instruction": "x", "preference": "instruction-following", "models": list(texts),
        "responses": [{"model": m, "response": t} for m, t in texts.items()],
        "annotations": [{"model": m, "rating": r, "rationale": ""} for m, r in final.items()],
        "judgements": [{"judge": j, "order_index": k, "order": order, "ratings": ratings,
                        "rationales": [""] * len(order)} for k, (j, order, ratings) in enumerate(judgements)],
    })  # fmt: skip


def test_a_judge_that_follows_the_position_shows_it_with_an_interval() -> None:
    records = []
    for i in range(30):
        texts = {"a": "x" * (10 + i), "b": "y" * 20}
        judgements = [("j", ["a", "b"], ["5", "1"]), ("j", ["b", "a"], ["5", "1"])]  # whatever is first wins
        records.append(record(i, texts, judgements, {"a": "3", "b": "3"}))
    biases = measure_biases(records)
    position = biases["position"]["j"]
    assert [m["value"] for m in position["mean_by_position"]] == [5.0, 1.0]
    assert position["first_minus_last"]["value"] == 4.0 and position["first_minus_last"]["n"] == 30
    assert biases["flip_rate"]["value"] == 1.0 and biases["flip_rate"]["ci_low"] == 1.0
    text = "\n".join(bias_lines(biases))
    assert "first minus last: 4.00 [4.00, 4.00]" in text and "flip rate between orders: 1.000" in text


def test_a_judge_that_follows_length_shows_a_positive_rank_correlation_and_pairs_chosen_longer() -> None:
    records = []
    for i in range(20):
        texts = {"a": "x" * 10, "b": "x" * 100, "c": "x" * 1000}
        records.append(record(i, texts, [("j", ["a", "b", "c"], ["1", "3", "5"])], {"a": "1", "b": "3", "c": "5"}))
    flat = record(99, {"a": "same", "b": "same"}, [("j", ["a", "b"], ["2", "4"])], {"a": "2", "b": "4"})
    length = measure_biases([*records, flat])["length"]
    assert length["rating_length_spearman"]["value"] == pytest.approx(1.0)
    assert (length["records_defined"], length["records"]) == (20, 21)  # equal lengths: no correlation defined
    rows = [{"chosen": "x" * 100, "rejected": "x"}] * 3 + [{"chosen": "x", "rejected": "x" * 100}]
    assert chosen_longer(rows)["value"] == 0.75


def test_self_preference_where_the_judges_family_is_in_the_pool() -> None:
    records = []
    for i in range(12):
        texts = {"gpt-4o": "a", "claude-sonnet": "b", "qwen": "c"}
        judgements = [("gpt-judge", ["gpt-4o", "claude-sonnet", "qwen"], ["5", "3", "3"])]
        records.append(record(i, texts, judgements, {"gpt-4o": "5", "claude-sonnet": "3", "qwen": "3"}))
    specs = {"gpt-judge": "openai:gpt-4.1", "mystery": "openai:m1@http://127.0.0.1:9/v1"}
    own = measure_biases(records, specs)["self_preference"]["gpt-judge"]
    assert own["family"] == "gpt" and own["own_minus_other"]["value"] == 2.0
    mystery = [record(0, {"a": "x", "b": "y"}, [("mystery", ["a", "b"], ["4", "2"])], {"a": "4", "b": "2"})]
    assert (
        measure_biases(mystery, specs)["self_preference"]["mystery"]["note"] == "the judge's model family is not known"
    )
    embedded = "llamacpp:default"
    one_family = [record(0, {"a": "x", "b": "y"}, [(embedded, ["a", "b"], ["4", "2"])], {"a": "4", "b": "2"})]
    gemma = measure_biases(one_family, {"a": embedded, "b": embedded})
    assert gemma["self_preference"]["llamacpp:default"] == {
        "family": "gemma", "note": "no record rates both a gemma model and another family's"}  # fmt: skip


@pytest.mark.parametrize(
    ("names", "expected"),
    [(("openai:gpt-4.1",), "gpt"), (("anthropic:claude-sonnet-4-5",), "claude"), (("llamacpp:default",), "gemma"),
     (("hf:codellama/CodeLlama-7b-Instruct-hf",), "llama"), (("openai:Qwen2.5-Coder-7B@http://h/v1",), "qwen"),
     (("m1", "openai:m1@http://127.0.0.1:9/v1"), None), (("deepseek-coder-6.7b",), "deepseek")],
)  # fmt: skip
def test_model_families(names: tuple[str, ...], expected: str | None) -> None:
    assert family(*names) == expected


def test_na_ratings_are_left_out_never_counted_as_numbers() -> None:
    records = [record(i, {"a": "x", "b": "yy"}, [("j", ["a", "b"], ["N/A", "4"])], {"a": "N/A", "b": "4"})
               for i in range(5)]  # fmt: skip
    position = measure_biases(records)["position"]["j"]
    assert position["mean_by_position"][0]["value"] is None and position["mean_by_position"][1]["value"] == 4.0
    assert position["first_minus_last"]["value"] is None
