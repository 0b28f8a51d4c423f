"""Constrained decoding on the embedded backend: the judge's real prompts, three ways, side by side in one run.

- constrained, grammar last (codeuf's sampler: sample, then ask the grammar about that one token; resample
  with the grammar only when it refuses);
- constrained, grammar first (llama-cpp-python's sampler chain: the grammar filters all 262k candidates at
  every step);
- unconstrained (the same prompts and settings without the schema).

The prompts are `make demo`'s judge calls: the demo judge (`embedded`) rating four responses per built-in task
(the reference solution, a mutant of it, prose, and code in another language), each task in its own seeded
order. Reported: completion tokens/s of each arm (total tokens / total time, the arms alternating per prompt),
the ratios, how many constrained answers parse (all must), and how often the grammar made codeuf resample.

Run: .venv/bin/python benchmarks/constrained_decoding.py [--prompts 10] [--max-tokens 400]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any


def judge_requests(count: int) -> list[Any]:
    import random

    from codeuf.data.schema import GenerationRecord, Response
    from codeuf.data.sources import load_instructions
    from codeuf.judging import load_judges
    from codeuf.stages.annotate import judge_job

    judge = load_judges("embedded")[0]
    requests = []
    for task in load_instructions("builtin:tasks")[:count]:
        texts = {"reference": f"```python\n{task.solution}```",
                 "mutant": f"```python\n{(task.solution or '').replace('return ', 'return None or ', 1)}```",
                 "prose": "Loop over the input once and keep what you need; it runs in linear time.",
                 "javascript": "```javascript\nfunction f(x) { return x; }\n```"}  # fmt: skip
        record = GenerationRecord(id=task.id, instruction=task.text, preference="readability", models=list(texts),
                                  responses=[Response(model=m, response=t) for m, t in texts.items()])  # fmt: skip
        order = list(texts)
        random.Random(task.id).shuffle(order)
        requests.append(judge_job(record, order, judge, None).request)
    return requests


def timed(backend: Any, request: Any) -> tuple[int, float, Any]:
    started = time.perf_counter()
    result = asyncio.run(backend.generate(request))
    return result.usage.completion_tokens, time.perf_counter() - started, result


def main() -> None:
    import codeuf.llm.llamacpp as llamacpp
    from codeuf.llm.base import load_backend

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=400)
    args = parser.parse_args()
    backend = load_backend("llamacpp:default")
    resampled: list[int] = []
    close = llamacpp._Sampler.close

    def counting_close(self: Any) -> None:
        resampled.append(self.resampled)
        close(self)

    llamacpp._Sampler.close = counting_close  # type: ignore[method-assign]
    totals = {arm: [0, 0.0] for arm in ("grammar last", "grammar first", "unconstrained")}
    parsed = steps = 0
    requests = [r.model_copy(update={"max_tokens": args.max_tokens}) for r in judge_requests(args.prompts)]
    timed(backend, requests[0])  # warm-up: load the weights, compile the schema
    for request in requests:
        for arm in totals:
            backend.grammar_first = arm == "grammar first"
            tokens, seconds, result = timed(backend, request if arm != "unconstrained" else
                                            request.model_copy(update={"json_schema": None}))  # fmt: skip
            totals[arm][0] += tokens
            totals[arm][1] += seconds
            if arm != "unconstrained":
                parsed += result.parsed is not None
            if arm == "grammar last":
                steps += tokens
    rates = {arm: tokens / seconds for arm, (tokens, seconds) in totals.items()}
    for arm, (tokens, seconds) in totals.items():
        print(f"{arm:>14}: {tokens:5d} tokens in {seconds:6.1f} s = {rates[arm]:5.1f} tokens/s")
    print(f"grammar last / unconstrained:  {rates['grammar last'] / rates['unconstrained']:.3f} (target >= 0.6)")
    print(f"grammar first / unconstrained: {rates['grammar first'] / rates['unconstrained']:.3f}")
    print(f"grammar last / grammar first:  {rates['grammar last'] / rates['grammar first']:.3f}")
    print(f"constrained answers that parse: {parsed} of {2 * len(requests)}; "
          f"tokens the grammar refused (resampled): {sum(resampled[1::3])} of {steps}")  # fmt: skip


if __name__ == "__main__":
    main()
