"""The stdin/stdout benchmark through the task interface, for real: every built-in reference program passes its
tests in the sandbox, wrong, looping, crashing and silent programs fail each with their reason, and `codeuf
humaneval --dataset stdio` scores a samples file end to end; a judged benchmark refuses to be run."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from codeuf.evals.tasks import all_tasks, get_task
from codeuf.evals.tasks.stdio import run_program
from codeuf.sandbox import SandboxPool
from tests.conftest import CODEUF, cli_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pool():  # type: ignore[no-untyped-def]
    with SandboxPool(2) as p:
        yield p


def test_the_task_registry_holds_every_benchmark() -> None:
    assert list(all_tasks()) == ["codal", "humaneval", "humaneval+", "mbpp+", "stdio"]
    assert get_task("humaneval+").plus and not get_task("stdio").plus and get_task("codal").judged


def test_reference_programs_pass_and_broken_ones_fail_with_their_reason(pool: SandboxPool) -> None:
    task = get_task("stdio")
    problems, _ = task.load(None)
    assert len(problems) == 12 and all(len(p.tests) >= 3 for p in problems)
    for problem in problems:
        assert run_program(problem.solution, problem.tests, pool)["base"] == "pass", problem.task_id
        first_input = problem.tests[0]
        wrong = run_program("print('not the answer')\n", [first_input], pool)
        assert (wrong["base"], wrong["reason"]) == ("fail", "test 0: wrong output")
    tests = problems[0].tests
    looping = run_program("while True:\n    pass\n", tests, pool)  # stopped by its per-test time limit
    assert (looping["base"], looping["reason"]) == ("fail", "test 0: _Timeout")
    crashed = run_program("raise ValueError('no')\n", tests, pool)
    assert crashed["base"] == "fail" and "ValueError" in crashed["reason"]
    assert run_program("import sys\nsys.exit(3)\n", tests, pool)["base"] == "fail"  # a non-zero exit fails
    assert run_program(problems[0].solution + "import sys\nsys.exit(0)\n", tests, pool)["base"] == "pass"
    assert run_program("x = (\n", tests, pool)["reason"] == "the code did not load: SyntaxError"


def test_humaneval_command_scores_stdio_samples_and_refuses_a_judged_benchmark(tmp_path: Path) -> None:
    problems, _ = get_task("stdio").load(None)
    samples = tmp_path / "samples.jsonl"
    rows = [{"task_id": p.task_id, "solution": p.solution if i % 2 == 0 else "print(0)\n"}
            for i, p in enumerate(problems)]  # fmt: skip
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    command = [*CODEUF, "humaneval", "--dataset", "stdio", "--samples", str(samples), "--out", str(tmp_path / "out")]
    done = subprocess.run(command, capture_output=True, text=True, env=cli_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    # half the programs are the references; of the others, "print(0)" happens to answer none of the first tests
    assert summary["dataset"] == "stdio" and summary["tasks"] == 12 and "plus" not in summary
    results = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [r["base"] == "pass" for r in results] == [i % 2 == 0 for i in range(12)]
    assert summary["base"]["pass@1"] == 0.5
    # the folder in the viewer: each task's prompt, its sample and the verdict
    page = tmp_path / "view.html"
    viewed = subprocess.run([*CODEUF, "view", str(tmp_path / "out"), "--html", str(page)], capture_output=True,
                            text=True, env=cli_env(), timeout=300)  # fmt: skip
    assert viewed.returncode == 0, viewed.stderr
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', page.read_text(),
                                re.DOTALL).group(1))  # type: ignore[union-attr]  # fmt: skip
    statuses = [row["executions"]["sample 1"][0] for row in data["index"]]
    assert statuses == ["passed" if i % 2 == 0 else "failed" for i in range(12)]
    assert data["index"][0]["instruction"].startswith(problems[0].prompt[:40])
    command = [*CODEUF, "humaneval", "--dataset", "codal", "--samples", str(samples), "--out", str(tmp_path / "c")]
    judged = subprocess.run(command, capture_output=True, text=True, env=cli_env(), timeout=120)
    assert judged.returncode == 2 and "codal is graded by a judge, not run" in judged.stderr
    unknown = subprocess.run([*CODEUF, "humaneval", "--dataset", "livecode", "--samples", str(samples)],
                             capture_output=True, text=True, env=cli_env(), timeout=120)  # fmt: skip
    assert unknown.returncode == 2 and "unknown benchmark 'livecode' (known: codal, humaneval" in unknown.stderr


def test_eval_task_is_humaneval_under_one_grammar(tmp_path: Path) -> None:
    problems, _ = get_task("stdio").load(None)
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": p.task_id, "solution": p.solution}) + "\n" for p in problems))
    for command, out in ((["humaneval", "--dataset", "stdio"], "a"), (["eval", "--task", "stdio"], "b")):
        done = subprocess.run([*CODEUF, *command, "--samples", str(samples), "--out", str(tmp_path / out)],
                              capture_output=True, text=True, env=cli_env(), timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
    verdicts = [[json.loads(x)["base"] for x in (tmp_path / out / "results.jsonl").read_text().splitlines()]
                for out in "ab"]  # fmt: skip
    assert verdicts[0] == verdicts[1] == ["pass"] * 12
    refused = subprocess.run([*CODEUF, "eval", "--task", "stdio", "--samples", str(samples), "--judge", "x"],
                             capture_output=True, text=True, env=cli_env())  # fmt: skip
    assert refused.returncode == 2 and "executed, not judged" in refused.stderr
