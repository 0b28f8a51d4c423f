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


def push_to_hub(folder: Path, repo: str, private: bool = False) -> None:
    """Upload a saved dataset and its card (needs the network and a Hugging Face token, e.g. HF_TOKEN).

    `datasets` writes the Parquet shards and a card whose YAML header describes them (configs, features,
    sizes); the card codeuf wrote then replaces its text, keeping that header and adding codeuf's own keys.
    `private` applies to a repo this creates (an existing repo keeps its visibility)."""
    import datasets

    from codeuf import hub
    from codeuf.errors import CodeufError

    hub.quiet(with_datasets=True)
    try:
        datasets.load_from_disk(str(Path(folder) / "hf")).push_to_hub(repo, private=private or None)
        _push_card(Path(folder) / "README.md", repo)
    except Exception as exc:
        raise CodeufError(f"cannot push {folder} to the hub as {repo}: {hub.reason(exc, 300)}") from None


def _push_card(path: Path, repo: str) -> None:
    from huggingface_hub import DatasetCard, DatasetCardData

    ours = DatasetCard(path.read_text(encoding="utf-8"))
    pushed = DatasetCard.load(repo, repo_type="dataset")
    ours.data = DatasetCardData(**{**pushed.data.to_dict(), **ours.data.to_dict()})
    ours.push_to_hub(repo, repo_type="dataset", commit_message="Dataset card written by codeuf")
