"""The five failure scenarios of issue 11, measured on a codeuf source tree (this one, or `--src` another
checkout, to compare before and after):

1. a dead server: the server of every model is stopped mid-run and left down; then restarted, and the run
   repeated: exit codes, wall time, calls made on the rerun, N/A ratings, pairs;
2. late checks: a bogus judge backend, a broken annotate.j2, a bad source: calls made before the error,
   files left behind, whether the message names the file and field;
3. bad inputs: the generated cases of tests/badinputs.py: tracebacks, wrong exit codes, messages of more
   than one line, cases that left files behind;
4. bad input accepted: an all-CJK source, a NaN score, two judges with one name (lines after reruns), `n: true`;
5. two runs on one folder at once: exit codes, calls made, lines per id.

    python benchmarks/failure_scenarios.py [--src PATH/TO/src] [--skip-dead-server]

Every codeuf command runs in a subprocess with PYTHONPATH=SRC; the loopback server runs here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from tests.fakeserver import FakeServer  # noqa: E402


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Tree:
    def __init__(self, src: Path) -> None:
        self.src = src

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.src)
        return env

    def popen(self, args: list[str], cwd: Path) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "codeuf", *args], cwd=cwd, env=self.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip

    def run(self, args: list[str], cwd: Path, timeout: float = 1800) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "codeuf", *args], cwd=cwd, env=self.env(), capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip


def config(url: str, out: Path, n: int, concurrency: int, **extra: Any) -> dict[str, Any]:
    return {"n": n, "seed": 5, "out": str(out), "concurrency": concurrency,
            "pool": {f"model-{i}": {"spec": f"openai:model-{i}@{url}", "max_tokens": 16} for i in range(4)},
            "judges": [{"spec": f"openai:judge@{url}", "name": "judge"}], **extra}  # fmt: skip


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def feedback_stats(out: Path) -> dict[str, Any]:
    feedback = lines(out / "feedback" / "train.jsonl")
    ratings = [a["rating"] for r in feedback for a in r["annotations"]]
    return {
        "records": len(feedback),
        "ratings": len(ratings),
        "na": sum(r == "N/A" for r in ratings),
        "pairs": len(lines(out / "binarized" / "train.jsonl")) + len(lines(out / "binarized" / "test.jsonl")),
    }


def stderr_summary(text: str) -> dict[str, Any]:
    return {"stderr_lines": len(text.strip().splitlines()), "traceback": "Traceback" in text,
            "first_line": text.strip().splitlines()[0][:200] if text.strip() else ""}  # fmt: skip


def dead_server(tree: Tree, work: Path) -> dict[str, Any]:
    port = free_port()
    cfg = work / "dead.yaml"
    cfg.write_text(yaml.safe_dump(config(f"http://127.0.0.1:{port}/v1", work / "dead", n=40, concurrency=16)))
    result: dict[str, Any] = {}
    with FakeServer(latency=0.02, port=port) as first:
        started = time.perf_counter()
        proc = tree.popen(["run", str(cfg)], work)
        while sum(first.completed.values()) < 60 and proc.poll() is None:
            time.sleep(0.01)
        completed_before = sum(first.completed.values())
    stopped = time.perf_counter()
    _, err = proc.communicate(timeout=3600)
    result["first"] = {"exit": proc.returncode, "wall_s": round(time.perf_counter() - started, 1),
                       "after_server_died_s": round(time.perf_counter() - stopped, 1),
                       "calls_completed_before_death": completed_before, **stderr_summary(err),
                       "generation_lines": len(lines(work / "dead" / "generations.jsonl")),
                       "generation_lines_with_errors": sum(bool(r.get("errors"))
                                                           for r in lines(work / "dead" / "generations.jsonl")),
                       **feedback_stats(work / "dead")}  # fmt: skip
    with FakeServer(latency=0.02, port=port) as second:
        again = tree.run(["run", str(cfg)], work)
        requests = sum(second.attempts.values())
        repeated = len(set(first.completed) & set(second.completed))
    result["rerun"] = {"exit": again.returncode, "requests": requests, "completed_calls_repeated": repeated,
                       **stderr_summary(again.stderr), **feedback_stats(work / "dead")}  # fmt: skip
    return result


def late_checks(tree: Tree, work: Path) -> dict[str, Any]:
    results = {}
    with FakeServer(latency=0.0) as server:
        base = config(server.url, work / "x", n=10, concurrency=8)
        prompts = work / "prompts"
        prompts.mkdir(exist_ok=True)
        (prompts / "annotate.j2").write_text("{{ instruction ")
        cases = {
            "bogus judge backend": {**base, "judges": [{"spec": "bogus:judge", "name": "j"}]},
            "broken annotate.j2": {**base, "prompts": str(prompts)},
            "bad source": {**base, "source": str(work / "missing.jsonl")},
        }
        for name, values in cases.items():
            out = work / f"late-{len(results)}"
            values = {**values, "out": str(out)}
            path = work / f"late-{len(results)}.yaml"
            path.write_text(yaml.safe_dump(values))
            before = sum(server.attempts.values())
            done = tree.run(["run", str(path)], work)
            line = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
            results[name] = {"exit": done.returncode, "calls_before_error": sum(server.attempts.values()) - before,
                             "left_behind": sorted(p.name for p in out.iterdir()) if out.exists() else [],
                             "names_file": path.name in line or "annotate.j2" in line or "missing.jsonl" in line,
                             "line": line[:200]}  # fmt: skip
    return results


FUZZ_CHILD = """
import json, signal, sys, tempfile
from pathlib import Path
sys.path.insert(0, {repo!r})
from tests.badinputs import all_cases, run_case

