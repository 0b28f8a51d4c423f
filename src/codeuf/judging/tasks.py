"""What a judge is asked: four judging tasks, each a prompt template, a rating scale and an output shape.

- `rate` (`codeuf annotate`): several responses to one instruction, each rated 1-5 on the preference's rubric;
  the output is `{"response_1": {"rating", "rationale"}, ...}`.
- `grade` (`codeuf codal grade`): one answer graded 1-10 against a reference answer (MT-Bench's single-answer
  grading); `{"rating", "rationale"}`.
- `score` (`codeuf judge-eval`, pointwise): one answer graded 1-10 without a reference; `{"rating", "rationale"}`.
- `compare` (`codeuf judge-eval` pairwise, binarize's pair check): which of two answers is better;
  `{"winner": "A" | "B" | "tie", "rationale"}`.

Ratings are enums in the schema (llama.cpp ignores minimum/maximum), rating first, so that the rating is
written before a rationale that a token limit could cut. `rationale_chars` 0 asks for no rationale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JudgingTask:
    name: str
    template: str
    scale: tuple[str, ...]
    key: str = "rating"
    many: bool = False
    """Several responses in one call, keyed response_1..response_n."""
    text_pattern: str = r"rating\W{0,12}(10|[1-9])\b"
    """Where a judge without structured output writes its rating (for `many`, {i} is the response's number)."""

    def slots(self, n: int) -> list[str]:
        """The keys of the n ratings in the output (empty string: the top level)."""
        return [f"response_{i}" for i in range(1, n + 1)] if self.many else [""]

    def schema(self, n: int, rationale_chars: int) -> dict[str, Any]:
        item = rated_item(self.scale, rationale_chars, self.key)
        if not self.many:
            return item
        keys = self.slots(n)
        return {"type": "object", "properties": {k: item for k in keys}, "required": keys,
                "additionalProperties": False}  # fmt: skip

    def text_rating(self, text: str, slot: int) -> str | None:
        """A rating written in prose, where the judge gave no JSON; None when there is none."""
        pattern = self.text_pattern.format(i=slot + 1) if self.many else self.text_pattern
        match = re.search(pattern, text, re.IGNORECASE | re.DOTALL)
        if match is None and self.name in ("grade", "score"):
            match = re.search(r"\[\[(10|[1-9])\]\]", text)
        return match.group(1) if match and match.group(1) in self.scale else None


def rated_item(scale: tuple[str, ...], rationale_chars: int, key: str = "rating") -> dict[str, Any]:
    """{key: one of `scale`, "rationale": at most `rationale_chars` characters}, the rating first."""
    properties: dict[str, Any] = {key: {"type": "string", "enum": list(scale)}}
    if rationale_chars > 0:
        properties["rationale"] = {"type": "string", "maxLength": rationale_chars}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


FIVE = ("1", "2", "3", "4", "5")
TEN = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10")
_ALL = (
    JudgingTask("rate", "annotate.j2", FIVE, many=True,
                text_pattern=r"response[\s_#]*{i}\b.{{0,80}}?rating\W{{0,12}}([1-5])"),
    JudgingTask("grade", "codal_grade.j2", TEN),
    JudgingTask("score", "judge_pointwise.j2", TEN),
    JudgingTask("compare", "judge_pairwise.j2", ("A", "B", "tie"), key="winner",
                text_pattern=r"winner\W{0,12}(A|B|tie)\b"),
)  # fmt: skip
TASKS = {task.name: task for task in _ALL}
