"""`codeuf execute` against `codeuf humaneval`'s evaluator on MBPP+ (from ../shared/data), side by side:

- responses: each task's canonical solution, and a near-miss mutant of it (the first comparison operator,
  arithmetic operator or integer constant changed, as a mutation-testing tool would; where there is none,
  EvalPlus-style broken returns), each in a fenced block;
- the same code checked by `codeuf.execution.evalplus.check_sample` (what `codeuf humaneval --samples` does);
- agreement of the verdicts, executed responses per second, and the sandbox's rate on empty jobs.

    python benchmarks/execute_vs_humaneval.py [--data ../shared/data/MbppPlus.jsonl.gz] [--limit N] [--workers 2]
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DATA = Path(os.environ.get("CODEUF_REFERENCE_DATA") or REPO.parent / "shared" / "data")
sys.path.insert(0, str(REPO / "src"))

_SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
          ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult, ast.Div: ast.Mult,
          ast.Mod: ast.FloorDiv, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.BitXor: ast.BitOr,
          ast.Pow: ast.Mult}  # fmt: skip


class _Mutate(ast.NodeTransformer):
    """Change the first operator or integer constant found inside the function named `entry_point`."""

    def __init__(self) -> None:
        self.done = False

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        if not self.done and type(node.ops[0]) in _SWAPS:
            node.ops[0] = _SWAPS[type(node.ops[0])]()
            self.done = True
        return self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if not self.done and type(node.op) in _SWAPS:
            node.op = _SWAPS[type(node.op)]()
            self.done = True
        return self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if not self.done and type(node.value) is int:
            self.done = True
            return ast.copy_location(ast.Constant(node.value + 1), node)
        return node


def mutant(solution: str, entry_point: str) -> str | None:
    tree = ast.parse(solution)
    mutator = _Mutate()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            mutator.visit(node)
    return ast.unparse(tree) + "\n" if mutator.done else None


def fenced(code: str) -> str:
    return f"```python\n{code}```\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REFERENCE_DATA / "MbppPlus.jsonl.gz")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"{args.data} is absent: this benchmark needs MBPP+ (see ../shared/data/README.md)")

    from codeuf.data.schema import GenerationRecord, Response
    from codeuf.data.sources import load_instructions
    from codeuf.execution.evalplus import broken_variant, check_sample, ground_truth, load_tasks
    from codeuf.sandbox import Job, SandboxPool
    from codeuf.stages.execute import execute_responses, response_code
    from codeuf.stages.instructions import build_instruction_pool

    tasks = {t.task_id: t for t in load_tasks("mbpp+", args.data)[0]}
    items = load_instructions(args.data)[: args.limit]
    pool_records, _ = build_instruction_pool(items, n=len(items), seed=0, pool=["canonical", "mutant"],
                                             models_per_instruction=2)  # fmt: skip
    records, unmutated = [], 0
    for record in pool_records:
        assert record.solution and record.entry_point
        near_miss = mutant(record.solution, record.entry_point)
        unmutated += near_miss is None
        near_miss = near_miss or broken_variant(tasks[record.id])
        texts = {"canonical": fenced(record.solution), "mutant": fenced(near_miss)}
        records.append(GenerationRecord(**record.model_dump(), responses=[Response(model=m, response=texts[m])
                                                                          for m in record.models]))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, SandboxPool(args.workers) as pool:
        ground_truth(list(tasks.values()), "mbpp+", args.data, pool)  # computed (or cached) before timing
        started = time.perf_counter()
        executed = execute_responses(records, Path(tmp) / "executions.jsonl", workers=args.workers)
        execute_s = time.perf_counter() - started
        truths = ground_truth(list(tasks.values()), "mbpp+", args.data, pool)
        agree = total = passed = 0
        disagreements = []
        pairs = [(r, resp, e) for r in executed for resp, e in zip(r.responses, r.executions, strict=True)]

        def humaneval_verdict(item):  # type: ignore[no-untyped-def]
            record, response, _ = item
            code, _ = response_code(response.response, record.entry_point)
            return check_sample(tasks[record.id], truths[record.id], code or "", "mbpp+", pool)

        from concurrent.futures import ThreadPoolExecutor

        started = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as executor:  # the same parallelism as execute's
            verdicts = list(executor.map(humaneval_verdict, pairs))
        humaneval_s = time.perf_counter() - started
        for (record, response, execution), verdict in zip(pairs, verdicts, strict=True):
            humaneval_pass = verdict["base"] == "pass" and verdict["plus"] == "pass"
            total += 1
            passed += humaneval_pass
            if humaneval_pass == (execution.status == "passed"):
                agree += 1
            else:
                disagreements.append((record.id, response.model, execution.status, verdict))
        empty = Job("def f():\n    return 1\n", "f", [()], [1.0], wall_timeout=5.0)
        started = time.perf_counter()
        jobs = 200
        with ThreadPoolExecutor(args.workers) as executor:
            list(executor.map(lambda _: pool.run(empty), range(jobs)))
        empty_rate = jobs / (time.perf_counter() - started)
    responses = sum(len(r.executions) for r in executed)
    print(f"MBPP+ tasks: {len(records)} ({unmutated} with no operator or constant to mutate: broken returns)")
    print(f"verdict agreement, execute vs codeuf humaneval: {agree}/{total} = {agree / total:.4f}"
          f" (responses passing by humaneval's check: {passed})")  # fmt: skip
    for item in disagreements[:10]:
        print("  disagreement:", item)
    print(f"execute: {responses} responses in {execute_s:.1f} s = {responses / execute_s:.1f} responses/s "
          f"({args.workers} workers); codeuf humaneval's check of the same, as parallel: {humaneval_s:.1f} s "
          f"(execute / humaneval time: {execute_s / humaneval_s:.2f})")  # fmt: skip
    print(f"sandbox, empty jobs: {empty_rate:.1f} jobs/s; execute / empty-job rate = "
          f"{responses / execute_s / empty_rate:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
