"""Records in the schema of the released datasets, plus codeuf's own bookkeeping columns.

`coseal/CodeUltraFeedback`: instruction, preference, models, responses[{model, response}],
annotations[{model, rating, rationale}] with rating a string "1".."5" or "N/A".
`coseal/CodeUltraFeedback_binarized` adds chosen, rejected, rating_chosen, rating_rejected,
model_chosen, model_rejected. Extra columns (id, principles, judgements) ride along; tools that
expect the released schema ignore them.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NA = "N/A"


def is_test_statement(node: ast.stmt) -> bool:
    """A top-level statement of asserts code that tests something: it asserts or raises somewhere inside."""
    return any(isinstance(n, (ast.Assert, ast.Raise)) for n in ast.walk(node))


class CallCase(BaseModel):
    """One call and its expected result, each as JSON text (so every record has one Arrow type)."""

    model_config = ConfigDict(extra="forbid")
    input: str = Field(description="JSON list of the arguments (stdio tests: a JSON string, the standard input).")
    output: str = Field(description="JSON of the expected return value.")

    @field_validator("input", "output")
    @classmethod
    def _strict_json(cls, value: str, info: Any) -> str:
        """Standard JSON only: no NaN or Infinity, no number too large for a float, nesting of at most 100."""
        from codeuf.io import JsonProblem, parse_json

        try:
            parsed = parse_json(value)
        except JsonProblem as exc:
            raise ValueError(str(exc)) from None
        if info.field_name == "input" and not isinstance(parsed, (list, str)):
            raise ValueError("the input is a JSON list of the arguments (or, for stdin/stdout tests, a string)")
        return value


class CodeTests(BaseModel):
    """An instruction's tests, and where they came from.

    `asserts`: Python statements (`code`) run after the response's code; each top-level statement that
    asserts (an `assert`, or a block holding one or a `raise`) is one test, the others set up.
    `cases`: calls of `entry_point` with their expected results, compared outside the code under test.
    `evalplus`: an EvalPlus task (`dataset`, `task_id`, `data`), checked exactly as `codeuf humaneval` does.
    `stdio`: whole programs: each case's `input` is the standard input, its `output` the expected standard output.
    `sql`: `code` is a schema with rows, each case's `output` the expected result set (a JSON list of rows).

    `language` says which language the responses are run in: asserts are written in it, and call cases are
    translated into it (codeuf.sandbox.languages). A response in another language is not run against them.
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["asserts", "cases", "evalplus", "stdio", "sql"]
    code: str = ""
    cases: list[CallCase] = Field(default_factory=list)
    dataset: str = ""
    task_id: str = ""
    data: str = ""
    origin: str = Field("file", description="file, builtin, evalplus, or synthesized:<model>.")
    language: str = Field(
        "python",
        description="The language of the responses the tests run: python, javascript, typescript, java, c, cpp, "
        "csharp, rust, go, php, ruby, perl, bash, sql or html (codeuf languages lists them and whether each runs "
        "here).",
    )
    checked: str = Field(
        "",
        description="reference: each test was run against the instruction's reference solution first (given "
        "tests too), and those it fails were dropped, with their reasons.",
    )
    dropped: int = Field(0, description="Tests left out (for example, failed by the reference solution).")
    reasons: list[str] = Field(default_factory=list, description="Why each test was left out.")
    synthesis: Synthesis | None = Field(None, description="For tests a model wrote (codeuf tests): how.")

    @property
    def as_programs(self) -> bool:
        """Run as whole programs by codeuf.execution.programs (any language but Python's asserts, cases and
        EvalPlus tasks, which Python's own sandbox path checks call by call)."""
        return self.kind in ("stdio", "sql") or (self.language != "python" and self.kind != "evalplus")

    @property
    def pending(self) -> bool:
        """Synthesized tests waiting for the pool's responses to be validated by agreement (codeuf execute)."""
        return self.synthesis is not None and self.synthesis.validation.startswith("pending:")

    @property
    def runnable(self) -> bool:
        """There is something to run (synthesis may have kept no test, and says why)."""
        return self.pending or not self.unrunnable

    @property
    def unrunnable(self) -> str:
        """Why there is nothing to run ("" when there is): no test kept, tests in another language, or asserts
        code that holds no test or does not parse."""
        if self.language != "python" and self.kind != "evalplus":
            from codeuf.sandbox import languages

            try:
                language = languages.get(self.language)
            except KeyError:
                return f"tests in {self.language}: codeuf cannot run that language; the tests are kept"
            if language.toolchain.missing:
                return language.toolchain.missing
        if self.kind in ("cases", "stdio", "sql"):
            return "" if self.cases else "no tests: the record has no case"
        if self.kind != "asserts":
            return ""
        if not self.code.strip():
            return "no tests" + (f": {self.reasons[-1]}" if self.reasons else "")
        if self.language != "python":
            language = languages.get(self.language)
            if not any(re.search(language.assert_line, line) for line in self.code.splitlines()):
                return f"no tests: the tests hold no {language.title} assertion line"
            return ""
        try:
            tree = ast.parse(self.code)
        except SyntaxError as exc:
            return f"the tests are not valid Python (line {exc.lineno}: {exc.msg})"
        if not any(is_test_statement(node) for node in tree.body):
            return "no tests: the tests hold no assert"
        return ""

    @model_validator(mode="after")
    def _cases_fit_the_kind(self) -> CodeTests:
        """Call cases take a list of arguments, stdin/stdout cases a string, SQL cases a list of rows."""
        import json

        wanted = {"cases": (list, "a JSON list of arguments"), "stdio": (str, "a JSON string (the standard input)")}
        if self.kind in wanted:
            kind, what = wanted[self.kind]
            for index, case in enumerate(self.cases):
                if not isinstance(json.loads(case.input), kind):
                    raise ValueError(f"case {index}: the input of {self.kind} tests is {what}")
        if self.kind == "stdio" and not all(isinstance(json.loads(c.output), str) for c in self.cases):
            raise ValueError("the output of stdio tests is a JSON string (the expected standard output)")
        if self.kind == "sql" and not all(isinstance(json.loads(c.output), list) for c in self.cases):
            raise ValueError("the output of sql tests is a JSON list of rows")
        return self

    def same_source(self, other: CodeTests | None) -> bool:
        """The same tests, or the same synthesized candidates before and after their agreement was settled
        (codeuf execute settles it), so that a stage can match its input with what execute recorded."""
        if other is None or self == other:
            return other is not None
        a, b = self.synthesis, other.synthesis
        return (a is not None and b is not None and self.origin == other.origin and a.candidates == b.candidates
                and a.rule == b.rule and (self.pending or other.pending))  # fmt: skip


