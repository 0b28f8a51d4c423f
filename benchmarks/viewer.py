"""The run viewer on a large run: time to first render and time to apply a filter, in headless Chromium.

A run of N instructions (default 10,000) is built by `codeuf run` against the test suite's loopback server
(4 pool models, 1 judge, 2 orders), then `codeuf view RUN` serves it and Chromium (driven over the DevTools
protocol, as in tests/integration/test_viewer.py) opens it: the time from navigation to the first page of
records on screen, and from a click on a filter to the filtered page. The self-contained HTML (every record
embedded) is timed the same way.

    python benchmarks/viewer.py [--n 10000]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._server import ServerProcess  # noqa: E402
from tests.cdp import CHROMIUM, Browser  # noqa: E402


def build_run(n: int, folder: Path) -> Path:
    from codeuf.config import JudgeConfig, PoolModel, RunConfig
    from codeuf.stages.pipeline import run_pipeline

    source = folder / "instructions.jsonl"
    with source.open("w") as handle:
        for i in range(n):
            text = f"Task {i}: write a function that returns the {i}-th prime."
            handle.write(json.dumps({"instruction": text}) + "\n")
    with ServerProcess(latency=0.0) as url:
        config = RunConfig(source=str(source), n=n, concurrency=64, orders=2, out=folder / "run",
                           pool={f"model-{i}": PoolModel(spec=f"openai:model-{i}@{url}", max_tokens=64)
                                 for i in range(4)}, models_per_instruction=4,
                           judges=[JudgeConfig(spec=f"openai:judge@{url}", name="judge")])  # fmt: skip
        started = time.perf_counter()
        run_pipeline(config, progress=False)
        print(f"run of {n} instructions built in {time.perf_counter() - started:.0f} s")
    return folder / "run"


def timed_page(url: str, profile: Path) -> tuple[float, float, str]:
    with Browser(profile) as browser:
        started = time.perf_counter()
        browser.open(url)
        browser.wait_for("document.body.dataset.rendered", seconds=120)
        first = time.perf_counter() - started
        before = browser.eval("document.body.dataset.rendered")
        started = time.perf_counter()
        browser.eval("document.getElementById('f-flipped').click()")
        browser.wait_for(f"document.body.dataset.rendered !== '{before}'", seconds=120)
        filtered = time.perf_counter() - started
        shown = browser.eval("document.getElementById('shown').textContent")
    return first, filtered, shown


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--run", type=Path, default=None, help="an existing run folder to view instead")
    args = parser.parse_args()
    if CHROMIUM is None:
        sys.exit("skipped: chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run = args.run or build_run(args.n, root)
        started = time.perf_counter()
        server = subprocess.Popen([sys.executable, "-m", "codeuf", "view", str(run), "--no-open"],
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert server.stdout is not None
            url = re.search(r"http://127\.0\.0\.1:\d+/", server.stdout.readline()).group(0)  # type: ignore[union-attr]
            ready = time.perf_counter() - started
            first, filtered, shown = timed_page(url, root / "p1")
        finally:
            server.terminate()
            server.wait(10)
        print(f"## The viewer on {args.n:,} records (served)")
        print("| measure | seconds | target |")
        print("|---|---:|---:|")
        print(f"| `codeuf view` ready (records read, index and plots built) | {ready:.2f} | |")
        print(f"| first render in Chromium (page, index, first {20} records) | {first:.2f} | < 2 |")
        print(f"| a filter clicked (orders flipped: {shown} records) | {filtered:.2f} | |")
        small = root / "small.html"
        subprocess.run([sys.executable, "-m", "codeuf", "view", str(run), "--html", str(small)], check=True,
                       capture_output=True)  # fmt: skip
        first, filtered, shown = timed_page(small.as_uri(), root / "p2")
        size = small.stat().st_size / 1e6
        print(f"| self-contained HTML ({size:.1f} MB, every record embedded): first render | {first:.2f} | |")
        print(f"| self-contained HTML: a filter clicked ({shown} records) | {filtered:.2f} | |")


if __name__ == "__main__":
    main()
