"""How a judge's verdict is read: a method builds the request for a judging task and reads the answer.

A new method is one module with a `JudgingMethod` subclass plus one entry in `METHODS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from codeuf.judging.config import JudgeConfig
from codeuf.judging.tasks import JudgingTask
from codeuf.judging.verdict import Verdict, read_json
from codeuf.llm.formats import get_format
from codeuf.llm.types import LLMRequest, LLMResult, Message


@dataclass
class Pending:
    """A verdict that needs more of the model's distribution: `probes` are (slot, request) pairs whose answers
    `JudgingMethod.settle` completes it with (the logprobs method, where "10" is two tokens)."""

    result: LLMResult
    probes: list[tuple[int, LLMRequest]]
    state: dict[str, Any] = field(default_factory=dict)


class JudgingMethod:
    name: ClassVar[str]
    tasks: ClassVar[frozenset[str]] = frozenset({"rate", "grade", "score"})
    needs_logprobs: ClassVar[bool] = False

    def request(self, judge: JudgeConfig, task: JudgingTask, prompt: str, n: int) -> LLMRequest:
        """The prompt as one user message (or a raw prompt in the judge's format), the task's output schema where
        the judge is structured, and the judge's sampling settings."""
        messages = [Message(role="user", content=prompt)]
        schema = task.schema(n, judge.rationale_chars) if judge.structured else None
        sampling: dict[str, Any] = {"json_schema": schema, "temperature": judge.temperature,
                                    "max_tokens": judge.max_tokens}  # fmt: skip
        if self.needs_logprobs:
            sampling["logprobs"] = judge.top_logprobs
        if judge.format is None:
            return LLMRequest(messages=messages, **sampling)
        fmt = get_format(judge.format)
        return LLMRequest(prompt=fmt.render(messages), stop=list(fmt.stop), **sampling)

    def read(
        self, task: JudgingTask, result: LLMResult, n: int, backend: Any, request: LLMRequest
    ) -> Verdict | Pending:
        return read_json(task, result, n)

    def settle(self, task: JudgingTask, pending: Pending, probes: dict[int, LLMResult], n: int) -> Verdict:
        raise NotImplementedError  # pragma: no cover - only methods that return Pending


class JsonMethod(JudgingMethod):
    """Constrained JSON: the rating is an enum of the scale, so that even a weak judge's answer parses."""

    name = "json"


class PairwiseMethod(JudgingMethod):
    """Two responses compared (`compare`), each pair asked in both orders by the caller."""

    name = "pairwise"
    tasks = frozenset({"compare"})


def get_method(name: str) -> JudgingMethod:
    """The method registered under `name` (codeuf.judging.registry), imported when first used."""
    import importlib

    from codeuf.judging.registry import METHODS

    module, _, cls = METHODS[name].partition(":")
    return getattr(importlib.import_module(module), cls)()
