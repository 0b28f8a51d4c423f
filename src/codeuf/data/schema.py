"""Records in the schema of the released datasets, plus codeuf's own bookkeeping columns.

`coseal/CodeUltraFeedback`: instruction, preference, models, responses[{model, response}],
annotations[{model, rating, rationale}] with rating a string "1".."5" or "N/A".
`coseal/CodeUltraFeedback_binarized` adds chosen, rejected, rating_chosen, rating_rejected,
model_chosen, model_rejected. Extra columns (id, principles, judgements) ride along; tools that
expect the released schema ignore them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

NA = "N/A"


class InstructionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    instruction: str
    preference: str
    models: list[str]


class Response(BaseModel):
    model: str
    response: str


class Annotation(BaseModel):
    model: str
    rating: str = Field(description='"1".."5", a mean such as "3.5" over orders or judges, or "N/A".')
    rationale: str


class Judgement(BaseModel):
    """One judge call: the order the responses were shown in and what came back."""

    judge: str
    order_index: int
    order: list[str]
    ratings: list[str]
    rationales: list[str]
    raw: str | None = None
    error: str | None = None


class GenerationError(BaseModel):
    model: str
    error: str


class GenerationRecord(InstructionRecord):
    responses: list[Response]
    principles: list[str] = Field(default_factory=list, description="The system prompt of each model, in order.")
    errors: list[GenerationError] = Field(default_factory=list, description="Models that gave no response, and why.")

    def failed(self) -> dict[str, str]:
        return {e.model: e.error for e in self.errors}


class FeedbackRecord(GenerationRecord):
    annotations: list[Annotation]
    judgements: list[Judgement] = Field(default_factory=list)


def rating_value(rating: str) -> float | None:
    """A rating string as a number, or None for N/A (never a number)."""
    if rating == NA:
        return None
    try:
        return float(rating)
    except ValueError:
        return None


def format_rating(value: float | None) -> str:
    if value is None:
        return NA
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")
