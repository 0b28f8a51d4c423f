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


# ----------------------------------------------------------------------------- a backend that is down


def test_a_dead_backend_stops_the_run_keeping_what_finished() -> None:
    """Once a backend has failed every attempt for down_after_s (and at least down_after_attempts times),
    the run stops with one line naming it; results delivered before are kept, the rest are not delivered."""
    from codeuf.errors import BackendDownError

    def script(request: LLMRequest, attempt: int) -> BackendError | None:
        text = (request.messages or [])[-1].content
        return BackendError("connection", "Connection refused") if int(text[1:]) >= 5 else None

    backend = ScriptedBackend(script, delay=0.001)
    delivered: list[int] = []
    runner = Runner(RunnerConfig(concurrency=2, max_retries=50, backoff_base=0.01, backoff_max=0.02,
                                 down_after_s=0.2, down_after_attempts=5))  # fmt: skip
    started = time.perf_counter()
    try:
        runner.run([(backend, chat(f"q{i}")) for i in range(40)], lambda i, r: delivered.append(i))
    except BackendDownError as exc:
        message = str(exc)
    else:
        raise AssertionError("the run did not stop")
    assert time.perf_counter() - started < 5  # far less than 35 requests x 50 retries
    assert "openai:scripted" in message and "connection: Connection refused" in message and "\n" not in message
    assert sorted(delivered) == [0, 1, 2, 3, 4]  # every success was delivered; no failure was


def test_a_backend_that_heals_is_not_stopped() -> None:
    """A short outage (shorter than down_after_s) is ridden out by the retries."""
    outage_until = time.perf_counter() + 0.15

    def script(request: LLMRequest, attempt: int) -> BackendError | None:
        return BackendError("connection", "refused") if time.perf_counter() < outage_until else None

    runner = Runner(RunnerConfig(concurrency=4, max_retries=100, backoff_base=0.01, backoff_max=0.02,
                                 down_after_s=5, down_after_attempts=3))  # fmt: skip
    results = runner.run([(ScriptedBackend(script), chat(f"q{i}")) for i in range(8)])
    assert all(r.ok for r in results) and len(results) == 8


def test_auth_errors_stop_after_the_count_alone() -> None:
    from codeuf.errors import BackendDownError

    backend = ScriptedBackend(lambda r, a: BackendError("auth", "HTTP 401", status_code=401))
    runner = Runner(RunnerConfig(concurrency=1, down_after_s=3600, down_after_attempts=3, **FAST))
    try:
        runner.run([(backend, chat(f"q{i}")) for i in range(50)])
    except BackendDownError:
        pass
    else:
        raise AssertionError("the run did not stop")
    assert len(backend.calls) == 3  # a revoked key does not heal by waiting


def test_bad_requests_and_rate_limits_never_stop_a_run() -> None:
    """A 400 or a 429 is the server answering: the backend is alive."""

    def script(request: LLMRequest, attempt: int) -> BackendError | None:
        return BackendError("bad_request", "HTTP 400", status_code=400)

    runner = Runner(RunnerConfig(concurrency=1, down_after_s=0.0001, down_after_attempts=1, **FAST))
    results = runner.run([(ScriptedBackend(script), chat(f"q{i}")) for i in range(12)])
    assert len(results) == 12 and not any(r.ok for r in results)


def test_down_after_zero_never_stops() -> None:
    backend = ScriptedBackend(lambda r, a: BackendError("connection", "refused"))
    runner = Runner(RunnerConfig(concurrency=2, max_retries=2, down_after_s=0, down_after_attempts=1, **FAST))
    results = runner.run([(backend, chat(f"q{i}")) for i in range(6)])
    assert len(results) == 6 and all(r.error and r.error.kind == "connection" for r in results)


def test_failed_calls_are_tallied_by_kind() -> None:
    from codeuf.session import failure_summary

    backend = ScriptedBackend(lambda r, a: BackendError("bad_request", "HTTP 400: too long") if "bad" in
                              (r.messages or [])[-1].content else None)  # fmt: skip
    ledger = Ledger()
    Runner(RunnerConfig(**FAST), ledger=ledger).run([(backend, chat(t)) for t in ("a", "bad1", "b", "bad2")])
    usage = ledger.to_dict()["openai:scripted"]
    assert usage["errors"] == 2 and usage["error_kinds"] == {"bad_request": 2}
    line = failure_summary({"generate": {"usage": ledger.to_dict()}})
    assert line is not None and line.startswith(
        "2 calls failed after retries (generate: 2 bad_request on openai:scripted"
    )
    assert failure_summary({"generate": {"usage": {}}}) is None


def test_a_server_that_died_in_one_stage_is_down_in_the_next_within_down_after_s() -> None:
    """Stages share what is known of each server (codeuf.session hands every stage's runner one map): a judge
    on the server that stopped answering during generation is down as soon as the outage has lasted
    down_after_s, not after another down_after_s of its own."""
    from codeuf.errors import BackendDownError
    from codeuf.llm.spec import ModelSpec

    def dead(request: LLMRequest, attempt: int) -> BackendError | None:
        return BackendError("connection", "Connection refused")

    generator, judge = ScriptedBackend(dead), ScriptedBackend(dead)
    generator.spec = ModelSpec("openai", "gen", ("http://127.0.0.1:9/v1",))
    judge.spec = ModelSpec("openai", "judge", ("http://127.0.0.1:9/v1",))
    health: dict = {}
    config = RunnerConfig(concurrency=1, max_retries=3, backoff_base=0.01, backoff_max=0.01, down_after_s=0.5,
                          down_after_attempts=3)  # fmt: skip
    [failed] = Runner(config, health=health).run([(generator, chat("q"))])  # retries run out before 0.5 s
    assert not failed.ok and health["http://127.0.0.1:9/v1"].streak == 4
    time.sleep(0.5)
    started = time.perf_counter()
    try:
        Runner(config, health=health).run([(judge, chat(f"j{i}")) for i in range(20)])
    except BackendDownError as exc:
        assert "openai:judge" in str(exc)
    else:
        raise AssertionError("the judge's stage did not stop")
    assert time.perf_counter() - started < 0.3 and len(judge.calls) == 1  # down at its first failed attempt
