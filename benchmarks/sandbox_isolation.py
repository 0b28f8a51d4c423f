"""The sandbox's outer layer (bubblewrap namespaces) against the inner layer alone, side by side in one run:
empty jobs per second on a warm pool (target: namespaces at >= 0.9 of the guards' rate), a worker's start-up
time, and the rate of a job that does some work. Arms alternate, each in its own process (the isolation is
chosen once per process), so that a slower minute of the machine falls on both.

Run: .venv/bin/python benchmarks/sandbox_isolation.py [--jobs 400] [--rounds 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ARM = r"""
import json, sys, time
from codeuf.sandbox import Job, SandboxPool
from codeuf.sandbox.isolation import isolation
jobs, workers = int(sys.argv[1]), int(sys.argv[2])
empty = Job("def f(x):\n    return x\n", "f", [(1,)], [5], wall_timeout=10)
work = Job("def f(n):\n    return sum(i * i for i in range(n))\n", "f", [(200_000,)], [5], wall_timeout=10)
started = time.perf_counter()
with SandboxPool(workers) as pool:
    pool.run(empty)
    first = time.perf_counter() - started
    for _ in range(workers):
        pool.run(empty)
    from concurrent.futures import ThreadPoolExecutor

    def rate(job, count):
        with ThreadPoolExecutor(workers) as ex:
            t = time.perf_counter()
            list(ex.map(lambda _: pool.run(job), range(count)))
            return count / (time.perf_counter() - t)

    empty_rate, work_rate = rate(empty, jobs), rate(work, jobs // 4)
out = {"namespaces": isolation().namespaces, "first_job_s": first, "empty": empty_rate, "work": work_rate}
print(json.dumps(out))
"""


def arm(mode: str, jobs: int, workers: int) -> dict:
    env = {**os.environ, "CODEUF_SANDBOX": mode}
    done = subprocess.run([sys.executable, "-c", ARM, str(jobs), str(workers)], capture_output=True, text=True,
                          env=env, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"guards": [], "bwrap": []}
    for _ in range(args.rounds):
        for mode in runs:
            runs[mode].append(arm(mode, args.jobs, args.workers))
    if not all(r["namespaces"] for r in runs["bwrap"]):
        sys.exit("bubblewrap cannot make namespaces here: nothing to compare")
    median = {m: {k: statistics.median(r[k] for r in rs) for k in ("first_job_s", "empty", "work")}
              for m, rs in runs.items()}  # fmt: skip
    print(f"{args.workers} workers, {args.jobs} empty and {args.jobs // 4} working jobs, median of {args.rounds} "
          "alternating rounds")  # fmt: skip
    print("| arm | first job (start-up) | empty jobs/s | working jobs/s |\n|---|---|---|---|")
    for mode, m in median.items():
        print(f"| {mode} | {m['first_job_s']:.3f} s | {m['empty']:.1f} | {m['work']:.1f} |")
    ratio = median["bwrap"]["empty"] / median["guards"]["empty"]
    print(f"namespaces / guards: empty {ratio:.2f} (target >= 0.9), working "
          f"{median['bwrap']['work'] / median['guards']['work']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
