"""CODAL-Bench (the paper's): 500 coding instructions, 100 per preference, each answered by the model and graded
1-10 by a judge against a reference answer. Judged, not run: `run_judged` answers (this task's requests),
grades and reports, as `codeuf eval --task codal` and `codeuf.evaluate("codal", ...)` do; `codeuf codal
answer`, `grade` and `report` are the same steps one by one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codeuf.errors import InputError
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

    def run_judged(self, model: str, judges: list[Any], out: Path, *, data: str | Path | None = None,
                   max_tokens: int | None = None, concurrency: int = 8,
                   progress: bool | None = None) -> Any:  # fmt: skip
        from codeuf.evals.codal import answer_folder, grade_folder
        from codeuf.evals.report import build_report, write_report_files
        from codeuf.results import CodalScores

        if not judges:
            raise InputError("a judged task needs a judge: give --judge SPEC or --judge-config NAME|FILE",
                             field="--judge")  # fmt: skip
        source = str(data) if data is not None else None  # as the command line gives it (the manifest is JSON)
        answer_folder(model, out, source, max_tokens=max_tokens or 1024, concurrency=concurrency, progress=progress)
        grade_folder(out, judges, None, concurrency, progress)
        report = build_report([out])
        write_report_files(report, out / "report")
        return CodalScores.from_report(self.name, report, out)
