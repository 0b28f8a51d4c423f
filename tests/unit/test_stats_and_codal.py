import json
import math
from pathlib import Path

import pytest

from codeuf.errors import InputError
from codeuf.evals.codal import CodalAnswer, CodalGrade, load_bench
from codeuf.evals.report import build_report, to_csv
from codeuf.judging.tasks import TASKS
from codeuf.judging.verdict import read_json
from codeuf.llm.types import LLMError, LLMResult
from codeuf.stats import bootstrap_mean, bootstrap_statistic, kendall_tau_b, paired_bootstrap, spearman

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "src" / "codeuf" / "data" / "builtin" / "codal_mini.jsonl"


def test_constant_sample_has_a_zero_width_interval() -> None:
    estimate = bootstrap_mean([7.0] * 25)
    assert (estimate.value, estimate.low, estimate.high, estimate.n) == (7.0, 7.0, 7.0, 25)


def test_interval_contains_the_mean_and_narrows_with_n() -> None:
    small = bootstrap_mean([1, 9, 4, 6, 2, 8], seed=1)
    large = bootstrap_mean([1, 9, 4, 6, 2, 8] * 20, seed=1)
    assert small.low < small.value < small.high and large.low < large.value < large.high
    assert (large.high - large.low) < (small.high - small.low)
    assert bootstrap_mean([]).value is None


def test_paired_test_of_identical_models_finds_no_difference() -> None:
    test = paired_bootstrap([3, 5, 7, 9], [3, 5, 7, 9])
    assert (test.difference, test.low, test.high, test.p_value) == (0, 0, 0, 1.0)


def test_paired_test_detects_a_consistent_difference() -> None:
    a = [8, 7, 9, 8, 7, 9, 8, 8, 9, 7]
    test = paired_bootstrap(a, [x - 2 for x in a])
    assert test.difference == 2 and test.low == 2 and test.p_value == 0.0
    noisy = paired_bootstrap([5, 6, 4, 5, 6, 4], [5, 5, 5, 5, 5, 5])
    assert noisy.p_value > 0.5


def test_rank_correlations_on_known_cases() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau_b([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(2 / 3)
    assert kendall_tau_b([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6))
    assert spearman([1, 1, 1], [1, 2, 3]) is None
    pairs = [(i, i + (i % 3)) for i in range(30)]
    estimate = bootstrap_statistic(pairs, lambda s: spearman([x for x, _ in s], [y for _, y in s]))
    assert estimate.low <= estimate.value <= estimate.high


def test_bench_loads_with_references() -> None:
    items = load_bench(TINY)
    assert len(items) == 10 and {i.preference for i in items} == {
        "instruction-following", "explanation", "complexity", "readability", "style",
    }  # fmt: skip
    assert set(items[0].references) == {"gpt-4-turbo", "gpt-3.5-turbo"}


@pytest.mark.parametrize(
    ("row", "expect"),
    [
        ({"preference": "style"}, ":1: field 'instruction'"),
        ({"instruction": "x", "preference": "speed"}, ":1: field 'preference': unknown preference"),
        ({"instruction": "x", "preference": "style", "gpt-4-turbo_response": 3}, "field 'gpt-4-turbo_response'"),
    ],
)
def test_bad_bench_rows_are_one_line(tmp_path: Path, row: dict, expect: str) -> None:
    path = tmp_path / "bench.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(InputError) as info:
        load_bench(path)
    assert expect in str(info.value) and "\n" not in str(info.value)


def test_grades_parse_or_are_na() -> None:
    def grade(result: LLMResult) -> tuple[str, str, str | None]:
        verdict = read_json(TASKS["grade"], result, 1)
        return verdict.ratings[0], verdict.rationales[0], verdict.error

    assert grade(LLMResult(text="{}", parsed={"rating": "10", "rationale": "ok"})) == ("10", "ok", None)
    assert grade(LLMResult(text="Rating: [[7]]"))[0] == "7"
    assert grade(LLMResult(text="rating: 10, solid"))[0] == "10"
    assert grade(LLMResult(text="I cannot say."))[:2] == ("N/A", "")
    assert grade(LLMResult(text="{}", parsed={"rating": "11"}))[0] == "N/A"
    assert grade(LLMResult(error=LLMError(kind="server", message="x")))[0] == "N/A"


def make_run(folder: Path, model: str, ratings: list[str]) -> Path:
    items = load_bench(TINY)
    folder.mkdir(parents=True)
    (folder / "bench.jsonl").write_text("".join(i.model_dump_json() + "\n" for i in items))
    answers = [CodalAnswer(id=i.id, preference=i.preference, model=model, answer="a") for i in items]
    (folder / "answers.jsonl").write_text("".join(a.model_dump_json() + "\n" for a in answers))
    (folder / "grades").mkdir()
    grades = [
        CodalGrade(id=i.id, preference=i.preference, model=model, judge="j", reference_model="gpt-4-turbo", rating=r)
        for i, r in zip(items, ratings, strict=True)
    ]
    (folder / "grades" / "j.jsonl").write_text("".join(g.model_dump_json() + "\n" for g in grades))
    return folder


def test_report_handles_na_both_ways_and_compares(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a", "A", ["8", "N/A", "6", "6", "8", "8", "4", "4", "10", "10"])
    b = make_run(tmp_path / "b", "B", ["8", "2", "6", "6", "8", "8", "4", "4", "10", "10"])
    excluded = build_report([a, b])
    score = excluded["scores"][0]
    assert score["overall"]["na"] == 1 and score["overall"]["n"] == 9
    assert score["overall"]["value"] == pytest.approx(64 / 9)
    assert score["per_preference"]["instruction-following"]["value"] == 8.0
    zero = build_report([a, b], na_as_zero=True)["scores"][0]
    assert zero["overall"]["value"] == pytest.approx(6.4) and zero["overall"]["n"] == 10
    assert zero["per_preference"]["instruction-following"]["value"] == 4.0
    [comparison] = excluded["comparisons"]
    assert comparison["overall"]["difference"] == 0 and comparison["overall"]["n"] == 9
    assert build_report([a, b], na_as_zero=True)["comparisons"][0]["overall"]["difference"] == pytest.approx(-0.2)
    assert "A,j,overall," in to_csv(excluded)


def test_report_without_grades_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no grades"):
        build_report([tmp_path])
