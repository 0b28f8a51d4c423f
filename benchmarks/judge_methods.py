"""The embedded judge under each method, measured side by side in one run.

1. `codeuf judge-eval` with the embedded model as `json`, `logprobs` and `pairwise` judge, on
   - `tests/data/judge_pairwise_tiny.jsonl` (6 hand-labelled pairs), and
   - pairs built from public data: HumanEval+ (`../shared/data/HumanEvalPlus.jsonl.gz`), each task's canonical
     solution against a broken variant of it (`codeuf.execution.evalplus.broken_variant`), the correct one labelled
     better and shown first or second at random (seeded);
   each report gives agreement with and without ties, position consistency, tie and unreadable rates with CIs.
2. On a demo run folder (`make demo`'s `runs/demo`): its generations annotated by the `embedded` (json) and
   `embedded-logprobs` judges and binarized by the judge: the tie rate and the pairs that result.

Run: .venv/bin/python benchmarks/judge_methods.py [--tasks 20] [--demo runs/demo] [--out runs/bench-judges]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DATA = Path(os.environ.get("CODEUF_REFERENCE_DATA") or REPO.parent / "shared" / "data")
HUMANEVAL = REFERENCE_DATA / "HumanEvalPlus.jsonl.gz"
CODEUF = [sys.executable, "-m", "codeuf"]


def humaneval_pairs(path: Path, tasks: int, seed: int = 0) -> list[dict]:
    from codeuf.execution.evalplus import broken_variant, load_tasks

    rows = []
    for task in load_tasks("humaneval+", HUMANEVAL)[0][:tasks]:
        good = f"```python\n{task.prompt}{task.canonical_solution}```"
        bad = f"```python\n{broken_variant(task)}```"
        first = random.Random(f"{seed}:{task.task_id}").random() < 0.5
        rows.append({"instruction": f"Complete this Python function:\n```python\n{task.prompt}```",
                     "response_a": good if first else bad, "response_b": bad if first else good,
                     "label": "a" if first else "b"})  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def judge_eval(labels: Path, out: Path) -> str:
    started = time.perf_counter()
    args = [*CODEUF, "judge-eval", "--labels", str(labels), "--out", str(out), "--judge-config", "embedded",
            "--judge-config", "embedded-logprobs", "--judge-config", str(pairwise_judge(out))]  # fmt: skip
    result = subprocess.run(args, capture_output=True, text=True, check=True)
    return result.stdout + f"({time.perf_counter() - started:.0f} s)\n"


def pairwise_judge(out: Path) -> Path:
    """The embedded judge asked which of two answers is better."""
    out.mkdir(parents=True, exist_ok=True)
    path = out.parent / "embedded-pairwise.yaml"
    path.write_text("spec: llamacpp:default\nname: gemma3-270m-pairwise\nmethod: pairwise\nmax_tokens: 96\n"
                    "rationale_chars: 48\n")  # fmt: skip
    return path


def demo_ties(demo: Path, out: Path) -> None:
    """The demo's generations annotated by each judge, then binarized by the judge alone: ties and pairs."""
    config = out / "demo.yaml"
    for name in ("embedded", "embedded-logprobs"):
        folder = out / f"demo-{name}"
        config.write_text(f"out: {folder}\nsource: builtin:tasks\npool: {{a: {{spec: 'openai:a@http://127.0.0.1:9/v1'}},"
                          f" b: {{spec: 'openai:b@http://127.0.0.1:9/v1'}}}}\nmodels_per_instruction: 2\n"
                          f"judges: [{name}]\ncriterion: judge\ntest_fraction: 0.0\n")  # fmt: skip
        started = time.perf_counter()
        subprocess.run([*CODEUF, "annotate", "-c", str(config), "--input", str(demo / "generations.jsonl")],
                       capture_output=True, text=True, check=True)  # fmt: skip
        seconds = time.perf_counter() - started
        result = subprocess.run([*CODEUF, "binarize", "-c", str(config)], capture_output=True, text=True, check=True)
        records = [json.loads(x) for x in (folder / "feedback/train.jsonl").read_text().splitlines()]
        ratings = [a["rating"] for r in records for a in r["annotations"]]
        print(
            f"{name}: annotate {seconds:.0f} s; {len(set(ratings))} distinct ratings over {len(ratings)}; "
            f"{result.stdout.strip()}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--demo", type=Path, default=REPO / "runs" / "demo")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench-judges")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print("## tests/data/judge_pairwise_tiny.jsonl (6 hand-labelled pairs)\n")
    print(judge_eval(REPO / "tests/data/judge_pairwise_tiny.jsonl", args.out / "tiny"))
    if HUMANEVAL.exists():
        labels = args.out / "humaneval-pairs.jsonl"
        humaneval_pairs(labels, args.tasks)
        print(f"## HumanEval+ canonical solutions against broken variants ({args.tasks} tasks)\n")
        print(judge_eval(labels, args.out / "humaneval"))
    else:
        print(f"skipped the HumanEval+ pairs: {HUMANEVAL} is absent")
    if (args.demo / "generations.jsonl").exists():
        print(f"## ties on the demo's generations ({args.demo})\n")
        demo_ties(args.demo, args.out)
    else:
        print(f"skipped the demo ties: no {args.demo / 'generations.jsonl'} (run make demo first)")


if __name__ == "__main__":
    main()
