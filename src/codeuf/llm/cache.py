"""A SQLite cache of LLM results: one row per request, committed as each result arrives.

The key is `v1:` + blake2b of the canonical JSON (sorted keys, compact) of the model identity
and every field of the request (messages or prompt, sampling parameters, schema or grammar,
logprobs, sample index). Excluded on purpose, because they do not change the output: base
URLs (replicas serve one model), timeouts, retries, concurrency, and API keys, which must
never reach this file. Only successful results are stored; errors are retried next run.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codeuf.llm.types import LLMRequest, LLMResult

KEY_VERSION = "v1"
BUSY_TIMEOUT_S = 30.0
"""How long a write waits for another process's write to finish before it fails."""


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(identity: dict[str, Any], request: LLMRequest) -> str:
    payload = {"model": identity, "request": request.model_dump(mode="json")}
    digest = hashlib.blake2b(canonical_json(payload).encode("utf-8"), digest_size=20).hexdigest()
    return f"{KEY_VERSION}:{digest}"


def _m001_create(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE responses (
            key TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            request TEXT NOT NULL,
            result TEXT NOT NULL,
            created_at REAL NOT NULL
        )"""
    )


# Append only: a released schema never changes in place.
MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [("m001_create", _m001_create)]


class ResultCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The busy timeout comes first: switching to WAL takes a lock, and another process (a second run on
        # the shared user cache) may hold it for a moment.
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            self._switch_to_wal()
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            from codeuf.errors import InputError

            raise InputError(f"not a codeuf cache ({exc})", path=self.path) from None

    def _switch_to_wal(self) -> None:
        """Switch to WAL, retrying while another process holds the lock. The switch reads first and then asks for
        the write lock; SQLite answers a read that wants to become a write with an immediate 'database is locked'
        instead of waiting (waiting could deadlock), which is what several processes opening a new cache at once
        meet. The retry waits as long as the busy timeout would."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _migrate(self) -> None:
        """Apply each pending migration in its own write transaction, checking again inside it, so that two
        processes opening a new cache at once apply each migration exactly once."""
        self._db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
        for name, migrate in MIGRATIONS:
            if self._db.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                continue
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if not self._db.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                    migrate(self._db)
                    self._db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def get(self, key: str) -> LLMResult | None:
        row = self._db.execute("SELECT result FROM responses WHERE key = ?", (key,)).fetchone()
        return LLMResult.model_validate_json(row[0]) if row else None

    def put(self, key: str, model: str, request: LLMRequest, result: LLMResult) -> None:
        if not result.ok:
            raise ValueError("errors are never cached as results")
        stored = result.model_copy(update={"cached": False, "attempts": 0, "latency_s": 0.0})
        self._db.execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)",
            (key, model, request.model_dump_json(), stored.model_dump_json(), time.time()),
        )

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self._db.close()


def default_cache_path() -> Path:
    """llm.sqlite in codeuf's cache folder ($CODEUF_CACHE_DIR, else ~/.cache/codeuf)."""
    from codeuf.io import cache_dir

    return cache_dir() / "llm.sqlite"
