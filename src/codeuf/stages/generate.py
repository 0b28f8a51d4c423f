"""Stage 2: one response per (instruction, assigned model), with a principle as system prompt.

The principle is drawn from the instruction's preference with a seeded RNG and recorded. A pool
entry with a prompt format gets a raw completion prompt (base and older instruct models); one
without gets chat messages. Records are appended as they complete; a rerun skips finished ids.
"""

from __future__ import annotations

import random
from pathlib import Path

from codeuf.config import PoolModel
from codeuf.data.io import JsonlAppender, read_jsonl_tolerant
from codeuf.data.schema import GenerationError, GenerationRecord, InstructionRecord, Response
from codeuf.llm.formats import get_format
from codeuf.llm.types import LLMRequest, LLMResult, Message
from codeuf.preferences import get_preference
from codeuf.stages.session import StageSession, stable_seed


def generation_request(entry: PoolModel, principle: str, instruction: str, seed: int) -> LLMRequest:
    messages = [Message(role="system", content=principle), Message(role="user", content=instruction)]
    sampling = {"temperature": entry.temperature, "top_p": entry.top_p, "max_tokens": entry.max_tokens, "seed": seed}
    if entry.format is None:
        return LLMRequest(messages=messages, **sampling)
    fmt = get_format(entry.format)
    return LLMRequest(prompt=fmt.render(messages), stop=list(fmt.stop), **sampling)


def pick_principle(seed: int, record_id: str, model: str, preference: str) -> str:
    return random.Random(f"{seed}:principle:{record_id}:{model}").choice(get_preference(preference).principles)


def generate_responses(
    records: list[InstructionRecord],
    pool: dict[str, PoolModel],
    session: StageSession,
    out_path: Path,
    seed: int,
) -> list[GenerationRecord]:
    saved = {r["id"]: GenerationRecord.model_validate(r) for r in read_jsonl_tolerant(out_path)}
    # A saved record is reused only for the same assignment; anything else is generated again
    # (cheaply: the cache still has every call that was made).
    done = {r.id: saved[r.id] for r in records if r.id in saved and _same_task(saved[r.id], r)}
    todo = [r for r in records if r.id not in done]
    jobs, slots = [], []
    for index, record in enumerate(todo):
        for model in record.models:
            entry = pool[model]
            principle = pick_principle(seed, record.id, model, record.preference)
            request = generation_request(entry, principle, record.instruction, stable_seed(seed, record.id, model))
            jobs.append((session.backend(entry.spec), request))
            slots.append((index, model, principle))
    partial: dict[int, dict[str, tuple[LLMResult, str]]] = {i: {} for i in range(len(todo))}
    with JsonlAppender(out_path) as out:

        def on_result(job: int, result: LLMResult) -> None:
            index, model, principle = slots[job]
            partial[index][model] = (result, principle)
            record = todo[index]
            if len(partial[index]) == len(record.models):
                done[record.id] = _assemble(record, partial.pop(index))
                out.append(done[record.id].model_dump())

        session.run("generate", jobs, on_result)
    return [done[r.id] for r in records]


def _same_task(saved: InstructionRecord, record: InstructionRecord) -> bool:
    return (saved.instruction, saved.preference, saved.models) == (record.instruction, record.preference, record.models)


def _assemble(record: InstructionRecord, results: dict[str, tuple[LLMResult, str]]) -> GenerationRecord:
    responses, principles, errors = [], [], []
    for model in record.models:
        result, principle = results[model]
        principles.append(principle)
        if result.ok:
            responses.append(Response(model=model, response=(result.text or "").strip()))
        else:
            assert result.error is not None
            responses.append(Response(model=model, response=""))
            errors.append(GenerationError(model=model, error=f"{result.error.kind}: {result.error.message}"))
    return GenerationRecord(**record.model_dump(), responses=responses, principles=principles, errors=errors)
