"""A small OpenAI- and Anthropic-compatible HTTP server on 127.0.0.1, for fault injection.

It speaks real HTTP/1.1 (keep-alive, Content-Length) over asyncio streams in a background
thread. A request asks for faults through its last user message, for example
`fault=429x2` (two 429s with Retry-After, then an answer), `fault=500x1`, `fault=hangx1`,
`fault=badjsonx1`, `fault=emptyx1`, `fault=400` (always). The answer echoes the message,
so tests can check that every result belongs to its request.

`completed` counts, per distinct request body, the answers delivered to a client that was still
connected: an answer to a client that had gone away (killed mid-request) is not completed.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import threading
import time
from collections import Counter
from typing import Any

_FAULT = re.compile(r"fault=(\w+?)(?:x(\d+))?\b")


def _fake_json(schema: dict[str, Any], salt: str = "") -> Any:
    """A value of the schema; enum choices vary with `salt` (the request), deterministically."""
    if "enum" in schema:
        digest = hashlib.blake2b(salt.encode(), digest_size=4).digest()
        return schema["enum"][int.from_bytes(digest, "big") % len(schema["enum"])]
    kind = schema.get("type")
    if kind == "object":
        return {k: _fake_json(v, f"{salt}/{k}") for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [_fake_json(schema.get("items", {}), salt)]
    return {"integer": 3, "number": 0.5, "boolean": True}.get(kind, "ok")


class FakeServer:
    def __init__(self, latency: float = 0.0, hang_seconds: float = 30.0, port: int = 0) -> None:
        """`port` 0 takes a free one; a test that stops the server can start another on the same port."""
        self.latency, self.hang_seconds = latency, hang_seconds
        self.attempts: Counter[str] = Counter()
        self.completed: Counter[str] = Counter()
        self.abandoned: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.auth_headers: list[str] = []
        self.holding = False
        """While True, answers wait: a test can kill a client with requests in flight and none mid-delivery."""
        self.fail_generations = 0
        """The next this many requests without a response_format (generations, not judge calls) get a 500."""
        self.refuse: set[str] = set()
        """response_format types this server refuses with a 400 naming them (a server without json_schema)."""
        self.rating_distribution: dict[str, float] | None = None
        """When set, chat answers that are asked for log-probabilities return them: each run of digits is one token
        (as in OpenAI's tokenizers) whose top alternatives are this distribution; other tokens are certain."""
        self.batch_delay = 0.3
        """Seconds a batch takes to end (validating, then in_progress, then done)."""
        self.batch_fail: set[str] = set()
        """Requests of a batch whose custom id or text holds one of these fail inside it (an error line)."""
        self.batch_api = True
        """False: no batch endpoints (404), as most inference servers."""
        self.batch_api_errors = 0
        """The next this many calls to the batch endpoints get a 503."""
        self.batch_outcome = "completed"
        """How the next batches end: completed, expired (only the first half answered) or failed (none)."""
        self.files: dict[str, bytes] = {}
        self._file_ids = itertools.count(1)
        """File ids are never reused, as a provider's are not (a deleted file's id named a later upload once)."""
        self.deleted_files: list[str] = []
        self.batches: dict[str, dict[str, Any]] = {}
        self.create_hold = 0.0
        """Seconds the answer to a batch creation is held after the batch exists (a client killed meanwhile has
        paid for a batch whose id it never got)."""
        self.cancel_delay = 0.0
        """Seconds a cancelled batch stays `cancelling` (`canceling`) before it ends, as at the providers."""
        self.script: Any = None
        """A function of the request body giving the answer's text, or None for the default (echo, or a value
        of the schema): a test scripts what a model writes."""
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeServer:
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", self.port, backlog=1024, reuse_address=True)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._handlers: set[asyncio.Task[None]] = set()
        async with server:
            await self._stop.wait()
            for task in self._handlers:
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.auth_headers.append(headers.get("authorization", headers.get("x-api-key", "")))
                status, extra, payload = await self._dispatch(method, path, body, headers)
                if reader.at_eof() or writer.is_closing():
                    self._count(self.abandoned, body)
                    return
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                head_out = [f"HTTP/1.1 {status} X", "Content-Type: application/json", f"Content-Length: {len(data)}"]
                head_out += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(head_out) + "\r\n\r\n").encode() + data)
                await writer.drain()
                if status == 200:
                    self._count(self.completed, body)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    def _count(self, counter: Counter[str], body: bytes) -> None:
        """Counted per distinct request: the whole body, canonically (an upload by its bytes)."""
        try:
            key = json.dumps(json.loads(body or b"{}"), sort_keys=True)
        except ValueError:
            key = hashlib.blake2b(body, digest_size=8).hexdigest()
        with self._lock:
            counter[key] += 1

    @staticmethod
    def _text(req: dict[str, Any]) -> str:
        if "prompt" in req:
            return str(req["prompt"])
        messages = req.get("messages") or [{}]
        content = messages[-1].get("content", "")
        return content if isinstance(content, str) else json.dumps(content)

    async def _dispatch(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        if path.startswith("/v1/messages") and not headers.get("x-api-key"):  # Anthropic's API reference
            error = {"type": "authentication_error", "message": "x-api-key header is required"}
            return 401, {}, {"type": "error", "error": error}
        if method == "GET" and path.endswith("/models"):
            return 200, {}, {"object": "list", "data": [{"id": "fake", "object": "model"}]}
        if "/files" in path or "/batches" in path:
            if not self.batch_api:
                return 404, {}, {"detail": "Not Found"}  # as vLLM's and llama.cpp's servers answer
            if self.batch_api_errors > 0:
                self.batch_api_errors -= 1
                return 503, {}, {"error": {"message": "overloaded, try again"}}
            if self.latency:
                await asyncio.sleep(self.latency)
            with self._lock:
                answer = self._batch_api(method, path, body, headers)
            creating = method == "POST" and path.split("?")[0].rstrip("/") in ("/v1/batches", "/v1/messages/batches")
            if creating and self.create_hold:
                await asyncio.sleep(self.create_hold)
            return answer
        req = json.loads(body or b"{}")
        text = self._text(req)
        with self._lock:
            self.attempts[text] += 1
            attempt = self.attempts[text]
            self.bodies.append(req)
        if self.latency:
            await asyncio.sleep(self.latency)
        while self.holding:
            await asyncio.sleep(0.01)
        with self._lock:
            injected = self.fail_generations > 0 and "response_format" not in req
            self.fail_generations -= injected
        if injected:
            return 500, {}, {"error": {"message": "injected failure", "type": "server_error"}}
        kind = (req.get("response_format") or {}).get("type")
        if kind in self.refuse:
            return 400, {}, {"error": {"message": f"response_format type {kind} is not supported", "type": "bad"}}
        match = _FAULT.search(text)
        if match:
            fault, times = match.group(1), int(match.group(2) or 10**9)
            if attempt <= times:
                if fault == "429":
                    return 429, {"Retry-After": "0.2"}, {"error": {"message": "slow down", "type": "rate_limit"}}
                if fault == "500":
                    return 500, {}, {"error": {"message": "boom", "type": "server_error"}}
                if fault == "authecho":  # a careless server that echoes the credentials it got
                    message = f"invalid key: {headers.get('authorization', '')}"
                    return 401, {}, {"error": {"message": message, "type": "auth"}}
                if fault == "400":
                    return 400, {}, {"error": {"message": "bad request", "type": "invalid_request_error"}}
                if fault == "hang":
                    await asyncio.sleep(self.hang_seconds)
                if fault == "badjson":
                    return 200, {}, b'{"id": "x", "choices": [ this is not json'
                if fault == "empty":
                    return 200, {}, self._answer(path, req, "")
        return 200, {}, self._answer(path, req, None)

    def _answer(self, path: str, req: dict[str, Any], forced: str | None) -> dict[str, Any]:
        text = self._text(req)
        fmt = req.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") or fmt.get("schema")
        content = forced
        if content is None and self.script is not None:
            content = self.script(req)
        if content is None:
            model = req.get("model", "fake")
            echo = f"echo: {text}" if model == "fake" else f"echo: {text} ({model})"  # models answer differently
            content = json.dumps(_fake_json(schema, text)) if schema else echo
        usage = {"prompt_tokens": len(text.split()), "completion_tokens": len(content.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        now = int(time.time())
        if path.endswith("/messages"):
            tools = req.get("tools")
            block: dict[str, Any] = {"type": "text", "text": content}
            if tools:
                block = {
                    "type": "tool_use",
                    "id": "tu_1",
                    "name": tools[0]["name"],
                    "input": _fake_json(tools[0]["input_schema"], text),
                }
            return {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": req.get("model", "fake"),
                "content": [block],
                "stop_reason": "tool_use" if tools else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]},
            }
        if path.endswith("/completions") and "prompt" in req:
            return {
                "id": "cmpl-1",
                "object": "text_completion",
                "created": now,
                "model": req.get("model", "fake"),
                "choices": [{"index": 0, "text": content, "finish_reason": "stop", "logprobs": None}],
                "usage": usage,
            }
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": now,
            "model": req.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                    "logprobs": self._logprobs(content) if req.get("logprobs") else None,
                }
            ],
            "usage": usage,
        }

    def _logprobs(self, content: str) -> dict[str, Any] | None:
        if self.rating_distribution is None:
            return None
        import math

        tokens = []
        for token in re.findall(r"\d+|\D+", content):
            if token.isdigit():
                alternatives = dict(self.rating_distribution)
                alternatives.setdefault(token, 1e-4)
                top = [{"token": t, "logprob": math.log(p)} for t, p in alternatives.items()]
                tokens.append({"token": token, "logprob": math.log(alternatives[token]), "top_logprobs": top})
            else:
                tokens.append({"token": token, "logprob": 0.0, "top_logprobs": [{"token": token, "logprob": 0.0}]})
        return {"content": tokens}

    # ----------------------------------------------------------------- batch APIs (OpenAI, Anthropic)

    def _batch_api(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, Any]:
        parts = path.split("?")[0].rstrip("/").split("/")
        if path.startswith("/v1/messages/batches"):
            return self._anthropic_batches(method, parts[4:], body)
        if parts[2] == "files" and method == "POST":
            content = _multipart_file(body, headers.get("content-type", ""))
            file_id = f"file-{next(self._file_ids)}"
            self.files[file_id] = content
            return 200, {}, {"id": file_id, "object": "file", "bytes": len(content), "purpose": "batch"}
        if parts[2] == "files" and len(parts) == 5 and parts[4] == "content":
            return (200, {}, self.files[parts[3]]) if parts[3] in self.files else (404, {}, {"error": "no file"})
        if parts[2] == "files" and len(parts) == 4 and method == "DELETE":
            if self.files.pop(parts[3], None) is None:
                return 404, {}, {"error": {"message": "no such file"}}
            self.deleted_files.append(parts[3])
            return 200, {}, {"id": parts[3], "object": "file", "deleted": True}
        if parts[2] == "batches" and method == "GET" and len(parts) == 3:
            return 200, {}, self._openai_list(path)
        if parts[2] == "batches" and method == "POST" and len(parts) == 3:
            request = json.loads(body)
            if request.get("input_file_id") not in self.files:
                return 400, {}, {"error": {"message": "unknown input_file_id"}}
            batch_id = f"batch_{len(self.batches) + 1}"
            self.batches[batch_id] = {"id": batch_id, "object": "batch", "endpoint": request["endpoint"],
                                      "input_file_id": request["input_file_id"], "created": time.time(),
                                      "outcome": self.batch_outcome, "status": "validating", "output_file_id": None,
                                      "error_file_id": None, "metadata": request.get("metadata")}  # fmt: skip
            urls = {json.loads(x)["url"] for x in self.files[request["input_file_id"]].decode().splitlines()}
            if urls != {request["endpoint"]}:  # as OpenAI: every line must call the batch's endpoint
                self.batches[batch_id]["outcome"] = "failed"
                self.batches[batch_id]["mixed"] = True
            return 200, {}, self._openai_batch(batch_id)
        batch = self.batches.get(parts[3]) if len(parts) > 3 else None
        if batch is None:
            return 404, {}, {"error": {"message": "no such batch"}}
        if method == "POST" and parts[-1] == "cancel" and batch["status"] in ("validating", "in_progress"):
            batch["status"], batch["outcome"], batch["cancelled_at"] = "cancelling", "cancelled", time.time()
        return 200, {}, self._openai_batch(batch["id"])

    def _openai_list(self, path: str) -> dict[str, Any]:
        """GET /v1/batches?limit=N&after=ID: newest first, as OpenAI lists them."""
        from urllib.parse import parse_qs, urlparse

        query = parse_qs(urlparse(path).query)
        limit = int(query.get("limit", ["20"])[0])
        ids = [b for b in sorted(self.batches, key=lambda b: -self.batches[b]["created"]) if b.startswith("batch_")]
        after = query.get("after", [None])[0]
        if after in ids:
            ids = ids[ids.index(after) + 1 :]
        page = [self._openai_batch(b) for b in ids[:limit]]
        return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None, "has_more": len(ids) > limit}  # fmt: skip

    def _openai_batch(self, batch_id: str) -> dict[str, Any]:
        batch = self.batches[batch_id]
        age = time.time() - batch["created"]
        if batch["status"] == "cancelling" and time.time() - batch["cancelled_at"] >= self.cancel_delay:
            batch["status"] = "cancelled"
        if batch["status"] in ("validating", "in_progress"):
            batch["status"] = "validating" if age < self.batch_delay / 2 else "in_progress"
            if age >= self.batch_delay:
                self._finish_openai(batch)
        lines = self.files[batch["input_file_id"]].decode().splitlines()
        counts = batch.get("counts") or {"total": len(lines), "completed": 0, "failed": 0}
        shown = {k: v for k, v in batch.items() if k not in ("created", "outcome", "counts", "cancelled_at", "mixed")}
        if batch["status"] == "failed":
            shown["errors"] = {"object": "list", "data": [{"code": "invalid_request", "line": 1,
                                                           "message": "the batch's requests do not match its endpoint"
                                                           if batch.get("mixed") else "the batch failed"}]}  # fmt: skip
        return {**shown, "request_counts": counts, "created_at": int(batch["created"])}

    def _finish_openai(self, batch: dict[str, Any]) -> None:
        lines = [json.loads(x) for x in self.files[batch["input_file_id"]].decode().splitlines()]
        outcome = batch["outcome"]
        batch["status"] = outcome
        if outcome in ("failed", "cancelled"):
            return
        answered = lines if outcome == "completed" else lines[: len(lines) // 2]
        good, bad = [], []
        for line in answered:
            if any(f in line["custom_id"] or f in json.dumps(line["body"]) for f in self.batch_fail):
                bad.append({"id": "r", "custom_id": line["custom_id"], "error": None,
                            "response": {"status_code": 400, "request_id": "q", "body": {"error": {
                                "message": f"injected failure of {line['custom_id']}",
                                "type": "invalid_request_error"}}}})  # fmt: skip
                continue
            answer = self._answer(line["url"], line["body"], None)
            good.append({"id": "r", "custom_id": line["custom_id"], "error": None,
                         "response": {"status_code": 200, "request_id": "q", "body": answer}})  # fmt: skip
        for kind, rows in (("output_file_id", good), ("error_file_id", bad)):
            if rows:
                file_id = f"file-{next(self._file_ids)}"
                self.files[file_id] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                batch[kind] = file_id
        batch["counts"] = {"total": len(lines), "completed": len(good), "failed": len(bad)}

    def _anthropic_batches(self, method: str, parts: list[str], body: bytes) -> tuple[int, dict, Any]:
        if method == "GET" and not parts:  # the list, newest first
            ids = sorted((b for b in self.batches if b.startswith("msgbatch_")),
                         key=lambda b: -self.batches[b]["created"])  # fmt: skip
            page = [self._anthropic_batch(b) for b in ids]
            return 200, {}, {"data": page, "has_more": False, "first_id": ids[0] if ids else None,
                             "last_id": ids[-1] if ids else None}  # fmt: skip
        if method == "POST" and not parts:
            requests = json.loads(body)["requests"]
            batch_id = f"msgbatch_{len(self.batches) + 1}"
            self.batches[batch_id] = {"requests": requests, "created": time.time(), "outcome": self.batch_outcome,
                                      "ended": False, "results": None}  # fmt: skip
            return 200, {}, self._anthropic_batch(batch_id)
        batch = self.batches.get(parts[0]) if parts else None
        if batch is None:
            return 404, {}, {"type": "error", "error": {"type": "not_found_error", "message": "no such batch"}}
        if method == "POST" and parts[-1] == "cancel" and not batch["ended"]:
            batch["outcome"], batch["cancelled_at"] = "canceled", time.time()
        if parts[-1] == "results":
            self._anthropic_batch(parts[0])
            rows = batch["results"] or []
            return 200, {}, "".join(json.dumps(r) + "\n" for r in rows).encode()
        return 200, {}, self._anthropic_batch(parts[0])

    def _anthropic_batch(self, batch_id: str) -> dict[str, Any]:
        batch = self.batches[batch_id]
        cancelled = batch["outcome"] == "canceled" and time.time() - batch.get("cancelled_at", 0) >= self.cancel_delay
        due = time.time() - batch["created"] >= self.batch_delay or cancelled
        if not batch["ended"] and due:
            batch["ended"] = True
            batch["results"] = []
            for i, request in enumerate(batch["requests"]):
                late = batch["outcome"] == "expired" and i >= len(batch["requests"]) // 2
                if batch["outcome"] == "canceled" or late:
                    kind = "canceled" if batch["outcome"] == "canceled" else "expired"
                    batch["results"].append({"custom_id": request["custom_id"], "result": {"type": kind}})
                elif any(f in request["custom_id"] or f in json.dumps(request["params"]) for f in self.batch_fail):
                    error = {
                        "type": "error",
                        "error": {
                            "type": "invalid_request_error",
                            "message": f"injected failure of {request['custom_id']}",
                        },
                    }
                    batch["results"].append(
                        {"custom_id": request["custom_id"], "result": {"type": "errored", "error": error}}
                    )
                else:
                    message = self._answer("/v1/messages", request["params"], None)
                    batch["results"].append({"custom_id": request["custom_id"],
                                             "result": {"type": "succeeded", "message": message}})  # fmt: skip
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if batch["ended"]:
            for row in batch["results"]:
                counts[row["result"]["type"]] += 1
        else:
            counts["processing"] = len(batch["requests"])
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(batch["created"]))
        results = f"{self.root}/v1/messages/batches/{batch_id}/results" if batch["ended"] else None
        status = "ended" if batch["ended"] else "canceling" if batch["outcome"] == "canceled" else "in_progress"
        return {"id": batch_id, "type": "message_batch", "processing_status": status, "request_counts": counts,
                "created_at": stamp, "expires_at": stamp, "ended_at": stamp if batch["ended"] else None,
                "cancel_initiated_at": None, "archived_at": None, "results_url": results}  # fmt: skip


def _multipart_file(body: bytes, content_type: str) -> bytes:
    """The content of the part named "file" of a multipart/form-data body."""
    boundary = content_type.split("boundary=")[-1].strip('"').encode()
    for part in body.split(b"--" + boundary):
        head, _, content = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return content.rstrip(b"\r\n")
    return b""
