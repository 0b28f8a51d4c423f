"""Stage logic on known cases, without a model."""

from collections import Counter

import pytest

from codeuf.data.schema import NA, Annotation, FeedbackRecord, GenerationRecord, Judgement, Response
from codeuf.judging.tasks import TASKS
from codeuf.judging.verdict import read_json
from codeuf.llm.types import LLMError, LLMRequest, LLMResult
from codeuf.preferences import PREFERENCE_NAMES, PREFERENCES
from codeuf.stages.annotate import aggregate, flip_rate, judge_schema, response_orders
from codeuf.stages.binarize import binarize_feedback, stratified_split, trl_rows
from codeuf.stages.instructions import build_instruction_pool, has_cjk

POOL = ["m1", "m2", "m3", "m4", "m5"]


def test_every_preference_has_ten_principles_and_five_levels() -> None:
    assert set(PREFERENCES) == set(PREFERENCE_NAMES)
    for preference in PREFERENCES.values():
        assert len(set(preference.principles)) == 10 and len(preference.levels) == 5


def test_instruction_pool_filters_dedupes_balances_and_assigns() -> None:
    texts = [(f"id{i}", f"Write function number {i}.") for i in range(30)]
    texts += [("dup", "Write function number 3."), ("cjk", "写一个函数 that sorts"), ("kana", "ソート"), ("e", "  ")]
    records, stats = build_instruction_pool(texts, n=20, seed=1, pool=POOL, models_per_instruction=4)
    assert stats == {"source": 34, "dropped_cjk": 2, "dropped_empty": 1, "dropped_duplicates": 1, "kept": 20}
    assert not any(has_cjk(r.instruction) for r in records)
    assert len({r.instruction for r in records}) == 20
    assert Counter(r.preference for r in records) == dict.fromkeys(PREFERENCE_NAMES, 4)
    assert all(len(set(r.models)) == 4 and set(r.models) <= set(POOL) for r in records)
    again, _ = build_instruction_pool(texts, n=20, seed=1, pool=POOL, models_per_instruction=4)
    other, _ = build_instruction_pool(texts, n=20, seed=2, pool=POOL, models_per_instruction=4)
    assert again == records and [r.id for r in other] != [r.id for r in records]


def result(text: str | None = None, parsed: object = None, error: str | None = None) -> LLMResult:
    if error:
        return LLMResult(error=LLMError(kind="server", message=error))
    return LLMResult(text=text, parsed=parsed)


def test_parse_structured_judgement() -> None:
    parsed = {"response_1": {"rating": "4", "rationale": "good"}, "response_2": {"rating": "9", "rationale": "?"}}
    verdict = read_json(TASKS["rate"], result("{}", parsed), 3)
    assert verdict.ratings == ["4", NA, NA] and verdict.rationales[0] == "good"
    assert verdict.error == "2 of 3 ratings unreadable" and verdict.raw == "{}" and not verdict.failed


def test_parse_text_judgement_and_failures() -> None:
    text = "Response 1: Rating: 5. Great.\nResponse 2 - rating: 2\nResponse 3 is bad."
    verdict = read_json(TASKS["rate"], result(text), 3)
    assert verdict.ratings == ["5", "2", NA] and verdict.error == "1 of 3 ratings unreadable"
    failed = read_json(TASKS["rate"], result(error="boom"), 2)
    assert failed.ratings == [NA, NA] and "boom" in failed.error and failed.failed


def test_judge_schema_uses_enums_and_bounded_rationales() -> None:
    schema = judge_schema(2, 40)
    item = schema["properties"]["response_1"]["properties"]
    assert item["rating"]["enum"] == ["1", "2", "3", "4", "5"] and item["rationale"]["maxLength"] == 40
    assert schema["required"] == ["response_1", "response_2"]


def test_orders_are_distinct_permutations() -> None:
    import random

    orders = response_orders(["a", "b", "c"], 6, random.Random(0))
    assert len({tuple(o) for o in orders}) == 6


def generation(models: list[str], errors: dict[str, str] | None = None) -> GenerationRecord:
    return GenerationRecord(
        id="r1", instruction="do it", preference="style", models=models,
        responses=[Response(model=m, response=f"answer of {m}") for m in models],
        errors=[{"model": m, "error": e} for m, e in (errors or {}).items()],
    )  # fmt: skip


