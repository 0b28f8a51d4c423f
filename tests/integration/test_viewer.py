"""`codeuf view` on a real run (made by `codeuf run` against a scripted server on 127.0.0.1), in headless
Chromium driven over the DevTools protocol: the page opens, a filter is clicked, the counts shown match the
data, the URL keeps the filter, and a screenshot is taken. The self-contained HTML works with the network off."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cdp import CHROMIUM, Browser
from tests.conftest import CODEUF, cli_env
from tests.fakeserver import FakeServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs it)"),
]

TASKS = {json.loads(line)["entry_point"]: json.loads(line) for line in
         (Path(__file__).parents[2] / "src/codeuf/data/builtin/tasks.jsonl").read_text().splitlines()}  # fmt: skip


def scripted(req: dict[str, Any]) -> str | None:
    text = req["messages"][-1]["content"]
    if req.get("response_format"):  # the judge: unreadable on one task, else the fake server's schema values
        return "I would rather not rate these." if "second_largest" in text else None
    task = next((t for name, t in TASKS.items() if f"`{name}" in text), None)
    if task is None:
        return None
    if req.get("model") == "good":
        return f"Here:\n\n```python\n{task['solution']}```\n"
    if req.get("model") == "mutant":
        mutant = task["solution"].replace("return ", "return 'mutated' if True else ", 1)
        return f"Here:\n\n```python\n{mutant}```\n"
    return "Think about it step by step, then write it."


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("view")
    with FakeServer() as server:
        server.script = scripted
        config = {"source": "builtin:tasks", "n": 12, "out": str(root / "run"), "models_per_instruction": 3,
                  "orders": 2, "pool": {m: {"spec": f"openai:{m}@{server.url}"} for m in ("good", "mutant", "prose")},
                  "judges": [f"openai:judge@{server.url}"]}  # fmt: skip
        (root / "c.yaml").write_text(yaml.safe_dump(config))
        done = subprocess.run([*CODEUF, "run", str(root / "c.yaml")], env=cli_env(), capture_output=True, text=True,
                              timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr
    return root / "run"


def records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run / "feedback" / "train.jsonl").read_text().splitlines()]


def flipped_records(rows: list[dict[str, Any]]) -> int:
    from codeuf.data.schema import FeedbackRecord
    from codeuf.stages.annotate import flip_rate

    return sum(flip_rate([FeedbackRecord.model_validate(r)])["flips"] > 0 for r in rows)


def test_the_viewer_opens_filters_by_a_click_and_its_counts_match_the_data(run_folder: Path, tmp_path: Path) -> None:
    rows = records(run_folder)
    with_na = sum(any(a["rating"] == "N/A" for a in r["annotations"])
                  or any(x == "N/A" for j in r["judgements"] for x in j["ratings"]) for r in rows)  # fmt: skip
    assert 0 < with_na < len(rows)  # the data holds both, so the filter has something to do
    server = subprocess.Popen([*CODEUF, "view", str(run_folder), "--no-open"], env=cli_env(), stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert server.stdout is not None
        url = re.search(r"http://127\.0\.0\.1:\d+/", server.stdout.readline()).group(0)  # type: ignore[union-attr]
        with Browser(tmp_path / "profile") as browser:
            browser.open(url)
            browser.wait_for("document.body.dataset.rendered")
            assert browser.eval("document.getElementById('shown').textContent") == str(len(rows))
            assert browser.eval("document.querySelectorAll('article.record').length") == min(20, len(rows))
            assert browser.eval("document.querySelectorAll('#plots svg').length") >= 4
            before = browser.eval("document.body.dataset.rendered")
            browser.eval("document.getElementById('f-na').click()")
            browser.wait_for(f"document.body.dataset.rendered !== '{before}'")
            assert browser.eval("document.getElementById('shown').textContent") == str(with_na)
            assert browser.eval("location.hash") == "#na=1"  # the URL keeps the filter: a view can be shared
            shot = browser.screenshot(tmp_path / "viewer.png")
            assert shot.stat().st_size > 20_000
            # a preference filter from the URL alone, and a search answered by the server
            preference = rows[0]["preference"]
            browser.open(f"{url}#preference={preference}")
            browser.wait_for(f"document.getElementById('f-preference').value === '{preference}' && "
                             f"document.getElementById('shown').textContent === "
                             f"'{sum(r['preference'] == preference for r in rows)}'")  # fmt: skip
            word = "mutated"  # only in the mutant's responses
            browser.open(f"{url}#q={word}")
            mutants = sum(any(word in x["response"] for x in r["responses"]) for r in rows)
            assert mutants > 0
            browser.wait_for(f"document.getElementById('shown').textContent === '{mutants}'")
    finally:
        server.terminate()
        server.wait(10)


def test_the_self_contained_html_works_with_the_network_off(run_folder: Path, tmp_path: Path) -> None:
    page = tmp_path / "view.html"
    done = subprocess.run([*CODEUF, "view", str(run_folder), "--html", str(page)], env=cli_env(), capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    html = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']https?:""", html)  # nothing is fetched
    rows = records(run_folder)
    # no network at all: every request goes to a closed port
    with Browser(tmp_path / "profile", ("--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>")) as browser:
        browser.open(page.as_uri())
        browser.wait_for("document.body.dataset.rendered")
        assert browser.eval("document.getElementById('shown').textContent") == str(len(rows))
        before = browser.eval("document.body.dataset.rendered")
        browser.eval("document.getElementById('f-flipped').click()")
        browser.wait_for(f"document.body.dataset.rendered !== '{before}'")
        assert browser.eval("document.getElementById('shown').textContent") == str(flipped_records(rows))
        assert browser.eval("document.querySelectorAll('.hl pre').length") > 0  # code is highlighted


def test_the_run_holds_every_kind_of_record_the_filters_look_for(run_folder: Path) -> None:
    """The filters above are tested on data that has something for each to find and to leave out."""
    rows = records(run_folder)
    assert 0 < flipped_records(rows) < len(rows)
    statuses = {e["status"] for r in rows for e in r["executions"]}
    assert {"passed", "failed", "not_executed"} <= statuses


def test_a_dataset_in_the_released_schema_opens_too(tmp_path: Path) -> None:
    """coseal/CodeUltraFeedback's own schema (here its first rows as a file; a hub id loads the same way)."""
    released = Path(__file__).parents[1] / "data" / "codeultrafeedback_tiny.jsonl"
    page = tmp_path / "released.html"
    done = subprocess.run([*CODEUF, "view", str(released), "--html", str(page)], env=cli_env(), capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = released.read_text().splitlines()
    with Browser(tmp_path / "profile") as browser:
        browser.open(page.as_uri())
        browser.wait_for("document.body.dataset.rendered")
        assert browser.eval("document.getElementById('shown').textContent") == str(len(rows))
        responses = sum(len(json.loads(row)["responses"]) for row in rows)
        assert browser.eval("document.querySelectorAll('.response').length") == responses
