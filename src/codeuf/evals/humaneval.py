"""`codeuf humaneval`'s pieces over EvalPlus-format tasks: the prompt for a model, the code a sample submits,
samples read from other tools, their evaluation and pass@k. Reading and checking tasks is codeuf.execution's."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from codeuf.errors import InputError
from codeuf.execution.evalplus import Task, check_sample, ground_truth
from codeuf.execution.sanitize import sanitize
from codeuf.sandbox import SandboxPool

# ----------------------------------------------------------------------------- pass@k


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimator of Chen et al. (2021): 1 - C(n - c, k) / C(n, k)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def summarize(results: dict[str, list[dict[str, Any]]], plus: bool) -> dict[str, Any]:
    """pass@k for every k <= min samples per task in {1, 10, 100}, base and (for the + sets) plus, each with
    a 95% bootstrap interval over tasks (`ci`: label -> pass@k -> [low, high])."""
    from codeuf.stats import bootstrap_mean

    counts = [len(r) for r in results.values()]
    n_min = min(counts) if counts else 0
    summary: dict[str, Any] = {"tasks": len(results), "samples_per_task": n_min, "ci": {}}
    for label, ok in (("base", lambda r: r["base"] == "pass"),
                      ("plus", lambda r: r["base"] == "pass" and r["plus"] == "pass")):  # fmt: skip
        if label == "plus" and not plus:
            continue
        summary[label], summary["ci"][label] = {}, {}
        for k in (1, 10, 100):
            if k > n_min:
                continue
            estimate = bootstrap_mean([pass_at_k(len(r), sum(map(ok, r)), k) for r in results.values()])
            summary[label][f"pass@{k}"] = estimate.value
            summary["ci"][label][f"pass@{k}"] = [estimate.low, estimate.high]
    return summary


# ----------------------------------------------------------------------------- generation and the command

CHAT_SYSTEM = (
    "You are an expert Python programmer. Write a self-contained Python function that solves the problem "
    "and put the complete code between ```python and ``` fences."
)
COMPLETION_STOPS = ["\nclass ", "\ndef ", "\nif __name__", "\nprint(", "\nassert ", '\n"""', "\n```", "\n#"]


def generation_request(task: Task, mode: str, temperature: float, max_tokens: int, sample: int) -> Any:
    from codeuf.llm.types import LLMRequest, Message

    sampling = {"temperature": temperature, "max_tokens": max_tokens, "sample": sample,
                "seed": sample if temperature > 0 else None}  # fmt: skip
    if mode == "completion":
        return LLMRequest(prompt=task.prompt, stop=COMPLETION_STOPS, **sampling)
    user = f"Please provide a self-contained Python code solving the following problem:\n```python\n{task.prompt}\n```"
    return LLMRequest(
        messages=[Message(role="system", content=CHAT_SYSTEM), Message(role="user", content=user)], **sampling
    )


def solution_from(task: Task, text: str, mode: str) -> str:
    """The code to run: the prompt continued (completion mode), or the answer's code (chat mode)."""
    return sanitize(task.prompt + text if mode == "completion" else text, task.entry_point)


def read_samples(path: Path, tasks: dict[str, Task]) -> list[dict[str, Any]]:
    """EvalPlus's samples.jsonl: task_id plus solution (whole code) or completion (after the prompt)."""
    from codeuf.io import iter_jsonl_lines

    samples = []
    for number, row in iter_jsonl_lines(path):
        if not isinstance(row, dict) or not isinstance(row.get("task_id"), str):
            raise InputError("missing or not a string", path=path, line=number, field="task_id")
        task = tasks.get(row["task_id"])
        if task is None:
            raise InputError(f"unknown task {row['task_id']!r} for this dataset", path=path, line=number,
                             field="task_id")  # fmt: skip
        if isinstance(row.get("solution"), str):
            solution = row["solution"]
        elif isinstance(row.get("completion"), str):
            solution = task.prompt + row["completion"]
        else:
            raise InputError("needs a string solution or completion", path=path, line=number, field="solution")
        samples.append({"task_id": task.task_id, "solution": solution})
    if not samples:
        raise InputError("no samples: the file is empty", path=path)
    return samples


def evaluate_samples(
    samples: list[dict[str, Any]], tasks: dict[str, Task], dataset: str, path: Path, pool: SandboxPool
) -> dict[str, list[dict[str, Any]]]:
    """Per task, a result per sample: {"base", "plus", "reason"} statuses, in sample order."""
    from concurrent.futures import ThreadPoolExecutor

    needed = [tasks[t] for t in dict.fromkeys(s["task_id"] for s in samples)]
    truths = ground_truth(needed, dataset, path, pool) if dataset != "humaneval" else {}

    def one(sample: dict[str, Any]) -> dict[str, Any]:
        task = tasks[sample["task_id"]]
        return {**check_sample(task, truths.get(task.task_id), sample["solution"], dataset, pool),
                "task_id": task.task_id}  # fmt: skip

    with ThreadPoolExecutor(pool.size) as executor:
        verdicts = list(executor.map(one, samples))
    results: dict[str, list[dict[str, Any]]] = {}
    for verdict in verdicts:
        results.setdefault(verdict["task_id"], []).append(verdict)
    return results
