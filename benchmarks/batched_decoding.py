"""Batched decoding of the embedded model: tokens/s at 1, 2, 4, 8 and 16 concurrent requests, four arms side by
side in one run, on the same cores.

- codeuf batched: the `llamacpp` backend with `parallel` = the number of requests, all sent at once;
- codeuf parallel 1: the same backend decoding one request at a time (the behaviour before batching);
- llama-cpp-python sequential: `Llama.create_completion` for each request in turn (plain, no codeuf);
- processes: as many processes as requests, each with its own `Llama` and cores/processes threads, one request
  each (timed from a barrier after every process has loaded its model).

The requests are `make demo`'s generation prompts (the built-in tasks, the demo's code configuration: Gemma's
format, a code-fence prefill), greedy, at most --max-tokens tokens each, no stop strings, so that every arm
decodes about the same number of tokens. Reported: completion tokens/s per arm and ratios to llama-cpp-python
sequential, latency at 1 request, the rate of constrained output (the demo judge's JSON schema) against the
same requests unconstrained at 8 concurrent requests, how many greedy answers equal the sequential ones, and
the memory an extra sequence takes (peak RSS of a process decoding 1 and 16 sequences).

Run: .venv/bin/python benchmarks/batched_decoding.py [--max-tokens 96] [--levels 1,2,4,8,16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
from typing import Any

CORES = os.cpu_count() or 1


def prompts(count: int) -> list[str]:
    from codeuf.config import CODE_PREFILL
    from codeuf.data.sources import load_instructions
    from codeuf.llm.formats import get_format
    from codeuf.llm.types import Message

    fmt = get_format("gemma")
    tasks = load_instructions("builtin:tasks")
    texts = [tasks[i % len(tasks)].text for i in range(count)]
    return [fmt.render([Message(role="user", content=t)]) + CODE_PREFILL for t in texts]


def run_codeuf(backend: Any, requests: list[Any]) -> tuple[float, list[Any]]:
    async def go() -> list[Any]:
        return await asyncio.gather(*(backend.generate(r) for r in requests))

    started = time.perf_counter()
    results = asyncio.run(go())
    return time.perf_counter() - started, results


def run_plain(llm: Any, texts: list[str], max_tokens: int) -> tuple[float, int]:
    started, tokens = time.perf_counter(), 0
    for text in texts:
        out = llm.create_completion(text, max_tokens=max_tokens, temperature=0.0, top_k=0, top_p=1.0, min_p=0.0)
        tokens += out["usage"]["completion_tokens"]
    return time.perf_counter() - started, tokens


def _process(path: str, text: str, max_tokens: int, threads: int, barrier: Any, answers: Any) -> None:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=path, n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False)
    barrier.wait()
    started = time.perf_counter()
    out = llm.create_completion(text, max_tokens=max_tokens, temperature=0.0, top_k=0, top_p=1.0, min_p=0.0)
    answers.put((out["usage"]["completion_tokens"], started, time.perf_counter()))


def run_processes(path: str, texts: list[str], max_tokens: int) -> tuple[float, int]:
    context = multiprocessing.get_context("spawn")
    barrier, answers = context.Barrier(len(texts)), context.Queue()
    threads = max(1, CORES // len(texts))
    workers = [context.Process(target=_process, args=(path, t, max_tokens, threads, barrier, answers)) for t in texts]
    for worker in workers:
        worker.start()
    done = [answers.get() for _ in workers]
    for worker in workers:
        worker.join()
    return max(d[2] for d in done) - min(d[1] for d in done), sum(d[0] for d in done)


def memory_probe(parallel: int, max_tokens: int) -> tuple[int, int]:
    """(resident KiB after loading, resident KiB after decoding `parallel` sequences together) of a fresh
    process: llama.cpp reserves each sequence's cells up front, and pages become resident as they are used."""
    code = (
        "import sys; sys.path.insert(0, 'benchmarks'); import batched_decoding as b\n"
        "from codeuf.llm.base import load_backend; from codeuf.llm.types import LLMRequest\n"
        "rss = lambda: int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1])\n"
        f"backend = load_backend('llamacpp:default', parallel={parallel}); before = rss()\n"
        f"reqs = [LLMRequest(prompt=p, max_tokens={max_tokens}) for p in b.prompts({parallel})]\n"
        "b.run_codeuf(backend, reqs); print(before, rss())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # fmt: skip
    before, after = out.stdout.split()[-2:]
    return int(before), int(after)


def judge_requests(count: int) -> list[Any]:
    sys.path.insert(0, os.path.dirname(__file__))
    from constrained_decoding import judge_requests as demo_judge_requests

    return (demo_judge_requests(count) * 2)[:count]


def main() -> None:
    import llama_cpp

    from codeuf.llm.base import load_backend
    from codeuf.llm.llamacpp import default_model_path
    from codeuf.llm.types import LLMRequest

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--levels", default="1,2,4,8,16")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    path = str(default_model_path())
    plain = llama_cpp.Llama(model_path=path, n_ctx=4096, n_threads=CORES, n_threads_batch=CORES, verbose=False)
    sequential = load_backend("llamacpp:default", parallel=1)
    print(f"{CORES} cores; greedy, at most {args.max_tokens} tokens per request; tokens/s (ratio to plain)\n")
    print(f"{'requests':>8} | {'codeuf batched':>16} | {'codeuf parallel 1':>17} | {'plain sequential':>16} | "
          f"{'processes':>16} | same greedy answers")  # fmt: skip
    rows: dict[int, dict[str, float]] = {}
    for level in levels:
        texts = prompts(level)
        requests = [LLMRequest(prompt=t, max_tokens=args.max_tokens) for t in texts]
        batched = load_backend("llamacpp:default", parallel=level)
        b_time, b_results = run_codeuf(batched, requests)
        batched.close()
        s_time, s_results = run_codeuf(sequential, requests)
        p_time, p_tokens = run_plain(plain, texts, args.max_tokens)
        m_time, m_tokens = run_processes(path, texts, args.max_tokens)
        b_tokens = sum(r.usage.completion_tokens for r in b_results)
        s_tokens = sum(r.usage.completion_tokens for r in s_results)
        same = sum(b.text == s.text for b, s in zip(b_results, s_results, strict=True))
        rate = {"batched": b_tokens / b_time, "parallel1": s_tokens / s_time, "plain": p_tokens / p_time,
                "processes": m_tokens / m_time, "latency_batched": b_time, "latency_plain": p_time}  # fmt: skip
        rows[level] = rate
        arms = ("batched", "parallel1", "plain", "processes")
        cells = [f"{rate[k]:7.1f} ({rate[k] / rate['plain']:.2f}x)" for k in arms]
        print(f"{level:>8} | {cells[0]:>16} | {cells[1]:>17} | {cells[2]:>16} | {cells[3]:>16} | {same}/{level}")
    if 1 in rows:
        mine, plain_s = rows[1]["latency_batched"], rows[1]["latency_plain"]
        print(f"\nlatency at 1 request: codeuf batched {mine:.2f} s, plain {plain_s:.2f} s ({mine / plain_s:.2f}x)")
    constrained_vs_free(load_backend, LLMRequest)
    (load1, small), (load16, large) = memory_probe(1, args.max_tokens), memory_probe(16, args.max_tokens)
    print(
        f"\nresident memory after loading: parallel 1 {load1 / 1024:.0f} MiB, parallel 16 {load16 / 1024:.0f} MiB "
        f"({(load16 - load1) / 15 / 1024:.1f} MiB per extra sequence); after decoding 1 and 16 sequences: "
        f"{small / 1024:.0f} and {large / 1024:.0f} MiB ({(large - small) / 15 / 1024:.1f} MiB per extra sequence)"
    )
    print(json.dumps({str(k): {n: round(v, 2) for n, v in r.items()} for k, r in rows.items()}))


def constrained_vs_free(load_backend: Any, request_type: Any) -> None:
    """The demo judge's requests with their schema and without it, 8 at once, on one batched backend; each
    free request decodes as many tokens as its constrained twin did (max_tokens), so that both arms process the
    same prompts and decode the same number of tokens per sequence."""
    backend = load_backend("llamacpp:default", parallel=8)
    constrained = judge_requests(8)
    c_time, c_results = run_codeuf(backend, constrained)
    free = [request_type(**{**r.model_dump(), "json_schema": None, "max_tokens": max(1, done.usage.completion_tokens)})
            for r, done in zip(constrained, c_results, strict=True)]  # fmt: skip
    f_time, f_results = run_codeuf(backend, free)
    c_rate = sum(r.usage.completion_tokens for r in c_results) / c_time
    f_rate = sum(r.usage.completion_tokens for r in f_results) / f_time
    parsed = sum(r.parsed is not None for r in c_results)
    print(f"\n8 judge requests at once: constrained {c_rate:.1f} tokens/s, unconstrained {f_rate:.1f} tokens/s "
          f"({c_rate / f_rate:.2f}); {parsed}/8 constrained answers parse")  # fmt: skip
    backend.close()


if __name__ == "__main__":
    main()
