"""The shape of a benchmark task, after inspect-ai's task = dataset + solver + scorer: its problems (`load`),
the request that asks a model one of them (`request`), the code a sample submits (`solution`) and the verdicts
of samples (`evaluate`: per problem, each sample's {"base", "plus", "reason"} statuses). Tasks judged by a
model rather than run (CODAL-Bench) set `judged` and implement `run_judged` instead: answers, grades by the
given judges, a report (`codeuf eval --task`, `codeuf.evaluate`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from codeuf.errors import InputError
from codeuf.llm.types import LLMRequest


class BenchTask(ABC):
    name: ClassVar[str]
    plus: ClassVar[bool] = False
    """Samples also run a second, larger suite (EvalPlus's plus inputs); a pass needs both."""
    modes: ClassVar[tuple[str, ...]] = ("chat", "completion")
    """How a model can be asked: a chat question, or a prompt to continue (base models)."""
    judged: ClassVar[bool] = False

    @abstractmethod
    def load(self, data: str | Path | None) -> tuple[list[Any], Path]:
        """(problems, the file they came from); each problem has a `task_id` and a `prompt`."""

    @abstractmethod
    def request(self, problem: Any, mode: str, temperature: float, max_tokens: int, sample: int) -> LLMRequest:
        """The request that asks a model for one sample."""

    @abstractmethod
    def solution(self, problem: Any, text: str, mode: str) -> str:
        """The code a sample submits, from the model's text."""

    @abstractmethod
    def evaluate(self, problems: dict[str, Any], samples: list[dict[str, Any]], path: Path,
                 pool: Any) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
        """Per task id, a verdict per sample ({"base", "plus", "reason"}), in sample order."""

    def run_judged(self, model: str, judges: list[Any], out: Path, *, data: str | Path | None = None,
                   max_tokens: int | None = None, concurrency: int = 8,
                   progress: bool | None = None) -> Any:  # fmt: skip
        """A judged task's whole run for one model: its answers, every judge's grades and the report in `out`
        (a codeuf.results.CodalScores or the like). Executed tasks are evaluated by `evaluate` instead."""
        raise InputError(f"{self.name} is executed, not judged: it takes no judge", field="--judge")

    def check_runnable(self) -> None:
        """A judged benchmark is scored by a judge's command, not by running samples: one line says which."""
        if self.judged:
            raise InputError(f"{self.name} is graded by a judge, not run: use codeuf eval --task {self.name} "
                             "--judge ... (or codeuf codal answer and grade)", field="--dataset")  # fmt: skip

    def check_mode(self, mode: str) -> None:
        if mode not in self.modes:
            raise InputError(f"{self.name} takes {' or '.join(self.modes)}", field="--mode")
