"""Typed configuration of a dataset-construction run, read from YAML. Unknown keys are errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator, model_validator

from codeuf.config.reader import STRICT as _STRICT
from codeuf.config.reader import checked_spec, known_format, read_yaml_mapping, validated
from codeuf.errors import InputError, invalid
from codeuf.judging.config import JudgeConfig, load_judges
from codeuf.llm.batch.providers import BATCH_DISCOUNT
from codeuf.llm.spec import parse_spec

__all__ = ["JudgeConfig", "PoolModel", "Price", "RunConfig", "TestSynthesis", "WarnThresholds", "checked_spec",
           "known_format", "read_yaml_mapping", "resolve_config", "validated"]  # fmt: skip


class PoolModel(BaseModel):
    """One model of the pool: where it is served and how it is prompted."""

    model_config = _STRICT
    spec: str = Field(description="Model spec, e.g. openai:NAME@URL or llamacpp:default.")
    format: str | None = Field(
        None,
        description="Prompt format for a raw completion prompt (gemma, chatml, llama2, codellama, mistral, alpaca, "
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
    replicas: int = Field(
        1, ge=1, description="On a Ray executor: actors serving an in-process model (llamacpp:, hf:)."
    )
    cpus_per_replica: float = Field(1.0, gt=0, description="CPUs each replica takes on the cluster.")
    parallel: int | None = Field(
        None,
        ge=1,
        description="Sequences an in-process llama.cpp model decodes together (continuous batching); "
        "default: CODEUF_LLAMACPP_PARALLEL or 8; 1 decodes one request at a time.",
    )
    gpus_per_replica: float = Field(0.0, ge=0, description="GPUs each replica takes on the cluster.")
    batch_api: bool = Field(False, description="Send this model's requests through its provider's batch API.")

    _spec = field_validator("spec")(checked_spec)
    _format = field_validator("format")(known_format)

    @model_validator(mode="after")
    def _prefill_needs_a_format(self) -> PoolModel:
        if (self.prefill or self.stop) and self.format is None:
            raise ValueError("prefill and stop apply to raw prompts: give the entry a `format`")
        return self


class Price(BaseModel):
    """What a model costs, in USD per million tokens; batch calls cost `batch_discount` of it."""

    model_config = _STRICT
    input: float = Field(0.0, ge=0, allow_inf_nan=False)
    output: float = Field(0.0, ge=0, allow_inf_nan=False)
    batch_discount: float = Field(BATCH_DISCOUNT, gt=0, le=1, description="Share of the price a batch API call costs.")


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


class WarnThresholds(BaseModel):
    """When a run's signals draw a warning (codeuf.stages.signals): on the card, in the manifest and the
    terminal summary; with `strict`, a warning is exit 7."""

    model_config = _STRICT
    flip_rate: float = Field(0.3, ge=0, le=1, description="Warn above this flip rate between a judge's orders.")
    na_rate: float = Field(0.2, ge=0, le=1, description="Warn above this share of N/A ratings.")
    model_win_share: float = Field(0.9, ge=0, le=1, description="Warn when one model is chosen in more pairs.")
    min_n: int = Field(10, ge=1, description="An interval over fewer items is 'n too small', and warned about.")


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
    pair_check: JudgeConfig | None = Field(
        None,
        description="A pairwise judge that checks each pair in both orders; pairs it does not confirm are dropped.",
    )
    test_fraction: float = Field(0.05, ge=0, lt=1)
    order_disagreements: Literal["flag", "drop"] = Field(
        "flag",
        description="A pair whose judge orders disagree on chosen and rejected (orders > 1): kept and flagged "
        "(`orders_disagree`), or dropped; counted either way.",
    )
    length_control: Literal["off", "drop", "weight"] = Field(
        "off",
        description="Pairs whose choice the lengths alone explain (AlpacaEval 2's length-controlled fit, adapted to "
        "pairs): dropped, or kept with a `length_weight` below 1 (codeuf.stages.length_control).",
    )
    warn: WarnThresholds = Field(default_factory=WarnThresholds, description="When the run's signals draw warnings.")
    strict: bool = Field(False, description="Any warning is a failure (exit 7), for pipelines.")
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
    batch_api: bool = Field(
        False, description="Send every batch-capable model's requests through its provider's batch API (half price)."
    )
    batch_poll_s: float = Field(30.0, gt=0, description="First wait between polls of a batch (doubling, to 300 s).")
    batch_keep_files: bool = Field(
        False, description="Leave the uploaded batch input files at the provider (by default deleted once answered)."
    )
    batch_retry: Literal["live", "batch"] = Field(
        "live", description="Requests a batch did not answer (errored, expired): sent live, or in a new batch."
    )
    prices: dict[str, Price] = Field(
        default_factory=dict,
        description="USD per million tokens per model (its spec or its name): the manifest and card give costs.",
    )
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
        """A string is a model spec (`openai:gpt-3.5-turbo`) or, without a colon, a shipped judge or judge file."""
        if isinstance(value, list):
            return [_judge_entry(v) if isinstance(v, str) else v for v in value]
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

    @field_validator("pair_check", mode="before")
    @classmethod
    def _pair_check_string(cls, value: Any) -> Any:
        return _judge_entry(value) if isinstance(value, str) else value

    @field_validator("pair_check")
    @classmethod
    def _pairwise(cls, judge: JudgeConfig | None) -> JudgeConfig | None:
        from codeuf.judging import compares

        if judge is not None and not compares(judge):
            raise ValueError(f"a pair check compares two responses: its method must be pairwise, not {judge.method}")
        return judge

    def priced_models(self) -> dict[str, str]:
        """The names a `prices` key may use, each with the spec it prices (see `priced_models`)."""
        return priced_models(self.pool, self.judges, self.synthesize_tests, self.pair_check)

    def spec_prices(self) -> dict[str, Price]:
        """`prices` keyed by the specs they price, whatever name each key used."""
        named = self.priced_models()
        return {named[key]: price for key, price in self.prices.items()}

    @field_validator("prices")
    @classmethod
    def _known_price_keys(cls, prices: dict[str, Price], info: ValidationInfo) -> dict[str, Price]:
        data = info.data
        if "pool" not in data or "judges" not in data:
            return prices  # the pool or the judges are wrong already: that error comes first
        named = priced_models(data["pool"], data["judges"], data.get("synthesize_tests"), data.get("pair_check"))
        unknown = [key for key in prices if key not in named]
        if unknown:
            raise ValueError(f"prices for {', '.join(map(repr, unknown))}, which is no model of this run (keys are "
                             "pool names, judge names, specs or model ids)")  # fmt: skip
        return prices

    @model_validator(mode="after")
    def _enough_models(self) -> RunConfig:
        if self.models_per_instruction > len(self.pool):
            raise ValueError(
                f"models_per_instruction ({self.models_per_instruction}) exceeds the pool size ({len(self.pool)})"
            )
        return self


def priced_models(pool: dict[str, PoolModel], judges: list[JudgeConfig], writer: TestSynthesis | None,
                  pair_check: JudgeConfig | None) -> dict[str, str]:  # fmt: skip
    """The names a `prices` key may use, each with the spec it prices: pool names, judge names, specs and the
    model ids inside specs (`gpt-4o` of `openai:gpt-4o@URL`)."""
    named = {name: entry.spec for name, entry in pool.items()}
    named.update({judge.label: judge.spec for judge in judges})
    specs = [*named.values(), *([writer.spec] if writer else []), *([pair_check.spec] if pair_check else [])]
    for spec in specs:
        named.setdefault(spec, spec)
        named.setdefault(parse_spec(spec).model, spec)
    return named


CODE_PREFILL = "```python\n"


def _judge_entry(text: str) -> dict[str, Any]:
    if ":" in text:
        return {"spec": text}
    try:
        judges = load_judges(text)
    except InputError as exc:
        raise ValueError(exc.detail) from None
    if len(judges) != 1:
        raise ValueError(f"{text!r} holds {len(judges)} judges: name one judge per entry")
    return judges[0].model_dump()


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
        judges=load_judges("embedded"),
        out=Path("runs/demo"),
        concurrency=8,
    )


def load_config(path: str | Path) -> RunConfig:
    """Read a YAML run config; any problem is one InputError naming the file, the line and the field."""
    return validated(RunConfig, *read_yaml_mapping(Path(path)), path=Path(path))


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
        problem = invalid(exc)
        loc = (problem.field or "").split(".")
        option = OPTION_NAMES.get(loc[0], loc[0])
        if loc[0] == "synthesize_tests" and len(loc) > 1:  # `codeuf tests --count 0`
            option = {"spec": "model"}.get(loc[1], loc[1])
        field = f"--{option.replace('_', '-')}" if loc[0] in given else problem.field
        raise InputError(problem.detail, field=field) from None


# ----------------------------------------------------------------------------- a run folder's own config

OPERATIONAL = frozenset({"out", "strict", "warn", "concurrency", "execution_workers", "batch_api", "batch_poll_s",
                         "batch_retry", "batch_keep_files", "max_retries", "timeout", "down_after_s",
                         "prices"})  # fmt: skip
"""Settings that change how a run is carried out, not what it writes: they may differ between the commands
of one run without rewriting it under another configuration."""

MANIFEST = "manifest.json"


def recorded_config(out: Path) -> dict[str, Any] | None:
    """The configuration a run folder was made with (its manifest's `config`), or None for a new folder."""
    from codeuf.io import read_json_file

    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    body = read_json_file(path)
    config = body.get("config") if isinstance(body, dict) else None
    if not isinstance(config, dict):
        raise InputError("a run manifest without a `config` mapping: give --config, or a new --out", path=path,
                         field="config")  # fmt: skip
    return config


def config_changes(recorded: dict[str, Any] | None, config: RunConfig) -> dict[str, dict[str, Any]]:
    """The fields whose values differ from the recorded config's, as {field: {"from": old, "to": new}};
    operational settings (OPERATIONAL) are left out."""
    if recorded is None:
        return {}
    now = config.model_dump(mode="json")
    return {k: {"from": recorded.get(k), "to": now[k]} for k in sorted(now)
            if k not in OPERATIONAL and recorded.get(k) != now[k]}  # fmt: skip


def resolve_config(path: Path | None, *, force: bool = False, **overrides: Any) -> tuple[RunConfig, dict | None]:
    """The config a command runs with, and the one its run folder was made with (None for a new folder).

    A folder that holds a run keeps its configuration: without `path` it is read from the folder's manifest,
    so that `codeuf binarize --out RUN` binarizes RUN as it was built, not the demo. Options given on the
    command line override single fields (the manifest records each change). A config file that differs from
    the run's own is refused unless `force`: it would rewrite the run's outputs under another configuration."""
    given_out = overrides.get("out")
    base = load_config(path) if path is not None else None
    out = Path(given_out if given_out is not None else base.out if base is not None else default_config().out)
    recorded = recorded_config(out)
    if base is None and recorded is not None:
        base = validated(RunConfig, {**recorded, "out": str(out)}, path=out / MANIFEST)
    elif base is not None and recorded is not None and not force:
        differ = sorted(config_changes(recorded, base))
        if differ:
            raise InputError(
                f"this run was made with another configuration (it differs in {', '.join(differ)}); leave out the "
                "config to continue the run as it was made, give --force to rewrite it, or a new --out",
                path=out / MANIFEST, field=differ[0],
            )  # fmt: skip
    return with_overrides(base or default_config(), **overrides), recorded


# ----------------------------------------------------------------------------- codeuf init

STARTER = Path(__file__).parents[1] / "data" / "builtin" / "run-config.yaml"
"""The commented run config `codeuf init` writes (docs/guide/own-data.md shows it)."""


def write_starter_config(path: Path, *, source: str, server: str, model: str, force: bool = False) -> RunConfig:
    """Write the commented starter config with the given source, server and model filled in; it is read back
    as every config is before the file appears, and an existing file is replaced only with `force`."""
    import json

    from codeuf.io import atomic_file

    path = Path(path)
    if path.exists() and not force:
        raise InputError("already exists: give --force to replace it, or another path", path=path)
    if path.exists() and not path.is_file():
        raise InputError("not a file", path=path)
    # JSON strings are YAML strings: a path or URL with quotes or colons stays one value.
    text = STARTER.read_text(encoding="utf-8").replace("__SOURCE__", json.dumps(source))
    spec = f"openai:{model}@{server}"
    text = text.replace('"openai:__MODEL__@__SERVER__"', json.dumps(spec))
    with atomic_file(path) as draft:  # read back as any config is read, before the file appears
        draft.write_text(text, encoding="utf-8")
        values, _lines = read_yaml_mapping(draft)
        config = validated(RunConfig, values, _lines, path=path)
    return config
