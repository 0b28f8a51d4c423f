"""Stage 3: an LLM judge rates each instruction's responses 1-5 on its preference's rubric.

One call per (instruction, judge, order): the responses are shown in a seeded random order,
recorded with the result. codeuf.judging builds the call and reads the verdict with the judge's method:
`json`, JSON constrained by a schema whose ratings are enums where the backend supports it (a tolerant
parser reads what it can of other answers), or `logprobs`, each rating the expectation over the rating
tokens' probabilities (fractional, its distribution kept);
whatever is still unreadable is "N/A" with the raw text kept (the same request would give the same
answer, so it stays N/A; `--refresh` asks again). A call that failed is different: its record is
not finished, is not written, and the next run makes just that call again. With several orders or
judges, a model's rating is the mean of its readable ratings (per judge over orders, then over judges).
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from statistics import mean
from typing import Any

from codeuf.data.schema import NA, Annotation, FeedbackRecord, GenerationRecord, Judgement, format_rating, rating_value
from codeuf.io import RecordLog
from codeuf.judging import TASKS, JudgeConfig, JudgeJob, Verdict, rate_job, run_judge_jobs
from codeuf.session import StageSession


def judge_schema(n: int, rationale_chars: int) -> dict[str, Any]:
    """The rating task's output: ratings as enums (llama.cpp ignores minimum/maximum) and bounded rationales."""
    return TASKS["rate"].schema(n, rationale_chars)


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


def judge_job(record: GenerationRecord, order: list[str], judge: JudgeConfig, prompts: Path | None) -> JudgeJob:
    """The judge call that rates the record's responses in this order (codeuf.judging builds and reads it)."""
    texts = {r.model: r.response for r in record.responses}
    return rate_job(judge, record.preference, record.instruction, [texts[m] for m in order],
                    [test_evidence(record, m) for m in order], prompts)  # fmt: skip


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
    log = RecordLog(out_path)
    done, todo = log.resume_items(records, _reusable(records, judges, orders), FeedbackRecord.model_validate)
    jobs, slots = _judge_calls(todo, judges, seed, orders, prompts)
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

        def on_verdict(job: int, verdict: Verdict) -> None:
            index, label, k, order = slots[job]
            if verdict.failed:
                failed_calls.add(index)
            partial[index].append(Judgement(judge=label, order_index=k, order=order, ratings=verdict.ratings,
                                            rationales=verdict.rationales, raw=verdict.raw, error=verdict.error,
                                            distributions=verdict.distributions))  # fmt: skip
            if len(partial[index]) == expected[index]:
                finish(index)

        run_judge_jobs(session, "annotate", jobs, on_verdict)
    return [done[r.id] for r in records if r.id in done]


def _reusable(records: list[GenerationRecord], judges: list[JudgeConfig], orders: int) -> Any:
    """Whether a saved line is a finished annotation of the same responses by the same judges and orders."""
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

    return reusable


def _judge_calls(todo: list[GenerationRecord], judges: list[JudgeConfig], seed: int, orders: int,
                 prompts: Path | None) -> tuple[list[JudgeJob], list[tuple[int, str, int, list[str]]]]:  # fmt: skip
    """Every judge call of the records to do, each with its (record index, judge, order index, order)."""
    jobs, slots = [], []
    for index, record in enumerate(todo):
        rateable = _rateable(record)
        if not rateable:
            continue
        for judge in judges:
            rng = random.Random(f"{seed}:order:{record.id}:{judge.label}")
            for k, order in enumerate(response_orders(rateable, orders, rng)):
                jobs.append(judge_job(record, order, judge, prompts))
                slots.append((index, judge.label, k, order))
    return jobs, slots


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
