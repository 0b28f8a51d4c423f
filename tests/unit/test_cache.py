import sqlite3

import pytest

from codeuf.llm.cache import ResultCache, request_key
from codeuf.llm.types import LLMError, LLMRequest, LLMResult, Message

IDENTITY = {"backend": "openai", "model": "m"}


def chat(text: str, **kw: object) -> LLMRequest:
    return LLMRequest(messages=[Message(role="user", content=text)], **kw)


def test_key_is_versioned_and_stable() -> None:
    key = request_key(IDENTITY, chat("hi"))
    assert key.startswith("v1:") and key == request_key(dict(reversed(IDENTITY.items())), chat("hi"))


@pytest.mark.parametrize(
    "changed",
    [
        chat("hello"),
        chat("hi", temperature=0.7),
        chat("hi", max_tokens=7),
        chat("hi", top_p=0.5),
        chat("hi", stop=["x"]),
        chat("hi", seed=1),
        chat("hi", json_schema={"type": "object"}),
        chat("hi", logprobs=2),
        chat("hi", sample=1),
        LLMRequest(prompt="hi"),
    ],
)
def test_every_output_changing_field_changes_the_key(changed: LLMRequest) -> None:
    assert request_key(IDENTITY, changed) != request_key(IDENTITY, chat("hi"))


def test_model_identity_changes_the_key() -> None:
    assert request_key({"backend": "openai", "model": "other"}, chat("hi")) != request_key(IDENTITY, chat("hi"))


def test_roundtrip_wal_and_errors_refused(tmp_path) -> None:
    cache = ResultCache(tmp_path / "c.sqlite")
    request = chat("hi")
    key = request_key(IDENTITY, request)
    assert cache.get(key) is None
    cache.put(key, "openai:m", request, LLMResult(text="yo", attempts=3, latency_s=1.5))
    hit = cache.get(key)
    assert hit is not None and hit.text == "yo" and hit.attempts == 0 and hit.latency_s == 0
    with pytest.raises(ValueError):
        cache.put(key, "openai:m", request, LLMResult(error=LLMError(kind="server", message="x")))
    assert len(cache) == 1
    mode = sqlite3.connect(tmp_path / "c.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    cache.close()


def test_reopening_applies_migrations_once(tmp_path) -> None:
    ResultCache(tmp_path / "c.sqlite").close()
    cache = ResultCache(tmp_path / "c.sqlite")
    names = [r[0] for r in cache._db.execute("SELECT name FROM _migrations")]
    assert names == ["m001_create"]


def test_one_cache_folder_for_everything(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from codeuf.io import cache_dir
    from codeuf.llm.cache import default_cache_path
    from codeuf.train.convert import models_dir

    monkeypatch.setenv("CODEUF_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "c"
    assert default_cache_path() == tmp_path / "c" / "llm.sqlite" and models_dir() == tmp_path / "c" / "models"
    monkeypatch.delenv("CODEUF_CACHE_DIR")
    assert default_cache_path() == tmp_path / "x" / "codeuf" / "llm.sqlite"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert models_dir() == Path.home() / ".cache" / "codeuf" / "models"


def test_atomic_dir_swaps_whole_folders_or_nothing(tmp_path) -> None:
    from codeuf.io import atomic_dir

    folder = tmp_path / "out"
    with atomic_dir(folder) as work:
        (work / "a").write_text("1")
    assert (folder / "a").read_text() == "1"
    with pytest.raises(RuntimeError), atomic_dir(folder) as work:
        (work / "b").write_text("half")
        raise RuntimeError("killed mid-way")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and [p.name for p in folder.iterdir()] == ["a"]
    (tmp_path / ".out.staging").mkdir()  # what a killed process leaves
    (tmp_path / ".out.staging" / "stale").write_text("x")
    with atomic_dir(folder) as work:
        (work / "c").write_text("2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and [p.name for p in folder.iterdir()] == ["c"]
