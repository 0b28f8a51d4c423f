"""Stage 1: the instruction pool, as in the paper.

Drop instructions with CJK characters, drop exact duplicates, shuffle with the seed, keep n,
assign the five preferences round-robin (balanced), and give each instruction k distinct models
drawn from the pool.
"""

from __future__ import annotations

import random
import re
from typing import Any

from codeuf.data.schema import InstructionRecord
from codeuf.data.sources import Instruction
from codeuf.errors import InputError
from codeuf.preferences import PREFERENCE_NAMES

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]")


def has_cjk(text: str) -> bool:
    return CJK.search(text) is not None


def build_instruction_pool(
    instructions: list[Any],
    *,
    n: int,
    seed: int,
    pool: list[str],
    models_per_instruction: int,
) -> tuple[list[InstructionRecord], dict[str, int]]:
    """Returns the records and the counts of what each step removed. `instructions` are Instructions of
    `codeuf.data.sources` (or plain (id, text) pairs); their tests, entry point and solution ride along."""
    if models_per_instruction > len(pool):
        raise InputError(f"models per instruction ({models_per_instruction}) exceeds the pool ({len(pool)} models)")
    items = [i if isinstance(i, Instruction) else Instruction(*i) for i in instructions]
    kept = [i for i in items if i.text.strip() and not has_cjk(i.text)]
    with_cjk = sum(1 for i in items if has_cjk(i.text))
    seen: set[str] = set()
    unique = []
    for item in kept:
        if item.text not in seen:
            seen.add(item.text)
            unique.append(item)
    random.Random(seed).shuffle(unique)
    chosen = unique[:n]
    records = []
    for index, item in enumerate(chosen):
        rng = random.Random(f"{seed}:models:{item.id}")
        records.append(
            InstructionRecord(
                id=item.id,
                instruction=item.text,
                preference=PREFERENCE_NAMES[index % len(PREFERENCE_NAMES)],
                models=rng.sample(pool, models_per_instruction),
                tests=item.tests,
                entry_point=item.entry_point,
                solution=item.solution,
            )
        )
    stats = {
        "source": len(items),
        "dropped_cjk": with_cjk,
        "dropped_empty": sum(1 for i in items if not i.text.strip()),
        "dropped_duplicates": len(kept) - len(unique),
        "kept": len(records),
    }
    return records, stats
