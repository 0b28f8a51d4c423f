"""Stage 3: an LLM judge rates each instruction's responses 1-5 on its preference's rubric.

One call per (instruction, judge, order): the responses are shown in a seeded random order,
recorded with the result. The judge answers in JSON (constrained by a schema whose ratings are
enums, where the backend supports it); a tolerant parser reads what it can of other answers;
whatever is still unreadable is "N/A" with the raw text kept (the same request would give the same
answer, so it stays N/A; `--refresh` asks again). A call that failed is different: its record is
not finished, is not written, and the next run makes just that call again. With several orders or
judges, a model's rating is the mean of its readable ratings (per judge over orders, then over judges).
"""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path
from statistics import mean
from typing import Any

from codeuf.config import JudgeConfig
from codeuf.data.io import RecordLog
from codeuf.data.schema import NA, Annotation, FeedbackRecord, GenerationRecord, Judgement, format_rating, rating_value
from codeuf.llm.types import LLMRequest, LLMResult, Message
from codeuf.preferences import get_preference
from codeuf.prompts import render
from codeuf.stages.session import StageSession

RATINGS = ("1", "2", "3", "4", "5")


def rated_item(ratings: tuple[str, ...], rationale_chars: int) -> dict[str, Any]:
    """{"rating": one of `ratings`, "rationale": at most `rationale_chars` characters}, rating first."""
    return {
        "type": "object",
        "properties": {
            "rating": {"type": "string", "enum": list(ratings)},
            "rationale": {"type": "string", "maxLength": rationale_chars},
        },
        "required": ["rating", "rationale"],
        "additionalProperties": False,
    }


def judge_schema(n: int, rationale_chars: int) -> dict[str, Any]:
    """Ratings as enums (llama.cpp ignores minimum/maximum) and bounded rationales, rating first, so
    that a bounded answer always fits in max_tokens and so always parses."""
    item = rated_item(RATINGS, rationale_chars)
    keys = [f"response_{i}" for i in range(1, n + 1)]
    return {"type": "object", "properties": {k: item for k in keys}, "required": keys, "additionalProperties": False}


def response_orders(models: list[str], count: int, rng: random.Random) -> list[list[str]]:
    """`count` orders of the models, all different while there are enough permutations."""
    if len(models) <= 6:
        perms = [list(p) for p in itertools.permutations(models)]
        rng.shuffle(perms)
        return [perms[i % len(perms)] for i in range(count)]
    orders = []
    for _ in range(count):
        order = list(models)
        rng.shuffle(order)
        orders.append(order)
    return orders


_TEXT_RATING = r"response[\s_#]*{i}\b.{{0,80}}?rating\W{{0,12}}([1-5])"


def parse_judgement(result: LLMResult, n: int) -> tuple[list[str], list[str], str | None]:
    """(ratings, rationales, error). A rating that cannot be read is N/A, never a guess."""
    if not result.ok:
        assert result.error is not None
        return [NA] * n, [""] * n, f"{result.error.kind}: {result.error.message}"
    ratings, rationales = [NA] * n, [""] * n
    parsed = result.parsed if isinstance(result.parsed, dict) else None
    text = result.text or ""
    for i in range(n):
        entry = parsed.get(f"response_{i + 1}") if parsed else None
        if isinstance(entry, dict):
            rating = str(entry.get("rating", "")).strip()
            if rating in RATINGS:
                ratings[i] = rating
            rationales[i] = str(entry.get("rationale", ""))
        elif parsed is None:
            match = re.search(_TEXT_RATING.format(i=i + 1), text, re.IGNORECASE | re.DOTALL)
            if match:
                ratings[i] = match.group(1)
    missing = sum(r == NA for r in ratings)
    error = None
    if missing:
        error = f"{missing} of {n} ratings unreadable" + (f" ({result.parse_error})" if result.parse_error else "")
    return ratings, rationales, error


def test_evidence(record: GenerationRecord, model: str) -> str | None:
    """What the judge is told of a response's tests (where the judge is to see them): one line."""
    execution = next((e for e in record.executions if e.model == model), None)
    if execution is None:
        return None
    if execution.status == "not_executed":
        return f"Tests: not run ({execution.reason})."
    outcome = {"passed": "passed", "failed": "failed", "timeout": "ran out of time"}[execution.status]
    detail = f"; first failure: {execution.reason}" if execution.reason and execution.status != "passed" else ""
    return f"Tests: {outcome}, {execution.passed} of {execution.total} passed{detail}."


def judge_request(record: GenerationRecord, order: list[str], judge: JudgeConfig, prompts: Path | None) -> LLMRequest:
    texts = {r.model: r.response for r in record.responses}
    prompt = render(
        "annotate.j2",
        prompts,
        preference=get_preference(record.preference),
        instruction=record.instruction,
        responses=[texts[m] for m in order],
        evidence=[test_evidence(record, m) for m in order] if judge.show_tests else [None] * len(order),
    )
    return LLMRequest(
        messages=[Message(role="user", content=prompt)],
        json_schema=judge_schema(len(order), judge.rationale_chars) if judge.structured else None,
        temperature=judge.temperature,
        max_tokens=judge.max_tokens,
    )


