"""CODAL-Bench (the paper's): 500 coding instructions, 100 per preference, each answered by the model and graded
1-10 by a judge against a reference answer. Judged, not run: `codeuf codal answer` asks (this task's
requests) and `codeuf codal grade` scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codeuf.evals.tasks.base import BenchTask
from codeuf.llm.types import LLMRequest


class CodalBench(BenchTask):
    name = "codal"
    judged = True
    modes = ("chat",)

    def load(self, data: str | Path | None) -> tuple[list[Any], Path]:
        from codeuf.evals.codal import HUB_ID, load_bench

        return load_bench(data), Path(str(data or HUB_ID))

    def request(self, problem: Any, mode: str, temperature: float, max_tokens: int, sample: int) -> LLMRequest:
        from codeuf.evals.codal import answer_request

        return answer_request(problem, max_tokens=max_tokens, prompt_format=None)

    def solution(self, problem: Any, text: str, mode: str) -> str:
        return text

    def evaluate(self, problems: dict[str, Any], samples: list[dict[str, Any]], path: Path,
                 pool: Any) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
        self.check_runnable()
        return {}
