"""Writing datasets: a folder with a `datasets.DatasetDict` (save_to_disk), Parquet and JSONL per
split, and a dataset card, swapped in atomically so that a crash never leaves half a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codeuf.io import atomic_dir, atomic_write_text, write_jsonl_atomic


def save_dataset(folder: Path, splits: dict[str, list[dict[str, Any]]], card: str) -> Path:
    import datasets

    datasets.disable_progress_bars()
    with atomic_dir(folder) as staging:
        dataset = datasets.DatasetDict(
            {name: datasets.Dataset.from_list(rows) for name, rows in splits.items() if rows}
        )
        if dataset:
            dataset.save_to_disk(str(staging / "hf"))
        for name, rows in splits.items():
            write_jsonl_atomic(staging / f"{name}.jsonl", rows)
            if rows:
                dataset[name].to_parquet(str(staging / f"{name}.parquet"))
        atomic_write_text(staging / "README.md", card)
    return Path(folder)


def push_to_hub(folder: Path, repo: str) -> None:
    """Upload a saved dataset (needs the network and a Hugging Face token, e.g. HF_TOKEN)."""
    import datasets

    from codeuf.errors import CodeufError
    from codeuf.secrets import redact

    try:
        datasets.load_from_disk(str(Path(folder) / "hf")).push_to_hub(repo)
    except Exception as exc:
        message = redact(" ".join(str(exc).split()))[:300]
        raise CodeufError(f"cannot push {folder} to the hub as {repo}: {type(exc).__name__}: {message}") from None
