"""Judges are files, as in AlpacaEval: a YAML names the model, the prompt templates, the method, the sampling
settings and the limits. The defaults live here, once.

```yaml
# judges/paper.yaml: the paper's judge
spec: openai:gpt-3.5-turbo
name: gpt-3.5-turbo
method: json          # json | logprobs | pairwise
temperature: 0.0
max_tokens: 1024
rationale_chars: 400
reference: gpt-4-turbo   # CODAL-Bench grading: the reference answer shown
```

`--judge-config NAME` takes a shipped judge (`codeuf/judging/judges/NAME.yaml`: `paper`, `embedded`,
`embedded-logprobs`, `gpt-4.1`, `claude-sonnet-4.5`), `--judge-config FILE` any file; `--judge SPEC` a judge with
these defaults. A file may also hold `judges: [...]` (several judges) and `reference:`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from codeuf.config.reader import STRICT, checked_spec, known_format, read_yaml_mapping, validated
from codeuf.errors import InputError, invalid

SHIPPED = Path(__file__).parent / "judges"
DEFAULT_REFERENCE = "gpt-4-turbo"
"""The reference model of CODAL-Bench grading (the paper's)."""


class JudgeConfig(BaseModel):
    """One judge: a model, how it is asked, and how its verdict is read."""

    model_config = STRICT
    spec: str = Field(description="Model spec, e.g. openai:gpt-3.5-turbo or llamacpp:default.")
    name: str | None = Field(None, description="Name in the outputs [default: the spec].")
    method: str = Field(
        "json",
        description="json: constrained JSON, the rating an enum; logprobs: the rating is the expectation over the "
        "rating tokens' probabilities; pairwise: two responses compared, in both orders (codeuf.judging.registry).",
    )
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(1024, ge=16)
    rationale_chars: int = Field(400, ge=0, description="Longest rationale per rating (a schema maxLength); 0: none.")
    structured: bool = Field(True, description="Ask for JSON-schema constrained output where supported.")
    show_tests: bool = Field(
        False, description="Show the judge each response's test results (codeuf execute) beside it, as evidence."
    )
    top_logprobs: int = Field(20, ge=1, le=20, description="Alternatives per token (logprobs).")
    format: str | None = Field(None, description="Prompt format for a raw completion prompt (a base-model judge).")
    prompts: Path | None = Field(
        None, strict=False, description="Folder whose templates replace the built-in ones (annotate.j2, ...)."
    )
    reference: str | None = Field(None, description=f"CODAL-Bench: the reference answer shown [{DEFAULT_REFERENCE}].")
    batch_api: bool = Field(False, description="Send this judge's requests through its provider's batch API.")

    _spec = field_validator("spec")(checked_spec)
    _format = field_validator("format")(known_format)

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        from codeuf.judging.registry import METHODS

        if value not in METHODS:
            raise ValueError(f"unknown method {value!r} (known: {', '.join(METHODS)})")
        return value

    @property
    def label(self) -> str:
        return self.name or self.spec


class JudgesFile(BaseModel):
    """A file of several judges (and the CODAL reference they grade against)."""

    model_config = STRICT
    judges: list[JudgeConfig] = Field(min_length=1)
    reference: str | None = Field(None, description="Reference model whose answer the judge sees.")

    @model_validator(mode="after")
    def _reference_to_each(self) -> JudgesFile:
        for judge in self.judges:
            judge.reference = judge.reference or self.reference
        return self


def shipped_judges() -> list[str]:
    return sorted(p.stem for p in SHIPPED.glob("*.yaml"))


def judge_path(name_or_file: str | Path) -> Path:
    """A shipped judge's file, or the file given."""
    text = str(name_or_file)
    if "/" not in text and not text.endswith((".yaml", ".yml")):
        path = SHIPPED / f"{text}.yaml"
        if not path.is_file():
            raise InputError(f"no shipped judge {text!r} (shipped: {', '.join(shipped_judges())})",
                             field="--judge-config")  # fmt: skip
        return path
    return Path(name_or_file)


def load_judges(name_or_file: str | Path) -> list[JudgeConfig]:
    """The judges of a judge file (one judge, or `judges:` with a shared `reference:`); errors name the file,
    the line and the field."""
    path = judge_path(name_or_file)
    values, lines = read_yaml_mapping(path)
    if "judges" in values:
        return validated(JudgesFile, values, lines, path=path).judges
    return [validated(JudgeConfig, values, lines, path=path)]


def judge_from_spec(spec: str, field: str = "--judge", **settings: Any) -> JudgeConfig:
    """A judge named on the command line, checked like one in a file."""
    try:
        return JudgeConfig.model_validate({"spec": spec, **settings})
    except ValidationError as exc:
        raise InputError(invalid(exc).detail, field=field) from None


def with_settings(judges: list[JudgeConfig], **overrides: Any) -> list[JudgeConfig]:
    """The judges with a command's overrides (those that are not None), checked like a file's settings."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return list(judges)
    out = []
    for judge in judges:
        try:
            out.append(JudgeConfig.model_validate({**judge.model_dump(), **given}))
        except ValidationError as exc:
            problem = invalid(exc)
            raise InputError(problem.detail, field=f"--{(problem.field or '').replace('_', '-')}") from None
    return out


def resolve_judges(specs: list[str] | None, files: list[str] | None, **overrides: Any) -> list[JudgeConfig]:
    """The judges of a command: `--judge SPEC` (defaults) and `--judge-config NAME|FILE`, in that order, with the
    command's overrides; at least one, their names distinct."""
    judges = [judge_from_spec(spec) for spec in specs or []]
    for name in files or []:
        judges += load_judges(name)
    if not judges:
        raise InputError("give --judge SPEC or --judge-config NAME|FILE", field="--judge")
    judges = with_settings(judges, **overrides)
    labels = [j.label for j in judges]
    if len(set(labels)) != len(labels):
        raise InputError("two judges have the same name: give each a distinct `name`", field="--judge")
    return judges
