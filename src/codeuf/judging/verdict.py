"""A judge's verdict, read from its answer. A rating that cannot be read is N/A, never a guess."""

from __future__ import annotations

from dataclasses import dataclass, field

from codeuf.data.schema import NA
from codeuf.judging.tasks import JudgingTask
from codeuf.llm.types import LLMResult


@dataclass
class Verdict:
    ratings: list[str]
    """One per rated response: a value of the task's scale, a fractional expectation ("3.42", logprobs), or N/A."""
    rationales: list[str]
    distributions: list[dict[str, float]] | None = None
    """Per rating, the judge's probability of each value of the scale (the logprobs method)."""
    error: str | None = None
    """Why some rating is N/A (the call failed, or the answer could not be read)."""
    raw: str | None = None
    """The answer's text, kept where something could not be read."""
    failed: bool = False
    """The call itself failed (after retries): the record is not finished, and the next run asks again."""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def unreadable(self) -> int:
        return sum(r == NA for r in self.ratings)


def failed_verdict(result: LLMResult, n: int) -> Verdict:
    assert result.error is not None
    return Verdict([NA] * n, [""] * n, error=f"{result.error.kind}: {result.error.message}", failed=True)


def read_json(task: JudgingTask, result: LLMResult, n: int) -> Verdict:
    """The ratings and rationales of a JSON answer (constrained where the backend could), or of prose as a
    tolerant fallback; what is still missing is N/A, with the raw text kept."""
    if not result.ok:
        return failed_verdict(result, n)
    ratings, rationales = [NA] * n, [""] * n
    parsed = result.parsed if isinstance(result.parsed, dict) else None
    text = result.text or ""
    for i, slot in enumerate(task.slots(n)):
        entry = (parsed.get(slot) if slot else parsed) if parsed is not None else None
        if isinstance(entry, dict):
            value = str(entry.get(task.key, "")).strip()
            if value in task.scale:
                ratings[i] = value
            rationales[i] = str(entry.get("rationale", ""))
        elif parsed is None:
            ratings[i] = task.text_rating(text, i) or NA
    missing = sum(r == NA for r in ratings)
    error = None
    if missing:
        detail = f" ({result.parse_error})" if result.parse_error else ""
        error = f"{missing} of {n} ratings unreadable{detail}" if task.many else f"rating unreadable{detail}"
    return Verdict(ratings, rationales, error=error, raw=text if error else None)


def winner(verdict: Verdict, swapped: bool) -> str | None:
    """A compare verdict (A, B or tie) as a label of the original order (a, b, tie), or None when unreadable:
    with `swapped`, the judge was shown the second response first."""
    said = verdict.ratings[0]
    if said not in ("A", "B", "tie"):
        return None
    if said == "tie":
        return "tie"
    return {"A": "b", "B": "a"}[said] if swapped else {"A": "a", "B": "b"}[said]
