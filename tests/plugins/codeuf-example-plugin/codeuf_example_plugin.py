"""An example codeuf plugin: one extension of each kind, declared as entry points in pyproject.toml.

- `EchoBackend`: specs `echo:NAME` answer every request with "echo: " and the last user message (or the prompt);
- `FixedMethod`: a judging method (`method: fixed` in a judge file) that rates every response the middle of the
  task's scale, whatever the judge said: a placeholder for a real reading rule;
- `DASH`: the Debian Almquist shell as a language (fences `dash`), run like Bash;
- `HelloTask`: a benchmark of one stdin/stdout problem (`codeuf humaneval --dataset hello`);
- `DPO_HINGE`: DPO with the hinge loss as an algorithm of its own (`codeuf train dpo-hinge`).
"""

from __future__ import annotations

from typing import Any

from codeuf.evals.tasks.stdio import StdioProblem, StdioTask
from codeuf.judging.methods import JudgingMethod
from codeuf.judging.verdict import Verdict
from codeuf.llm.base import Backend
from codeuf.llm.types import LLMRequest, LLMResult
from codeuf.sandbox.languages.base import Language
from codeuf.train.algorithms import Algorithm


# --8<-- [start:backend]
class EchoBackend(Backend):
    name = "echo"
    takes_urls = False

    async def generate(self, request: LLMRequest) -> LLMResult:
        text = request.prompt if request.prompt is not None else (request.messages or [])[-1].content
        return LLMResult.from_text(request, f"echo: {text}", finish_reason="stop", model=str(self.spec))


# --8<-- [end:backend]


# --8<-- [start:method]
class FixedMethod(JudgingMethod):
    name = "fixed"

    def read(self, task: Any, result: LLMResult, n: int, backend: Any, request: LLMRequest) -> Verdict:
        middle = task.scale[len(task.scale) // 2]
        return Verdict([middle] * n, ["fixed by the example plugin"] * n)


# --8<-- [end:method]


# --8<-- [start:language]
DASH = Language(
    name="dash", title="Dash", fences=("dash",), tools=("dash",), install="apt-get install dash",
    source="main.sh", markers=(r"^#!\s*/bin/dash",), run=lambda tools, source: [tools["dash"], source],
)  # fmt: skip
# --8<-- [end:language]


# --8<-- [start:task]
class HelloTask(StdioTask):
    name = "hello"

    def load(self, data: Any) -> tuple[list[Any], Any]:
        from pathlib import Path

        problem = StdioProblem("hello/0", "Write a program that prints hello.", [("", "hello\n")], 'print("hello")')
        return [problem], Path(__file__)


# --8<-- [end:task]


# --8<-- [start:algorithm]
DPO_HINGE = Algorithm("dpo-hinge", "trl:DPOTrainer", "trl:DPOConfig", "pairs", "DPO with the hinge loss",
                      {"loss_type": "hinge"})  # fmt: skip
# --8<-- [end:algorithm]
