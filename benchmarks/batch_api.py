"""A 2,000-request `codeuf run` live and through the providers' batch APIs, side by side in one run.

The run: 400 Evol-Instruct instructions (`../shared/data/evol-codealpaca-4k.jsonl.gz`), 4 responses each from a
pool of 4 `openai:` models and one `anthropic:` judge call each (1,600 + 400 = 2,000 requests), against the test
suite's loopback server (tests/fakeserver.py), which speaks the OpenAI files and batches endpoints and
Anthropic's Message Batches and ends each batch `--delay` seconds after it was created.

Arms:
1. live: every request a live call.
2. batch: `--batch-api`, every batch completes.
3. batch, expiring: the generate stage's first batches expire with half their requests unanswered, which are
   sent again in a new batch (`batch_retry: batch`).
4. the batch run again: it resumes, with nothing left to ask.

Printed per arm: requests submitted to batches vs requests answered, batches per run, polls, wall time, the
polling overhead (per batch, from the journal: the seconds from its end at the provider to its results in
hand), whether the dataset equals the live one, and the cost ledger with the same price table (made-up prices:
the ratio is the point).

Run: .venv/bin/python benchmarks/batch_api.py [--n 400] [--delay 5] [--poll 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DATA = Path(os.environ.get("CODEUF_REFERENCE_DATA") or REPO.parent / "shared" / "data")
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from tests.fakeserver import FakeServer  # noqa: E402

EVOL = REFERENCE_DATA / "evol-codealpaca-4k.jsonl.gz"
PRICES = {f"model-{i}": {"input": 2.5, "output": 10.0} for i in range(4)}
PRICES["claude-judge"] = {"input": 3.0, "output": 15.0}


def config(work: Path, name: str, server: FakeServer, n: int, poll: float, retry: str) -> Path:
    values = {
        "source": str(EVOL), "n": n, "seed": 0, "out": str(work / name), "models_per_instruction": 4,
        "pool": {f"m{i}": {"spec": f"openai:model-{i}@{server.url}", "max_tokens": 64} for i in range(4)},
        "judges": [{"spec": f"anthropic:claude-judge@{server.root}", "name": "judge"}],
        "test_fraction": 0.0, "concurrency": 32, "batch_poll_s": poll, "batch_retry": retry, "prices": PRICES,
    }  # fmt: skip
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def submitted_requests(server: FakeServer, since: int) -> int:
    """Requests in the batches created after the first `since` ones."""
    total = 0
    for batch in list(server.batches.values())[since:]:
        if "requests" in batch:  # Anthropic
            total += len(batch["requests"])
        else:
            total += len(server.files[batch["input_file_id"]].splitlines())
    return total


def journal_events(journal: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in journal.read_text().splitlines()] if journal.exists() else []


def late_by(events: list[dict[str, Any]], delay: float) -> list[float]:
    """Per batch: seconds from its end at the provider (submitted + delay) to its results in hand."""
    submitted = {e["batch"]: e["time"] for e in events if e["event"] == "submitted"}
    return [e["time"] - submitted[e["batch"]] - delay for e in events if e["event"] == "finished"]


def run(server: FakeServer, path: Path, *flags: str, expire_first: int = 0) -> dict[str, Any]:
    env = {**os.environ, "CODEUF_ENDPOINT_API_KEY": "sk-bench", "ANTHROPIC_API_KEY": "sk-bench"}
    before_batches, before_live = len(server.batches), sum(server.attempts.values())
    out = Path(yaml.safe_load(path.read_text())["out"])
    before_events = len(journal_events(out / "batches.jsonl"))
    stop = threading.Event()
    if expire_first:  # the next `expire_first` batches expire half-answered; those after them complete

        def switch_back() -> None:
            while not stop.is_set() and len(server.batches) < before_batches + expire_first:
                time.sleep(0.01)
            server.batch_outcome = "completed"

        server.batch_outcome = "expired"
        threading.Thread(target=switch_back, daemon=True).start()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "codeuf", "run", str(path), *flags], capture_output=True,
                          text=True, env=env)  # fmt: skip
    wall = time.perf_counter() - started
    stop.set()
    server.batch_outcome = "completed"
    if done.returncode != 0:
        raise SystemExit(f"codeuf run failed: {done.stderr.strip()[-500:]}")
    stages = json.loads((out / "manifest.json").read_text())["stages"]
    usage = [u for stage in stages.values() for u in stage["usage"].values()]
    return {
        "wall": wall,
        "requests": sum(u["requests"] - u["cached"] for u in usage),
        "cached": sum(u["cached"] for u in usage),
        "submitted": submitted_requests(server, before_batches),
        "answered": sum(u["batch_requests"] for u in usage),
        "live": sum(server.attempts.values()) - before_live,
        "batches": len(server.batches) - before_batches,
        "polls": sum(u["batch_polls"] for u in usage),
        "late": late_by(journal_events(out / "batches.jsonl")[before_events:], server.batch_delay),
        "cost": sum(u["cost_usd"] or 0.0 for u in usage),
        "dataset": (out / "feedback/train.jsonl").read_text(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=400, help="instructions (5 requests each)")
    parser.add_argument("--delay", type=float, default=5.0, help="seconds the fake provider takes per batch")
    parser.add_argument("--poll", type=float, default=1.0, help="batch_poll_s: the first wait between polls")
    args = parser.parse_args()
    if not EVOL.exists():
        raise SystemExit(f"needs {EVOL} (the shared reference data)")
    with tempfile.TemporaryDirectory() as tmp, FakeServer() as server:
        work = Path(tmp)
        server.batch_delay = args.delay
        arms = {
            "live": run(server, config(work, "live", server, args.n, args.poll, "live")),
            "batch": run(server, config(work, "batch", server, args.n, args.poll, "live"), "--batch-api"),
            "batch, generate's batches expire half-done (retry: batch)": run(
                server, config(work, "expire", server, args.n, args.poll, "batch"), "--batch-api", expire_first=4
            ),
        }
        arms["the batch run again (it resumes: nothing to ask)"] = run(server, work / "batch.yaml", "--batch-api")
    live = arms["live"]
    print(f"codeuf run: {args.n} instructions x (4 responses + 1 judge call); fake provider: {args.delay:g} s per "
          f"batch; batch_poll_s {args.poll:g} (doubling)")  # fmt: skip
    header = ("arm", "requests", "cached", "live calls", "submitted to batches", "answered by batches", "batches",
              "polls", "wall (s)", "polling overhead (s), mean (max)", "cost (USD)", "cost / live",
              "dataset = live")  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, arm in arms.items():
        late = arm["late"]
        overhead = f"{sum(late) / len(late):.2f} (max {max(late):.2f})" if late else "-"
        ratio = f"{arm['cost'] / live['cost']:.3f}" if live["cost"] else "-"
        row = (name, arm["requests"], arm["cached"], arm["live"], arm["submitted"], arm["answered"], arm["batches"],
               arm["polls"], f"{arm['wall']:.1f}", overhead, f"{arm['cost']:.4f}", ratio,
               arm["dataset"] == live["dataset"])  # fmt: skip
        print("| " + " | ".join(str(x) for x in row) + " |")
    print(
        "polling overhead: per batch, the seconds from its end at the provider to its results downloaded (the "
        "backoff's lateness plus the download)"
    )


if __name__ == "__main__":
    main()
