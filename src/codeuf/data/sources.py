"""Loading inputs: the built-in instructions, local files, saved datasets and hub ids.

Local files are read strictly: a missing column, a wrong type, bad JSON or bytes that are not
UTF-8 give one InputError naming the file, the line (or row) and the field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codeuf.data.io import iter_jsonl_lines, read_json_file
from codeuf.errors import CodeufError, InputError

BUILTIN_INSTRUCTIONS = Path(__file__).parent / "builtin" / "instructions.jsonl"
LOCAL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet")


def record_id(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).hexdigest()


def iter_rows(source: str | Path, split: str = "train") -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Yield (where, line or row number, row) from a local file, a saved dataset folder or a hub id."""
    path = Path(source)
    kind = _kind(path)
    if kind == "file":
        name = path.name
        if name.endswith((".jsonl", ".jsonl.gz")):
            rows: Iterator[tuple[int, Any]] = iter_jsonl_lines(path)
        elif name.endswith(".json"):
            data = read_json_file(path)
            if isinstance(data, dict) and isinstance(data.get(split), list):
                data = data[split]
            if not isinstance(data, list):
                raise InputError("expected a JSON list of records", path=path)
            rows = enumerate(data, start=1)
        elif name.endswith(".parquet"):
            import pyarrow.parquet as pq

            try:
                table = pq.read_table(path)
                data = table.to_pylist()
            except Exception as exc:
                raise InputError(f"not a readable Parquet file: {type(exc).__name__}", path=path) from None
            rows = enumerate(data, start=1)
        else:
            raise InputError(f"unsupported file type (use {', '.join(LOCAL_SUFFIXES)})", path=path)
        for number, row in rows:
            if not isinstance(row, dict):
                raise InputError("expected a JSON object", path=path, line=number)
            yield (
                str(path),
                number,
                row if name.endswith((".jsonl", ".jsonl.gz", ".json")) else _check_row(row, str(path), number),
            )
        return
    if kind == "dir":
        yield from _iter_dataset(_load_saved(path), split, str(path))
        return
    if kind == "other":
        raise InputError("not a regular file or folder", path=source)
    if path.suffix or "/" not in str(source) or str(source).startswith((".", "/")) or kind == "bad":
        raise InputError("file or folder not found", path=source)
    yield from _iter_dataset(_load_hub(str(source), split), split, str(source))


def _kind(path: Path) -> str:
    """file, dir, other (a device, a socket), missing, or bad (a name the system cannot take)."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except (OSError, ValueError):
        return "bad"
    import stat

    return "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other"


def _load_saved(path: Path) -> Any:
    import datasets

    target = path / "hf" if (path / "hf").is_dir() else path
    try:
        return datasets.load_from_disk(str(target))
    except Exception as exc:
        raise InputError(f"not a saved dataset: {exc}", path=path) from None


def _load_hub(repo: str, split: str) -> Any:
    import datasets

    try:
        return datasets.load_dataset(repo, split=split)
    except Exception as exc:
        raise CodeufError(
            f"cannot load {repo!r} (split {split}) from the Hugging Face hub: {type(exc).__name__}; "
            "offline, give a local file instead"
        ) from None


def _iter_dataset(data: Any, split: str, where: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
    import datasets

    if isinstance(data, datasets.DatasetDict):
        if split not in data:
            raise InputError(f"no split {split!r} (splits: {', '.join(data)})", path=where)
        data = data[split]
    for number, row in enumerate(data, start=1):
        yield where, number, _check_row(dict(row), where, number)


def _check_row(row: dict[str, Any], where: str, number: int) -> dict[str, Any]:
    """Rows from Parquet and saved datasets did not pass through the JSON reader: check them the same way."""
    from codeuf.data.io import JsonProblem, check_value

    try:
        check_value(row)
    except JsonProblem as exc:
        raise InputError(str(exc), path=where, line=number) from None
    return row


def load_instructions(
    source: str | Path | None, column: str = "instruction", split: str = "train"
) -> list[tuple[str, str]]:
    """[(id, instruction)] from a source; ids come from an `id` column or the text itself."""
    if source is None:
        source, column = BUILTIN_INSTRUCTIONS, "instruction"
    out = []
    for where, number, row in iter_rows(source, split):
        if column not in row:
            raise InputError(f"missing column (columns: {', '.join(sorted(row)) or 'none'})", path=where,
                             line=number, field=column)  # fmt: skip
        text = row[column]
        if not isinstance(text, str):
            raise InputError(f"expected a string, got {type(text).__name__}", path=where, line=number, field=column)
        identifier = row.get("id")
        out.append((str(identifier) if identifier is not None else record_id(text), text))
    if not out:
        raise InputError("no instructions: the source is empty", path=str(source))
    return out


def load_records(source: str | Path, model: type[Any], split: str = "train") -> list[Any]:
    """Rows in the released schema (or codeuf's own) as records of `model`, validated."""
    from pydantic import ValidationError

    records = []
    for where, number, row in iter_rows(source, split):
        row = dict(row)
        if "id" not in row or row["id"] is None:
            row["id"] = record_id(str(row.get("instruction", "")), str(row.get("preference", "")))
        fields = set(model.model_fields)
        try:
            records.append(model.model_validate({k: v for k, v in row.items() if k in fields}))
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"])
            raise InputError(error["msg"], path=where, line=number, field=field) from None
    if not records:
        raise InputError("no records: the source is empty", path=str(source))
    return records
