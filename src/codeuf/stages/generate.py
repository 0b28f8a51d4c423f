"""Stage 2: one response per (instruction, assigned model), with a principle as system prompt.

The principle is drawn from the instruction's preference with a seeded RNG and recorded. A pool
entry with a prompt format gets a raw completion prompt (base and older instruct models); one
without gets chat messages. Records are appended as they complete; a rerun skips finished ids. A
record with a failed call is not finished: it is not written, and the next run makes just that call
again (the others come from the cache).
"""

from __future__ import annotations

import random
from pathlib import Path

from codeuf.config import PoolModel
from codeuf.data.schema import GenerationError, GenerationRecord, InstructionRecord, Response
from codeuf.io import RecordLog
from codeuf.llm.formats import get_format
from codeuf.llm.types import LLMRequest, LLMResult, Message
from codeuf.preferences import get_preference
from codeuf.session import StageSession, stable_seed


def generation_request(entry: PoolModel, principle: str, instruction: str, seed: int) -> LLMRequest:
    messages = [Message(role="system", content=principle), Message(role="user", content=instruction)]
    sampling = {"temperature": entry.temperature, "top_p": entry.top_p, "max_tokens": entry.max_tokens, "seed": seed}
    if entry.format is None:
        return LLMRequest(messages=messages, **sampling)
    fmt = get_format(entry.format)
    return LLMRequest(prompt=fmt.render(messages) + entry.prefill, stop=[*fmt.stop, *entry.stop], **sampling)


def recorded_response(entry: PoolModel, text: str) -> str:
    """The response as the model gave it: its prefill, then what it wrote (a code fence the prefill opened is
    closed, where generation stopped at the closing fence)."""
    text = entry.prefill + text
    if entry.prefill.count("```") % 2 == 1 and "```" in entry.stop and text.count("```") % 2 == 1:
        text = text.rstrip() + "\n```"
    return text.strip()


def pick_principle(seed: int, record_id: str, model: str, preference: str) -> str:
    return random.Random(f"{seed}:principle:{record_id}:{model}").choice(get_preference(preference).principles)


def generate_responses(
    records: list[InstructionRecord],
    pool: dict[str, PoolModel],
    session: StageSession,
    out_path: Path,
    seed: int,
) -> list[GenerationRecord]:
    """The finished records, in input order; those with a failed call are left out (see above)."""
    wanted = {r.id: r for r in records}
    log = RecordLog(out_path)
    # A saved record is reused only for the same assignment; anything else is generated again
    # (cheaply: the cache still has every call that was made).
    done, todo = log.resume_items(records, lambda row: _reusable(row, wanted), GenerationRecord.model_validate)
    jobs, slots = [], []
    for index, record in enumerate(todo):
        for model in record.models:
            entry = pool[model]
            principle = pick_principle(seed, record.id, model, record.preference)
            request = generation_request(entry, principle, record.instruction, stable_seed(seed, record.id, model))
            jobs.append((session.backend(entry.spec), request))
            slots.append((index, model, principle))
    partial: dict[int, dict[str, tuple[LLMResult, str]]] = {i: {} for i in range(len(todo))}
    with log:

        def on_result(job: int, result: LLMResult) -> None:
            index, model, principle = slots[job]
            partial[index][model] = (result, principle)
            record = todo[index]
            if len(partial[index]) == len(record.models):
                assembled = _assemble(record, partial.pop(index), pool)
                if not assembled.errors:
                    done[record.id] = assembled
                    log.append(assembled.model_dump())

        session.run("generate", jobs, on_result)
    return [done[r.id] for r in records if r.id in done]


def _reusable(row: dict, wanted: dict[str, InstructionRecord]) -> bool:
    """A saved line is kept if it is a complete generation of the same assignment."""
    record = wanted.get(row.get("id"))  # type: ignore[arg-type]
    if record is None or row.get("errors"):
        return False
    same = (row.get("instruction"), row.get("preference"), row.get("models"))
    if same != (record.instruction, record.preference, record.models):
        return False
    try:
        GenerationRecord.model_validate(row)
    except ValueError:
        return False
    return True


def _assemble(record: InstructionRecord, results: dict[str, tuple[LLMResult, str]],
              pool: dict[str, PoolModel]) -> GenerationRecord:  # fmt: skip
    responses, principles, errors = [], [], []
    for model in record.models:
        result, principle = results[model]
        principles.append(principle)
        if result.ok:
            responses.append(Response(model=model, response=recorded_response(pool[model], result.text or "")))
        else:
            assert result.error is not None
            responses.append(Response(model=model, response=""))
            errors.append(GenerationError(model=model, error=f"{result.error.kind}: {result.error.message}"))
    return GenerationRecord(**record.model_dump(), responses=responses, principles=principles, errors=errors)
