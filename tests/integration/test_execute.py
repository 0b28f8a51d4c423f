"""`codeuf execute` on the real sandbox: responses that pass, fail, loop, attack the host, hold no code or
another language; a kill mid-stage and a rerun; the stage inside `codeuf run`; EvalPlus tasks."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from codeuf.data.schema import GenerationRecord, Response
from codeuf.data.sources import load_instructions
from codeuf.stages.execute import execute_responses
from codeuf.stages.instructions import build_instruction_pool
from tests.conftest import CODEUF, SHARED_DATA, cli_env
from tests.fakeserver import FakeServer

pytestmark = pytest.mark.integration


def records_with(responses: dict[str, object], n: int = 100, source: object = "builtin:tasks") -> list:
    """Instruction records of `source` with one response per named model: a string, or a function of the
    instruction record giving one."""
    tasks, _ = build_instruction_pool(load_instructions(source), n=n, seed=0, pool=list(responses),
                                      models_per_instruction=len(responses))  # fmt: skip
    out = []
    for task in tasks:
        texts = {m: r(task) if callable(r) else r for m, r in responses.items()}
        out.append(GenerationRecord(**task.model_dump(), responses=[Response(model=m, response=str(texts[m]))
                                                                    for m in task.models]))  # fmt: skip
    return out


def fenced(code: str) -> str:
    return f"Here is my solution.\n\n```python\n{code}```\n\nIt runs in linear time."


def mutant(task) -> str:  # type: ignore[no-untyped-def]
    return fenced(task.solution.replace("return ", "return 'mutant' if True else ", 1))


def attack(line: str):  # type: ignore[no-untyped-def]
    """A response: the reference solution with `line` as the first statement of its entry point (top-level
    code would be dropped by the sanitizer before it ran)."""

    def response(task) -> str:  # type: ignore[no-untyped-def]
        lines = task.solution.splitlines()
        at = next(i for i, x in enumerate(lines) if x.startswith(f"def {task.entry_point}("))
        return fenced("\n".join([*lines[: at + 1], f"    {line}", *lines[at + 1 :]]) + "\n")

    return response


def by_model(record: GenerationRecord) -> dict:
    return {e.model: e for e in record.executions}


def test_references_pass_mutants_fail_and_prose_or_other_languages_are_not_executed(tmp_path: Path) -> None:
    records = records_with({"reference": lambda t: fenced(t.solution), "mutant": mutant,
                            "prose": "I would sort the list and then scan it once.",
                            "javascript": "```javascript\nfunction f(x) { return x; }\n```"})  # fmt: skip
    done = execute_responses(records, tmp_path / "executions.jsonl", workers=2)
    assert len(done) == len(records) >= 40
    for record in done:
        results = by_model(record)
        assert results["reference"].status == "passed", (record.entry_point, results["reference"])
        assert results["reference"].passed == results["reference"].total >= 3
        assert results["mutant"].status == "failed" and results["mutant"].passed < results["mutant"].total
        assert results["prose"].status == "not_executed" and results["prose"].reason == "no code"
        assert results["javascript"].status == "not_executed" and "javascript" in results["javascript"].reason


def test_loops_and_attacks_are_contained(tmp_path: Path) -> None:
    outside = tmp_path / "written-by-the-response.txt"
    hostile = {
        "loop": attack("while True: pass"),
        "writes": attack(f"open({str(outside)!r}, 'w').write('x')"),
        "kills-parent": attack("import os, signal; os.kill(os.getppid(), signal.SIGKILL)"),
        "exits": attack("import sys; sys.exit(0)"),
        "reference": lambda t: fenced(t.solution),
    }
    records = records_with(hostile, n=3)
    started = time.perf_counter()
    done = execute_responses(records, tmp_path / "executions.jsonl", workers=2)
    assert time.perf_counter() - started < 120
    for record in done:
        results = by_model(record)
        assert results["loop"].status == "timeout" and "time limit" in results["loop"].reason
        for name in ("writes", "kills-parent", "exits"):
            assert results[name].status == "failed" and results[name].passed == 0, (name, results[name])
        assert results["reference"].status == "passed"  # the evaluation survived all of it
    assert not outside.exists()


def test_a_killed_execute_resumes_without_executing_a_recorded_response_again(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    records = records_with({"reference": lambda t: fenced(t.solution),
                            "slow": attack("import time; time.sleep(0.05)")})  # fmt: skip
    (run / "generations.jsonl").write_text("".join(json.dumps(r.model_dump()) + "\n" for r in records))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"out": str(run), "pool": {"reference": {"spec": "openai:a@http://h/v1"},
                                      "slow": {"spec": "openai:b@http://h/v1"}}, "models_per_instruction": 2,
                                      "judges": ["openai:j@http://h/v1"], "execution_workers": 1}))  # fmt: skip
    proc = subprocess.Popen([*CODEUF, "execute", "-c", str(config)], env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    path = run / "executions.jsonl"
    deadline = time.time() + 120
    while (not path.exists() or len(path.read_text().splitlines()) < 5) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    recorded = path.read_bytes()
    kept = [line for line in recorded.split(b"\n") if line.strip()][:-1]  # the last line may be torn
    assert 4 <= len(kept) < len(records) - 5  # killed mid-stage
    again = subprocess.run([*CODEUF, "execute", "-c", str(config)], env=cli_env(), capture_output=True, timeout=600)
    assert again.returncode == 0, again.stderr
    final = path.read_bytes().split(b"\n")
    assert final[: len(kept)] == kept  # what was recorded stays as it was: it was not executed again
    clean = execute_responses(records, tmp_path / "clean.jsonl", workers=2)
    resumed = {json.loads(line)["id"]: json.loads(line) for line in final if line.strip()}
    assert len(resumed) == len(records)
    assert {r.id: r.model_dump() for r in clean} == resumed


def test_run_executes_when_instructions_have_tests(tmp_path: Path) -> None:
    with FakeServer() as server:
        values = {"source": "builtin:tasks", "n": 5, "out": str(tmp_path / "run"), "concurrency": 4,
                  "pool": {f"m{i}": {"spec": f"openai:m{i}@{server.url}", "max_tokens": 16} for i in range(3)},
                  "models_per_instruction": 2, "judges": [f"openai:j@{server.url}"]}  # fmt: skip
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(values))
        result = subprocess.run([*CODEUF, "run", str(tmp_path / "c.yaml")], env=cli_env(), capture_output=True,
                                text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    feedback = [json.loads(x) for x in (tmp_path / "run/feedback/train.jsonl").read_text().splitlines()]
    assert len(feedback) == 5 and all(r["tests"]["kind"] == "asserts" for r in feedback)
    # the fake server echoes the instruction: prose, so no response is executed, and none is called failed
    assert all(e["status"] == "not_executed" for r in feedback for e in r["executions"])
    assert all(len(r["executions"]) == 2 for r in feedback)
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert manifest["executions"]["responses"] == {"not_executed": 10}


MBPP = SHARED_DATA / "MbppPlus.jsonl.gz"


@pytest.mark.skipif(not MBPP.exists(), reason="../shared/data/MbppPlus.jsonl.gz is absent")
def test_evalplus_tasks_are_checked_as_codeuf_humaneval_checks_them(tmp_path: Path) -> None:
    from codeuf.execution.evalplus import broken_variant, load_tasks

    tasks = {t.task_id: t for t in load_tasks("mbpp+", MBPP)[0]}
    records = records_with({"canonical": lambda r: fenced(r.solution),
                            "broken": lambda r: fenced(broken_variant(tasks[r.id]))}, n=8, source=MBPP)  # fmt: skip
    done = execute_responses(records, tmp_path / "executions.jsonl", workers=2)
    for record in done:
        results = by_model(record)
        assert results["canonical"].status == "passed" and results["canonical"].total == 2, record.id
        assert results["broken"].status == "failed", record.id


def test_given_tests_are_checked_against_the_reference_solution_first(tmp_path: Path) -> None:
    """A wrong test beside a correct solution is dropped with its reason; a record whose solution fails every
    test keeps none; then a correct response passes what is left instead of failing a wrong test."""
    from codeuf.stages.given_tests import check_given_tests
    from codeuf.stages.instructions import build_instruction_pool

    solution = "def factorial(n):\n    return 1 if n < 2 else n * factorial(n - 1)\n"
    rows = [
        {"id": "mixed", "instruction": "Factorial.", "entry_point": "factorial", "solution": solution,
         "tests": "assert factorial(5) == 121\nassert factorial(3) == 6\nassert factorial(0) == 1"},
        {"id": "wrong", "instruction": "Factorial again.", "entry_point": "factorial", "solution": solution,
         "tests": "assert factorial(1) == 2\nassert factorial(2) == 3"},
        {"id": "cases", "instruction": "Factorial as cases.", "entry_point": "factorial", "solution": solution,
         "tests": [{"input": [4], "output": 24}, {"input": [4], "output": 25}]},
        {"id": "none", "instruction": "No solution.", "entry_point": "factorial",
         "tests": "assert factorial(5) == 121"},
    ]  # fmt: skip
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    records, _ = build_instruction_pool(load_instructions(path), n=4, seed=0, pool=["a", "b"],
                                        models_per_instruction=2)  # fmt: skip
    checked = {r.id: r.tests for r in check_given_tests(records, workers=2)}
    mixed = checked["mixed"]
    assert mixed.checked == "reference" and mixed.dropped == 1 and mixed.runnable
    assert mixed.reasons == ["the reference solution fails `assert factorial(5) == 121`"]
    assert "121" not in mixed.code and "factorial(3) == 6" in mixed.code
    wrong = checked["wrong"]
    assert not wrong.runnable and wrong.dropped == 2
    assert wrong.reasons[-1] == "the reference solution fails all 2 tests: the record keeps none"
    assert [c.output for c in checked["cases"].cases] == ["24"] and checked["cases"].dropped == 1
    assert checked["none"].checked == "" and checked["none"].code == "assert factorial(5) == 121"  # nothing to run

    generations = [GenerationRecord(**r.model_dump(exclude={"tests"}), tests=checked[r.id],
                                    responses=[Response(model=m, response=fenced(solution)) for m in r.models])
                   for r in records if r.id != "none"]  # fmt: skip
    done = {r.id: r for r in execute_responses(generations, tmp_path / "executions.jsonl", workers=2)}
    assert [(e.status, e.passed, e.total) for e in done["mixed"].executions] == [("passed", 2, 2)] * 2
    assert {e.status for e in done["wrong"].executions} == {"not_executed"}
    assert done["wrong"].executions[0].reason.startswith("no tests: the reference solution fails all 2 tests")
