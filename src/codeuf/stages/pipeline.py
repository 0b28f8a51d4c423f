"""`codeuf run`: instructions -> generate -> annotate -> binarize, in one run folder.

OUT/instructions.jsonl   the pool (ids, preferences, assigned models)
OUT/generations.jsonl    append-only; a rerun skips finished ids
OUT/annotations.jsonl    append-only; a rerun skips finished ids
OUT/feedback/            coseal/CodeUltraFeedback schema: hf/ (DatasetDict), train.parquet, train.jsonl, README.md
OUT/binarized/           coseal/CodeUltraFeedback_binarized schema, train/test
OUT/binarized_trl/       TRL conversational prompt/chosen/rejected, train/test
OUT/manifest.json        config, versions, counts, statistics, tokens and wall time per stage
OUT/cache.sqlite         every LLM call; a rerun makes none
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeuf.config import RunConfig
from codeuf.data.card import binarized_card, feedback_card, feedback_stats
from codeuf.data.io import write_jsonl_atomic
from codeuf.data.save import save_dataset
from codeuf.data.sources import load_instructions
from codeuf.manifest import write_manifest
from codeuf.stages.annotate import annotate_responses, flip_rate
from codeuf.stages.binarize import binarize_feedback, trl_rows
from codeuf.stages.generate import generate_responses
from codeuf.stages.instructions import build_instruction_pool
from codeuf.stages.session import StageSession


@dataclass
class RunSummary:
    out: Path
    instructions: dict[str, int]
    feedback: dict[str, Any]
    flips: dict[str, Any]
    binarized: dict[str, Any]
    stages: dict[str, Any]
    wall_time_s: float


def run_pipeline(config: RunConfig, progress: bool | None = None) -> RunSummary:
    started = time.perf_counter()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = config.model_dump(mode="json")
    session = StageSession(out / "cache.sqlite", config.concurrency, progress)
    try:
        instructions = load_instructions(config.source, config.column, config.split)
        records, pool_stats = build_instruction_pool(
            instructions, n=config.n, seed=config.seed, pool=list(config.pool),
            models_per_instruction=config.models_per_instruction,
        )  # fmt: skip
        write_jsonl_atomic(out / "instructions.jsonl", [r.model_dump() for r in records])
        generations = generate_responses(records, config.pool, session, out / "generations.jsonl", config.seed)
        feedback = annotate_responses(
            generations, config.judges, session, out / "annotations.jsonl",
            seed=config.seed, orders=config.orders, prompts=config.prompts,
        )  # fmt: skip
        summary = save_outputs(config, feedback, session.stages, settings)
    finally:
        session.close()
    wall = round(time.perf_counter() - started, 3)
    write_manifest(
        out / "manifest.json", stage="run", config=settings, instructions=pool_stats, feedback=summary["feedback"],
        flips=summary["flips"], binarized=summary["binarized"], stages=session.stages, wall_time_s=wall,
    )  # fmt: skip
    return RunSummary(
        out, pool_stats, summary["feedback"], summary["flips"], summary["binarized"], session.stages, wall
    )


def save_outputs(config: RunConfig, feedback: list, stages: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Write the feedback and binarized datasets with their cards; returns their statistics."""
    stats, flips = save_feedback(config, feedback, stages, settings)
    return {"feedback": stats, "flips": flips, "binarized": save_binarized(config, feedback, settings)}


def save_feedback(
    config: RunConfig, feedback: list, stages: dict[str, Any], settings: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    stats, flips = feedback_stats(feedback), flip_rate(feedback)
    save_dataset(Path(config.out) / "feedback", {"train": [r.model_dump() for r in feedback]},
                 feedback_card(settings, stats, stages, flips))  # fmt: skip
    return stats, flips


def save_binarized(config: RunConfig, feedback: list, settings: dict[str, Any]) -> dict[str, Any]:
    out = Path(config.out)
    splits, stats = binarize_feedback(
        feedback, seed=config.seed, ties=config.ties, min_margin=config.min_margin, test_fraction=config.test_fraction
    )
    save_dataset(out / "binarized", splits, binarized_card(settings, stats))
    save_dataset(out / "binarized_trl", {k: trl_rows(v) for k, v in splits.items()},
                 binarized_card(settings, stats, trl=True))  # fmt: skip
    return stats


# One stage at a time, for the stage commands. Each reads the previous stage's output in the run
# folder, or `source`: a file, a saved dataset folder or a hub id in the released schema.


def _records(source: str | Path | None, default: Path, model: type) -> list:
    from codeuf.data.sources import load_records
    from codeuf.errors import InputError

    path = source if source is not None else default
    if source is None and not Path(default).exists():
        raise InputError("not found: run the previous stage first, or give --input", path=default)
    return load_records(path, model)


def stage_instructions(config: RunConfig) -> tuple[Path, dict[str, int]]:
    out = Path(config.out)
    records, stats = build_instruction_pool(
        load_instructions(config.source, config.column, config.split), n=config.n, seed=config.seed,
        pool=list(config.pool), models_per_instruction=config.models_per_instruction,
    )  # fmt: skip
    write_jsonl_atomic(out / "instructions.jsonl", [r.model_dump() for r in records])
    return out / "instructions.jsonl", stats


def stage_generate(config: RunConfig, source: str | Path | None = None, progress: bool | None = None) -> Path:
    from codeuf.data.schema import InstructionRecord

    out = Path(config.out)
    records = _records(source, out / "instructions.jsonl", InstructionRecord)
    session = StageSession(out / "cache.sqlite", config.concurrency, progress)
    try:
        generate_responses(records, config.pool, session, out / "generations.jsonl", config.seed)
    finally:
        session.close()
    return out / "generations.jsonl"


def stage_annotate(config: RunConfig, source: str | Path | None = None, progress: bool | None = None) -> Path:
    """Annotate generations (or re-annotate a released dataset) and save the feedback dataset."""
    from codeuf.data.schema import GenerationRecord

    out = Path(config.out)
    records = _records(source, out / "generations.jsonl", GenerationRecord)
    session = StageSession(out / "cache.sqlite", config.concurrency, progress)
    try:
        feedback = annotate_responses(
            records, config.judges, session, out / "annotations.jsonl",
            seed=config.seed, orders=config.orders, prompts=config.prompts,
        )  # fmt: skip
    finally:
        session.close()
    save_feedback(config, feedback, session.stages, config.model_dump(mode="json"))
    return out / "feedback"


def stage_binarize(config: RunConfig, source: str | Path | None = None) -> tuple[Path, dict[str, Any]]:
    from codeuf.data.schema import FeedbackRecord

    out = Path(config.out)
    feedback = _records(source, out / "annotations.jsonl", FeedbackRecord)
    stats = save_binarized(config, feedback, config.model_dump(mode="json"))
    return out / "binarized", stats
