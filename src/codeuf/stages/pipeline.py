"""`codeuf run`: instructions -> generate -> annotate -> binarize, in one run folder.

OUT/instructions.jsonl   the pool (ids, preferences, assigned models)
OUT/tests.jsonl          with `synthesize_tests`: the instructions with the tests a model wrote (append-only)
OUT/generations.jsonl    append-only; a rerun skips finished ids
OUT/executions.jsonl     where instructions have tests: each response run against them (append-only)
OUT/annotations.jsonl    append-only; a rerun skips finished ids
OUT/feedback/            coseal/CodeUltraFeedback schema: hf/ (DatasetDict), train.parquet, train.jsonl, README.md
OUT/binarized/           coseal/CodeUltraFeedback_binarized schema, train/test
OUT/binarized_trl/       TRL conversational prompt/chosen/rejected, train/test
OUT/manifest.json        config, versions, counts, statistics, tokens and wall time per stage
OUT/cache.sqlite         every LLM call; a rerun makes none
OUT/.codeuf.lock         while a command runs: one process per run folder

Everything that can be checked is checked before the first call, and nothing is written, not even
the cache, when a check fails: the config (specs, formats, judge names, types), the run folder (a
writable folder), the prompt templates (rendered once on a sample), the source (readable, and not
empty after filtering) and the models (a missing API key or GGUF is one line).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeuf.config import RunConfig, config_changes
from codeuf.config.manifest import write_manifest
from codeuf.data.card import binarized_card, feedback_card, feedback_stats, test_stats
from codeuf.data.save import save_dataset
from codeuf.data.schema import GenerationRecord, InstructionRecord, Response
from codeuf.data.sources import BUILTIN_INSTRUCTIONS, BUILTIN_SOURCES, load_instructions
from codeuf.errors import EmptyOutputError, InputError
from codeuf.io import check_writable_dir, folder_lock, write_jsonl_atomic
from codeuf.preferences import PREFERENCE_NAMES
from codeuf.session import StageSession, failure_summary
from codeuf.stages.annotate import annotate_responses, flip_rate, judge_job
from codeuf.stages.biases import measure_biases
from codeuf.stages.binarize import binarize_feedback, check_pairs, trl_rows
from codeuf.stages.execute import execute_responses, execution_stats
from codeuf.stages.generate import generate_responses, generation_request
from codeuf.stages.instructions import build_instruction_pool
from codeuf.stages.signals import feedback_signals, pair_signals
from codeuf.stages.synthesize import synthesis_request, synthesize_tests


@dataclass
class RunSummary:
    out: Path
    instructions: dict[str, int]
    feedback: dict[str, Any]
    flips: dict[str, Any]
    binarized: dict[str, Any]
    stages: dict[str, Any]
    wall_time_s: float
    failures: str | None = None
    """One line on the calls that failed after retries (their records are left for the next run), or None."""
    executions: dict[str, Any] | None = None
    """Execution outcomes (codeuf execute), where instructions had tests."""
    warnings: list[dict[str, Any]] = field(default_factory=list)
    """What the run's signals drew (codeuf.stages.signals): each with its code, figure and message."""

    def to_json(self) -> str:
        import dataclasses
        import json

        return json.dumps(dataclasses.asdict(self), indent=2, default=str)


# ----------------------------------------------------------------------------- checks before any call


def check_config(config: RunConfig) -> None:
    """What a config can get wrong beyond its types, checked without writing anything. Every command that
    takes a config checks it whole, so a mistake in the judge's prompt shows before anything is paid for."""
    check_writable_dir(config.out, "out")
    builtin = config.source is None or config.source in BUILTIN_SOURCES or config.source.startswith("builtin:tasks:")
    if builtin and config.column != "instruction":
        raise InputError("a column is read from a `source`; the built-in sample has only `instruction`",
                         field="column")  # fmt: skip
    sample = GenerationRecord(
        id="check", instruction="Reverse a string.", preference=PREFERENCE_NAMES[0],
        models=[f"m{i}" for i in range(config.models_per_instruction)],
        responses=[Response(model=f"m{i}", response="def f(s): return s[::-1]")
                   for i in range(config.models_per_instruction)],
    )  # fmt: skip
    for entry in config.pool.values():
        generation_request(entry, "principle", sample.instruction, 0)
    if config.prompts is not None and not Path(config.prompts).is_dir():
        raise InputError("not a folder of prompt templates", path=config.prompts, field="prompts")
    for judge in config.judges:
        judge_job(sample, sample.models, judge, config.prompts)
    if config.synthesize_tests is not None:
        synthesis_request(sample, None, None, config.synthesize_tests, config.prompts)
        synthesis_request(sample, "f", "def f(s)", config.synthesize_tests, config.prompts)


