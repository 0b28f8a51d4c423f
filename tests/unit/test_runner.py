import asyncio
import time

from codeuf.llm.base import BackendError
from codeuf.llm.cache import ResultCache
from codeuf.llm.runner import Ledger, Runner, RunnerConfig
from codeuf.llm.types import LLMRequest, Message
from tests.conftest import ScriptedBackend


def chat(text: str, **kw: object) -> LLMRequest:
    return LLMRequest(messages=[Message(role="user", content=text)], **kw)


FAST = {"backoff_base": 0.001, "backoff_max": 0.01}


def test_results_come_back_in_order_and_through_the_callback() -> None:
    backend = ScriptedBackend(delay=0.01)
    seen: dict[int, str] = {}
    results = Runner(RunnerConfig(concurrency=4)).run(
        [(backend, chat(f"q{i}")) for i in range(20)], lambda i, r: seen.__setitem__(i, r.text)
    )
    assert [r.text for r in results] == [f"echo:q{i}" for i in range(20)]
    assert seen == {i: f"echo:q{i}" for i in range(20)}


def test_concurrency_is_bounded_per_backend() -> None:
    backend = ScriptedBackend(delay=0.02)
    Runner(RunnerConfig(concurrency=3)).run([(backend, chat(f"q{i}")) for i in range(15)])
    assert backend.max_in_flight == 3


def test_in_process_backends_take_one_request_at_a_time() -> None:
    backend = ScriptedBackend(delay=0.01, in_process=True)
    Runner(RunnerConfig(concurrency=8)).run([(backend, chat(f"q{i}")) for i in range(6)])
    assert backend.max_in_flight == 1


def test_retryable_errors_are_retried_then_succeed() -> None:
    def script(request: LLMRequest, attempt: int) -> BackendError | None:
        return BackendError("server", "HTTP 500", status_code=500) if attempt <= 2 else None

    backend = ScriptedBackend(script)
    [result] = Runner(RunnerConfig(**FAST)).run([(backend, chat("x"))])
    assert result.ok and result.attempts == 3 and len(backend.calls) == 3


def test_retry_after_is_honoured() -> None:
    def script(request: LLMRequest, attempt: int) -> BackendError | None:
        return BackendError("rate_limit", "429", status_code=429, retry_after=0.3) if attempt == 1 else None

    started = time.perf_counter()
    [result] = Runner(RunnerConfig(backoff_base=0.0, backoff_max=0.0)).run([(ScriptedBackend(script), chat("x"))])
    assert result.ok and time.perf_counter() - started >= 0.3


def test_non_retryable_errors_fail_at_once_and_are_recorded() -> None:
    backend = ScriptedBackend(lambda r, a: BackendError("bad_request", "HTTP 400: no", status_code=400))
    [result] = Runner(RunnerConfig(**FAST)).run([(backend, chat("x"))])
    assert not result.ok and result.error.kind == "bad_request" and result.error.status_code == 400
    assert len(backend.calls) == 1


def test_retries_run_out_into_a_recorded_error() -> None:
    backend = ScriptedBackend(lambda r, a: BackendError("connection", "refused"))
    [result] = Runner(RunnerConfig(max_retries=3, **FAST)).run([(backend, chat("x"))])
    assert result.error.kind == "connection" and result.attempts == 4 and len(backend.calls) == 4


def test_timeouts_are_retried_and_recorded() -> None:
    backend = ScriptedBackend(delay=1.0)
    [result] = Runner(RunnerConfig(timeout=0.05, max_retries=1, **FAST)).run([(backend, chat("x"))])
    assert result.error.kind == "timeout" and result.attempts == 2


def test_unexpected_exceptions_become_internal_errors() -> None:
    class Broken(ScriptedBackend):
        async def generate(self, request: LLMRequest):  # type: ignore[override]
            raise KeyError("surprise")

    [result] = Runner().run([(Broken(), chat("x"))])
    assert result.error.kind == "internal" and "KeyError" in result.error.message


def test_cache_makes_a_repeated_run_free_and_refresh_overrides(tmp_path) -> None:
    cache = ResultCache(tmp_path / "c.sqlite")
    jobs_backend = ScriptedBackend()
    jobs = [(jobs_backend, chat(f"q{i}")) for i in range(5)]
    Runner(cache=cache).run(jobs)
    assert len(jobs_backend.calls) == 5
    again = Runner(cache=cache).run(jobs)
    assert len(jobs_backend.calls) == 5 and all(r.cached for r in again)
    Runner(RunnerConfig(refresh=True), cache=cache).run(jobs)
    assert len(jobs_backend.calls) == 10
    Runner(RunnerConfig(use_cache=False), cache=cache).run(jobs)
    assert len(jobs_backend.calls) == 15


def test_errors_are_not_cached(tmp_path) -> None:
    cache = ResultCache(tmp_path / "c.sqlite")
    failing = ScriptedBackend(lambda r, a: BackendError("bad_request", "no"))
    Runner(cache=cache).run([(failing, chat("x"))])
    assert len(cache) == 0
    working = ScriptedBackend()
    [result] = Runner(cache=cache).run([(working, chat("x"))])
    assert result.ok and not result.cached and len(cache) == 1


def test_identical_requests_are_sent_once() -> None:
    backend = ScriptedBackend()
    results = Runner().run([(backend, chat("same")), (backend, chat("same")), (backend, chat("same", sample=1))])
    assert len(backend.calls) == 2
    assert [r.cached for r in results] == [False, True, False]


def test_ledger_counts_tokens_and_cost_but_not_cached_calls(tmp_path) -> None:
    cache = ResultCache(tmp_path / "c.sqlite")
    backend = ScriptedBackend()
    ledger = Ledger(prices={"scripted": {"input": 1.0, "output": 2.0}})
    Runner(cache=cache, ledger=ledger).run([(backend, chat(f"q{i}")) for i in range(4)])
    Runner(cache=cache, ledger=ledger).run([(backend, chat(f"q{i}")) for i in range(4)])
    usage = ledger.to_dict()["openai:scripted"]
    assert usage["requests"] == 8 and usage["cached"] == 4
    assert usage["prompt_tokens"] == 12 and usage["completion_tokens"] == 8
    assert abs(usage["cost_usd"] - (12 * 1.0 + 8 * 2.0) / 1e6) < 1e-12


def test_error_messages_are_redacted(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-supersecret-123456")
    backend = ScriptedBackend(lambda r, a: BackendError("auth", "bad key sk-test-supersecret-123456", status_code=401))
    [result] = Runner().run([(backend, chat("x"))])
    assert "supersecret" not in result.error.message and "***" in result.error.message


def test_runner_works_inside_a_running_loop() -> None:
    async def main() -> list:
        return await Runner().arun([(ScriptedBackend(), chat("x"))])

    assert asyncio.run(main())[0].text == "echo:x"
