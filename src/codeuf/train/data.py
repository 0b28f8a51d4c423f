"""Training data: preference pairs for DPO, prompt/completion pairs for SFT, and the paper's SFT set.

Sources are what `codeuf.data.sources` reads (a codeuf output folder, a saved dataset, a .jsonl,
.json or .parquet file, a hub id). Rows are normalized to TRL's conversational formats:

- DPO: `prompt` (messages), `chosen` and `rejected` (one assistant message each). Accepted inputs:
  prompt or instruction with chosen/rejected as strings or messages (a chosen that repeats the
  prompt's turns, as in the released binarized data, is cut after them).
- SFT: `prompt` and `completion`, so the loss is on the completion only. Accepted inputs:
  messages (the last assistant turn is the completion), prompt/completion, or an instruction with
  output, response or chosen (Evol-Instruct, Magicoder, the binarized data).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from codeuf.data.sources import iter_rows
from codeuf.errors import InputError

Messages = list[dict[str, str]]


def resolve_source(source: str, kind: str) -> str:
    """A `codeuf run` output folder stands for its binarized data."""
    from codeuf.train.algorithms import get_algorithm

    path = Path(source)
    if path.is_dir() and not (path / "hf").is_dir() and not (path / "dataset_dict.json").is_file():
        for sub in ("binarized_trl", "binarized") if get_algorithm(kind).data != "completion" else ("binarized",):
            if (path / sub).is_dir():
                return str(path / sub)
    return source


def _messages(value: Any, role: str, where: str, line: int, field: str) -> Messages:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if (
        isinstance(value, list)
        and value
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value
        )
    ):
        return [{"role": m["role"], "content": m["content"]} for m in value]
    raise InputError("expected a string or a list of {role, content} messages", path=where, line=line, field=field)


def _prompt(row: dict[str, Any], where: str, line: int) -> Messages | None:
    if row.get("prompt") is not None:
        return _messages(row["prompt"], "user", where, line, "prompt")
    if row.get("instruction") is not None:
        return _messages(row["instruction"], "user", where, line, "instruction")
    return None


def _answer(
    messages: Messages, prompt: Messages | None, where: str, line: int, field: str
) -> tuple[Messages, Messages]:
    """(prompt, the assistant turns after it) for a chosen/rejected/messages value."""
    if prompt is not None and messages[: len(prompt)] == prompt and len(messages) > len(prompt):
        return prompt, messages[len(prompt) :]
    if prompt is None:
        if len(messages) < 2 or messages[-1]["role"] != "assistant":
            raise InputError("expected a prompt column, or messages ending in an assistant turn", path=where,
                             line=line, field=field)  # fmt: skip
        return messages[:-1], messages[-1:]
    return prompt, messages


def preference_row(row: dict[str, Any], where: str, line: int) -> dict[str, Any]:
    prompt = _prompt(row, where, line)
    out: dict[str, Any] = {}
    for field in ("chosen", "rejected"):
        if row.get(field) is None:
            raise InputError("missing column", path=where, line=line, field=field)
        role_default = "assistant"
        value = _messages(row[field], role_default, where, line, field)
        turn_prompt, answer = _answer(value, prompt, where, line, field)
        out["prompt"] = out.get("prompt", turn_prompt)
        out[field] = answer
    if prompt is None and out.get("prompt") is None:
        raise InputError("missing column", path=where, line=line, field="prompt")
    return out


def unpaired_rows(row: dict[str, Any], where: str, line: int) -> list[dict[str, Any]]:
    """KTO's rows: a row with a boolean `label` as it is (prompt + completion); a preference pair as two rows,
    its chosen response desirable and its rejected one not."""
    if "label" in row:
        if not isinstance(row["label"], bool):
            raise InputError("expected true or false", path=where, line=line, field="label")
        return [{**completion_row(row, where, line), "label": row["label"]}]
    pair = preference_row(row, where, line)
    return [{"prompt": pair["prompt"], "completion": pair["chosen"], "label": True},
            {"prompt": pair["prompt"], "completion": pair["rejected"], "label": False}]  # fmt: skip


def _listed(value: Any) -> list[dict[str, Any]]:
    return value if isinstance(value, list) else [value]


def completion_row(row: dict[str, Any], where: str, line: int) -> dict[str, Any]:
    if row.get("messages") is not None:
        messages = _messages(row["messages"], "user", where, line, "messages")
        prompt, completion = _answer(messages, None, where, line, "messages")
        return {"prompt": prompt, "completion": completion}
    prompt = _prompt(row, where, line)
    for field in ("completion", "output", "response", "chosen"):
        if row.get(field) is not None:
            if prompt is None:
                break
            answer = _messages(row[field], "assistant", where, line, field)
            return {"prompt": prompt, "completion": _answer(answer, prompt, where, line, field)[1]}
    columns = ", ".join(sorted(row)) or "none"
    raise InputError(
        f"expected messages, prompt+completion, or instruction+output/response (columns: {columns})",
        path=where,
        line=line,
    )


def _split_rows(source: str, split: str | None, train_split: str) -> list[tuple[str, int, dict[str, Any]]] | None:
    """The rows of one split; None when a held-out split does not exist."""
    if not split:
        return None
    path = Path(source)
    if path.is_file():
        if split == train_split:
            return list(iter_rows(path))
        other = Path(split)
        return list(iter_rows(other)) if other.is_file() else None
    try:
        return list(iter_rows(source, split))
    except InputError as exc:
        if split != train_split and "no split" in str(exc):
            return None
        raise


def load_pairs(kind: str, source: str | None, train_split: str = "train", test_split: str | None = "test",
               max_train: int | None = None, max_eval: int | None = None, where: str | Path | None = None
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:  # fmt: skip
    """(train rows, held-out rows or None) in TRL's conversational format for the algorithm `kind`: prompt and
    completion (sft), prompt, chosen and rejected (pairs), or prompt, completion and label (unpaired: each
    pair gives its chosen response as desirable and its rejected one as not, or rows carry a label)."""
    from codeuf.train.algorithms import get_algorithm

    if not source:
        raise InputError("required: the training data (a codeuf output folder, a file or a hub id)", path=where,
                         field="dataset")  # fmt: skip
    source = resolve_source(source, kind)
    normalize = {"completion": completion_row, "pairs": preference_row,
                 "unpaired": unpaired_rows}[get_algorithm(kind).data]  # fmt: skip
    out = []
    for split, limit in ((train_split, max_train), (test_split, max_eval)):
        rows = _split_rows(source, split, train_split)
        if rows is None:
            out.append(None)
            continue
        records = [r for w, n, row in rows for r in _listed(normalize(row, w, n))]
        out.append(records[:limit] if limit is not None else records)
    train, test = out
    if not train:
        raise InputError("no training rows: the split is empty", path=source, field="dataset")
    return train, (test or None)


# ----------------------------------------------------------------------------- the paper's SFT set


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def sft_data(source: str, exclude: list[str], column: str = "instruction") -> tuple[list[dict[str, Any]], dict]:
    """The rows of `source` whose instruction is in none of the `exclude` datasets (compared with
    whitespace collapsed), as in the paper: Evol-Instruct minus the CodeUltraFeedback instructions."""
    taken: set[str] = set()
    for other in exclude:
        for where, line, row in iter_rows(other):
            if not isinstance(row.get("instruction"), str):
                raise InputError("missing or not a string", path=where, line=line, field="instruction")
            taken.add(_key(row["instruction"]))
    if not taken:
        raise InputError("no instructions to exclude: the files are empty", path=", ".join(exclude))
    kept, removed, total = [], 0, 0
    for where, line, row in iter_rows(source):
        text = row.get(column)
        if not isinstance(text, str):
            raise InputError("missing or not a string", path=where, line=line, field=column)
        total += 1
        if _key(text) in taken:
            removed += 1
            continue
        kept.append(dict(row))
    if not total:
        raise InputError("no rows: the source is empty", path=source)
    return kept, {"source_rows": total, "excluded_instructions": len(taken), "removed": removed, "kept": len(kept)}
