"""Dataset construction at scale against a loopback server, measured side by side in one run.

Builds a dataset from the Evol-Instruct instructions of ../shared/data/evol-codealpaca-4k.jsonl.gz
(3,919 after de-duplication) with a pool of 4 models and a judge, all behind one loopback
OpenAI-compatible server (its own process) with a fixed latency. Reports:

- instructions/s end to end (instructions, generate, annotate, binarize, datasets and cards written)
  as a ratio of the server-bound ideal. Each instruction needs one call to each of its 4 models
  (4 backends, `concurrency` calls in flight each) and one judge call (one backend), so the
  server-bound time is 2 x n x latency / concurrency;
- peak memory (max RSS of this process);
- the time of a rerun that finds everything done and cached (target: no calls, under 5 s).

Run: .venv/bin/python benchmarks/pipeline.py [--n 3919] [--latency 0.2] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DATA = Path(os.environ.get("CODEUF_REFERENCE_DATA") or REPO.parent / "shared" / "data")
sys.path.insert(0, str(REPO))
DATA = REFERENCE_DATA / "evol-codealpaca-4k.jsonl.gz"

from benchmarks._server import ServerProcess  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3919)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"skipped: {DATA} is absent (the reference data lives beside the project, in ../shared/data)")

    from codeuf.config import JudgeConfig, PoolModel, RunConfig
    from codeuf.stages.pipeline import run_pipeline

    with ServerProcess(latency=args.latency) as url, tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(
            source=str(DATA),
            n=args.n,
            pool={f"model-{i}": PoolModel(spec=f"openai:model-{i}@{url}", max_tokens=256) for i in range(4)},
            models_per_instruction=4,
            judges=[JudgeConfig(spec=f"openai:judge@{url}", name="judge")],
            concurrency=args.concurrency,
            out=Path(tmp) / "run",
        )
        started = time.perf_counter()
        first = run_pipeline(config, progress=False)
        wall = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        again = run_pipeline(config, progress=False)
        rerun = time.perf_counter() - started

    n = first.instructions["kept"]
    ideal_s = 2 * n * args.latency / args.concurrency
    calls = sum(s["calls"] for s in first.stages.values())
    rerun_calls = sum(s["calls"] for s in again.stages.values())
    print(f"pipeline: {n} instructions (of {first.instructions['source']} in the source), 4 pool models + 1 judge,")
    print(f"          {calls} calls, latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency} per backend")
    print(f"  server-bound ideal      {n / ideal_s:8.1f} instructions/s  ({ideal_s:.1f} s)")
    print(f"  codeuf run, end to end  {n / wall:8.1f} instructions/s  ({wall:.1f} s)   /ideal = {ideal_s / wall:.3f}")
    for stage, entry in first.stages.items():
        print(f"    {stage:9s} {entry['calls']:6d} calls in {entry['wall_time_s']:.1f} s, errors {entry['errors']}")
    print(f"  peak memory (max RSS)   {peak_mb:8.0f} MB")
    print(f"  rerun, all cached       {rerun:8.2f} s with {rerun_calls} calls   (target: 0 calls, < 5 s)")
    print(f"  pairs: {first.binarized['pairs']} (train {first.binarized['train']}, test {first.binarized['test']})")


if __name__ == "__main__":
    main()
