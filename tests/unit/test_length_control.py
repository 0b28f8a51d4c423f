"""binarize's length control (AlpacaEval 2's length-controlled fit, adapted to pairs): a judge that rates by
length loses the pairs length alone explains; a judge that rates by quality keeps them all."""

from __future__ import annotations

import random

from codeuf.data.schema import FeedbackRecord
from codeuf.stages.binarize import binarize_feedback


def records(rate: str, n: int = 60) -> list[FeedbackRecord]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        lengths = {m: rng.randint(20, 2000) for m in ("a", "b", "c")}
        if rate == "length":  # the longest gets 5, the shortest 1
            order = sorted(lengths, key=lengths.__getitem__)
            ratings = {order[0]: "1", order[1]: "3", order[2]: "5"}
        else:  # model a is good, c is bad, whatever their lengths
            ratings = {"a": "5", "b": "3", "c": "1"}
        out.append(FeedbackRecord.model_validate({
            "id": f"r{i}", "instruction": f"task {i}", "preference": "instruction-following", "models": list(lengths),
            "responses": [{"model": m, "response": "x" * k} for m, k in lengths.items()],
            "annotations": [{"model": m, "rating": r, "rationale": ""} for m, r in ratings.items()],
        }))  # fmt: skip
    return out


def test_a_judge_that_rates_by_length_loses_the_pairs_length_explains() -> None:
    _, stats = binarize_feedback(records("length"), seed=0, criterion="judge", length_control="drop")
    control = stats["length_control"]
    assert control["fitted"] and control["beta"] > 1.0 and control["observations"] == 180
    assert control["pairs_explained_by_length"] == control["pairs_changed"] >= 50
    assert stats["pairs"] == 60 - control["pairs_changed"]
    _, plain = binarize_feedback(records("length"), seed=0, criterion="judge")
    assert plain["pairs"] == 60 and plain["length_control"] is None
    assert plain["chosen_longer"]["value"] == 1.0


def test_a_judge_that_rates_by_quality_keeps_every_pair() -> None:
    _, stats = binarize_feedback(records("quality"), seed=0, criterion="judge", length_control="drop")
    control = stats["length_control"]
    assert abs(control["beta"]) < 0.5 and control["pairs_changed"] == 0 and stats["pairs"] == 60


def test_weight_keeps_every_pair_with_a_weight_below_one_where_length_explains_it() -> None:
    splits, stats = binarize_feedback(records("length"), seed=0, criterion="judge", length_control="weight")
    rows = [row for split in splits.values() for row in split]
    assert len(rows) == 60 and all(0 < row["length_weight"] <= 1 for row in rows)
    assert stats["length_control"]["pairs_changed"] == sum(row["length_weight"] < 1 for row in rows) >= 50


def test_too_little_to_fit_says_so() -> None:
    _, stats = binarize_feedback(records("length", n=0), seed=0, criterion="judge", length_control="drop")
    assert stats["length_control"] == {"mode": "drop", "fitted": False, "pairs_changed": 0,
                                       "note": "fewer than 2 rated response pairs"}  # fmt: skip
