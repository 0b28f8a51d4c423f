import json
from pathlib import Path

import pytest

from codeuf.errors import InputError
from codeuf.evals.judge_eval import _rate_verdict, load_labels, pairwise_metrics
from codeuf.judging import Verdict
from codeuf.judging.verdict import winner as compare_verdict

REPO = Path(__file__).resolve().parents[2]


def test_pairwise_metrics_on_a_known_case() -> None:
    labels = ["a", "b", "a", "tie", "b"]
    verdicts = [("a", "a"), ("b", "a"), ("a", "a"), ("tie", "tie"), (None, "b")]
    m = pairwise_metrics(labels, verdicts)
    assert m["unreadable"] == 1
    # readable: 4 pairs; combined verdicts a, tie (inconsistent), a, tie -> 3 agree with their labels
    assert m["agreement_with_ties"]["value"] == 0.75 and m["agreement_with_ties"]["n"] == 4
    # without ties: pairs 1 and 3 (label a, verdict a)
    assert m["agreement_without_ties"]["value"] == 1.0 and m["agreement_without_ties"]["n"] == 2
    assert m["position_consistency"]["value"] == 0.75
    assert m["tie_rate"]["value"] == 0.5  # pair 2 (orders disagree) and pair 4
    assert m["unreadable_rate"]["value"] == 0.2 and m["unreadable_rate"]["n"] == 5
    perfect = pairwise_metrics(["a", "b"], [("a", "a"), ("b", "b")])
    assert perfect["agreement_with_ties"]["ci_low"] == perfect["agreement_with_ties"]["ci_high"] == 1.0


def test_swapped_verdicts_map_back_to_the_original_order() -> None:
    def said(winner: str) -> Verdict:
        return Verdict([winner], [""])

    assert (compare_verdict(said("A"), False), compare_verdict(said("A"), True)) == ("a", "b")
    assert compare_verdict(said("tie"), True) == "tie" and compare_verdict(said("N/A"), False) is None
    # rated in one call: the higher rating wins, equal ratings tie, fractional (logprobs) ratings compare too
    assert _rate_verdict(Verdict(["4", "2"], ["", ""]), False) == "a"
    assert _rate_verdict(Verdict(["4", "2"], ["", ""]), True) == "b"
    assert _rate_verdict(Verdict(["3.51", "3.5"], ["", ""]), False) == "a"
    assert _rate_verdict(Verdict(["3", "3"], ["", ""]), True) == "tie"
    assert _rate_verdict(Verdict(["N/A", "3"], ["", ""]), False) is None


def test_label_files_load_by_kind() -> None:
    assert load_labels(REPO / "tests/data/judge_pairwise_tiny.jsonl")[0] == "pairwise"
    assert load_labels(REPO / "tests/data/judge_pointwise_tiny.jsonl")[0] == "pointwise"


@pytest.mark.parametrize(
    ("rows", "expect"),
    [
        ([{"instruction": "i", "response_a": "x", "response_b": "y", "label": "c"}], ":1: field 'label'"),
        ([{"instruction": "i", "response_a": "x", "label": "a"}], ":1: field 'response_b'"),
        ([{"instruction": "i", "response": "x", "score": "high"}], ":1: field 'score'"),
        ([{"instruction": "i", "response": "x", "score": 1},
          {"instruction": "i", "response_a": "x", "response_b": "y", "label": "a"}], ":2: a pairwise row"),
        ([{"instruction": "i"}], ":1: expected"),
        ([], "empty"),
    ],
)  # fmt: skip
def test_bad_label_files_are_one_line(tmp_path: Path, rows: list, expect: str) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError) as info:
        load_labels(path)
    assert expect in str(info.value) and "\n" not in str(info.value)
