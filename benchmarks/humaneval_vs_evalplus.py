"""EvalPlus as the oracle: codeuf's HumanEval+ evaluator and `evalplus.evaluate` on the same samples.

Samples: the 164 canonical solutions, a broken variant of each (every return value made wrong), and
the embedded model's answers to the first --model-tasks problems (greedy completions; cached).
Both evaluators read the same local data file (EvalPlus through HUMANEVAL_OVERRIDE_PATH). Prints:

- verdict agreement (base pass and plus pass), per task and per sample (target: 100%);
- wall time of each evaluator, with its expected outputs already computed (warm) and from scratch
  (cold), and the ratio codeuf / EvalPlus (target: at most 0.5). EvalPlus runs with its default
  parallelism (cpu_count // 2) and with as many workers as codeuf.

Needs `pip install evalplus==0.3.1` (make bench installs it).
Run: .venv/bin/python benchmarks/humaneval_vs_evalplus.py [--model-tasks 40]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DATA = Path(os.environ.get("CODEUF_REFERENCE_DATA") or REPO.parent / "shared" / "data")
DATA = REFERENCE_DATA / "HumanEvalPlus.jsonl.gz"


def model_samples(tasks: list, count: int, cache: Path) -> list[dict]:  # type: ignore[type-arg]
    from codeuf.evals.humaneval import generation_request, solution_from
    from codeuf.session import StageSession

    session = StageSession(cache / "llm.sqlite", 1, progress=False)
    try:
        backend = session.backend("llamacpp:default")
        chosen = tasks[:count]
        jobs = [(backend, generation_request(t, "completion", 0.0, 256, 0)) for t in chosen]
        results = session.run("generate", jobs)
    finally:
        session.close()
    return [{"task_id": t.task_id, "solution": solution_from(t, r.text or "", "completion")}
            for t, r in zip(chosen, results, strict=True)]  # fmt: skip


def run_codeuf(
    samples: list[dict], tasks: dict, path: Path, cache: Path, workers: int, compat: bool = False
) -> tuple[dict, float]:  # type: ignore[type-arg]
    from codeuf.execution.evalplus import check_sample, ground_truth
    from codeuf.sandbox import SandboxPool

    started = time.perf_counter()
    with SandboxPool(workers) as pool:
        from concurrent.futures import ThreadPoolExecutor

        truths = ground_truth(list(tasks.values()), "humaneval+", path, pool, cache)
        with ThreadPoolExecutor(pool.size) as executor:
            verdicts = list(executor.map(
                lambda s: check_sample(
                    tasks[s["task_id"]], truths[s["task_id"]], s["solution"], "humaneval+", pool, compat
                ),
                samples,
            ))  # fmt: skip
    return {
        i: (v["base"] == "pass", v["plus"] == "pass") for i, v in enumerate(verdicts)
    }, time.perf_counter() - started


def run_evalplus(samples_path: Path, samples: list[dict], parallel: int) -> tuple[dict, float]:  # type: ignore[type-arg]
    from evalplus.evaluate import evaluate

    results_path = samples_path.with_name(samples_path.stem + "_eval_results.json")
    results_path.unlink(missing_ok=True)  # else EvalPlus asks before overwriting it
    started = time.perf_counter()
    evaluate("humaneval", samples=str(samples_path), parallel=parallel, i_just_wanna_run=True)
    elapsed = time.perf_counter() - started
    results = json.loads(results_path.read_text())["eval"]
    seen: dict[str, int] = {}
    verdicts = {}
    for index, sample in enumerate(samples):
        k = seen.get(sample["task_id"], 0)
        seen[sample["task_id"]] = k + 1
        r = results[sample["task_id"]][k]
        verdicts[index] = (r["base_status"] == "pass", r["base_status"] == r["plus_status"] == "pass")
    return verdicts, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-tasks", type=int, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"skipped: {DATA} is absent (the reference data lives in ../shared/data)")
    os.environ["HUMANEVAL_OVERRIDE_PATH"] = str(DATA)  # read by evalplus when it is imported
    try:
        import evalplus  # noqa: F401
    except ModuleNotFoundError:
        sys.exit("needs EvalPlus: pip install evalplus==0.3.1")

    from codeuf.execution.evalplus import broken_variant, load_tasks

    tasks_list, path = load_tasks("humaneval+", DATA)
    tasks = {t.task_id: t for t in tasks_list}
    work = Path(tempfile.mkdtemp(prefix="codeuf-oracle-"))
    cache = Path(os.environ.get("CODEUF_CACHE_DIR") or Path.home() / ".cache" / "codeuf") / "oracle"
    samples = [{"task_id": t.task_id, "solution": t.prompt + t.canonical_solution} for t in tasks_list]
    samples += [{"task_id": t.task_id, "solution": broken_variant(t)} for t in tasks_list]
    samples += model_samples(tasks_list, args.model_tasks, cache)
    samples_path = work / "samples.jsonl"
    samples_path.write_text("".join(json.dumps(s) + "\n" for s in samples))

    evalplus_cache = Path.home() / ".cache" / "evalplus"
    shutil.rmtree(evalplus_cache, ignore_errors=True)
    cold_truth = work / "cold"
    ours_cold, ours_cold_s = run_codeuf(samples, tasks, path, cold_truth, args.workers)
    theirs_cold, theirs_cold_s = run_evalplus(samples_path, samples, max(1, (os.cpu_count() or 2) // 2))
    ours, ours_s = run_codeuf(samples, tasks, path, cold_truth, args.workers)
    compat, _ = run_codeuf(samples, tasks, path, cold_truth, args.workers, compat=True)
    theirs, theirs_s = run_evalplus(samples_path, samples, max(1, (os.cpu_count() or 2) // 2))
    theirs_same, theirs_same_s = run_evalplus(samples_path, samples, args.workers)

    by_task: dict[str, bool] = {}
    for index, sample in enumerate(samples):
        same = compat[index] == theirs[index] == theirs_same[index] == theirs_cold[index]
        same = same and ours_cold[index] == ours[index]  # computing expected outputs afresh changes nothing
        by_task[sample["task_id"]] = by_task.get(sample["task_id"], True) and same
    disagree = [i for i in range(len(samples)) if compat[i] != theirs[i]]
    by_default = [i for i in range(len(samples)) if ours[i] != theirs[i]]
    kinds = {"canonical": (0, 164), "broken": (164, 328), "model": (328, len(samples))}
    print(f"samples: {len(samples)} (164 canonical, 164 broken, {len(samples) - 328} from the embedded model)")
    agreeing = sum(by_task.values())
    print(
        f"verdict agreement (EvalPlus-compatible mode): {agreeing}/{len(by_task)} tasks = "
        f"{agreeing / len(by_task):.1%}, {len(samples) - len(disagree)}/{len(samples)} samples"
    )
    print(
        f"verdict agreement (default mode): {len(samples) - len(by_default)}/{len(samples)} samples; differing: "
        + (", ".join(f"{samples[i]['task_id']} (codeuf {ours[i]}, EvalPlus {theirs[i]})" for i in by_default) or "none")
        + " [EvalPlus 0.3.1 never records a find_zero pass: its oracle `continue`s before marking the input]"
    )
    for kind, (lo, hi) in kinds.items():
        passed = sum(ours[i][1] for i in range(lo, hi))
        print(f"  {kind:9s}: codeuf plus-pass {passed}/{hi - lo}, EvalPlus {sum(theirs[i][1] for i in range(lo, hi))}")
    for i in disagree[:10]:
        print(f"  disagreement: sample {i} ({samples[i]['task_id']}): codeuf {ours[i]}, EvalPlus {theirs[i]}")
    default = max(1, (os.cpu_count() or 2) // 2)
    plural = "s" if default > 1 else ""
    print(
        f"wall time, expected outputs cached: codeuf ({args.workers} workers) {ours_s:.1f} s; "
        f"EvalPlus ({default} worker{plural}, its default) {theirs_s:.1f} s -> ratio {ours_s / theirs_s:.2f}; "
        f"EvalPlus ({args.workers} workers) {theirs_same_s:.1f} s -> ratio {ours_s / theirs_same_s:.2f}"
        "   (target <= 0.5)"
    )
    print(f"wall time, from scratch: codeuf {ours_cold_s:.1f} s, EvalPlus {theirs_cold_s:.1f} s -> ratio "
          f"{ours_cold_s / theirs_cold_s:.2f}")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