def test_aggregate_means_over_orders_then_judges_and_keeps_na() -> None:
    record = generation(["a", "b", "c"])
    judgements = [
        Judgement(judge="j1", order_index=0, order=["a", "b", "c"], ratings=["5", "2", NA], rationales=["x", "y", ""]),
        Judgement(judge="j1", order_index=1, order=["c", "b", "a"], ratings=[NA, "3", "4"], rationales=["", "", ""]),
        Judgement(judge="j2", order_index=0, order=["b", "a", "c"], ratings=["1", "3", NA], rationales=["", "", ""]),
    ]
    feedback = aggregate(record, judgements, ["j1", "j2"])
    ratings = {a.model: a.rating for a in feedback.annotations}
    assert ratings == {"a": "3.75", "b": "1.75", "c": NA}  # a: mean(mean(5,4), 3); b: mean(mean(2,3), 1)


def test_failed_generations_are_na_not_rated() -> None:
    feedback = aggregate(generation(["a", "b"], {"b": "timeout: slow"}), [], ["j"])
    assert [a.rating for a in feedback.annotations] == [NA, NA]
    assert "timeout" in feedback.annotations[1].rationale


def test_flip_rate_counts_strict_reversals() -> None:
    record = aggregate(
        generation(["a", "b"]),
        [
            Judgement(judge="j", order_index=0, order=["a", "b"], ratings=["5", "2"], rationales=["", ""]),
            Judgement(judge="j", order_index=1, order=["b", "a"], ratings=["4", "3"], rationales=["", ""]),
        ],
        ["j"],
    )
    assert flip_rate([record]) == {"comparable_pairs": 1, "flips": 1, "flip_rate": 1.0}


def feedback(ratings: dict[str, str], preference: str = "style", rid: str = "r") -> FeedbackRecord:
    models = list(ratings)
    return FeedbackRecord(
        id=rid, instruction="do it", preference=preference, models=models,
        responses=[Response(model=m, response=f"answer of {m}") for m in models],
        annotations=[Annotation(model=m, rating=r, rationale="") for m, r in ratings.items()],
    )  # fmt: skip


def test_binarize_picks_best_and_worst_and_ignores_na() -> None:
    splits, stats = binarize_feedback([feedback({"a": "2", "b": "5", "c": NA, "d": "1"})], seed=0, test_fraction=0)
    [row] = splits["train"]
    assert (row["model_chosen"], row["model_rejected"]) == ("b", "d")
    assert (row["chosen"], row["rejected"], row["rating_chosen"], row["rating_rejected"]) == (
        "answer of b", "answer of d", 5.0, 1.0,
    )  # fmt: skip
    assert stats["pairs"] == 1


def test_ties_drop_or_keep_and_margin_and_too_few() -> None:
    records = [
        feedback({"a": "3", "b": "3"}, rid="tie"),
        feedback({"a": "4", "b": "3"}, rid="small"),
        feedback({"a": "4", "b": NA}, rid="few"),
    ]
    _, stats = binarize_feedback(records, seed=0, min_margin=2)
    assert (stats["dropped_ties"], stats["dropped_margin"], stats["dropped_too_few_ratings"], stats["pairs"]) == (
        1, 1, 1, 0,
    )  # fmt: skip
    splits, stats = binarize_feedback(records[:1], seed=0, ties="keep", test_fraction=0)
    assert stats["kept_ties"] == 1 and splits["train"][0]["model_chosen"] != splits["train"][0]["model_rejected"]


def test_split_is_stratified_by_preference() -> None:
    rows = [{"preference": p, "i": i} for p in PREFERENCE_NAMES for i in range(40)]
    splits = stratified_split(rows, 0.05, seed=3)
    assert Counter(r["preference"] for r in splits["test"]) == dict.fromkeys(PREFERENCE_NAMES, 2)
    assert len(splits["train"]) == 190


def test_split_of_small_groups_still_gets_its_share() -> None:
    rows = [{"preference": p, "i": i} for p in PREFERENCE_NAMES for i in range(2)]
    splits = stratified_split(rows, 0.2, seed=3)
    assert len(splits["test"]) == 2 and len({r["preference"] for r in splits["test"]}) == 2


def test_trl_rows_are_conversational() -> None:
    splits, _ = binarize_feedback([feedback({"a": "1", "b": "5"})], seed=0, test_fraction=0)
    [row] = trl_rows(splits["train"])
    assert row["prompt"] == [{"role": "user", "content": "do it"}]
    assert row["chosen"] == [{"role": "assistant", "content": "answer of b"}]
    assert row["rejected"] == [{"role": "assistant", "content": "answer of a"}]