def model_specs(config: RunConfig) -> list[str]:
    """Every model a run calls: the pool, the judges, the test writer and the pair check."""
    writer = [config.synthesize_tests.spec] if config.synthesize_tests else []
    check = [config.pair_check.spec] if config.pair_check else []
    return [e.spec for e in config.pool.values()] + [j.spec for j in config.judges] + writer + check


def load_models(session: StageSession, specs: list[str]) -> None:
    """Build every backend now, so that a missing key, file or package is one line before any write."""
    for spec in dict.fromkeys(specs):
        session.backend(spec)


def instruction_pool(config: RunConfig) -> tuple[list[InstructionRecord], dict[str, int]]:
    """The run's instructions; a source with none left after filtering is bad input."""
    records, stats = build_instruction_pool(
        load_instructions(config.source, config.column, config.split, config.solution_column),
        n=config.n, seed=config.seed, pool=list(config.pool), models_per_instruction=config.models_per_instruction,
    )  # fmt: skip
    check_evalplus_sources(records)
    if not records:
        raise InputError(
            f"no instructions left of {stats['source']}: {stats['dropped_cjk']} with CJK characters, "
            f"{stats['dropped_empty']} empty, {stats['dropped_duplicates']} duplicates",
            path=config.source or BUILTIN_INSTRUCTIONS, field=config.column,
        )  # fmt: skip
    return records, stats


def check_evalplus_sources(records: list[InstructionRecord]) -> None:
    """EvalPlus tasks among the instructions: their files read whole now, every field checked, so that a bad
    row is one line before anything is generated (the execute stage would find it after paying for calls)."""
    from codeuf.execution.evalplus import load_tasks

    for dataset, data in sorted({(r.tests.dataset, r.tests.data) for r in records
                                 if r.tests is not None and r.tests.kind == "evalplus"}):  # fmt: skip
        load_tasks(dataset, data)


# ----------------------------------------------------------------------------- codeuf run


def run_pipeline(config: RunConfig, progress: bool | None = None, recorded: dict[str, Any] | None = None) -> RunSummary:
    """The whole run. `recorded` is the config the folder was made with, if any: the manifest records what
    changed. A run that makes no pair leaves the folder's earlier pairs as they were (RunSummary says so)."""
    started = time.perf_counter()
    out = Path(config.out)
    settings = config.model_dump(mode="json")
    check_config(config)
    records, pool_stats = instruction_pool(config)
    # before the models are loaded: on Ray, their replicas may hold every CPU the sandbox actors need
    records = checked_tests(config, records)
    session = StageSession.for_run(config, progress)
    load_models(session, model_specs(config))
    with session.working_in(out, raise_failures=False):  # failures are in the summary and the manifest
        write_jsonl_atomic(out / "instructions.jsonl", [r.model_dump() for r in records])
        tested = run_synthesis(config, records, session, progress)
        generations = generate_responses(tested, config.pool, session, out / "generations.jsonl", config.seed)
        executed = run_executions(config, generations, progress)
        feedback = annotate_responses(
            executed, config.judges, session, out / "annotations.jsonl",
            seed=config.seed, orders=config.orders, prompts=config.prompts,
        )  # fmt: skip
        summary = save_outputs(config, feedback, session, settings)
        wall = round(time.perf_counter() - started, 3)
        failures = failure_summary(session.stages)
        write_manifest(
            out / "manifest.json", stage="run", config=settings, instructions=pool_stats, feedback=summary["feedback"],
            flips=summary["flips"], binarized=summary["binarized"], stages=session.stages, wall_time_s=wall,
            executions=execution_stats(executed), tests=test_stats(executed),
            unfinished={"tests": len(records) - len(tested), "generate": len(tested) - len(generations),
                        "annotate": len(generations) - len(feedback)},
            failures=failures, warnings=summary["binarized"]["warnings"], changes=config_changes(recorded, config),
        )  # fmt: skip
    return RunSummary(out, pool_stats, summary["feedback"], summary["flips"], summary["binarized"], session.stages,
                      wall, failures, execution_stats(executed), summary["binarized"]["warnings"])  # fmt: skip


