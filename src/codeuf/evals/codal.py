"""CODAL-Bench: answer, grade against a reference (1-10, single-answer grading as MT-Bench), score.

The bench is `coseal/codal-bench` (split `test`: `instruction, preference` and one
`<model>_response` column per reference model: gpt-3.5-turbo, gpt-4-turbo,
claude-3-sonnet-20240229) or a local file in that schema.

    OUT/answers.jsonl        one answer per item (append-only; a rerun skips finished ids)
    OUT/bench.jsonl          the items with their references, so grading needs no second download
    OUT/meta.json            the model, its spec and the bench source
    OUT/grades/JUDGE.jsonl   one grade per answer and judge (append-only)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from codeuf.data.schema import NA
from codeuf.data.sources import iter_rows, record_id
from codeuf.errors import InputError, invalid
from codeuf.io import RecordLog, atomic_write_text, read_jsonl_tolerant, write_jsonl_atomic
from codeuf.judging import DEFAULT_REFERENCE, JudgeConfig, Verdict, grade_job, run_judge_jobs
from codeuf.llm.batch.providers import batch_plan
from codeuf.llm.formats import get_format
from codeuf.llm.types import LLMRequest, LLMResult, Message
from codeuf.preferences import PREFERENCE_NAMES, get_preference
from codeuf.session import StageSession

_Record = TypeVar("_Record", bound=BaseModel)
HUB_ID = "coseal/codal-bench"
REFERENCE_MODELS = ("gpt-3.5-turbo", "gpt-4-turbo", "claude-3-sonnet-20240229")


class CodalItem(BaseModel):
    id: str
    instruction: str
    preference: str
    references: dict[str, str]


class CodalAnswer(BaseModel):
    id: str
    preference: str
    model: str
    answer: str
    error: str | None = None


class CodalGrade(BaseModel):
    id: str
    preference: str
    model: str
    judge: str
    reference_model: str
    rating: str = Field(
        description='"1".."10", an expectation such as "7.35" (logprobs), or "N/A" when the '
        "judge's answer could not be read."
    )
    rationale: str = ""
    raw: str | None = None
    error: str | None = None
    distribution: dict[str, float] | None = Field(None, description="The judge's probability of each grade (logprobs).")


def load_bench(source: str | Path | None, split: str = "test") -> list[CodalItem]:
    """Items of a bench in the released schema; bad rows give one line naming the row and field."""
    items = []
    for where, number, row in iter_rows(source or HUB_ID, split):
        for field in ("instruction", "preference"):
            if not isinstance(row.get(field), str):
                raise InputError("missing or not a string", path=where, line=number, field=field)
        if row["preference"] not in PREFERENCE_NAMES:
            raise InputError(f"unknown preference {row['preference']!r} (known: {', '.join(PREFERENCE_NAMES)})",
                             path=where, line=number, field="preference")  # fmt: skip
        references = {k.removesuffix("_response"): v for k, v in row.items() if k.endswith("_response") and v}
        for model, text in references.items():
            if not isinstance(text, str):
                raise InputError("not a string", path=where, line=number, field=f"{model}_response")
        identifier = str(row.get("id") or record_id(row["instruction"], row["preference"]))
        items.append(CodalItem(id=identifier, instruction=row["instruction"], preference=row["preference"],
                               references=references))  # fmt: skip
    if not items:
        raise InputError("no items: the bench is empty", path=str(source or HUB_ID))
    return items


def answer_request(item: CodalItem, *, max_tokens: int, prompt_format: str | None) -> LLMRequest:
    """As in the paper: the preference's principle, then the instruction; greedy decoding."""
    principle = get_preference(item.preference).principles[0]
    messages = [Message(role="user", content=f"{principle}\n\n{item.instruction}")]
    if prompt_format is None:
        return LLMRequest(messages=messages, temperature=0.0, max_tokens=max_tokens)
    fmt = get_format(prompt_format)
    return LLMRequest(prompt=fmt.render(messages), stop=list(fmt.stop), temperature=0.0, max_tokens=max_tokens)


