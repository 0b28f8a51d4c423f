"""Stage 4: binarize ratings into chosen/rejected pairs for DPO.

Chosen is a highest-rated response, rejected a lowest-rated one, ties between equally rated
responses broken with the seeded RNG; N/A ratings are left out. When every readable rating is the
same, the paper keeps a pair anyway; here `ties="drop"` (the default) drops it and counts it.
Pairs whose margin is below `min_margin` are dropped and counted too. The split into train and
test is stratified by preference.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from typing import Any, Literal

from codeuf.data.schema import FeedbackRecord, rating_value


def binarize_feedback(
    records: list[FeedbackRecord],
    *,
    seed: int,
    ties: Literal["keep", "drop"] = "drop",
    min_margin: float = 0.0,
    test_fraction: float = 0.05,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Returns ({"train": rows, "test": rows}, statistics)."""
    counts: Counter[str] = Counter()
    rows = []
    for record in records:
        rng = random.Random(f"{seed}:binarize:{record.id}")
        texts = {r.model: r.response for r in record.responses}
        failed = record.failed()
        rated = [
            (a.model, value)
            for a in record.annotations
            if (value := rating_value(a.rating)) is not None and a.model not in failed
        ]
        if len(rated) < 2:
            counts["dropped_too_few_ratings"] += 1
            continue
        best = max(v for _, v in rated)
        worst = min(v for _, v in rated)
        if best == worst:
            if ties == "drop":
                counts["dropped_ties"] += 1
                continue
            counts["kept_ties"] += 1
            chosen, rejected = rng.sample([m for m, _ in rated], 2)
        else:
            chosen = rng.choice([m for m, v in rated if v == best])
            rejected = rng.choice([m for m, v in rated if v == worst])
        if best - worst < min_margin:
            counts["dropped_margin"] += 1
            continue
        rows.append(_row(record, texts, chosen, rejected, best, worst))
    splits = stratified_split(rows, test_fraction, seed)
    stats = {
        "records": len(records),
        "pairs": len(rows),
        "train": len(splits["train"]),
        "test": len(splits["test"]),
        **{k: counts.get(k, 0) for k in ("dropped_ties", "kept_ties", "dropped_margin", "dropped_too_few_ratings")},
    }
    return splits, stats


def _row(record: FeedbackRecord, texts: dict[str, str], chosen: str, rejected: str, best: float, worst: float) -> dict:
    released = {
        "id": record.id,
        "instruction": record.instruction,
        "preference": record.preference,
        "models": record.models,
        "responses": [r.model_dump() for r in record.responses],
        "annotations": [a.model_dump() for a in record.annotations],
        "chosen": texts[chosen],
        "rejected": texts[rejected],
        "rating_chosen": best,
        "rating_rejected": worst,
        "model_chosen": chosen,
        "model_rejected": rejected,
    }
    return released


def stratified_split(rows: list[dict[str, Any]], test_fraction: float, seed: int) -> dict[str, list[dict[str, Any]]]:
    """round(total * fraction) rows go to test, shared among preferences in proportion to their size
    (largest remainder), each preference shuffled with the seed."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["preference"]].append(row)
    names = sorted(groups)
    quotas = {p: len(groups[p]) * test_fraction for p in names}
    n_test = {p: int(quotas[p]) for p in names}
    left = round(len(rows) * test_fraction) - sum(n_test.values())
    for p in sorted(names, key=lambda p: (-(quotas[p] - n_test[p]), p))[: max(0, left)]:
        n_test[p] += 1
    train: list[dict[str, Any]] = []
    test: list[dict[str, Any]] = []
    for preference in names:
        group = groups[preference]
        random.Random(f"{seed}:split:{preference}").shuffle(group)
        test.extend(group[: n_test[preference]])
        train.extend(group[n_test[preference] :])
    return {"train": train, "test": test}


def trl_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TRL's conversational preference format, which DPOTrainer takes as it is."""
    return [
        {
            "prompt": [{"role": "user", "content": row["instruction"]}],
            "chosen": [{"role": "assistant", "content": row["chosen"]}],
            "rejected": [{"role": "assistant", "content": row["rejected"]}],
            "preference": row["preference"],
        }
        for row in rows
    ]
