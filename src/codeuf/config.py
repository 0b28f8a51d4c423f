"""Typed configuration of a dataset-construction run, read from YAML. Unknown keys are errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from codeuf.errors import InputError

_STRICT = ConfigDict(extra="forbid")
_Model = TypeVar("_Model", bound=BaseModel)


class PoolModel(BaseModel):
    """One model of the pool: where it is served and how it is prompted."""

    model_config = _STRICT
    spec: str = Field(description="Model spec, e.g. openai:NAME@URL or llamacpp:default.")
    format: str | None = Field(
        None,
        description="Prompt format for a raw completion prompt (gemma, chatml, llama2, codellama, alpaca, "
        "deepseek-coder, plain); none sends chat messages with the principle as system prompt.",
    )
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(1024, ge=1)


class JudgeConfig(BaseModel):
    model_config = _STRICT
    spec: str
    name: str | None = Field(None, description="Name in the outputs [default: the spec].")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(2048, ge=16)
    rationale_chars: int = Field(400, ge=8, description="Longest rationale per response (a schema maxLength).")
    structured: bool = Field(True, description="Ask for JSON-schema constrained output where supported.")

    @property
    def label(self) -> str:
        return self.name or self.spec


class RunConfig(BaseModel):
    """Everything `codeuf run` needs. The defaults reproduce the embedded offline demo."""

    model_config = _STRICT
    source: str | None = Field(None, description="Hub id or local .jsonl/.json/.parquet; none: built-in sample.")
    split: str = "train"
    column: str = "instruction"
    n: int = Field(10, ge=1, description="Instructions to keep (the paper: 10,000).")
    seed: int = 42
    pool: dict[str, PoolModel] = Field(min_length=2)
    models_per_instruction: int = Field(4, ge=2)
    judges: list[JudgeConfig] = Field(min_length=1)
    orders: int = Field(1, ge=1, description="Orders in which each judge sees the responses (the paper: 1).")
    ties: Literal["keep", "drop"] = "drop"
    min_margin: float = Field(0.0, ge=0)
    test_fraction: float = Field(0.05, ge=0, lt=1)
    out: Path = Path("runs/codeuf")
    concurrency: int = Field(8, ge=1)
    prompts: Path | None = Field(None, description="Folder of Jinja2 templates that override the built-in ones.")

    @field_validator("judges", mode="before")
    @classmethod
    def _judge_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"spec": v} if isinstance(v, str) else v for v in value]
        return value

    def model_post_init(self, context: Any) -> None:
        if self.models_per_instruction > len(self.pool):
            raise ValueError(
                f"models_per_instruction ({self.models_per_instruction}) exceeds the pool size ({len(self.pool)})"
            )


def default_config() -> RunConfig:
    """The offline demo: the embedded Gemma 3 270M in four honestly named configurations, judging itself."""
    return RunConfig(
        n=10,
        pool={
            "gemma3-270m-chat-greedy": PoolModel(spec="llamacpp:default", temperature=0.0, max_tokens=128),
            "gemma3-270m-chat-t0.8": PoolModel(spec="llamacpp:default", temperature=0.8, max_tokens=128),
            "gemma3-270m-alpaca-t0.3": PoolModel(
                spec="llamacpp:default", format="alpaca", temperature=0.3, max_tokens=128
            ),
            "gemma3-270m-plain-t1.0": PoolModel(
                spec="llamacpp:default", format="plain", temperature=1.0, max_tokens=128
            ),
        },
        judges=[JudgeConfig(spec="llamacpp:default", name="gemma3-270m-judge", max_tokens=400, rationale_chars=48)],
        out=Path("runs/demo"),
        concurrency=4,
    )


class JudgesFile(BaseModel):
    """A file of judges for `codeuf codal grade --judge-config`."""

    model_config = _STRICT
    judges: list[JudgeConfig] = Field(min_length=1)
    reference: str | None = Field(None, description="Reference model whose answer the judge sees.")


def load_judges(path: str | Path) -> tuple[list[JudgeConfig], str | None]:
    parsed = validated(JudgesFile, read_yaml_mapping(Path(path))[0], path)
    return parsed.judges, parsed.reference


def load_config(path: str | Path) -> RunConfig:
    """Read a YAML run config; any problem is one InputError naming the file and field."""
    return validated(RunConfig, read_yaml_mapping(Path(path))[0], Path(path))


def read_yaml_mapping(path: Path, *, empty_ok: bool = False) -> tuple[dict[str, Any], dict[str, int]]:
    """A YAML file's top-level mapping and the line of each of its keys; any problem is one InputError
    naming the file (and the line, for bad YAML). An empty file is an empty mapping where `empty_ok`."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except UnicodeDecodeError:
        raise InputError("not valid UTF-8", path=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path=path,
                         line=mark.line + 1 if mark else None) from None  # fmt: skip
    if data is None and empty_ok:
        data = {}
    if not isinstance(data, dict):
        raise InputError("expected a mapping of settings", path=path)
    lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value} if isinstance(node, yaml.MappingNode) else {}
    return data, lines


def validated(model: type[_Model], values: dict[str, Any], path: str | Path | None = None) -> _Model:
    """`values` as a `model`; the first validation error becomes one InputError naming the file and field."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise InputError(error["msg"], path=path, field=".".join(str(p) for p in error["loc"]) or None) from None


def with_overrides(config: RunConfig, **overrides: Any) -> RunConfig:
    """The config with command-line overrides applied and validated like the YAML."""
    values = config.model_dump()
    values.update({k: v for k, v in overrides.items() if v is not None})
    return validated(RunConfig, values)
