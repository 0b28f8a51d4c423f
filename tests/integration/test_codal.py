"""CODAL-Bench end to end: the embedded model, a loopback server, and the HTML in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CODEUF, cli_env
from tests.fakeserver import FakeServer

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "src" / "codeuf" / "data" / "builtin" / "codal_mini.jsonl"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def codeuf(*args: str, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run([*CODEUF, *args], env=cli_env(**env), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}"]  # fmt: skip
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def embedded_report(tmp_path_factory: pytest.TempPathFactory, gguf_path: str) -> Path:
    root = tmp_path_factory.mktemp("codal")
    for name, extra in (("gemma", []), ("gemma-alpaca", ["--format", "alpaca"])):
        codeuf("codal", "answer", "--model", "llamacpp:default", "--name", name, "--bench", str(BENCH),
               "--out", str(root / name), "--max-tokens", "48", *extra)  # fmt: skip
        codeuf("codal", "grade", "--answers", str(root / name), "--judge", "llamacpp:default",
               "--max-tokens", "120", "--rationale-chars", "40")  # fmt: skip
    codeuf("codal", "report", str(root / "gemma"), str(root / "gemma-alpaca"), "--out", str(root / "report"),
           "--html", str(root / "report" / "report.html"))  # fmt: skip
    return root


def test_embedded_answers_grades_and_report(embedded_report: Path) -> None:
    answers = [json.loads(x) for x in (embedded_report / "gemma" / "answers.jsonl").read_text().splitlines()]
    assert len(answers) == 10 and all(a["error"] is None and a["answer"] for a in answers)
    grades = [
        json.loads(x) for x in next((embedded_report / "gemma" / "grades").glob("*.jsonl")).read_text().splitlines()
    ]
    assert len(grades) == 10 and all(g["rating"] in {str(i) for i in range(1, 11)} for g in grades)  # constrained
    report = json.loads((embedded_report / "report" / "report.json").read_text())
    assert [s["model"] for s in report["scores"]] == ["gemma", "gemma-alpaca"]
    for score in report["scores"]:
        overall = score["overall"]
        assert overall["n"] == 10 and overall["ci_low"] <= overall["value"] <= overall["ci_high"]
    assert report["comparisons"][0]["overall"]["n"] == 10
    assert (embedded_report / "report" / "report.csv").read_text().startswith("model,judge,scope,mean")


def test_rerun_makes_no_calls(embedded_report: Path) -> None:
    before = (embedded_report / "gemma" / "answers.jsonl").read_text()
    result = codeuf("codal", "answer", "--model", "llamacpp:default", "--name", "gemma", "--bench", str(BENCH),
                    "--out", str(embedded_report / "gemma"), "--max-tokens", "48")  # fmt: skip
    assert result.returncode == 0 and "10 of 10 answers" in result.stdout
    assert (embedded_report / "gemma" / "answers.jsonl").read_text() == before


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs Debian's chromium)")
def test_html_report_renders_and_matches_the_json(embedded_report: Path, tmp_path: Path) -> None:
    html = embedded_report / "report" / "report.html"
    shot = tmp_path / "shot.png"
    chromium("--window-size=1300,1000", f"--screenshot={shot}", html.as_uri(), profile=tmp_path / "p1")
    assert shot.exists() and shot.stat().st_size > 20_000
    dom = chromium("--dump-dom", html.as_uri(), profile=tmp_path / "p2").stdout
    report = json.loads((embedded_report / "report" / "report.json").read_text())
    for score in report["scores"]:
        for scope, estimate in [("overall", score["overall"]), *score["per_preference"].items()]:
            model = re.escape(score["model"])
            pattern = rf'data-model="{model}" data-judge="[^"]*" data-scope="{scope}" data-value="([^"]*)"'
            match = re.search(pattern, dom)
            assert match, (score["model"], scope)
            assert match.group(1) == ("" if estimate["value"] is None else f"{estimate['value']:.2f}")
    assert dom.count("<tr>") >= 20  # the item browser filled itself from the embedded JSON
    assert "20 of 20 items" in dom


def test_openai_compatible_server_and_several_judges(tmp_path: Path) -> None:
    with FakeServer() as server:
        out = tmp_path / "m"
        codeuf("codal", "answer", "--model", f"openai:coder@{server.url}", "--bench", str(BENCH), "--out", str(out))
        codeuf("codal", "grade", "--answers", str(out), "--judge", f"openai:judge-a@{server.url}",
               "--judge", f"openai:judge-b@{server.url}")  # fmt: skip
        sent = [b for b in server.bodies if b["model"] == "coder"]
        assert len(sent) == 10 and all(b["temperature"] == 0 and b["max_tokens"] == 1024 for b in sent)
        assert all(b["messages"][0]["content"].split("\n\n")[1] for b in sent)  # principle, then the instruction
        judged = [b["messages"][0]["content"] for b in server.bodies if b["model"].startswith("judge")]
        references = [json.loads(x)["gpt-4-turbo_response"] for x in BENCH.read_text().splitlines()]
        assert len(judged) == 20
        assert all(sum(ref in prompt for ref in references) == 1 for prompt in judged)  # its own reference, shown
    codeuf("codal", "report", str(out), "--out", str(tmp_path / "r"))
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert {s["judge"] for s in report["scores"]} == {f"openai:judge-a@{server.url}", f"openai:judge-b@{server.url}"}


def test_bad_bench_file_is_one_line(tmp_path: Path) -> None:
    bench = tmp_path / "b.jsonl"
    bench.write_text('{"instruction": "x", "preference": "speed"}\n')
    result = subprocess.run([*CODEUF, "codal", "answer", "--model", "openai:x@http://127.0.0.1:9/v1", "--bench",
                             str(bench), "--out", str(tmp_path / "o")], env=cli_env(), capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert f"{bench}:1: field 'preference'" in result.stderr and not (tmp_path / "o").exists()


def test_judge_eval_against_a_server(tmp_path: Path) -> None:
    with FakeServer() as server:
        result = codeuf("judge-eval", "--judge", f"openai:judge@{server.url}", "--labels",
                        str(REPO / "tests/data/judge_pairwise_tiny.jsonl"), "--out", str(tmp_path / "p"))  # fmt: skip
        # every pair in both orders, but the tie pair has identical answers, so both orders are one request
        assert len(server.bodies) == 11
        codeuf("judge-eval", "--judge", f"openai:judge@{server.url}", "--labels",
               str(REPO / "tests/data/judge_pointwise_tiny.jsonl"), "--out", str(tmp_path / "q"))  # fmt: skip
    pairwise = json.loads((tmp_path / "p" / "judge_eval.json").read_text())
    assert pairwise["pairs"] == 6 and pairwise["unreadable"] == 0 and pairwise["method"] == "json"
    assert result.stdout.startswith("| judge | method | agreement_with_ties |")
    assert f"| openai:judge@{server.url} | json | " in result.stdout
    # the fake judge rates by hashing its prompt: its verdicts are the same however often it is asked
    verdicts = [(v["forward"], v["backward"]) for v in pairwise["verdicts"]]
    consistent = sum(f == b for f, b in verdicts) / len(verdicts)
    assert pairwise["position_consistency"]["value"] == consistent
    assert pairwise["tie_rate"]["value"] == sum(v["verdict"] == "tie" for v in pairwise["verdicts"]) / 6
    pointwise = json.loads((tmp_path / "q" / "judge_eval.json").read_text())
    assert pointwise["items"] == 6 and len(pointwise["ratings"]) == 6 and pointwise["unreadable"] == 0


def test_judge_eval_on_the_embedded_model(tmp_path: Path, gguf_path: str) -> None:
    codeuf("judge-eval", "--judge", "llamacpp:default", "--labels", str(REPO / "tests/data/judge_pairwise_tiny.jsonl"),
           "--out", str(tmp_path / "e"), "--max-tokens", "96")  # fmt: skip
    result = json.loads((tmp_path / "e" / "judge_eval.json").read_text())
    assert result["unreadable"] == 0  # constrained verdicts always parse
    assert all(v["forward"] in {"a", "b", "tie"} for v in result["verdicts"])


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs Debian's chromium)")
def test_the_viewer_opens_a_graded_codal_folder(embedded_report: Path, tmp_path: Path) -> None:
    page = tmp_path / "codal-view.html"
    codeuf("view", str(embedded_report / "gemma"), "--html", str(page))
    dom = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "p3").stdout
    assert '<b id="shown">10</b>' in dom
    assert dom.count('class="record"') == 10
    assert "reference (gpt-4-turbo)" in dom  # the answers graded against their references, side by side
    assert '<option value="10">10</option>' in dom  # grades are 1-10


def test_eval_task_codal_answers_grades_and_reports_in_one_command(tmp_path: Path, gguf_path: str) -> None:
    out = tmp_path / "codal"
    codeuf("eval", "--task", "codal", "--model", "llamacpp:default", "--data", str(BENCH), "--max-tokens", "32",
           "--judge-config", "embedded", "--out", str(out))  # fmt: skip
    assert len((out / "answers.jsonl").read_text().splitlines()) == 10
    grades = [json.loads(x) for x in next((out / "grades").glob("*.jsonl")).read_text().splitlines()]
    assert len(grades) == 10 and all(g["rating"] in {str(i) for i in range(1, 11)} for g in grades)
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["scores"][0]["overall"]["n"] == 10
    # the same task from Python, on the same folder: everything is there, so nothing is asked again
    import codeuf as api

    before = (out / "answers.jsonl").read_text()
    scores = api.evaluate("codal", "llamacpp:default", data=BENCH, max_tokens=32, judges=["embedded"], out=out)
    assert (out / "answers.jsonl").read_text() == before
    assert scores.task == "codal" and scores.scores[0].items == 10
    assert scores.scores[0].overall.value == report["scores"][0]["overall"]["value"]
    assert set(scores.scores[0].per_preference) == set(report["scores"][0]["per_preference"])
