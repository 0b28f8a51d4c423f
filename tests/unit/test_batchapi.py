"""Batches within the providers' limits, and the journal a rerun attaches with (codeuf.llm.batch.providers)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from codeuf.llm.batch.providers import BatchJournal, chunks, custom_id
from codeuf.llm.types import LLMRequest


def items(sizes: list[int]) -> list[tuple[str, LLMRequest]]:
    return [(f"k{i}:{size}", LLMRequest(messages=[{"role": "user", "content": "x"}])) for i, size in enumerate(sizes)]


def size_of(key: str, _: LLMRequest) -> int:
    return int(key.split(":")[1])


@given(st.lists(st.integers(1, 50), max_size=60), st.integers(1, 10), st.integers(50, 200))
def test_batches_keep_every_request_once_in_order_within_the_limits(sizes: list[int], most: int, room: int) -> None:
    batches = chunks(items(sizes), size_of, most, room)
    assert [key for batch in batches for key, _ in batch] == [key for key, _ in items(sizes)]
    for batch in batches:
        assert 1 <= len(batch) <= most and sum(size_of(k, r) for k, r in batch) <= room


def test_a_request_bigger_than_the_byte_limit_goes_alone() -> None:
    batches = chunks(items([10, 500, 10]), size_of, 10, 100)
    assert [[k for k, _ in b] for b in batches] == [["k0:10"], ["k1:500"], ["k2:10"]]


def test_custom_ids_are_what_both_providers_accept() -> None:
    key = "v3:" + "a" * 60
    assert custom_id(key) == "v3_" + "a" * 60 and ":" not in custom_id(key)


def test_the_journal_knows_open_batches_per_spec_and_skips_a_line_cut_by_a_crash(tmp_path: Path) -> None:
    journal = BatchJournal(tmp_path / "batches.jsonl")
    journal.submitted("b1", "openai:m", ["k1", "k2"])
    journal.submitted("b2", "anthropic:j", ["k3"])
    journal.submitted("b3", "openai:m", ["k4"])
    journal.finished("b1", "completed")
    with (tmp_path / "batches.jsonl").open("a") as handle:
        handle.write('{"event": "finished", "batch": "b3", "sta')  # the process died mid-line
    again = BatchJournal(tmp_path / "batches.jsonl")
    assert again.open_batches("openai:m") == {"b3": ["k4"]}
    assert again.open_batches("anthropic:j") == {"b2": ["k3"]}
    assert again.batches()["b1"]["status"] == "completed"
    again.finished("b2", "ended")  # appended after the cut line, not onto it
    assert BatchJournal(tmp_path / "batches.jsonl").open_batches("anthropic:j") == {}
    assert BatchJournal(None).batches() == {} and BatchJournal(tmp_path / "none.jsonl").open_batches("x") == {}


def test_an_intent_without_a_batch_id_is_dangling_until_found_or_abandoned(tmp_path: Path) -> None:
    """The journal's side of never paying twice: an intent is written before the create call; a rerun asks the
    provider for a batch with its tag, records the one found (then attached to like any open batch), or
    abandons the intent so that its requests are submitted again."""
    import asyncio

    from codeuf.llm.batch.providers import BatchSettings, _adopt

    journal = BatchJournal(tmp_path / "batches.jsonl")
    journal.intent("t-found", "openai:m", ["k1", "k2"])
    journal.intent("t-lost", "openai:m", ["k3"])
    journal.intent("t-done", "openai:m", ["k4"])
    journal.submitted("b-done", "openai:m", ["k4"], "t-done")
    journal.intent("t-other", "anthropic:j", ["k5"])
    assert [e["tag"] for e in journal.dangling("openai:m")] == ["t-found", "t-lost"]

    class Provider:
        spec = "openai:m"

        def __init__(self) -> None:
            self.asked: list[tuple[str, list[str]]] = []

        async def batch_find(self, tag: str, custom_ids: list[str], since: float) -> str | None:
            self.asked.append((tag, custom_ids))
            return "b-found" if tag == "t-found" else None

    provider = Provider()
    asyncio.run(_adopt(provider, journal, "openai:m", BatchSettings(call_retries=0)))
    assert provider.asked == [("t-found", ["k1", "k2"]), ("t-lost", ["k3"])]
    assert journal.open_batches("openai:m") == {"b-found": ["k1", "k2"], "b-done": ["k4"]}
    assert journal.dangling("openai:m") == [] and [e["tag"] for e in journal.dangling("anthropic:j")] == ["t-other"]


def test_a_journal_line_of_the_wrong_shape_names_its_line(tmp_path: Path) -> None:
    import pytest

    from codeuf.errors import InputError

    path = tmp_path / "batches.jsonl"
    journal = BatchJournal(path)
    journal.submitted("b1", "openai:m", ["k1"])
    with path.open("a") as handle:
        handle.write('{"event": "submitted", "batch": "b2", "spec": "openai:m", "keys": 5}\n')
    with pytest.raises(InputError, match=r"batches.jsonl:2: field 'keys': not a line codeuf writes"):
        journal.batches()


def test_every_backends_finish_reason_is_one_of_openais() -> None:
    from codeuf.llm.batch.files import openai_finish_reason

    said = {"end_turn": "stop", "max_tokens": "length", "stop_sequence": "stop", "tool_use": "tool_calls",
            "length": "length", "stop": "stop", "refusal": "content_filter", "something new": "stop",
            None: None}  # fmt: skip
    assert {reason: openai_finish_reason(reason) for reason in said} == said
