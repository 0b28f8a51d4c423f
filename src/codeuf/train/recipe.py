"""Training recipes: each algorithm's TRL config (SFTConfig, DPOConfig, KTOConfig, ...), extended with model,
LoRA and data fields (codeuf.train.algorithms, codeuf.train.fields).

One schema serves the YAML recipe and the command-line overrides (`--learning_rate 1e-5`,
`--lora_target_modules q_proj v_proj`, `--bf16` alone for true). Every key is checked against
the dataclass fields and every value against its field's type before anything heavy happens, so a
bad recipe is one line naming the file, the line and the field.
"""

from __future__ import annotations

import argparse
import difflib
import math
from pathlib import Path
from typing import Any

from codeuf.errors import InputError, MissingDependencyError

_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def recipe_class(kind: str) -> type:
    """The recipe class of a training algorithm (codeuf.train.algorithms)."""
    from codeuf.train.algorithms import get_algorithm

    get_algorithm(kind)
    try:
        from codeuf.train import configs
    except ModuleNotFoundError as exc:
        raise MissingDependencyError("trl and peft", "train") from exc
    return configs.recipe_class(kind)


def _actions(kind: str) -> dict[str, Any]:
    from transformers import HfArgumentParser

    parser = HfArgumentParser(recipe_class(kind))
    return {a.dest: a for a in parser._actions if a.dest != "help"}


def _type_name(action: Any) -> str:
    if action.choices:
        return "one of " + ", ".join(map(str, list(action.choices)[:8])) + ("…" if len(action.choices) > 8 else "")
    if action.type is None and action.nargs == 0:
        return "true or false"
    kind = getattr(action.type, "__name__", "")
    return {"int": "an integer", "float": "a number", "str": "a string", "string_to_bool": "true or false"}.get(
        kind, "a value"
    )


class _NotFinite(ValueError):
    """A number setting given NaN, an infinity, or more than a float holds (a 400-digit integer)."""


def _coerce_one(value: Any, action: Any) -> Any:
    convert = action.type
    name = getattr(convert, "__name__", "")
    if value is None:
        return None
    if name == "string_to_bool" or (convert is None and action.nargs == 0):  # bool fields
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _BOOLS:
            return _BOOLS[value.lower()]
        raise ValueError
    if convert is int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError
        return int(value)
    if convert is float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError
        try:
            number = float(value)  # YAML reads 1e-5 as a string: accepted here
        except OverflowError:  # a 400-digit integer
            raise _NotFinite from None
        if not math.isfinite(number):
            raise _NotFinite
        return number
    if convert is str:
        if not isinstance(value, str):
            raise ValueError
        return value
    if isinstance(value, dict | list):
        return value  # JSON-ish fields (model_init_kwargs, dataset_kwargs…) are checked by the config itself
    converted = convert(str(value)) if convert else value
    if action.choices and converted not in action.choices and str(converted) not in map(str, action.choices):
        raise ValueError
    return converted


def _coerce(key: str, value: Any, action: Any) -> Any:
    if action.nargs in ("+", "*"):
        if key == "report_to" and isinstance(value, str):
            return value
        items = value if isinstance(value, list) else [value]
        return [_coerce_one(v, action) for v in items]
    if action.choices and isinstance(value, str) and value not in map(str, action.choices):
        raise ValueError
    return _coerce_one(value, action)


POSITIVE_SETTINGS = frozenset({"learning_rate", "num_train_epochs", "per_device_train_batch_size",
                               "per_device_eval_batch_size", "gradient_accumulation_steps", "max_length", "beta",
                               "lora_r", "lora_alpha", "max_prompt_length", "max_completion_length"})  # fmt: skip
"""Settings that train nothing, or fail deep inside TRL, at 0 or below (a negative learning rate ascends)."""

SECRET_SETTINGS = {"hub_token"}
"""Settings that would put a secret in recipe.yaml and training_args.bin (pushed with the model)."""


def _check(kind: str, values: dict[str, Any], where: str | Path | None, lines: dict[str, int]) -> dict[str, Any]:
    actions = _actions(kind)
    out = {}
    for key, value in values.items():
        line = lines.get(key)
        if key in SECRET_SETTINGS:
            raise InputError(
                "a token is never a setting (it would be saved with the model): set HF_TOKEN or run "
                "`huggingface-cli login`", path=where, line=line, field=key,
            )  # fmt: skip
        if key not in actions:
            near = difflib.get_close_matches(key, list(actions), n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise InputError(f"unknown setting for `codeuf train {kind}`{hint}", path=where, line=line, field=key)
        try:
            out[key] = _coerce(key, value, actions[key])
        except (ValueError, TypeError, OverflowError, argparse.ArgumentTypeError) as exc:
            shown = repr(value) if len(repr(value)) < 60 else repr(value)[:57] + "..."
            expected = "a finite number" if isinstance(exc, _NotFinite) else _type_name(actions[key])
            raise InputError(f"expected {expected}, got {shown}", path=where, line=line, field=key) from None
        if key in POSITIVE_SETTINGS and isinstance(out[key], int | float) and not out[key] > 0:
            raise InputError(f"must be above 0, got {out[key]!r}", path=where, line=line, field=key)
    return out


RECIPES = Path(__file__).parent / "recipes"


def shipped_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES.glob("*.yaml"))


def recipe_path(name: str | Path) -> Path:
    """A recipe file, or the name of a shipped one (paper-sft, paper-dpo, cpu-sft, cpu-dpo)."""
    path = Path(name)
    if not path.exists() and (RECIPES / f"{name}.yaml").is_file():
        return RECIPES / f"{name}.yaml"
    return path