def checked_tests(config: RunConfig, records: list[InstructionRecord]) -> list[InstructionRecord]:
    """The records with their given tests run against their reference solutions first (codeuf.stages.
    given_tests), where the run executes code."""
    if not config.execute:
        return records
    from codeuf.stages.given_tests import check_given_tests

    return check_given_tests(records, config.execution_workers)


def run_synthesis(config: RunConfig, records: list[InstructionRecord], session: StageSession,
                  progress: bool | None) -> list[InstructionRecord]:  # fmt: skip
    """The records with the tests a model wrote, where the config asks for them (OUT/tests.jsonl)."""
    if config.synthesize_tests is None:
        return records
    return synthesize_tests(records, config.synthesize_tests, session, Path(config.out) / "tests.jsonl",
                            workers=config.execution_workers, prompts=config.prompts, progress=progress)  # fmt: skip


def run_executions(config: RunConfig, records: list[GenerationRecord], progress: bool | None) -> list:
    """The records with their executions, where the config executes and an instruction has tests."""
    if not config.execute or not any(r.tests is not None for r in records):
        return records
    return execute_responses(records, Path(config.out) / "executions.jsonl", config.execution_workers, progress)


def save_outputs(config: RunConfig, feedback: list, session: StageSession, settings: dict[str, Any]) -> dict[str, Any]:
    """Write the feedback and binarized datasets with their cards; returns their statistics."""
    stats, flips = save_feedback(config, feedback, session.stages, settings)
    binarized = save_binarized(config, feedback, settings, session, feedback_warnings=stats["warnings"])
    return {"feedback": stats, "flips": flips, "binarized": binarized}


