"""Judges as files and the three methods, for real: the embedded model (json, logprobs, pairwise), a loopback
OpenAI-compatible server that returns log-probabilities, a backend without them, several judges compared side
by side, and a judge measured against tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from codeuf.data.schema import NA, Execution, GenerationRecord, Response
from tests.conftest import CODEUF, cli_env
from tests.fakeserver import FakeServer

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests/data/codeultrafeedback_tiny.jsonl"
PAIRS = REPO / "tests/data/judge_pairwise_tiny.jsonl"


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CODEUF, *args], env=cli_env(**env), capture_output=True, text=True, timeout=500)


def run_config(tmp_path: Path, out: Path, judges: list) -> Path:
    """A run config for the stage commands (its pool is never called: annotate reads --input)."""
    path = tmp_path / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump({"out": str(out), "pool": {"a": {"spec": "openai:a@http://127.0.0.1:9/v1"},
                                    "b": {"spec": "openai:b@http://127.0.0.1:9/v1"}}, "models_per_instruction": 2,
                                    "judges": judges or ["embedded"]}))  # fmt: skip
    return path


def judge_file(tmp_path: Path, name: str, **settings: object) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, **settings}))
    return path


def feedback(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "feedback/train.jsonl").read_text().splitlines()]


def expectation(distribution: dict[str, float]) -> float:
    return sum(float(v) * p for v, p in distribution.items())


def test_logprobs_against_a_server_that_returns_them_and_json_on_the_same_server(tmp_path: Path) -> None:
    with FakeServer() as server:
        server.rating_distribution = {"2": 0.2, "3": 0.5, "4": 0.3}
        weighted = judge_file(tmp_path, "weighted", spec=f"openai:judge@{server.url}", method="logprobs")
        result = run("annotate", "-c", str(run_config(tmp_path, tmp_path / "w", [])), "--input", str(TINY),
                     "--judge-config", str(weighted))  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert all(b.get("logprobs") is True and b.get("top_logprobs") == 20 for b in server.bodies)
        plain = run("annotate", "-c", str(run_config(tmp_path, tmp_path / "j", [])), "--input", str(TINY),
                    "--judge", f"openai:judge@{server.url}")  # fmt: skip
        assert plain.returncode == 0, plain.stderr
    for record in feedback(tmp_path / "w"):
        for judgement in record["judgements"]:
            for rating, distribution in zip(judgement["ratings"], judgement["distributions"], strict=True):
                # the server's distribution, plus a sliver for the value it wrote where that is not in it
                assert sum(distribution.values()) == pytest.approx(1.0)
                assert float(rating) == pytest.approx(expectation(distribution), abs=0.005)
                assert abs(float(rating) - 3.1) < 0.01
    for record in feedback(tmp_path / "j"):
        assert all(a["rating"] in {"1", "2", "3", "4", "5"} for a in record["annotations"])
        assert all(j["distributions"] is None for j in record["judgements"])


def test_a_logprobs_judge_on_a_backend_without_them_is_one_line(tmp_path: Path) -> None:
    judge = judge_file(tmp_path, "claude", spec="anthropic:claude-x@http://127.0.0.1:9", method="logprobs")
    result = run("annotate", "-c", str(run_config(tmp_path, tmp_path / "a", [])), "--input", str(TINY),
                 "--judge-config", str(judge), ANTHROPIC_API_KEY="sk-ant-test")  # fmt: skip
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "the logprobs method needs log-probabilities, which the anthropic backend does not return" in result.stderr
    assert not (tmp_path / "a" / "feedback").exists()
    bad = judge_file(tmp_path, "bad", spec="openai:x@http://127.0.0.1:9/v1", method="vibes")
    result = run("judge-eval", "--labels", str(PAIRS), "--judge-config", str(bad), "--out", str(tmp_path / "e"))
    assert result.returncode == 2 and f"{bad}:1: field 'method': unknown method 'vibes'" in result.stderr


def test_judges_compared_side_by_side_and_measured_against_tests(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    records = []
    for i in range(3):
        responses = {"good": f"def f(x):\n    return x + {i}", "bad": "def f(x):\n    return None", "prose": "Use +."}
        records.append(GenerationRecord(
            id=f"r{i}", instruction=f"Add {i} to x.", preference="style", models=list(responses),
            responses=[Response(model=m, response=t) for m, t in responses.items()],
            executions=[Execution(model="good", status="passed", passed=2, total=2),
                        Execution(model="bad", status="failed", passed=0, total=2, reason="test 1: AssertionError"),
                        Execution(model="prose", status="not_executed", reason="no code")],
        ))  # fmt: skip
    (folder / "executions.jsonl").write_text("".join(json.dumps(r.model_dump()) + "\n" for r in records))
    with FakeServer() as server:
        rater = judge_file(tmp_path, "rater", spec=f"openai:r@{server.url}")
        comparer = judge_file(tmp_path, "comparer", spec=f"openai:c@{server.url}", method="pairwise")
        result = run("judge-eval", "--labels", str(folder), "--judge-config", str(rater), "--judge-config",
                     str(comparer), "--out", str(tmp_path / "e"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| judge | method | agreement_with_ties") and len(lines) == 5
    assert lines[2].startswith("| rater | json |") and lines[3].startswith("| comparer | pairwise |")
    for name in ("rater", "comparer"):
        report = json.loads((tmp_path / "e" / f"{name}.json").read_text())
        assert report["pairs"] == 3  # one passing against one failing response per record; prose is not executed
        assert {v["label"] for v in report["verdicts"]} <= {"a", "b"} and report["unreadable"] == 0
    assert (tmp_path / "e" / "comparison.md").read_text() == "\n".join(lines[:4]) + "\n"


def test_each_method_on_the_embedded_model(tmp_path: Path, gguf_path: str) -> None:
    # logprobs: ratings are the expectation of the stored distribution, never N/A for a constrained answer
    out = tmp_path / "lp"
    result = run("annotate", "-c", str(run_config(tmp_path, out, [])), "--input", str(TINY), "--judge-config",
                 "embedded-logprobs")  # fmt: skip
    assert result.returncode == 0, result.stderr
    for record in feedback(out):
        [judgement] = record["judgements"]
        assert judgement["error"] is None and len(judgement["distributions"]) == len(record["models"])
        for rating, distribution in zip(judgement["ratings"], judgement["distributions"], strict=True):
            assert rating != NA and set(distribution) <= {"1", "2", "3", "4", "5"}
            assert sum(distribution.values()) == pytest.approx(1.0)
            assert float(rating) == pytest.approx(expectation(distribution), abs=0.005)
    # json: the same command, the demo's judge, whole ratings
    result = run("annotate", "-c", str(run_config(tmp_path, tmp_path / "js", [])), "--input", str(TINY),
                 "--judge-config", "embedded")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert all(a["rating"] in {"1", "2", "3", "4", "5"} for r in feedback(tmp_path / "js") for a in r["annotations"])
    # pairwise: both orders of every labelled pair, every verdict readable
    result = run("judge-eval", "--labels", str(PAIRS), "--judge-config", "embedded", "--method", "pairwise",
                 "--max-tokens", "96", "--out", str(tmp_path / "pw"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "pw" / "gemma3-270m-judge.json").read_text())
    assert report["method"] == "pairwise" and report["unreadable"] == 0
    assert all(v["forward"] in {"a", "b", "tie"} and v["backward"] in {"a", "b", "tie"} for v in report["verdicts"])


def test_codal_grades_weighted_on_the_ten_point_scale_with_the_embedded_model(tmp_path: Path, gguf_path: str) -> None:
    """Gemma writes "10" as "1", "0": the probability of "1" is split by asking what follows it."""
    from codeuf.train.loop import BUILTIN_BENCH

    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(BUILTIN_BENCH.read_text().splitlines(keepends=True)[:3]))
    out = tmp_path / "answers"
    assert run("codal", "answer", "--model", "llamacpp:default", "--bench", str(bench), "--out", str(out),
               "--max-tokens", "32").returncode == 0  # fmt: skip
    result = run("codal", "grade", "--answers", str(out), "--judge-config", "embedded-logprobs")
    assert result.returncode == 0, result.stderr
    grades = [json.loads(x) for x in (out / "grades" / "gemma3-270m-logprobs.jsonl").read_text().splitlines()]
    assert len(grades) == 3
    for grade in grades:
        distribution = grade["distribution"]
        assert grade["rating"] != NA and set(distribution) <= {str(i) for i in range(1, 11)}
        assert sum(distribution.values()) == pytest.approx(1.0)
        assert float(grade["rating"]) == pytest.approx(expectation(distribution), abs=0.005)
        if distribution.get("1", 0) > 1e-3:  # some mass on "1": its share of "10" was asked for
            assert "10" in distribution


def test_a_pairwise_judge_checks_the_pairs_of_binarize(tmp_path: Path) -> None:
    import re

    def lexicographic(req: dict) -> str | None:
        """A position-free judge: the answer that sorts first wins."""
        prompt = req["messages"][-1]["content"]
        match = re.search(r"## Answer A\n(.*)\n\n## Answer B\n(.*)\n\nAnswer with one JSON", prompt, re.DOTALL)
        if not match:
            return None
        return json.dumps({"winner": "A" if match.group(1) < match.group(2) else "B", "rationale": "sorted"})

    with FakeServer() as server:
        server.script = lexicographic
        config = run_config(tmp_path, tmp_path / "b", [])
        values = yaml.safe_load(config.read_text())
        values["pair_check"] = {"spec": f"openai:checker@{server.url}", "name": "checker", "method": "pairwise"}
        values["test_fraction"] = 0.0
        config.write_text(yaml.safe_dump(values))
        result = run("binarize", "-c", str(config), "--input", str(TINY))
        assert result.returncode == 0, result.stderr
        plain = run("binarize", "-c", str(run_config(tmp_path, tmp_path / "p", [])), "--input", str(TINY),
                    "--out", str(tmp_path / "p"))  # fmt: skip
        assert plain.returncode == 0, plain.stderr
    unchecked = [json.loads(x) for x in (tmp_path / "p/binarized/train.jsonl").read_text().splitlines()]
    kept = [json.loads(x) for x in (tmp_path / "b/binarized/train.jsonl").read_text().splitlines()]
    expected = [r["id"] for r in unchecked if r["chosen"] < r["rejected"]]
    assert [r["id"] for r in kept] == expected and all(r["pair_check"] == "checker" for r in kept)
    assert len(expected) < len(unchecked) or not unchecked
    card = (tmp_path / "b/binarized/README.md").read_text()
    assert f"pair check by checker (pairwise, both orders): {len(expected)} pairs confirmed" in card
    bad = yaml.safe_load(config.read_text())
    bad["pair_check"]["method"] = "json"
    config.write_text(yaml.safe_dump(bad))
    result = run("binarize", "-c", str(config), "--input", str(TINY))
    assert result.returncode == 2 and "its method must be pairwise, not json" in result.stderr