@pytest.mark.parametrize("n", [1, 4])
def test_generation_request_uses_format_or_chat(n: int) -> None:
    from codeuf.config import PoolModel
    from codeuf.stages.generate import generation_request

    chat = generation_request(PoolModel(spec="openai:x", max_tokens=n), "Be clear.", "Sort.", seed=1)
    assert chat.messages[0].content == "Be clear." and chat.prompt is None
    raw = generation_request(PoolModel(spec="openai:x", format="alpaca"), "Be clear.", "Sort.", seed=1)
    assert isinstance(raw, LLMRequest) and "### Instruction:\nBe clear.\n\nSort." in raw.prompt
    assert raw.stop == ["### Instruction:"]


# ----------------------------------------------------------------------------- failed calls vs unreadable answers


def _session(tmp_path, backend):  # type: ignore[no-untyped-def]
    from codeuf.session import StageSession

    session = StageSession(tmp_path / "cache.sqlite", concurrency=2, max_retries=0)
    session._backends = {spec: backend for spec in ("openai:j", "openai:a", "openai:b")}
    return session


def test_an_unreadable_verdict_stays_na_and_a_failed_call_is_asked_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A judge answer that parses to nothing is N/A for good (the same request would give the same answer);
    a call that failed leaves its record unwritten, and only that call is made by the next run."""
    from codeuf.config import JudgeConfig
    from codeuf.llm.base import BackendError
    from codeuf.stages.annotate import annotate_responses
    from tests.conftest import ScriptedBackend

    failing = {"fail": True}

    def script(request: LLMRequest, attempt: int) -> BackendError | None:
        text = (request.messages or [])[-1].content
        if "FAILS" in text and failing["fail"]:
            return BackendError("server", "HTTP 503", status_code=503)
        return None

    backend = ScriptedBackend(script)  # answers "echo:...", which is no JSON: every rating unreadable
    records = [GenerationRecord(id=i, instruction=text, preference="style", models=["a", "b"],
                                responses=[Response(model="a", response="x"), Response(model="b", response="y")])
               for i, text in (("r1", "Sort a list."), ("r2", "FAILS here"))]  # fmt: skip
    judges = [JudgeConfig(spec="openai:j", name="j")]
    out = tmp_path / "annotations.jsonl"
    session = _session(tmp_path, backend)
    first = annotate_responses(records, judges, session, out, seed=0)
    assert [r.id for r in first] == ["r1"] and [a.rating for a in first[0].annotations] == [NA, NA]
    assert session.failures() == 1 and "1 server on openai:scripted" in (session_line := _line(session))
    assert "annotate" in session_line
    calls = len(backend.calls)
    failing["fail"] = False
    second = annotate_responses(records, judges, _session(tmp_path, backend), out, seed=0)
    assert [r.id for r in second] == ["r1", "r2"]
    assert len(backend.calls) == calls + 1  # just the failed call; r1's unreadable verdict is not asked again
    assert [line.count('"id"') for line in out.read_text().splitlines()] == [1, 1]


def _line(session) -> str:  # type: ignore[no-untyped-def]
    from codeuf.session import failure_summary

    return failure_summary(session.stages) or ""


def test_a_generation_with_a_failed_call_is_not_written(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from codeuf.config import PoolModel
    from codeuf.data.schema import InstructionRecord
    from codeuf.llm.base import BackendError
    from codeuf.stages.generate import generate_responses
    from tests.conftest import ScriptedBackend

    def script(request: LLMRequest, attempt: int) -> BackendError | None:
        return BackendError("timeout", "slow") if request.temperature == 0.5 and attempt == 1 else None

    backend = ScriptedBackend(script)
    pool = {"a": PoolModel(spec="openai:a"), "b": PoolModel(spec="openai:b", temperature=0.5)}
    records = [InstructionRecord(id=f"r{i}", instruction=f"task {i}", preference="style", models=["a", "b"])
               for i in range(3)]  # fmt: skip
    out = tmp_path / "generations.jsonl"
    assert generate_responses(records, pool, _session(tmp_path, backend), out, seed=0) == []
    assert not out.exists() or out.read_text() == ""  # every record had b's call fail: none is finished
    calls = len(backend.calls)
    done = generate_responses(records, pool, _session(tmp_path, backend), out, seed=0)
    assert [r.id for r in done] == ["r0", "r1", "r2"] and all(not r.errors for r in done)
    assert len(backend.calls) == calls + 3  # only b's three calls; a's came from the cache


# ----------------------------------------------------------------------------- pairs chosen by tests


def record_with_tests(
    ratings: dict[str, str], results: dict[str, tuple[str, int, int]], rid: str = "t1"
) -> FeedbackRecord:
    """A feedback record whose models have `ratings` and ran against 4 tests: (status, passed, total)."""
    from codeuf.data.schema import CodeTests, Execution

    models = list(ratings)
    return FeedbackRecord(
        id=rid, instruction="Sort.", preference="style", models=models,
        responses=[Response(model=m, response=f"code of {m}") for m in models],
        annotations=[Annotation(model=m, rating=r, rationale="") for m, r in ratings.items()],
        tests=CodeTests(kind="asserts", code="assert True"), entry_point="f",
        executions=[Execution(model=m, status=s, passed=p, total=t) for m, (s, p, t) in results.items()],
    )  # fmt: skip


def test_tests_then_judge_chooses_the_best_rated_passing_response_and_a_failing_one() -> None:
    results = {"a": ("failed", 3, 4), "b": ("passed", 4, 4), "c": ("passed", 4, 4), "d": ("timeout", 0, 4)}
    record = record_with_tests({"a": "5", "b": "2", "c": "4", "d": "1"}, results)
    splits, _ = binarize_feedback([record], seed=0, test_fraction=0, criterion="tests-then-judge")
    [row] = splits["train"]
    assert (row["model_chosen"], row["model_rejected"]) == ("c", "d")  # c: the best-rated that passes
    assert row["criterion"] == "tests-then-judge" and row["execution_chosen"]["status"] == "passed"
    assert row["rating_chosen"] == 4.0 and row["rating_rejected"] == 1.0
    # the judge alone would have chosen a, which fails a test
    judge_rows, _ = binarize_feedback([record], seed=0, test_fraction=0, criterion="judge")
    assert judge_rows["train"][0]["model_chosen"] == "a"


def test_tests_prefers_the_higher_pass_rate_and_the_judge_breaks_ties() -> None:
    record = record_with_tests({"a": "1", "b": "5", "c": "3"},
                    {"a": ("failed", 3, 4), "b": ("failed", 3, 4), "c": ("failed", 1, 4)})  # fmt: skip
    splits, _ = binarize_feedback([record], seed=0, test_fraction=0, criterion="tests")
    assert (splits["train"][0]["model_chosen"], splits["train"][0]["model_rejected"]) == ("b", "c")


def test_auto_takes_the_strongest_evidence_each_record_has() -> None:
    pass_fail = record_with_tests({"a": "2", "b": "4"}, {"a": ("passed", 4, 4), "b": ("failed", 0, 4)})
    partial = {"a": ("failed", 3, 4), "b": ("failed", 1, 4), "c": ("failed", 1, 4)}
    rates = record_with_tests({"a": "2", "b": "4", "c": "5"}, partial, rid="t2")
    all_pass = record_with_tests({"a": "2", "b": "4"}, {"a": ("passed", 4, 4), "b": ("passed", 4, 4)}, rid="t3")
    prose = record_with_tests(
        {"a": "2", "b": "4"}, {"a": ("not_executed", 0, 0), "b": ("not_executed", 0, 0)}, rid="t4"
    )
    splits, stats = binarize_feedback([pass_fail, rates, all_pass, prose], seed=0, test_fraction=0)
    assert sorted((r["id"], r["criterion"], r["model_chosen"], r["model_rejected"]) for r in splits["train"]) == [
        ("t1", "tests-then-judge", "a", "b"), ("t2", "tests", "a", "b"),  # t2: c is rated higher, but passes less
        ("t3", "judge", "b", "a"), ("t4", "judge", "b", "a")]  # fmt: skip
    assert stats["pairs_per_criterion"] == {"judge": 2, "tests": 1, "tests-then-judge": 1}
    assert stats["dropped_no_pass_fail"] == 0
    _, strict = binarize_feedback([prose, all_pass], seed=0, test_fraction=0, criterion="tests-then-judge")
    assert strict["pairs"] == 0 and strict["dropped_no_tests"] == 1 and strict["dropped_no_pass_fail"] == 1


def test_judge_vs_tests_agreement_counts_pass_fail_pairs() -> None:
    from codeuf.stages.binarize import judge_vs_tests

    agree = record_with_tests({"a": "5", "b": "1"}, {"a": ("passed", 4, 4), "b": ("failed", 0, 4)})
    disagree = record_with_tests({"a": "1", "b": "5", "c": "1"},
                      {"a": ("passed", 4, 4), "b": ("failed", 2, 4), "c": ("failed", 0, 4)}, rid="t2")  # fmt: skip
    result = judge_vs_tests([agree, disagree])
    # pairs: (a>b) agree; t2: (a,b) judge lower, (a,c) equal -> 1 of 3 higher, 1 of 3 equal
    assert result["pass_fail_pairs"] == 3 and result["records_with_pass_and_fail"] == 2
    assert result["agreement"]["value"] == 1 / 3 and result["ties"]["value"] == 1 / 3
    assert result["top_rated_fails"] == 0.5
    assert 0 <= result["agreement"]["ci_low"] <= result["agreement"]["ci_high"] <= 1
    assert judge_vs_tests([])["agreement"]["value"] is None
    # pass rates: t1 (a 4/4 > b 0/4, rated higher), t2 (a>b lower, a>c equal, b 2/4 > c 0/4 rated higher)
    assert result["pass_rate_pairs"] == 4 and result["pass_rate_agreement"]["value"] == 2 / 4
    assert result["pass_rate_ties"]["value"] == 1 / 4
    partial = record_with_tests({"a": "3", "b": "4"}, {"a": ("failed", 3, 4), "b": ("failed", 1, 4)})
    assert judge_vs_tests([partial])["agreement"]["value"] is None  # no response passes everything
    assert judge_vs_tests([partial])["pass_rate_agreement"]["value"] == 0.0


def test_the_judge_sees_test_results_only_when_asked() -> None:
    from codeuf.config import JudgeConfig
    from codeuf.stages.annotate import judge_job

    record = record_with_tests({"a": "5", "b": "1"}, {"a": ("passed", 4, 4), "b": ("failed", 1, 4)})
    record = record.model_copy(
        update={
            "executions": [
                *record.executions[:1],
                record.executions[1].model_copy(update={"reason": "test 2: AssertionError"}),
            ]
        }
    )
    judge = JudgeConfig(spec="openai:j")
    plain = judge_job(record, ["b", "a"], judge, None).request.messages[0].content
    shown = (
        judge_job(record, ["b", "a"], judge.model_copy(update={"show_tests": True}), None).request.messages[0].content
    )
    assert "Tests:" not in plain
    assert "## Response 1\ncode of b\n\nTests: failed, 1 of 4 passed; first failure: test 2: AssertionError." in shown
    assert "## Response 2\ncode of a\n\nTests: passed, 4 of 4 passed." in shown


def test_a_prefill_starts_the_prompt_and_the_recorded_response_and_its_fence_is_closed() -> None:
    from codeuf.config import PoolModel
    from codeuf.stages.generate import generation_request, recorded_response

    entry = PoolModel(spec="openai:m", format="plain", prefill="```python\n", stop=["```"])
    request = generation_request(entry, "Be brief.", "Add two numbers.", 0)
    assert request.prompt == "Be brief.\n\nAdd two numbers.\n\n```python\n" and request.stop == ["```"]
    assert recorded_response(entry, "def add(a, b):\n    return a + b\n") == (
        "```python\ndef add(a, b):\n    return a + b\n```"
    )
    assert recorded_response(entry, "x = 1\n```\nmore") == "```python\nx = 1\n```\nmore"  # closed already
    plain = PoolModel(spec="openai:m", format="plain")
    assert recorded_response(plain, "  text \n") == "text"
    with pytest.raises(ValueError, match="give the entry a `format`"):
        PoolModel(spec="openai:m", prefill="```python\n")


def test_binarize_command_says_how_many_records_had_no_test_contrast(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    from tests.conftest import CODEUF, cli_env

    pass_fail = record_with_tests({"a": "2", "b": "4"}, {"a": ("passed", 4, 4), "b": ("failed", 0, 4)})
    all_pass = record_with_tests({"a": "2", "b": "4"}, {"a": ("passed", 4, 4), "b": ("passed", 4, 4)}, rid="t3")
    prose = record_with_tests({"a": "2", "b": "4"}, {"a": ("not_executed", 0, 0), "b": ("not_executed", 0, 0)},
                              rid="t4")  # fmt: skip
    source = tmp_path / "feedback.jsonl"
    source.write_text("".join(r.model_dump_json() + "\n" for r in (pass_fail, all_pass, prose)))
    expected = {
        "tests-then-judge": "1 pairs of 3 records (train 1, test 0; dropped: no test contrast 2)",
        "judge": "3 pairs of 3 records (train 3, test 0; dropped: none):",
    }
    for criterion, line in expected.items():
        done = subprocess.run(
            [*CODEUF, "binarize", "--input", str(source), "--out", str(tmp_path / criterion), "--criterion", criterion],
            capture_output=True, text=True, env=cli_env(), timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(line), done.stdout
