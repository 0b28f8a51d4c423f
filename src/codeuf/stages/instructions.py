"""Stage 1: the instruction pool, as in the paper.

Drop instructions with CJK characters, drop exact duplicates, shuffle with the seed, keep n,
assign the five preferences round-robin (balanced), and give each instruction k distinct models
drawn from the pool.
"""

from __future__ import annotations

import random
import re

from codeuf.data.schema import InstructionRecord
from codeuf.errors import InputError
from codeuf.preferences import PREFERENCE_NAMES

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]")


def has_cjk(text: str) -> bool:
    return CJK.search(text) is not None


def build_instruction_pool(
    instructions: list[tuple[str, str]],
    *,
    n: int,
    seed: int,
    pool: list[str],
    models_per_instruction: int,
) -> tuple[list[InstructionRecord], dict[str, int]]:
    """Returns the records and the counts of what each step removed."""
    if models_per_instruction > len(pool):
        raise InputError(f"models per instruction ({models_per_instruction}) exceeds the pool ({len(pool)} models)")
    kept = [(i, t) for i, t in instructions if t.strip() and not has_cjk(t)]
    with_cjk = sum(1 for _, t in instructions if has_cjk(t))
    seen: set[str] = set()
    unique = []
    for identifier, text in kept:
        if text not in seen:
            seen.add(text)
            unique.append((identifier, text))
    random.Random(seed).shuffle(unique)
    chosen = unique[:n]
    records = []
    for index, (identifier, text) in enumerate(chosen):
        rng = random.Random(f"{seed}:models:{identifier}")
        records.append(
            InstructionRecord(
                id=identifier,
                instruction=text,
                preference=PREFERENCE_NAMES[index % len(PREFERENCE_NAMES)],
                models=rng.sample(pool, models_per_instruction),
            )
        )
    stats = {
        "source": len(instructions),
        "dropped_cjk": with_cjk,
        "dropped_empty": sum(1 for _, t in instructions if not t.strip()),
        "dropped_duplicates": len(kept) - len(unique),
        "kept": len(records),
    }
    return records, stats