def read_recipe_file(path: str | Path) -> tuple[dict[str, Any], dict[str, int]]:
    """(settings, line of each key) from a YAML recipe."""
    from codeuf.config.reader import read_yaml_mapping

    path = recipe_path(path)
    if not path.is_file():
        raise InputError(f"recipe not found (shipped: {', '.join(shipped_recipes())})", path=path)
    data, lines = read_yaml_mapping(path, empty_ok=True)
    return {str(k): v for k, v in data.items()}, lines


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """`--key value`, `--key=value`, `--flag` (true) and `--key v1 v2` (a list) as a dict of strings."""
    out: dict[str, Any] = {}
    key = None
    for arg in args:
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            key = name.replace("-", "_")
            if not key:
                raise InputError(f"bad override {arg!r}: expected --name value")
            out[key] = value if eq else True
            if eq:
                key = None
            continue
        if key is None:
            raise InputError(f"bad override {arg!r}: expected --name value")
        current = out[key]
        out[key] = arg if current is True else [*current, arg] if isinstance(current, list) else [current, arg]
    return {k: ("true" if v is True else v) for k, v in out.items()}


def recipe_values(kind: str, path: str | Path | None, overrides: list[str] | None = None) -> dict[str, Any]:
    """The recipe's settings with the overrides on top, every key and type checked."""
    values: dict[str, Any] = {}
    if path is not None:
        raw, lines = read_recipe_file(path)
        values.update(_check(kind, raw, recipe_path(path), lines))
    if overrides:
        values.update(_check(kind, parse_overrides(overrides), "command line", {}))
    return values


def build_recipe(kind: str, values: dict[str, Any], where: str | Path | None = None) -> Any:
    """The config object; TRL's own checks (bf16 without a GPU, say) become one line too."""
    from codeuf.train.algorithms import get_algorithm

    values = {**get_algorithm(kind).defaults, **values}
    values.setdefault("output_dir", f"runs/train-{kind}")
    # transformers 5 renamed gradient_checkpointing (TRL's default: on); the new name avoids its warning
    old = values.pop("gradient_checkpointing", True)
    values.setdefault("activation_checkpointing", old)
    if "use_cpu" not in values and not _gpu():
        values["use_cpu"] = True  # also what makes processes under `accelerate launch` join a gloo group
    if "bf16" not in values and not _gpu_bf16():
        values["bf16"] = False  # TRL turns bf16 on by default, which fails on a CPU
    if isinstance(values.get("chat_template"), str) and values["chat_template"].endswith(".jinja"):
        template = Path(values["chat_template"])
        if not template.is_file():
            raise InputError("chat template file not found", path=where, field="chat_template")
        values["chat_template"] = template.read_text(encoding="utf-8")
    try:
        return recipe_class(kind)(**values)
    except (ValueError, TypeError) as exc:
        raise InputError(" ".join(str(exc).split()), path=where) from None


def _gpu() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _gpu_bf16() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def load_recipe(kind: str, path: str | Path | None, overrides: list[str] | None = None) -> Any:
    return build_recipe(kind, recipe_values(kind, path, overrides), recipe_path(path) if path is not None else None)


def settings_help(kind: str, width: int = 100) -> str:
    """Every setting of `codeuf train KIND`, grouped as TRL's own scripts show them: codeuf's model, adapter
    and data fields, then the algorithm's TRL config, then transformers' TrainingArguments; each with its
    type, default and help. A recipe key and a `--name value` override are the same thing."""
    import dataclasses
    import inspect
    import textwrap

    from transformers import TrainingArguments

    from codeuf.train.fields import ModelFields

    cls = recipe_class(kind)
    actions = _actions(kind)
    config = next(base for base in cls.__mro__[1:] if base is not ModelFields and dataclasses.is_dataclass(base))
    groups: dict[str, list[dataclasses.Field]] = {}
    for field in dataclasses.fields(cls):
        if not field.init or field.name not in actions:
            continue
        if field.name in {f.name for f in dataclasses.fields(ModelFields)}:
            group = "codeuf: the model, the adapter and the data"
        elif field.name in inspect.get_annotations(cls):
            group = "codeuf: defaults over TRL's"
        elif field.name in TrainingArguments.__dataclass_fields__:
            group = "transformers: TrainingArguments"
        else:
            group = f"TRL: {config.__name__}"
        groups.setdefault(group, []).append(field)
    order = ["codeuf: the model, the adapter and the data", "codeuf: defaults over TRL's", f"TRL: {config.__name__}",
             "transformers: TrainingArguments"]  # fmt: skip
    out = [*textwrap.wrap(f"Settings of `codeuf train {kind}`: in a recipe (`--recipe FILE`) as `name: value`, or "
                          "on the command line as `--name value` (`--flag` alone for true).", width), ""]  # fmt: skip
    for group in (g for g in order if g in groups):
        out.append(f"{group} ({len(groups[group])}):")
        for field in groups[group]:
            action = actions[field.name]
            factory = field.default_factory  # type: ignore[misc]
            default = field.default if field.default is not dataclasses.MISSING else (
                factory() if factory is not dataclasses.MISSING else None)  # fmt: skip
            text = " ".join(str(field.metadata.get("help") or "").split())
            text = f"{text} [{_type_name(action)}; default: {default!r}]".strip()
            out += textwrap.wrap(text, width, initial_indent=f"  --{field.name}  ", subsequent_indent="      ")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
