"""Programs that read standard input and write standard output (the shape of LiveCodeBench and competitive
programming): the built-in set of 12 problems written for codeuf (`data/builtin/stdio_tasks.jsonl`), or a file
of `task_id, prompt, tests: [{input, output}]` rows (and an optional reference `solution`). Each test runs the
program in the sandbox with the input as its standard input; its output must equal the expected one, up to
trailing spaces on a line and blank lines at the end (compared in the trusted worker)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeuf.errors import InputError
from codeuf.evals.tasks.base import BenchTask
from codeuf.llm.types import LLMRequest, Message

BUILTIN = Path(__file__).resolve().parents[2] / "data" / "builtin" / "stdio_tasks.jsonl"
SYSTEM = ("You are an expert Python programmer. Write a complete Python program that reads its input from standard "
          "input and prints the answer to standard output, between ```python and ``` fences.")  # fmt: skip
SECONDS = 5.0


@dataclass
class StdioProblem:
    task_id: str
    prompt: str
    tests: list[tuple[str, str]]
    solution: str | None = None


def same_output(printed: str, expected: str) -> bool:
    """Equal but for trailing spaces on a line and blank lines at the end."""

    def lines(text: str) -> list[str]:
        return [line.rstrip() for line in text.rstrip().splitlines()]

    return lines(printed) == lines(expected)


@dataclass(frozen=True)
class StdoutEquals:
    """Checker (runs in the worker): the program's output i is the expected one."""

    expected: tuple[str, ...]

    def __call__(self, index: int, out: Any) -> bool:
        return isinstance(out, str) and same_output(out, self.expected[index])


class StdioTask(BenchTask):
    name = "stdio"
    modes = ("chat",)

    def load(self, data: str | Path | None) -> tuple[list[Any], Path]:
        from codeuf.io import iter_jsonl_lines

        path = Path(data) if data is not None else BUILTIN
        problems = [_problem(row, path, number) for number, row in iter_jsonl_lines(path)]
        if not problems:
            raise InputError("no problems: the file is empty", path=path)
        return problems, path

    def request(self, problem: Any, mode: str, temperature: float, max_tokens: int, sample: int) -> LLMRequest:
        messages = [Message(role="system", content=SYSTEM), Message(role="user", content=problem.prompt)]
        return LLMRequest(messages=messages, temperature=temperature, max_tokens=max_tokens, sample=sample,
                          seed=sample if temperature > 0 else None)  # fmt: skip

    def solution(self, problem: Any, text: str, mode: str) -> str:
        from codeuf.execution.sanitize import CODE_FENCE

        blocks = CODE_FENCE.findall(text)
        return max(blocks, key=len) if blocks else text

    def evaluate(self, problems: dict[str, Any], samples: list[dict[str, Any]], path: Path,
                 pool: Any) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
        from concurrent.futures import ThreadPoolExecutor

        def one(sample: dict[str, Any]) -> dict[str, Any]:
            return {**run_program(sample["solution"], problems[sample["task_id"]].tests, pool),
                    "task_id": sample["task_id"]}  # fmt: skip

        results: dict[str, list[dict[str, Any]]] = {}
        with ThreadPoolExecutor(pool.size) as executor:
            for verdict in executor.map(one, samples):
                results.setdefault(verdict["task_id"], []).append(verdict)
        return results


def run_program(code: str, tests: list[tuple[str, str]], pool: Any) -> dict[str, Any]:
    """{"base": pass | fail | timeout, "plus": None, "reason"} for a program on its tests."""
    from codeuf.sandbox import Job

    inputs = [stdin for stdin, _ in tests]
    job = Job(code, "", inputs, [SECONDS] * len(inputs), wall_timeout=SECONDS * len(inputs) + 2,
              check=StdoutEquals(tuple(out for _, out in tests)), stdio=True)  # fmt: skip
    result = pool.run(job)
    return {"base": result.status, "plus": None, "reason": result.reason}


def _problem(row: Any, path: Path, number: int) -> StdioProblem:
    if not isinstance(row, dict):
        raise InputError("expected a JSON object", path=path, line=number)
    for field in ("task_id", "prompt"):
        if not isinstance(row.get(field), str):
            raise InputError("missing or not a string", path=path, line=number, field=field)
    tests = row.get("tests")
    if (
        not isinstance(tests, list)
        or not tests
        or not all(
            isinstance(t, dict) and isinstance(t.get("input"), str) and isinstance(t.get("output"), str) for t in tests
        )
    ):
        raise InputError("expected a non-empty list of {input: text, output: text}", path=path, line=number,
                         field="tests")  # fmt: skip
    solution = row.get("solution")
    if solution is not None and not isinstance(solution, str):
        raise InputError("not a string", path=path, line=number, field="solution")
    return StdioProblem(row["task_id"], row["prompt"], [(t["input"], t["output"]) for t in tests], solution)