class Synthesis(BaseModel):
    """How a model's tests were made and validated (AceCoder's recipe; see codeuf.stages.synthesize)."""

    model_config = ConfigDict(extra="forbid")
    writer: str = Field(description="The model that wrote the tests.")
    candidates: list[str] = Field(default_factory=list, description="Every test it wrote that could be run.")
    validation: str = Field(
        description="reference (the reference solution passes each kept test), pending:<rule> (to be settled "
        "by the pool's responses in codeuf execute), agreement:<rule> (settled), or none (no test kept)."
    )
    rule: str = Field("", description="The agreement rule: codet or majority (empty: validated by a reference).")
    min_agree: int = Field(2, description="Responses that must agree on a test (agreement rules).")
    min_tests: int = Field(1, description="Fewer validated tests than this and the instruction keeps none.")
    note: str = Field(
        "", description="The sentence appended to the instruction to name the function the tests call, if any."
    )


CodeTests.model_rebuild()


class Execution(BaseModel):
    """What a response's code did against its instruction's tests."""

    model: str
    status: Literal["passed", "failed", "timeout", "not_executed"]
    passed: int = Field(0, ge=0)
    total: int = Field(0, ge=0)
    reason: str = ""
    language: str = Field("", description="The language the code ran in (empty: not run).")

    @model_validator(mode="after")
    def _passed_of_total(self) -> Execution:
        if self.passed > self.total:
            raise ValueError(f"passed ({self.passed}) exceeds total ({self.total})")
        return self


class InstructionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    instruction: str
    preference: str
    models: list[str] = Field(min_length=1)
    tests: CodeTests | None = None
    entry_point: str | None = Field(None, description="The function the tests call.")
    solution: str | None = Field(None, description="A reference solution, when the source has one.")

    @property
    def has_tests(self) -> bool:
        return self.tests is not None and self.tests.runnable

    @field_validator("preference")
    @classmethod
    def _known_preference(cls, value: str) -> str:
        from codeuf.preferences import PREFERENCE_NAMES

        if value not in PREFERENCE_NAMES:
            raise ValueError(f"unknown preference {value!r} (known: {', '.join(PREFERENCE_NAMES)})")
        return value

    @field_validator("entry_point")
    @classmethod
    def _function_name(cls, value: str | None) -> str | None:
        import keyword

        if value is not None and (not value.isidentifier() or keyword.iskeyword(value)):
            raise ValueError(f"{value!r} is not a function name")
        return value

    @field_validator("models")
    @classmethod
    def _distinct_models(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a model is named twice")
        return value


class Response(BaseModel):
    model: str
    response: str


def _finite_rating(value: str) -> str:
    """A rating is N/A or a finite number written as text; "nan", "inf" and the like are refused."""
    import math

    if value == NA:
        return value
    if not _RATING.fullmatch(value) or not math.isfinite(float(value)):
        raise ValueError(f"a rating is a number such as 4 or 3.5, or {NA!r}; not {value[:40]!r}")
    return value


_RATING = re.compile(r"-?\d{1,6}(\.\d{1,12})?")


class Annotation(BaseModel):
    model: str
    rating: str = Field(description='"1".."5", a mean such as "3.5" over orders or judges, or "N/A".')
    rationale: str

    _rating = field_validator("rating")(_finite_rating)


class Judgement(BaseModel):
    """One judge call: the order the responses were shown in and what came back."""

    judge: str
    order_index: int
    order: list[str]
    ratings: list[str]
    rationales: list[str]
    raw: str | None = None
    error: str | None = None
    distributions: list[dict[str, float]] | None = Field(
        None, description="Per rating, the judge's probability of each value (the logprobs method)."
    )

    @field_validator("ratings")
    @classmethod
    def _finite_ratings(cls, values: list[str]) -> list[str]:
        return [_finite_rating(v) for v in values]


class GenerationError(BaseModel):
    model: str
    error: str


class GenerationRecord(InstructionRecord):
    responses: list[Response]
    principles: list[str] = Field(default_factory=list, description="The system prompt of each model, in order.")
    errors: list[GenerationError] = Field(default_factory=list, description="Models that gave no response, and why.")
    executions: list[Execution] = Field(
        default_factory=list, description="Each response run against the tests (codeuf execute), in model order."
    )

    def failed(self) -> dict[str, str]:
        return {e.model: e.error for e in self.errors}

    @model_validator(mode="after")
    def _one_response_per_model(self) -> GenerationRecord:
        if sorted(r.model for r in self.responses) != sorted(self.models):
            raise ValueError("responses must hold one response per model of `models`")
        strangers = sorted({e.model for e in self.executions} - set(self.models))
        if strangers:
            raise ValueError(f"executions of {', '.join(map(repr, strangers))}, which has no response")
        return self


class FeedbackRecord(GenerationRecord):
    annotations: list[Annotation]
    judgements: list[Judgement] = Field(default_factory=list)

    @model_validator(mode="after")
    def _annotations_of_the_models(self) -> FeedbackRecord:
        if not {a.model for a in self.annotations} <= set(self.models):
            raise ValueError("annotations must rate models of `models`")
        return self


def rating_value(rating: str) -> float | None:
    """A rating string as a number, or None for N/A (never a number)."""
    if rating == NA:
        return None
    try:
        value = float(rating)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def format_rating(value: float | None) -> str:
    if value is None:
        return NA
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")