def answer_bench(
    items: list[CodalItem],
    spec: str,
    out: Path,
    session: StageSession,
    *,
    label: str | None = None,
    max_tokens: int = 1024,
    prompt_format: str | None = None,
    source: str | None = None,
) -> list[CodalAnswer]:
    out.mkdir(parents=True, exist_ok=True)
    label = label or spec
    write_jsonl_atomic(out / "bench.jsonl", [i.model_dump() for i in items])
    meta = {"model": label, "spec": spec, "bench": source or HUB_ID, "max_tokens": max_tokens, "format": prompt_format}
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=2) + "\n")
    wanted = {i.id for i in items}
    log = RecordLog(out / "answers.jsonl")
    done, todo = log.resume_items(items, lambda r: r.get("id") in wanted and r.get("model") == label and
                                  r.get("error") is None, CodalAnswer.model_validate)  # fmt: skip
    backend = session.backend(spec)
    jobs = [(backend, answer_request(i, max_tokens=max_tokens, prompt_format=prompt_format)) for i in todo]
    with log:

        def on_result(index: int, result: LLMResult) -> None:
            if not result.ok:
                return  # not finished: the next run asks again
            item = todo[index]
            answer = CodalAnswer(id=item.id, preference=item.preference, model=label, answer=result.text or "")
            done[item.id] = answer
            log.append(answer.model_dump())

        session.run("codal-answer", jobs, on_result)
    return [done[i.id] for i in items if i.id in done]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "judge"


def read_folder_records(path: Path, model: type[_Record]) -> list[_Record]:
    """The records of a file codeuf appended to (a last line cut by a crash is skipped), each validated:
    a hand-edited or foreign line is one InputError naming the file, line and field."""
    from pydantic import ValidationError

    records = []
    for number, row in enumerate(read_jsonl_tolerant(path), start=1):
        try:
            records.append(model.model_validate(row))
        except ValidationError as exc:
            raise invalid(exc, path=path, line=number) from None
    return records


def check_answers(answers_dir: Path, reference_model: str) -> tuple[dict[str, CodalItem], list[CodalAnswer]]:
    """The items and answers of a folder made by `answer_bench`, checked: both present and readable, and
    every item with a reference from `reference_model`. Writes nothing."""
    if not Path(answers_dir).is_dir():
        raise InputError("not a folder made by `codeuf codal answer`", path=answers_dir, field="--answers")
    items = {i.id: i for i in read_folder_records(answers_dir / "bench.jsonl", CodalItem)}
    answers = read_folder_records(answers_dir / "answers.jsonl", CodalAnswer)
    if not items or not answers:
        raise InputError("no answers: run `codeuf codal answer` into this folder first", path=answers_dir)
    missing = [i for i in items.values() if reference_model not in i.references]
    if missing:
        known = ", ".join(sorted({m for i in items.values() for m in i.references})) or "none"
        raise InputError(f"item {missing[0].id} has no reference from {reference_model!r} (references: {known})",
                         path=answers_dir / "bench.jsonl", field=f"{reference_model}_response")  # fmt: skip
    strays = [a.id for a in answers if a.id not in items]
    if strays:
        raise InputError(f"answer {strays[0]!r} is to no item of bench.jsonl", path=answers_dir / "answers.jsonl")
    return items, answers


