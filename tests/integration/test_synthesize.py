"""`codeuf tests` against a scripted test writer on 127.0.0.1 and the real sandbox: tests the reference
solution fails are dropped, each with its reason; without a reference, the pool's responses settle which
tests stay (CodeT's agreement), and `codeuf run` turns them into execution-grounded pairs."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CODEUF, cli_env
from tests.fakeserver import FakeServer

pytestmark = pytest.mark.integration

TASKS = [json.loads(line) for line in (Path(__file__).parents[2] / "src/codeuf/data/builtin/tasks.jsonl")
         .read_text().splitlines()]  # fmt: skip
WRONG = "'__not what it returns__'"


def task_in(text: str) -> dict[str, Any]:
    return next(t for t in TASKS if f"`{t['entry_point']}`" in text or f"`{t['entry_point']}(" in text)


def good_tests(task: dict[str, Any]) -> list[str]:
    """The task's own one-line asserts that call its function (a writer's test must call it)."""
    return [line for line in task["tests"].splitlines() if line.startswith(f"assert {task['entry_point']}(")]


def written_tests(task: dict[str, Any]) -> list[str]:
    """What the scripted writer answers: the task's own asserts, a wrong one, three that cannot be run (not
    an assert, not calling the function, not Python) and a duplicate."""
    good = good_tests(task)
    call = next(m.group(1) for line in good if (m := re.match(r"assert (\w+\(.*?\)) (?:==|is) ", line)))
    return [*good, f"assert {call} == {WRONG}", "print('hello')", "assert 1 + 1 == 2", "assert (", good[0]]


def writer(req: dict[str, Any]) -> str | None:
    if req.get("model") != "writer":
        return None
    return json.dumps({"tests": written_tests(task_in(req["messages"][-1]["content"]))})


def fenced(code: str) -> str:
    return f"Here you go.\n\n```python\n{code}```\n"


def pool(req: dict[str, Any]) -> str | None:
    """Three pool models answer with the reference solution, one with a mutant of it."""
    if req.get("model") == "writer":
        return writer(req)
    if req.get("response_format"):
        return None  # the judge: a value of its schema
    task = task_in(req["messages"][-1]["content"])
    if req.get("model") == "mutant":
        return fenced(task["solution"].replace("return ", "return 'mutant' if True else ", 1))
    return fenced(task["solution"])


def source_without(tmp_path: Path, *fields: str, n: int = 6) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps({k: v for k, v in t.items() if k not in fields}) + "\n" for t in TASKS[:n]))
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CODEUF, *args], env=cli_env(), capture_output=True, text=True, timeout=600)


def test_tests_the_reference_solution_fails_are_dropped_with_their_reasons(tmp_path: Path) -> None:
    source = source_without(tmp_path, "tests")
    with FakeServer() as server:
        server.script = writer
        config = {"source": str(source), "n": 6, "out": str(tmp_path / "run"), "models_per_instruction": 2,
                  "pool": {"a": {"spec": f"openai:a@{server.url}"}, "b": {"spec": f"openai:b@{server.url}"}},
                  "judges": [f"openai:j@{server.url}"],
                  "synthesize_tests": {"spec": f"openai:writer@{server.url}", "name": "writer",
                                       "count": 12}}  # fmt: skip
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
        assert run_cli("instructions", "-c", str(tmp_path / "c.yaml")).returncode == 0
        result = run_cli("tests", "-c", str(tmp_path / "c.yaml"))
        assert result.returncode == 0, result.stderr
        kept = sum(len(good_tests(t)) for t in TASKS[:6])
        assert (
            f"6 instructions with tests; written by the model: 6 records, {kept} tests kept of {kept + 6} runnable"
            in result.stdout
        )
        calls = sum(server.attempts.values())
        assert run_cli("tests", "-c", str(tmp_path / "c.yaml")).returncode == 0
        assert sum(server.attempts.values()) == calls == 6  # one call per instruction; the rerun makes none
    rows = [json.loads(line) for line in (tmp_path / "run/tests.jsonl").read_text().splitlines()]
    assert len(rows) == 6
    for row in rows:
        task = next(t for t in TASKS if t["id"] == row["id"])
        tests, good = row["tests"], good_tests(task)
        assert tests["origin"] == "synthesized:writer" and tests["synthesis"]["validation"] == "reference"
        assert tests["code"].splitlines() == good  # every good test kept, and only those
        assert WRONG not in tests["code"]
        assert tests["dropped"] == 5 == len(tests["reasons"])
        reasons = " | ".join(tests["reasons"])
        for why in ("not one assert statement", f"does not call {task['entry_point']}", "not valid Python",
                    "a duplicate", "the reference solution fails it"):  # fmt: skip
            assert why in reasons, (why, reasons)
        assert row["instruction"] == task["instruction"]  # it names its function: nothing is appended


def test_without_a_reference_the_pool_settles_the_tests_and_pairs_follow_them(tmp_path: Path) -> None:
    source = source_without(tmp_path, "tests", "solution", n=5)
    with FakeServer() as server:
        server.script = pool
        config = {"source": str(source), "n": 5, "out": str(tmp_path / "run"), "models_per_instruction": 4,
                  "pool": {m: {"spec": f"openai:{m}@{server.url}"} for m in ("r1", "r2", "r3", "mutant")},
                  "judges": [f"openai:j@{server.url}"], "test_fraction": 0.0, "execution_workers": 2,
                  "synthesize_tests": {"spec": f"openai:writer@{server.url}", "name": "writer",
                                       "agreement": "codet", "min_agree": 2}}  # fmt: skip
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
        result = run_cli("run", str(tmp_path / "c.yaml"))
    assert result.returncode == 0, result.stderr
    feedback = [json.loads(line) for line in (tmp_path / "run/feedback/train.jsonl").read_text().splitlines()]
    assert len(feedback) == 5
    for record in feedback:
        task = next(t for t in TASKS if t["id"] == record["id"])
        tests = record["tests"]
        assert tests["synthesis"]["validation"] == "agreement:codet"
        assert tests["code"].splitlines() == good_tests(task)
        assert any("not kept by codet agreement" in r for r in tests["reasons"])
        status = {e["model"]: e["status"] for e in record["executions"]}
        assert status == {"r1": "passed", "r2": "passed", "r3": "passed", "mutant": "failed"}
    pairs = [json.loads(line) for line in (tmp_path / "run/binarized/train.jsonl").read_text().splitlines()]
    assert len(pairs) == 5
    assert all(p["criterion"] == "tests-then-judge" and p["model_rejected"] == "mutant" for p in pairs)
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert manifest["tests"]["validations"] == {"agreement:codet": 5}
    assert manifest["tests"]["kept"] == sum(len(good_tests(t)) for t in TASKS if t["id"] in {r["id"] for r in feedback})
    assert manifest["executions"]["responses"] == {"passed": 15, "failed": 5}


def test_tests_in_the_instructions_language_are_written_and_checked_by_its_reference(tmp_path: Path) -> None:
    """JavaScript tasks (their reference solutions in JavaScript): the writer is asked for JavaScript tests,
    and the reference solution, run by Node in the sandbox, keeps the right ones."""
    from codeuf.data.sources import polyglot_tasks
    from codeuf.sandbox import languages

    if languages.get("javascript").toolchain.missing:
        pytest.skip(languages.get("javascript").toolchain.missing)
    tasks = polyglot_tasks("javascript")[:4]
    truth = {t.entry_point: t.tests.cases for t in tasks}  # type: ignore[union-attr]

    def js_writer(req: dict[str, Any]) -> str | None:
        prompt = req["messages"][-1]["content"]
        assert "one line of JavaScript" in prompt
        name = next(n for n in truth if f"`{n}`" in prompt)
        good = [f"assert.deepStrictEqual({name}({', '.join(json.dumps(a) for a in json.loads(c.input))}), "
                f"{c.output});" for c in truth[name]]  # fmt: skip
        wrong = good[0].rsplit(", ", 1)[0] + f", {WRONG});"
        return json.dumps({"tests": [*good, wrong, "console.log(1);", "assert.ok(true);", good[0]]})

    source = tmp_path / "js.jsonl"
    source.write_text("".join(json.dumps({"id": t.id, "instruction": t.text, "solution": t.solution,
                                          "entry_point": t.entry_point}) + "\n" for t in tasks))  # fmt: skip
    with FakeServer() as server:
        server.script = js_writer
        pool_specs = {name: {"spec": f"openai:{name}@{server.url}"} for name in ("a", "b")}
        config = {"source": str(source), "n": 4, "out": str(tmp_path / "run"), "models_per_instruction": 2,
                  "pool": pool_specs, "judges": [f"openai:j@{server.url}"],
                  "synthesize_tests": {"spec": f"openai:writer@{server.url}", "name": "writer",
                                       "count": 12}}  # fmt: skip
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
        assert run_cli("instructions", "-c", str(tmp_path / "c.yaml")).returncode == 0
        result = run_cli("tests", "-c", str(tmp_path / "c.yaml"))
        assert result.returncode == 0, result.stderr
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "run/tests.jsonl").read_text().splitlines())}
    for task in tasks:
        tests = rows[task.id]["tests"]
        assert tests["language"] == "javascript" and tests["synthesis"]["validation"] == "reference"
        assert len(tests["code"].splitlines()) == len(truth[task.entry_point])  # type: ignore[index]
        assert WRONG not in tests["code"]
        reasons = " | ".join(tests["reasons"])
        for why in ("not one JavaScript assertion line", f"does not call {task.entry_point}", "a duplicate",
                    "the reference solution fails it"):  # fmt: skip
            assert why in reasons, (why, reasons)
