"""`codeuf --help` start-up time (target: under a second), beside a bare interpreter, in one run.

Run: .venv/bin/python benchmarks/startup.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def timed(args: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    bare = timed([sys.executable, "-c", "pass"], args.repeat)
    help_ = timed([sys.executable, "-m", "codeuf", "--help"], args.repeat)
    print(f"median of {args.repeat}: python -c pass {bare:.3f} s, codeuf --help {help_:.3f} s "
          f"(ratio {help_ / bare:.1f}x; target: under 1 s)")  # fmt: skip


if __name__ == "__main__":
    main()