def save_feedback(
    config: RunConfig, feedback: list, stages: dict[str, Any], settings: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    stats, flips = feedback_stats(feedback), flip_rate(feedback)
    stats["biases"] = measure_biases(feedback, named_specs(config), config.seed)
    stats["warnings"] = [w.as_dict() for w in feedback_signals(stats, flips, config.warn)]
    if not feedback:
        return stats, flips  # an empty dataset never replaces the feedback the folder has
    save_dataset(Path(config.out) / "feedback", {"train": [r.model_dump() for r in feedback]},
                 feedback_card(settings, stats, stages, flips))  # fmt: skip
    return stats, flips


def named_specs(config: RunConfig) -> dict[str, str]:
    """Pool and judge names to their specs (a model's family is read from both)."""
    return {**{name: entry.spec for name, entry in config.pool.items()}, **{j.label: j.spec for j in config.judges}}


def save_binarized(config: RunConfig, feedback: list, settings: dict[str, Any], session: StageSession | None = None,
                   feedback_warnings: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    """Write the pairs with their cards, unless there are none. `feedback_warnings`: what the feedback's signals
    drew, where the caller has just computed them (`save_feedback`); else they are computed here."""
    out = Path(config.out)
    splits, stats = binarize_feedback(
        feedback, seed=config.seed, ties=config.ties, min_margin=config.min_margin,
        test_fraction=config.test_fraction, criterion=config.criterion,
        order_disagreements=config.order_disagreements, length_control=config.length_control,
    )  # fmt: skip
    if config.pair_check is not None and session is not None:
        splits, stats["pair_check"] = check_pairs(splits, config.pair_check, session)
        stats.update(pairs=sum(map(len, splits.values())), train=len(splits["train"]), test=len(splits["test"]))
    if feedback_warnings is None:
        feedback_warnings = [w.as_dict() for w in feedback_signals(feedback_stats(feedback), flip_rate(feedback),
                                                                    config.warn)]  # fmt: skip
    stats["warnings"] = feedback_warnings + [w.as_dict() for w in pair_signals(stats, splits, config.warn)]
    stats["written"] = bool(stats["pairs"])
    if not stats["pairs"]:
        return stats  # an empty dataset never replaces the pairs the folder has
    save_dataset(out / "binarized", splits, binarized_card(settings, stats))
    save_dataset(out / "binarized_trl", {k: trl_rows(v) for k, v in splits.items()},
                 binarized_card(settings, stats, trl=True))  # fmt: skip
    return stats


# One stage at a time, for the stage commands. Each reads the previous stage's output in the run
# folder, or `source`: a file, a saved dataset folder or a hub id in the released schema. Each raises
# CallsFailedError after writing what succeeded, when some calls failed.


def _records(source: str | Path | None, default: Path, model: type) -> list:
    """The user's input, read strictly, or the previous stage's file in the run folder (last line per id)."""
    from codeuf.data.sources import load_records
    from codeuf.io import RecordLog

    if source is not None:
        return load_records(source, model)
    if not Path(default).exists():
        raise InputError("not found: run the previous stage first, or give --input", path=default)
    rows = RecordLog(default).read()
    pool = Path(default).parent / "instructions.jsonl"
    if Path(default) != pool and pool.is_file():  # the run's instructions, not records a larger run left
        ids = set(RecordLog(pool).read())
        rows = {k: v for k, v in rows.items() if k in ids}
    if not rows:
        raise InputError("no records: run the previous stage first, or give --input", path=default)
    records = []
    for row in rows.values():
        try:
            records.append(model.model_validate({k: v for k, v in row.items() if k in model.model_fields}))
        except ValueError as exc:
            raise InputError(f"not a record of this stage: {str(exc).splitlines()[0]}", path=default,
                             field=str(row.get("id"))) from None  # fmt: skip
    return records


def record_stage(config: RunConfig, recorded: dict[str, Any] | None, stage: str, **fields: Any) -> None:
    """Write what a stage command did into the run's manifest: the config it ran with (so that the next
    stage command on the folder keeps it), the fields it changed, and its own statistics."""
    write_manifest(Path(config.out) / "manifest.json", stage=stage, config=config.model_dump(mode="json"),
                   changes=config_changes(recorded, config), **fields)  # fmt: skip


def stage_instructions(config: RunConfig, recorded: dict[str, Any] | None = None) -> tuple[Path, dict[str, int]]:
    out = Path(config.out)
    check_config(config)
    records, stats = instruction_pool(config)
    with folder_lock(out):
        records = checked_tests(config, records)
        write_jsonl_atomic(out / "instructions.jsonl", [r.model_dump() for r in records])
        stats = {**stats, "tests": test_stats(records)}
        record_stage(config, recorded, "instructions", instructions=stats)
    return out / "instructions.jsonl", stats


def stage_tests(
    config: RunConfig,
    source: str | Path | None = None,
    progress: bool | None = None,
    recorded: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Tests written by a model for the instructions that have none, validated; OUT/tests.jsonl."""
    out = Path(config.out)
    if config.synthesize_tests is None:
        raise InputError("no test writer: give --model SPEC or `synthesize_tests:` in the config",
                         field="synthesize_tests")  # fmt: skip
    check_config(config)
    records = _records(source, out / "instructions.jsonl", InstructionRecord)
    session = StageSession.for_run(config, progress)
    load_models(session, [config.synthesize_tests.spec])
    with session.working_in(out):
        tested = run_synthesis(config, records, session, progress)
        record_stage(config, recorded, "tests", tests=test_stats(tested))
    return out / "tests.jsonl", test_stats(tested)


def _with_tests(records: list[InstructionRecord], path: Path) -> list[InstructionRecord]:
    """Records with the tests `codeuf tests` wrote for the same instructions, where it has."""
    from codeuf.io import RecordLog

    saved = RecordLog(path).read()
    fields = InstructionRecord.model_fields
    return [InstructionRecord.model_validate({k: v for k, v in row.items() if k in fields})
            if (row := saved.get(r.id)) is not None and row.get("source") == r.instruction else r
            for r in records]  # fmt: skip


def stage_generate(
    config: RunConfig,
    source: str | Path | None = None,
    progress: bool | None = None,
    recorded: dict[str, Any] | None = None,
) -> Path:
    out = Path(config.out)
    check_config(config)
    records = _with_tests(_records(source, out / "instructions.jsonl", InstructionRecord), out / "tests.jsonl")
    unknown = sorted({m for r in records for m in r.models} - set(config.pool))
    if unknown:
        raise InputError(f"models {', '.join(map(repr, unknown))} are not in the config's pool", field="pool")
    session = StageSession.for_run(config, progress)
    load_models(session, [config.pool[m].spec for r in records for m in r.models])
    with session.working_in(out):
        generations = generate_responses(records, config.pool, session, out / "generations.jsonl", config.seed)
        record_stage(config, recorded, "generate", generations={"records": len(generations), "of": len(records)})
    return out / "generations.jsonl"


def stage_execute(
    config: RunConfig,
    source: str | Path | None = None,
    progress: bool | None = None,
    recorded: dict[str, Any] | None = None,
) -> Path:
    """Run the responses of instructions with tests against them; OUT/executions.jsonl."""
    out = Path(config.out)
    check_config(config)
    records = _records(source, out / "generations.jsonl", GenerationRecord)
    if not any(r.tests is not None for r in records):
        raise InputError("no instruction has tests: nothing to execute (see `tests` in the README)",
                         path=source or out / "generations.jsonl")  # fmt: skip
    with folder_lock(out):
        executed = execute_responses(records, out / "executions.jsonl", config.execution_workers, progress)
        record_stage(config, recorded, "execute", executions=execution_stats(executed))
    return out / "executions.jsonl"


def _with_executions(records: list[GenerationRecord], path: Path) -> list[GenerationRecord]:
    """Records with the executions `codeuf execute` recorded for the same responses and tests."""
    from codeuf.io import RecordLog
    from codeuf.stages.execute import same_tests

    saved = RecordLog(path).read()
    merged = []
    for record in records:
        row = saved.get(record.id)
        try:
            executed = GenerationRecord.model_validate(row) if row is not None else None
        except ValueError:
            executed = None
        same = (
            executed is not None and executed.responses == record.responses and same_tests(record.tests, executed.tests)
        )
        merged.append(record.model_copy(update={"tests": executed.tests, "executions": executed.executions})
                      if same and executed else record)  # fmt: skip
    return merged


def stage_annotate(
    config: RunConfig,
    source: str | Path | None = None,
    progress: bool | None = None,
    recorded: dict[str, Any] | None = None,
) -> tuple[Path, list[dict[str, Any]]]:
    """Annotate generations (or re-annotate a released dataset) and save the feedback dataset; returns its
    folder and the warnings its signals drew."""
    out = Path(config.out)
    check_config(config)
    records = _with_executions(_records(source, out / "generations.jsonl", GenerationRecord),
                               out / "executions.jsonl")  # fmt: skip
    session = StageSession.for_run(config, progress)
    load_models(session, [j.spec for j in config.judges])
    with session.working_in(out):
        feedback = annotate_responses(
            records, config.judges, session, out / "annotations.jsonl",
            seed=config.seed, orders=config.orders, prompts=config.prompts,
        )  # fmt: skip
        stats, flips = save_feedback(config, feedback, session.stages, config.model_dump(mode="json"))
        if feedback:
            record_stage(config, recorded, "annotate", feedback=stats, flips=flips, warnings=stats["warnings"])
    if not feedback:
        raise EmptyOutputError(f"0 feedback records of {len(records)}: {out / 'feedback'} left as it was")
    return out / "feedback", stats["warnings"]


def stage_binarize(
    config: RunConfig, source: str | Path | None = None, recorded: dict[str, Any] | None = None
) -> tuple[Path, dict[str, Any]]:
    """Pairs from the feedback; 0 pairs is EmptyOutputError, and the folder's pairs stay as they were."""
    from codeuf.data.schema import FeedbackRecord

    out = Path(config.out)
    check_config(config)
    feedback = _records(source, out / "annotations.jsonl", FeedbackRecord)
    session = StageSession.for_run(config)
    if config.pair_check is not None:
        load_models(session, [config.pair_check.spec])
    with session.working_in(out):
        stats = save_binarized(config, feedback, config.model_dump(mode="json"), session)
        if stats["written"]:
            record_stage(config, recorded, "binarize", binarized=stats, warnings=stats["warnings"])
    if not stats["written"]:
        raise EmptyOutputError(f"0 pairs of {stats['records']} records ({dropped_summary(stats)}); "
                               f"{out / 'binarized'} left as it was")  # fmt: skip
    return out / "binarized", stats


def dropped_summary(stats: dict[str, Any]) -> str:
    """What dropped a binarize's records (`dropped: ties 3, ...`, or `dropped: none`), for its one line."""
    reasons = {
        "ties": stats["dropped_ties"],
        "below the margin": stats["dropped_margin"],
        "fewer than two ratings": stats["dropped_too_few_ratings"],
        "no test contrast": stats["dropped_no_tests"] + stats["dropped_no_pass_fail"],
        "identical chosen and rejected": stats["dropped_identical"],
        "orders disagree": stats["order_disagreements"] if stats["order_disagreements_dropped"] else 0,
    }
    dropped = ", ".join(f"{k} {v}" for k, v in reasons.items() if v)
    return f"dropped: {dropped or 'none'}"