class Slow(Exception):
    pass

def alarm(*_):
    raise Slow()

signal.signal(signal.SIGALRM, alarm)
root = Path(tempfile.mkdtemp())
import os
os.environ["CODEUF_CACHE_DIR"] = str(root / "cache")
tally = {{"cases": 0, "ok": 0, "traceback": 0, "wrong_exit": 0, "not_one_line": 0, "left_behind": 0, "slow": 0}}
for i, case in enumerate(all_cases()):
    if case.needs and case.needs == "trl":
        continue
    tally["cases"] += 1
    signal.alarm(20)
    try:
        outcome = run_case(case, root / f"c{{i}}", root / "cache")
    except Slow:
        tally["slow"] += 1
        continue
    finally:
        signal.alarm(0)
    problems = outcome.problems(case)
    tally["ok"] += not problems
    tally["traceback"] += outcome.exception is not None
    tally["wrong_exit"] += outcome.exception is None and outcome.code != 2
    tally["not_one_line"] += outcome.exception is None and any(p.startswith("stderr") for p in problems)
    tally["left_behind"] += bool(outcome.left_behind)
    import shutil
    shutil.rmtree(root / "cache", ignore_errors=True)
print(json.dumps(tally))
"""


def bad_inputs(tree: Tree) -> dict[str, Any]:
    code = FUZZ_CHILD.format(repo=str(REPO))
    done = subprocess.run([sys.executable, "-c", code], env=tree.env(), capture_output=True, text=True, timeout=7200)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": done.stderr[-500:]}


def accepted(tree: Tree, work: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with FakeServer(latency=0.0) as server:
        cjk = work / "cjk.jsonl"
        cjk.write_text("".join(json.dumps({"instruction": t}) + "\n" for t in ("写一个排序函数", "문자열 뒤집기")))
        path = work / "cjk.yaml"
        path.write_text(yaml.safe_dump({**config(server.url, work / "cjk", n=5, concurrency=4), "source": str(cjk)}))
        done = tree.run(["run", str(path)], work)
        results["all-CJK source"] = {"exit": done.returncode, "line": done.stderr.strip()[-200:]}
        labels = work / "labels.jsonl"
        labels.write_text('{"instruction": "x", "response": "y", "score": NaN}\n'
                          '{"instruction": "x", "response": "z", "score": 3}\n')  # fmt: skip
        done = tree.run(["judge-eval", "--judge", f"openai:j@{server.url}", "--labels", str(labels), "--out",
                         str(work / "je")], work)  # fmt: skip
        results["NaN score"] = {"exit": done.returncode, "line": done.stderr.strip()[-200:]}
        values = config(server.url, work / "dup", n=3, concurrency=4)
        values["judges"] = [{"spec": f"openai:j@{server.url}", "name": "same"},
                            {"spec": f"openai:k@{server.url}", "name": "same"}]  # fmt: skip
        path = work / "dup.yaml"
        path.write_text(yaml.safe_dump(values))
        counts = []
        for _ in range(3):
            done = tree.run(["run", str(path)], work)
            counts.append(len(lines(work / "dup" / "annotations.jsonl")))
        results["two judges named alike"] = {"exit": done.returncode, "annotation_lines_after_runs": counts}
        values = {**config(server.url, work / "ntrue", n=3, concurrency=4), "n": True}
        path = work / "ntrue.yaml"
        path.write_text(yaml.safe_dump(values))
        done = tree.run(["run", str(path)], work)
        results["n: true"] = {"exit": done.returncode, "line": done.stderr.strip()[-200:]}
    return results


def two_runs(tree: Tree, work: Path) -> dict[str, Any]:
    with FakeServer(latency=0.05) as server:
        path = work / "two.yaml"
        path.write_text(yaml.safe_dump(config(server.url, work / "two", n=15, concurrency=4)))
        procs = [tree.popen(["run", str(path)], work) for _ in range(2)]
        outcomes = [p.communicate(timeout=1800) for p in procs]
        made = sum(server.completed.values())
        distinct = len(server.completed)
    generations = lines(work / "two" / "generations.jsonl")
    return {"exits": [p.returncode for p in procs], "calls_completed": made, "distinct_calls": distinct,
            "generation_lines": len(generations), "generation_ids": len({r["id"] for r in generations}),
            "tracebacks": sum("Traceback" in err for _, err in outcomes),
            "lines": [err.strip().splitlines()[-1][:160] if err.strip() else "" for _, err in outcomes]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", type=Path, default=REPO / "src", help="the codeuf source tree to measure")
    parser.add_argument("--skip-dead-server", action="store_true", help="skip scenario 1 (slow on old trees)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    tree = Tree(args.src.resolve())
    signal.signal(signal.SIGINT, signal.default_int_handler)
    results: dict[str, Any] = {"src": str(tree.src)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_dead_server:
            results["1 dead server"] = dead_server(tree, work)
            print(json.dumps({"1 dead server": results["1 dead server"]}, indent=2), flush=True)
        for name, scenario in (("2 late checks", lambda: late_checks(tree, work)),
                               ("3 bad inputs", lambda: bad_inputs(tree)),
                               ("4 bad input accepted", lambda: accepted(tree, work)),
                               ("5 two runs on one folder", lambda: two_runs(tree, work))):  # fmt: skip
            results[name] = scenario()
            print(json.dumps({name: results[name]}, indent=2), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
