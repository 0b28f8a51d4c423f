"""EvalPlus-format sets (a function prompt, a canonical solution, base and plus inputs), checked with EvalPlus's
semantics in the sandbox (codeuf.execution.evalplus)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from codeuf.evals.tasks.base import BenchTask
from codeuf.llm.types import LLMRequest


class EvalPlusTask(BenchTask):
    """A set in EvalPlus's format: `name` (its verdicts follow that set's special oracles where EvalPlus has
    some), and the release it is downloaded from when no file is given (environment variable, URL)."""

    release: ClassVar[tuple[str, str] | None] = None
    plus = True

    def load(self, data: str | Path | None) -> tuple[list[Any], Path]:
        from codeuf.execution.evalplus import load_tasks

        return load_tasks(self.name, data, self.release)

    def request(self, problem: Any, mode: str, temperature: float, max_tokens: int, sample: int) -> LLMRequest:
        from codeuf.evals.humaneval import generation_request

        return generation_request(problem, mode, temperature, max_tokens, sample)

    def solution(self, problem: Any, text: str, mode: str) -> str:
        from codeuf.evals.humaneval import solution_from

        return solution_from(problem, text, mode)

    def evaluate(self, problems: dict[str, Any], samples: list[dict[str, Any]], path: Path,
                 pool: Any) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
        from codeuf.evals.humaneval import evaluate_samples

        return evaluate_samples(samples, problems, self.name, path, pool)
