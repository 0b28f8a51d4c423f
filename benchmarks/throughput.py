"""Throughput of the LLM layer, measured side by side in one run.

1. `codeuf llm batch` (the library call behind the command: read, run, write, manifest)
   against a loopback OpenAI-compatible server with a fixed latency, at concurrency 64, as a
   ratio of the ideal (concurrency / latency) and of a sequential loop with the openai SDK
   (one request at a time, as the paper's scripts do). Target: >= 0.9 of the ideal.
2. The embedded backend's generation tokens/s as a ratio of plain llama-cpp-python on the same
   prompts and parameters. Target: >= 0.95.

Run: .venv/bin/python benchmarks/throughput.py [--requests 2000] [--concurrency 64] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._server import ServerProcess


def write_requests(path: Path, n: int) -> None:
    with path.open("w") as handle:
        for i in range(n):
            body = {"messages": [{"role": "user", "content": f"question {i}"}], "max_tokens": 16, "temperature": 0}
            handle.write(
                json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body})
            )
            handle.write("\n")


def batch_throughput(url: str, n: int, concurrency: int, workdir: Path) -> tuple[float, float]:
    """(requests/s of the whole library call, requests/s of the request phase alone)."""
    from codeuf.llm.batch.command import BatchOptions, batch_command

    in_path = workdir / "requests.jsonl"
    write_requests(in_path, n)
    options = BatchOptions(
        model=f"openai:fake@{url}",
        in_path=in_path,
        out_path=workdir / "results.jsonl",
        concurrency=concurrency,
        cache=workdir / "cache.sqlite",
        progress=False,
    )
    started = time.perf_counter()
    batch_command(options)
    elapsed = time.perf_counter() - started
    lines = (workdir / "results.jsonl").read_text().splitlines()
    assert len(lines) == n and all(json.loads(x)["error"] is None for x in lines)
    manifest = json.loads((workdir / "results.manifest.json").read_text())
    return n / elapsed, n / manifest["counts"]["request_phase_s"]


def sequential_throughput(url: str, n: int) -> float:
    import openai

    client = openai.OpenAI(base_url=url, api_key="not-needed", max_retries=0)
    started = time.perf_counter()
    for i in range(n):
        client.chat.completions.create(
            model="fake", messages=[{"role": "user", "content": f"seq {i}"}], max_tokens=16, temperature=0
        )
    return n / (time.perf_counter() - started)


PROMPTS = [
    "def quicksort(items):\n",
    "# A function that checks whether a string is a palindrome\ndef is_palindrome(s):\n",
    "class Stack:\n    def __init__(self):\n",
    "import json\n\ndef load_config(path):\n",
]


def embedded_tokens_per_second(max_tokens: int, rounds: int) -> tuple[float, float, int, int]:
    import llama_cpp

    from codeuf.llm.base import load_backend
    from codeuf.llm.llamacpp import default_model_path
    from codeuf.llm.types import LLMRequest

    backend = load_backend("llamacpp:default", n_ctx=2048)
    # The plain arm as a user who tunes it would set it up: every core (llama-cpp-python's default is half of
    # them, which made codeuf look 1.4x faster than "plain" before), and greedy sampling, as codeuf's arm.
    threads = os.cpu_count() or 1
    plain = llama_cpp.Llama(model_path=str(default_model_path()), n_ctx=2048, n_threads=threads,
                            n_threads_batch=threads, verbose=False)  # fmt: skip
    ours_tokens = ours_time = plain_tokens = plain_time = 0.0
    for _ in range(rounds):  # interleaved, so drift in machine load hits both alike
        for prompt in PROMPTS:
            started = time.perf_counter()
            result = backend.generate_sync(LLMRequest(prompt=prompt, max_tokens=max_tokens, temperature=0))
            ours_time += time.perf_counter() - started
            ours_tokens += result.usage.completion_tokens
            started = time.perf_counter()
            out = plain.create_completion(prompt, max_tokens=max_tokens, temperature=0)
            plain_time += time.perf_counter() - started
            plain_tokens += out["usage"]["completion_tokens"]
    return ours_tokens / ours_time, plain_tokens / plain_time, int(ours_tokens), int(plain_tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--sequential", type=int, default=50, help="requests in the sequential baseline")
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per prompt for the embedded test")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-embedded", action="store_true")
    args = parser.parse_args()

    ideal = args.concurrency / args.latency
    with ServerProcess(latency=args.latency) as url, tempfile.TemporaryDirectory() as tmp:
        whole, phase = batch_throughput(url, args.requests, args.concurrency, Path(tmp))
        sequential = sequential_throughput(url, args.sequential)
    print(f"llm batch: {args.requests} requests, concurrency {args.concurrency}, latency {args.latency * 1000:.0f} ms")
    print(f"  ideal (c/latency)          {ideal:8.1f} req/s")
    print(f"  sequential loop (SDK)      {sequential:8.1f} req/s")
    print(
        f"  codeuf, request phase      {phase:8.1f} req/s   /ideal = {phase / ideal:.3f} (target >= 0.9)"
        f"   /sequential = {phase / sequential:.1f}x"
    )
    print(
        f"  codeuf, whole call         {whole:8.1f} req/s   /ideal = {whole / ideal:.3f}"
        "   (adds imports, validation, output and manifest writing)"
    )
    if not args.skip_embedded:
        codeuf_tps, plain_tps, ours_n, plain_n = embedded_tokens_per_second(args.tokens, args.rounds)
        print(
            f"embedded generation: {len(PROMPTS)} prompts x {args.rounds} rounds, "
            f"up to {args.tokens} new tokens, greedy"
        )
        print(f"  plain llama-cpp-python     {plain_tps:8.1f} tok/s   ({plain_n} tokens)")
        print(
            f"  codeuf llamacpp backend    {codeuf_tps:8.1f} tok/s   ({ours_n} tokens)"
            f"   /plain = {codeuf_tps / plain_tps:.3f} (target >= 0.95)"
        )


if __name__ == "__main__":
    main()
