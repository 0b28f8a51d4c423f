"""Typed settings read from YAML: the strict model config, the one YAML reader (with the line of every key)
and the one mapping of a validation error to a one-line InputError naming the file, the line and the field.
Run configs, judge files, training recipes and loop configs all go through here."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from codeuf.errors import InputError, invalid
from codeuf.io import MAX_DEPTH

STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
"""Unknown keys are errors, and types are strict: `n: true` or `temperature: "0.5"` is refused, not coerced."""
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


MAX_YAML_NODES = 100_000
"""More nodes than any real config has; stops alias bombs ("billion laughs") before they expand."""


def read_yaml_mapping(path: Path, *, empty_ok: bool = False) -> tuple[dict[str, Any], dict[str, int]]:
    """A YAML file's top-level mapping and the line of each key, nested ones as dotted paths ("pool.m.spec",
    "judges.0.spec"); any problem is one InputError naming the file (and the line, for bad YAML). An empty
    file is an empty mapping where `empty_ok`."""
    import yaml

    from codeuf.io import JsonProblem, check_value, read_input_bytes

    raw = read_input_bytes(path)
    try:
        text = raw.decode("utf-8")
        if _flow_depth(text) > MAX_DEPTH:
            raise _TooLarge
        node = yaml.compose(text)
        lines = _key_lines(node)
        data = yaml.safe_load(text)
        bad = _key_not_text(data)
        if bad is not None:
            raise InputError(f"the key {bad[1]!r} is not a name (quote it if it is one)", path=path,
                             line=lines.get(bad[0]), field=bad[0])  # fmt: skip
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


def _key_not_text(data: Any) -> tuple[str, Any] | None:
    """(dotted path, key) of the first mapping key that YAML read as something other than text (`1: 2`), which
    no setting is; None when every key is text."""
    from codeuf.io import walk

    for _, where, node in walk(data):
        bad = [k for k in node if not isinstance(k, str)] if isinstance(node, dict) else []
        if bad:  # (a key of null is None: a list, not a default, tells it apart)
            return (f"{where}.{bad[0]}" if where else str(bad[0])), bad[0]
    return None


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
        raise invalid(exc, path=path, lines=lines) from None
