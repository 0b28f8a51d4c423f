"""Typed configuration of a dataset-construction run, read from YAML. Unknown keys are errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from codeuf.data.io import MAX_DEPTH
from codeuf.errors import InputError

# Unknown keys are errors, and types are strict: `n: true` or `temperature: "0.5"` is refused, not coerced.
_STRICT = ConfigDict(extra="forbid", strict=True)
_Model = TypeVar("_Model", bound=BaseModel)


def checked_spec(value: str) -> str:
    """A model spec must parse (backend, model, URLs) when the config is read, not at the first call."""
    from codeuf.llm.spec import parse_spec

    try:
        parse_spec(value)
    except InputError as exc:
        raise ValueError(exc.detail) from None
    return value


def known_format(value: str | None) -> str | None:
    """A field validator: a prompt format codeuf knows, or none."""
    from codeuf.llm.formats import FORMATS

    if value is not None and value not in FORMATS:
        raise ValueError(f"unknown prompt format {value!r} (known: {', '.join(FORMATS)})")
    return value


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
    prefill: str = Field(
        "",
        description="Text the response starts with (raw prompts: needs `format`): the prompt ends with it and the "
        "recorded response begins with it, e.g. a code fence, so that a base model writes code.",
    )
    stop: list[str] = Field(default_factory=list, description="Extra stop strings (raw prompts).")

    _spec = field_validator("spec")(checked_spec)
    _format = field_validator("format")(known_format)

    @model_validator(mode="after")
    def _prefill_needs_a_format(self) -> PoolModel:
        if (self.prefill or self.stop) and self.format is None:
            raise ValueError("prefill and stop apply to raw prompts: give the entry a `format`")
        return self


class JudgeConfig(BaseModel):
    model_config = _STRICT
    spec: str
    name: str | None = Field(None, description="Name in the outputs [default: the spec].")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(2048, ge=16)
    rationale_chars: int = Field(400, ge=8, description="Longest rationale per response (a schema maxLength).")
    structured: bool = Field(True, description="Ask for JSON-schema constrained output where supported.")
    show_tests: bool = Field(
        False, description="Show the judge each response's test results (codeuf execute) beside it, as evidence."
    )

    _spec = field_validator("spec")(checked_spec)

    @property
    def label(self) -> str:
        return self.name or self.spec


class TestSynthesis(BaseModel):
    """`codeuf tests`: a model writes assert tests for the instructions that have none (AceCoder's recipe),
    and a test is kept only once validated: by the reference solution where the instruction has one, or
    else by the agreement of the pool's responses (`agreement`, see codeuf.stages.synthesize)."""

    model_config = _STRICT
    spec: str = Field(description="Model spec of the test writer.")
    name: str | None = Field(None, description="Name in the records' `origin` [default: the spec].")
    format: str | None = Field(None, description="Prompt format for a raw completion prompt (as in the pool).")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(768, ge=16)
    count: int = Field(10, ge=1, le=50, description="Tests asked for per instruction (AceCoder asks 20).")
    min_tests: int = Field(3, ge=1, description="Fewer validated tests than this: the instruction keeps none.")
    agreement: Literal["codet", "majority", "none"] = Field(
        "codet",
        description="Without a reference solution: codet (the tests of the best consensus set of responses, "
        "Chen et al. 2023), majority (each test that most executed responses pass), or none (no tests).",
    )
    min_agree: int = Field(2, ge=1, description="Responses that must agree on a test (agreement rules).")
    structured: bool = Field(True, description="Ask for JSON-schema constrained output where supported.")

    _spec = field_validator("spec")(checked_spec)
    _format = field_validator("format")(known_format)

    @property
    def label(self) -> str:
        return self.name or self.spec


class RunConfig(BaseModel):
    """Everything `codeuf run` needs. The defaults reproduce the embedded offline demo."""

    model_config = _STRICT
    source: str | None = Field(None, description="Hub id or local .jsonl/.json/.parquet; none: built-in sample.")
    split: str = "train"
    column: str = "instruction"
    solution_column: str = Field(
        "solution", description="Column of a reference solution (Evol-Instruct: output), used to validate tests."
    )
    n: int = Field(10, ge=1, description="Instructions to keep (the paper: 10,000).")
    seed: int = 42
    pool: dict[str, PoolModel] = Field(min_length=2)
    models_per_instruction: int = Field(4, ge=2)
    judges: list[JudgeConfig] = Field(min_length=1)
    orders: int = Field(1, ge=1, description="Orders in which each judge sees the responses (the paper: 1).")
    ties: Literal["keep", "drop"] = "drop"
    criterion: Literal["auto", "judge", "tests", "tests-then-judge"] = Field(
        "auto",
        description="What makes a pair: the judge, the tests, or tests then judge (auto: tests-then-judge "
        "where responses ran against tests, judge elsewhere).",
    )
    min_margin: float = Field(0.0, ge=0)
    test_fraction: float = Field(0.05, ge=0, lt=1)
    out: Path = Field(Path("runs/codeuf"), strict=False)
    concurrency: int = Field(8, ge=1)
    prompts: Path | None = Field(
        None, strict=False, description="Folder of Jinja2 templates that override the built-in ones."
    )
    execute: bool = Field(
        True, description="Run each response against its instruction's tests, where it has some (codeuf execute)."
    )
    synthesize_tests: TestSynthesis | None = Field(
        None, description="Write tests for the instructions that have none (codeuf tests); none: do not."
    )
    execution_workers: int | None = Field(None, ge=1, description="Sandbox processes [default: CPU count].")
    max_retries: int = Field(6, ge=0, description="Retries per call on 429, 5xx, timeouts and connection errors.")
    timeout: float = Field(120.0, gt=0, description="Seconds per attempt (HTTP backends).")
    down_after_s: float = Field(
        60.0,
        ge=0,
        description="Stop when a backend has failed every attempt, with no success, for this long "
        "(a dead server); 0 never stops early.",
    )

    @field_validator("judges", mode="before")
    @classmethod
    def _judge_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"spec": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("judges")
    @classmethod
    def _unique_judge_names(cls, judges: list[JudgeConfig]) -> list[JudgeConfig]:
        seen: set[str] = set()
        for judge in judges:
            if judge.label in seen:
                raise ValueError(f"two judges are named {judge.label!r}: give each a distinct `name`")
            seen.add(judge.label)
        return judges

    @model_validator(mode="after")
    def _enough_models(self) -> RunConfig:
        if self.models_per_instruction > len(self.pool):
            raise ValueError(
                f"models_per_instruction ({self.models_per_instruction}) exceeds the pool size ({len(self.pool)})"
            )
        return self


CODE_PREFILL = "```python\n"


def default_config() -> RunConfig:
    """The offline demo: the built-in Python tasks with tests, answered by the embedded Gemma 3 270M in four
    honestly named configurations (two chat, two started on a code fence so that the base model writes code),
    judging itself; every response runs against its task's tests."""
    code = {"spec": "llamacpp:default", "format": "gemma", "prefill": CODE_PREFILL, "stop": ["```"]}
    return RunConfig(
        source="builtin:tasks",
        n=10,
        pool={
            "gemma3-270m-chat-greedy": PoolModel(spec="llamacpp:default", temperature=0.0, max_tokens=128),
            "gemma3-270m-chat-t0.8": PoolModel(spec="llamacpp:default", temperature=0.8, max_tokens=128),
            "gemma3-270m-code-greedy": PoolModel(**code, temperature=0.0, max_tokens=160),
            "gemma3-270m-code-t0.8": PoolModel(**code, temperature=0.8, max_tokens=160),
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
    parsed = validated(JudgesFile, *read_yaml_mapping(Path(path)), path=path)
    return parsed.judges, parsed.reference


def judge_from_spec(spec: str, field: str = "--judge", **settings: Any) -> JudgeConfig:
    """A judge named on the command line, checked like one in a file."""
    try:
        return JudgeConfig.model_validate({"spec": spec, **settings})
    except ValidationError as exc:
        raise InputError(exc.errors()[0]["msg"], field=field) from None


def load_config(path: str | Path) -> RunConfig:
    """Read a YAML run config; any problem is one InputError naming the file, the line and the field."""
    return validated(RunConfig, *read_yaml_mapping(Path(path)), path=Path(path))


MAX_YAML_NODES = 100_000
"""More nodes than any real config has; stops alias bombs ("billion laughs") before they expand."""


def read_yaml_mapping(path: Path, *, empty_ok: bool = False) -> tuple[dict[str, Any], dict[str, int]]:
    """A YAML file's top-level mapping and the line of each key, nested ones as dotted paths ("pool.m.spec",
    "judges.0.spec"); any problem is one InputError naming the file (and the line, for bad YAML). An empty
    file is an empty mapping where `empty_ok`."""
    import yaml

    from codeuf.data.io import JsonProblem, check_value, read_input_bytes

    raw = read_input_bytes(path)
    try:
        text = raw.decode("utf-8")
        if _flow_depth(text) > MAX_DEPTH:
            raise _TooLarge
        node = yaml.compose(text)
        lines = _key_lines(node)
        data = yaml.safe_load(text)
        check_value(data)
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 (byte {exc.start + 1})", path=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}", path=path,
                         line=mark.line + 1 if mark else None) from None  # fmt: skip
    except (RecursionError, _TooLarge):
        raise InputError(f"nested too deeply or too large for a config ({MAX_YAML_NODES} nodes at most)",
                         path=path) from None  # fmt: skip
    except JsonProblem as exc:
        raise InputError(str(exc), path=path) from None
    except ValueError as exc:  # a YAML integer longer than Python reads
        raise InputError(f"cannot read a value: {exc}".split(";")[0], path=path) from None
    if data is None and empty_ok:
        data = {}
    if not isinstance(data, dict):
        raise InputError("expected a mapping of settings", path=path)
    return data, lines


class _TooLarge(Exception):
    pass


def _flow_depth(text: str) -> int:
    """How deep `[` and `{` nest, quotes ignored: a cheap look before PyYAML, which takes half a second
    to give up on a few thousand levels. No real config comes near MAX_DEPTH."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return 0
    depth = deepest = 0
    quote = ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(0, depth - 1)
    return deepest


def _key_lines(root: Any) -> dict[str, int]:
    """Dotted path -> line of every mapping key and sequence item, walked without recursion; shared nodes
    (aliases) are counted each time they are reached, so an alias bomb stops at MAX_YAML_NODES."""
    import yaml

    lines: dict[str, int] = {}
    stack, seen = [("", root)], 0
    while stack:
        where, node = stack.pop()
        seen += 1
        if seen > MAX_YAML_NODES:
            raise _TooLarge
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = f"{where}.{key.value}" if where else str(key.value)
                lines.setdefault(name, key.start_mark.line + 1)
                stack.append((name, value))
        elif isinstance(node, yaml.SequenceNode):
            for index, value in enumerate(node.value):
                name = f"{where}.{index}" if where else str(index)
                lines.setdefault(name, value.start_mark.line + 1)
                stack.append((name, value))
    return lines


def validated(
    model: type[_Model], values: dict[str, Any], lines: dict[str, int] | None = None, *, path: str | Path | None = None
) -> _Model:
    """`values` as a `model`; the first validation error becomes one InputError naming the file, the line
    (from `lines`, the dotted key paths of `read_yaml_mapping`) and the field."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(p) for p in error["loc"] if p != "[key]"]
        line = next((lines[".".join(loc[:n])] for n in range(len(loc), 0, -1) if ".".join(loc[:n]) in (lines or {})),
                    None)  # fmt: skip
        message = error["msg"].removeprefix("Value error, ")
        raise InputError(message, path=path, line=line, field=".".join(loc) or None) from None


OPTION_NAMES = {"judges": "judge", "synthesize_tests": "model"}
"""Config fields whose command-line option has another name."""


def with_overrides(config: RunConfig, **overrides: Any) -> RunConfig:
    """The config with command-line overrides applied and validated like the YAML; errors name the option."""
    values = config.model_dump()
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    try:
        return RunConfig.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(p) for p in error["loc"]]
        option = OPTION_NAMES.get(loc[0], loc[0]) if loc else ""
        if loc[:1] == ["synthesize_tests"] and len(loc) > 1:  # `codeuf tests --count 0`
            option = {"spec": "model"}.get(loc[1], loc[1])
        field = f"--{option.replace('_', '-')}" if loc and loc[0] in given else ".".join(loc) or None
        raise InputError(error["msg"].removeprefix("Value error, "), field=field) from None
