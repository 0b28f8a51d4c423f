"""OpenAI and every OpenAI-compatible server (vLLM, SGLang, TGI, Ollama, llama.cpp server).

`openai:MODEL` talks to the OpenAI API with OPENAI_API_KEY (OPENAI_BASE_URL overrides the URL).
`openai:MODEL@URL[,URL...]` talks to your own servers, spreading requests over the replicas
(fewest requests in flight first); their key, if they need one, comes from
CODEUF_ENDPOINT_API_KEY so that your OpenAI key is never sent to a third-party endpoint.

The wire format is the OpenAI REST API, sent with aiohttp. The openai SDK was the first
transport; measured on a loopback server (benchmarks/throughput.py, concurrency 64, 200 ms
latency) it reached 0.88 of the ideal request rate against 0.95 for plain aiohttp, because it
builds a typed request per call, and it adds 0.8 s of import time. Retries belong to the runner.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from typing import Any

from codeuf.errors import CodeufError, MissingDependencyError
from codeuf.llm.base import Backend, BackendError, retry_after_seconds, status_error
from codeuf.llm.spec import ModelSpec
from codeuf.llm.types import LLMError, LLMRequest, LLMResult, TokenLogprob, Usage

try:
    import aiohttp
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
    raise MissingDependencyError("aiohttp", "openai") from exc

OPENAI_URL = "https://api.openai.com/v1"
SCHEMA_MODES = ("json_schema", "json_object", "none")


def http_error(status: int, body: bytes, headers: Any) -> BackendError:
    """The BackendError for an error answer, with the server's own message when it gave one."""
    try:
        data = json.loads(body)
        error = data.get("error", data) if isinstance(data, dict) else data
        detail = error.get("message", error) if isinstance(error, dict) else error
    except ValueError:
        detail = body[:300].decode("utf-8", "replace")
    return status_error(status, f"HTTP {status}: {detail}", retry_after_seconds(headers))