def grade_answers(
    answers_dir: Path,
    judge: JudgeConfig,
    session: StageSession,
    *,
    reference_model: str | None = None,
    prompts: Path | None = None,
) -> list[CodalGrade]:
    """Grade every answer in a folder made by `answer_bench` with one judge; the reference is the one given,
    else the judge's, else the paper's (gpt-4-turbo)."""
    reference_model = reference_model or judge.reference or DEFAULT_REFERENCE
    items, answers = check_answers(answers_dir, reference_model)
    # the last answer per item wins; one that failed (earlier versions of codeuf kept those) is not graded
    answers = [a for a in {a.id: a for a in answers}.values() if a.error is None]
    by_id = {a.id: a for a in answers}
    path = answers_dir / "grades" / f"{slug(judge.label)}.jsonl"
    log = RecordLog(path)
    done, todo = log.resume_items(answers, lambda g: g.get("id") in by_id and g.get("model") == by_id[g["id"]].model
                                  and g.get("reference_model") == reference_model and not _call_failed(g),
                                  CodalGrade.model_validate)  # fmt: skip
    jobs = [grade_job(judge, a.preference, items[a.id].instruction, items[a.id].references[reference_model], a.answer,
                      prompts) for a in todo]  # fmt: skip
    with log:

        def on_verdict(index: int, verdict: Verdict) -> None:
            if verdict.failed:
                return  # not finished: the next run asks again
            answer = todo[index]
            grade = CodalGrade(id=answer.id, preference=answer.preference, model=answer.model, judge=judge.label,
                               reference_model=reference_model, rating=verdict.ratings[0],
                               rationale=verdict.rationales[0], raw=verdict.raw, error=verdict.error,
                               distribution=verdict.distributions[0] if verdict.distributions else None)  # fmt: skip
            done[answer.id] = grade
            log.append(grade.model_dump())

        run_judge_jobs(session, "codal-grade", jobs, on_verdict)
    return [done[a.id] for a in answers if a.id in done]


def _call_failed(grade: dict[str, Any]) -> bool:
    """A grade line whose call failed (earlier versions of codeuf kept those): grade it again."""
    error = grade.get("error") or ""
    return error.split(":")[0] in ("rate_limit", "server", "timeout", "connection", "bad_response", "bad_request",
                                   "auth", "internal") or error.startswith("no answer")  # fmt: skip


def answer_folder(model: str, out: Path, bench: str | Path | None = None, *, name: str | None = None,
                  prompt_format: str | None = None, max_tokens: int = 1024, concurrency: int = 8,
                  progress: bool | None = None, batch_api: bool = False) -> tuple[int, int]:  # fmt: skip
    """`codeuf codal answer`: every problem of the bench answered by `model` into OUT/answers.jsonl (resumable);
    returns (answers, problems). Everything is checked before the first call."""
    from codeuf.io import check_writable_dir
    from codeuf.llm.formats import get_format

    check_writable_dir(out, "--out")
    if prompt_format is not None:
        get_format(prompt_format)
    items = load_bench(bench)
    session = StageSession(out / "cache.sqlite", concurrency, progress, batch=batch_plan(out, batch_api, [])[0])
    session.backend(model)
    with session.working_in(out):
        answers = answer_bench(items, model, out, session, label=name, max_tokens=max_tokens,
                               prompt_format=prompt_format, source=bench)  # fmt: skip
    return len(answers), len(items)


def grade_folder(answers: Path, judges: list[JudgeConfig], reference: str | None, concurrency: int = 8,
                 progress: bool | None = None, batch_api: bool = False) -> list[str]:  # fmt: skip
    """`codeuf codal grade`: every judge grades the folder's answers (checked before any call); one line each."""
    for judge in judges:
        check_answers(answers, reference or judge.reference or DEFAULT_REFERENCE)
    batch, specs = batch_plan(answers, batch_api, [j.spec for j in judges if j.batch_api])
    session = StageSession(answers / "cache.sqlite", concurrency, progress, batch=batch, batch_specs=specs)
    for judge in judges:
        session.backend(judge.spec)
    lines = []
    with session.working_in(answers):
        for judge in judges:
            grades = grade_answers(answers, judge, session, reference_model=reference)
            lines.append(f"{judge.label}: {len(grades)} grades, {sum(g.rating == NA for g in grades)} N/A")
    return lines
