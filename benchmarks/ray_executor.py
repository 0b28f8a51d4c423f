"""codeuf's heavy work locally and on Ray, side by side in one run (a local Ray cluster started here).

1. Sandbox: `codeuf humaneval --samples` on MBPP+'s canonical solutions (`../shared/data/MbppPlus.jsonl.gz`),
   with the local pool and with `--executor ray` (the same 2 workers), expected outputs computed once before;
   the verdicts must be the same. Also the per-job cost of an empty sandbox job here and on Ray, whose
   difference is Ray's per-task overhead.
2. In-process model: the embedded model served by 1 and by 2 Ray actors (one CPU each), greedy, the same
   requests: tokens/s of each and whether the answers are the same.

Run: .venv/bin/python benchmarks/ray_executor.py [--jobs 200] [--requests 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DATA = Path(os.environ.get("CODEUF_REFERENCE_DATA") or REPO.parent / "shared" / "data")
MBPP = REFERENCE_DATA / "MbppPlus.jsonl.gz"
CODEUF = [sys.executable, "-m", "codeuf"]


def humaneval(samples: Path, out: Path, *extra: str) -> float:
    started = time.perf_counter()
    subprocess.run([*CODEUF, "humaneval", "--dataset", "mbpp+", "--data", str(MBPP), "--samples", str(samples),
                    "--out", str(out), "--workers", "2", *extra], check=True, capture_output=True)  # fmt: skip
    return time.perf_counter() - started


def sandbox_arm(work: Path) -> None:
    from codeuf.execution.evalplus import load_tasks

    tasks, _ = load_tasks("mbpp+", MBPP)
    samples = work / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t.task_id, "solution": t.prompt + t.canonical_solution})
                               + "\n" for t in tasks))  # fmt: skip
    humaneval(samples, work / "warm")  # expected outputs, computed once and cached
    local = humaneval(samples, work / "local")
    remote = humaneval(samples, work / "ray", "--executor", "ray")
    verdicts = [(work / name / "results.jsonl").read_text() for name in ("local", "ray")]
    print(f"MBPP+ canonical solutions ({len(tasks)} samples, 2 workers): local {local:.1f} s, Ray {remote:.1f} s, "
          f"Ray / local = {remote / local:.2f}; verdicts the same: {verdicts[0] == verdicts[1]}")  # fmt: skip


def job_costs(jobs: int) -> None:
    from codeuf.cluster import Executor, sandbox_pool, using
    from codeuf.sandbox import Equals, Job

    job = Job("def f(x):\n    return x\n", "f", [(1,)], [1.0], wall_timeout=5.0, check=Equals((1,)))
    costs = {}
    for name, executor in (("local", Executor()), ("ray", Executor("ray"))):
        with using(executor), sandbox_pool(1) as pool:
            pool.run(job)  # start the worker (and the actor)
            started = time.perf_counter()
            for _ in range(jobs):
                assert pool.run(job).status == "pass"
            costs[name] = (time.perf_counter() - started) / jobs
    print(f"an empty sandbox job, one at a time: local {costs['local'] * 1000:.1f} ms, Ray {costs['ray'] * 1000:.1f} "
          f"ms; Ray's overhead per job {(costs['ray'] - costs['local']) * 1000:.1f} ms")  # fmt: skip


def replicas_arm(requests: int) -> None:
    from codeuf.cluster import Executor, RayModelBackend, using
    from codeuf.llm.spec import parse_spec
    from codeuf.llm.types import LLMRequest
    from codeuf.session import StageSession

    asks = [LLMRequest(prompt=f"def function_{i}(values):\n    \"\"\"Return the {i}-th largest value.\"\"\"\n",
                       max_tokens=96, temperature=0.0) for i in range(requests)]  # fmt: skip
    answers, rates = {}, {}
    with using(Executor("ray")):
        for replicas in (1, 2):
            backend = RayModelBackend(parse_spec("llamacpp:default"), replicas, 1.0)
            session = StageSession(None, concurrency=replicas)
            started = time.perf_counter()
            results = session.run("generate", [(backend, r) for r in asks])
            seconds = time.perf_counter() - started
            backend.close()
            answers[replicas] = [r.text for r in results]
            rates[replicas] = sum(r.usage.completion_tokens for r in results) / seconds
    print(
        f"embedded model on Ray, {requests} greedy requests: 1 actor {rates[1]:.1f} tokens/s, 2 actors "
        f"{rates[2]:.1f} tokens/s, 2 / 1 = {rates[2] / rates[1]:.2f}; answers the same: {answers[1] == answers[2]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--requests", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if MBPP.exists():
            sandbox_arm(Path(tmp))
        else:
            print(f"skipped the MBPP+ arm: {MBPP} is absent")
    job_costs(args.jobs)
    replicas_arm(args.requests)


if __name__ == "__main__":
    main()