class OpenAIBackend(Backend):
    """Structured output is negotiated once per backend (`schema_mode="auto"`): OpenAI, vLLM,
    SGLang and llama.cpp's llama-server take `response_format: json_schema`; llama-cpp-python's
    server takes `json_object` with a `schema`; a server that refuses both gets plain requests
    and the tolerant parser. A fixed mode can be given instead.
    """

    name = "openai"
    supports_schema = True
    supports_logprobs = True

    def __init__(self, spec: ModelSpec, *, timeout: float = 600.0, schema_mode: str = "auto") -> None:
        super().__init__(spec)
        if schema_mode not in ("auto", *SCHEMA_MODES):
            raise CodeufError(f"schema_mode must be one of auto, {', '.join(SCHEMA_MODES)}")
        self._schema_modes = list(SCHEMA_MODES) if schema_mode == "auto" else [schema_mode]
        if spec.base_urls:
            key = os.environ.get("CODEUF_ENDPOINT_API_KEY", "")
            self._urls = list(spec.base_urls)
        else:
            key = os.environ.get("OPENAI_API_KEY", "")
            if not key:
                raise CodeufError(f"{spec}: set OPENAI_API_KEY to use the OpenAI API")
            self._urls = [os.environ.get("OPENAI_BASE_URL", OPENAI_URL).rstrip("/")]
        self._headers = {"Content-Type": "application/json"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._timeout = timeout
        self._sessions: list[aiohttp.ClientSession] = []
        self._in_flight = [0] * len(self._urls)

    async def generate(self, request: LLMRequest) -> LLMResult:
        if not self._sessions:  # aiohttp sessions belong to the running event loop
            timeout = aiohttp.ClientTimeout(total=self._timeout)
            self._sessions = [
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) for _ in self._urls
            ]
        index = min(range(len(self._urls)), key=self._in_flight.__getitem__)
        self._in_flight[index] += 1
        try:
            if request.prompt is not None:
                return await self._complete(index, request)
            return await self._chat(index, request)
        except asyncio.TimeoutError:
            raise BackendError("timeout", f"no answer within {self._timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise BackendError("connection", f"{type(exc).__name__}: {exc}") from None
        finally:
            self._in_flight[index] -= 1

    def _common(self, request: LLMRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.spec.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if request.stop:
            body["stop"] = request.stop
        if request.seed is not None:
            body["seed"] = request.seed
        if request.grammar is not None:
            body["grammar"] = request.grammar  # llama.cpp servers; vLLM calls it guided_grammar
        return body

    async def _post(self, index: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
        session = self._sessions[index]
        async with session.post(self._urls[index] + path, data=json.dumps(body), headers=self._headers) as response:
            raw = await response.read()
            if response.status != 200:
                raise http_error(response.status, raw, response.headers)
        try:
            data = json.loads(raw)
        except ValueError:
            raise BackendError("bad_response", "the server's answer is not valid JSON") from None
        if not isinstance(data, dict) or not data.get("choices"):
            raise BackendError("bad_response", "the server's answer has no choices")
        return data

    def _chat_body(self, request: LLMRequest, mode: str) -> dict[str, Any]:
        body = self._common(request)
        body["messages"] = [m.model_dump() for m in request.messages or []]
        if request.logprobs is not None:
            body["logprobs"] = True
            body["top_logprobs"] = request.logprobs
        if request.json_schema is not None and mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": request.json_schema, "strict": True},
            }
        elif request.json_schema is not None and mode == "json_object":
            body["response_format"] = {"type": "json_object", "schema": request.json_schema}
        return body

    async def _chat(self, index: int, request: LLMRequest) -> LLMResult:
        while True:
            mode = self._schema_modes[0]
            body = self._chat_body(request, mode)
            try:
                data = await self._post(index, "/chat/completions", body)
                break
            except BackendError as exc:
                # llama-cpp-python's server reports this refusal as a 500, others as 400 or 422.
                refused = (
                    exc.status_code in (400, 422, 500)
                    and "response_format" in body
                    and re.search(r"response_format|json_schema", exc.message, re.I)
                )
                if not (refused and len(self._schema_modes) > 1):
                    raise
                if self._schema_modes[0] == mode:  # another request may have moved on already
                    self._schema_modes.pop(0)
        return self._chat_result(request, data)

    def _chat_result(self, request: LLMRequest, data: dict[str, Any]) -> LLMResult:
        choice = data["choices"][0]
        text = (choice.get("message") or {}).get("content") or ""
        logprobs = None
        content = (choice.get("logprobs") or {}).get("content")
        if content is not None:
            logprobs = [
                TokenLogprob(
                    token=t["token"],
                    logprob=t["logprob"],
                    top={a["token"]: a["logprob"] for a in t.get("top_logprobs") or []},
                )
                for t in content
            ]
        return self._result(request, text, choice, data, logprobs)

    def _completion_body(self, request: LLMRequest) -> dict[str, Any]:
        body = self._common(request)
        body["prompt"] = request.prompt
        if request.logprobs is not None:
            body["logprobs"] = request.logprobs
        if request.json_schema is not None:
            body["response_format"] = {"type": "json_object", "schema": request.json_schema}
        return body

    async def _complete(self, index: int, request: LLMRequest) -> LLMResult:
        return self._completion_result(request, await self._post(index, "/completions", self._completion_body(request)))

    def _completion_result(self, request: LLMRequest, data: dict[str, Any]) -> LLMResult:
        choice = data["choices"][0]
        logprobs = None
        lp = choice.get("logprobs") or {}
        if lp.get("tokens") is not None and lp.get("token_logprobs") is not None:
            tops = lp.get("top_logprobs") or [{}] * len(lp["tokens"])
            logprobs = [
                TokenLogprob(token=t, logprob=v if v is not None else float("nan"), top=dict(top or {}))
                for t, v, top in zip(lp["tokens"], lp["token_logprobs"], tops, strict=False)
            ]
        return self._result(request, choice.get("text") or "", choice, data, logprobs)

    @staticmethod
    def _result(
        request: LLMRequest,
        text: str,
        choice: dict[str, Any],
        data: dict[str, Any],
        logprobs: list[TokenLogprob] | None,
    ) -> LLMResult:
        usage = data.get("usage") or {}
        return LLMResult.from_text(
            request,
            text,
            finish_reason=choice.get("finish_reason"),
            usage=Usage(
                prompt_tokens=usage.get("prompt_tokens") or 0, completion_tokens=usage.get("completion_tokens") or 0
            ),
            logprobs=logprobs,
            model=data.get("model"),
        )

    # ------------------------------------------------------------------------- the Batch API

    supports_batch = True
    batch_limits = (50_000, 190 * 1024**2)  # OpenAI: 50,000 requests and a 200 MB input file per batch
    _TERMINAL = frozenset({"completed", "expired", "failed", "cancelled"})

    def _batch_line(self, custom_id: str, request: LLMRequest) -> dict[str, Any]:
        if request.prompt is not None:
            return {"custom_id": custom_id, "method": "POST", "url": "/v1/completions",
                    "body": self._completion_body(request)}  # fmt: skip
        return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
                "body": self._chat_body(request, self._schema_modes[0])}  # fmt: skip

    def batch_size(self, custom_id: str, request: LLMRequest) -> int:
        return len(json.dumps(self._batch_line(custom_id, request))) + 1

    def batch_group(self, request: LLMRequest) -> str:
        return "/v1/completions" if request.prompt is not None else "/v1/chat/completions"

    async def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call to the files or batches endpoints of the first URL; JSON back (or bytes for file content)."""
        if not self._sessions:
            self._sessions = [aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))]
        headers = {k: v for k, v in self._headers.items() if k != "Content-Type"}  # aiohttp sets the body's
        try:
            async with self._sessions[0].request(method, self._urls[0] + path, headers=headers, **kwargs) as response:
                raw = await response.read()
                if response.status != 200:
                    raise http_error(response.status, raw, response.headers)
        except asyncio.TimeoutError:
            raise BackendError("timeout", f"no answer within {self._timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise BackendError("connection", f"{type(exc).__name__}: {exc}") from None
        if path.endswith("/content"):
            return raw
        try:
            return json.loads(raw)
        except ValueError:
            raise BackendError("bad_response", "the server's answer is not valid JSON") from None

    async def batch_submit(self, items: list[tuple[str, LLMRequest]], tag: str = "") -> str:
        """Upload the requests as a JSONL file (bodies only: the key is in the headers) and create a batch, tagged
        in its metadata so that a rerun can find it (codeuf.llm.batch.providers)."""
        lines = [self._batch_line(custom_id, request) for custom_id, request in items]
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", "".join(json.dumps(x) + "\n" for x in lines).encode(), filename="codeuf-batch.jsonl",
                       content_type="application/jsonl")  # fmt: skip
        uploaded = await self._api("POST", "/files", data=form)
        endpoint = lines[0]["url"]  # one per batch: batchapi groups requests by batch_group
        batch = await self._api("POST", "/batches", json={"input_file_id": uploaded["id"], "endpoint": endpoint,
                                                          "completion_window": "24h",
                                                          "metadata": {"made_by": "codeuf",
                                                                       "codeuf_tag": tag}})  # fmt: skip
        return str(batch["id"])

    async def batch_find(self, tag: str, custom_ids: list[str], since: float) -> str | None:
        """The batch whose metadata carries `tag`, among those created since `since` (the list is newest first,
        so paging stops at the first page that reaches older batches)."""
        after = ""
        for _ in range(20):  # at most 2,000 batches back
            page = await self._api("GET", "/batches?limit=100" + (f"&after={after}" if after else ""))
            batches = page.get("data") or []
            for batch in batches:
                if (batch.get("metadata") or {}).get("codeuf_tag") == tag:
                    return str(batch["id"])
            older = any(float(b.get("created_at") or 0) < since - 60 for b in batches)
            if not batches or older or not page.get("has_more"):
                return None
            after = str(batches[-1]["id"])
        return None

    async def batch_poll(self, batch_id: str) -> Any:
        from codeuf.llm.batch.providers import BatchState

        batch = await self._api("GET", f"/batches/{batch_id}")
        status = str(batch.get("status"))
        errors = [str(e.get("message", e)) for e in ((batch.get("errors") or {}).get("data") or [])
                  if isinstance(e, dict)]  # fmt: skip
        return BatchState(status, status in self._TERMINAL, dict(batch.get("request_counts") or {}), errors)

    async def batch_results(self, batch_id: str, requests: dict[str, LLMRequest]) -> dict[str, LLMResult]:
        """The answers of a finished batch, by custom id; a request that errored has a result with its error
        (from the batch's error file, or its non-200 line in the output file)."""
        batch = await self._api("GET", f"/batches/{batch_id}")
        answers: dict[str, LLMResult] = {}
        for file_id in (batch.get("error_file_id"), batch.get("output_file_id")):  # answers last: they win
            if file_id:
                raw = await self._api("GET", f"/files/{file_id}/content")
                for line in raw.decode("utf-8", "replace").splitlines():
                    self._batch_line_result(line, requests, answers)
        return answers

    def _batch_line_result(self, line: str, requests: dict[str, LLMRequest], answers: dict[str, LLMResult]) -> None:
        """One line of an output or error file into `answers` (a line that cannot be read: asked again)."""
        try:
            row = json.loads(line)
            response, request = row.get("response") or {}, requests.get(row.get("custom_id"))
            if request is None:
                return
            if row.get("error") or response.get("status_code") != 200:
                error = row.get("error") or (response.get("body") or {}).get("error") or {}
                message = str(error.get("message") or error) if isinstance(error, dict) else str(error)
                status = response.get("status_code")
                answers[row["custom_id"]] = LLMResult(error=LLMError(
                    kind="bad_request" if status in (400, 404, 422) else "server", message=message[:500],
                    status_code=status))  # fmt: skip
                return
            body = response["body"]
            answers[row["custom_id"]] = (self._completion_result(request, body) if request.prompt is not None
                                         else self._chat_result(request, body))  # fmt: skip
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            return

    async def batch_cancel(self, batch_id: str) -> Any:
        """Ask the provider to cancel; returns its state, `cancelling` for a while, then `cancelled`."""
        from codeuf.llm.batch.providers import BatchState

        batch = await self._api("POST", f"/batches/{batch_id}/cancel")
        status = str(batch.get("status"))
        return BatchState(status, status in self._TERMINAL, dict(batch.get("request_counts") or {}))

    async def batch_cleanup(self, batch_id: str) -> None:
        """Delete the batch's uploaded input file: the prompts should not stay in the user's storage."""
        batch = await self._api("GET", f"/batches/{batch_id}")
        if batch.get("input_file_id"):
            try:
                await self._api("DELETE", f"/files/{batch['input_file_id']}")
            except BackendError as exc:
                if exc.status_code != 404:  # already gone is what was asked
                    raise

    async def aclose(self) -> None:
        for session in self._sessions:
            await session.close()
        self._sessions = []