def annotate_responses(
    records: list[GenerationRecord],
    judges: list[JudgeConfig],
    session: StageSession,
    out_path: Path,
    *,
    seed: int,
    orders: int = 1,
    prompts: Path | None = None,
) -> list[FeedbackRecord]:
    """The finished records, in input order; those with a failed judge call are left out (see above)."""
    labels = sorted(j.label for j in judges)
    wanted = {r.id: r for r in records}

    def reusable(row: dict[str, Any]) -> bool:
        try:
            saved = FeedbackRecord.model_validate(row)
        except ValueError:
            return False
        record = wanted.get(saved.id)
        if record is None or saved.responses != record.responses:
            return False
        if not _rateable(record):
            return not saved.judgements
        judged = sorted({j.judge for j in saved.judgements})
        return judged == labels and len(saved.judgements) == orders * len(judges)

    log = RecordLog(out_path)
    done = {k: FeedbackRecord.model_validate(v) for k, v in log.resume(reusable).items()}
    todo = [r for r in records if r.id not in done]
    jobs, slots = [], []
    for index, record in enumerate(todo):
        rateable = _rateable(record)
        if not rateable:
            continue
        for judge in judges:
            rng = random.Random(f"{seed}:order:{record.id}:{judge.label}")
            for k, order in enumerate(response_orders(rateable, orders, rng)):
                jobs.append((session.backend(judge.spec), judge_request(record, order, judge, prompts)))
                slots.append((index, judge.label, k, order))
    expected = {i: sum(1 for s in slots if s[0] == i) for i in range(len(todo))}
    partial: dict[int, list[Judgement]] = {i: [] for i in range(len(todo))}
    failed_calls: set[int] = set()
    with log:

        def finish(index: int) -> None:
            record = todo[index]
            judgements = partial.pop(index)
            if index in failed_calls:
                return  # not finished: the next run makes the failed call again
            done[record.id] = aggregate(record, judgements, [j.label for j in judges])
            log.append(done[record.id].model_dump())

        for index, count in expected.items():
            if count == 0:  # nothing to rate: every response failed
                finish(index)

        def on_result(job: int, result: LLMResult) -> None:
            index, label, k, order = slots[job]
            if not result.ok:
                failed_calls.add(index)
            ratings, rationales, error = parse_judgement(result, len(order))
            raw = result.text if error else None
            partial[index].append(Judgement(judge=label, order_index=k, order=order, ratings=ratings,
                                            rationales=rationales, raw=raw, error=error))  # fmt: skip
            if len(partial[index]) == expected[index]:
                finish(index)

        session.run("annotate", jobs, on_result)
    return [done[r.id] for r in records if r.id in done]


def _rateable(record: GenerationRecord) -> list[str]:
    failed = record.failed()
    return [m for m in record.models if m not in failed]


def aggregate(record: GenerationRecord, judgements: list[Judgement], judges: list[str]) -> FeedbackRecord:
    """A model's rating: the mean over orders per judge, then over judges; N/A if none is readable."""
    judgements = sorted(judgements, key=lambda j: (judges.index(j.judge), j.order_index))
    failed = record.failed()
    annotations = []
    for model in record.models:
        if model in failed:
            annotations.append(Annotation(model=model, rating=NA, rationale=f"no response ({failed[model]})"))
            continue
        per_judge = []
        rationale = ""
        for judge in judges:
            values = []
            for j in judgements:
                if j.judge == judge and model in j.order:
                    position = j.order.index(model)
                    value = rating_value(j.ratings[position])
                    if value is not None:
                        values.append(value)
                        rationale = rationale or j.rationales[position]
            if values:
                per_judge.append(mean(values))
        rating = format_rating(mean(per_judge)) if per_judge else NA
        annotations.append(Annotation(model=model, rating=rating, rationale=rationale))
    return FeedbackRecord(**record.model_dump(), annotations=annotations, judgements=judgements)


def flip_rate(records: list[FeedbackRecord]) -> dict[str, Any]:
    """How often two orders of the same judge disagree on which of two responses is better.

    Counted over (record, judge, pair of models, pair of orders) where both orders rated both
    models and at least one order prefers one; a flip is a strict reversal.
    """
    comparable = flips = 0
    for record in records:
        by_judge: dict[str, list[Judgement]] = {}
        for j in record.judgements:
            by_judge.setdefault(j.judge, []).append(j)
        for judgements in by_judge.values():
            scores = [{m: rating_value(r) for m, r in zip(j.order, j.ratings, strict=True)} for j in judgements]
            for first, second in itertools.combinations(scores, 2):
                for a, b in itertools.combinations(sorted(first), 2):
                    values = (first.get(a), first.get(b), second.get(a), second.get(b))
                    if any(v is None for v in values):
                        continue
                    d1, d2 = values[0] - values[1], values[2] - values[3]  # type: ignore[operator]
                    if d1 == 0 and d2 == 0:
                        continue
                    comparable += 1
                    flips += d1 * d2 < 0
    return {"comparable_pairs": comparable, "flips": flips, "flip_rate": flips / comparable if comparable else None}
