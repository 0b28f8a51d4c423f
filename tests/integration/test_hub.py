"""The Hugging Face Hub both ways, against a hub written in the test suite on 127.0.0.1
(`tests/fakehub.py`): `--push-to-hub` uploads the dataset and codeuf's card; a hub dataset is a source."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CODEUF, cli_env
from tests.fakehub import FakeHub
from tests.fakeserver import FakeServer

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "data" / "codeultrafeedback_tiny.jsonl"
TOKEN = "hf_codeufsecrettoken123"


@pytest.fixture
def hub(tmp_path: Path) -> FakeHub:
    with FakeHub() as hub:
        yield hub


def hub_env(hub: FakeHub, tmp_path: Path) -> dict[str, str]:
    return cli_env(**hub.env(), HF_TOKEN=TOKEN, HF_HOME=str(tmp_path / "hf_home"))


def codeuf(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CODEUF, *args], env=env, capture_output=True, text=True, timeout=300)


def upload(rows: Path, repo: str, split: str, env: dict[str, str]) -> None:
    """A JSONL file pushed to the hub by `datasets` itself, in a process pointed at the test-suite hub."""
    script = (
        "import datasets, json, sys; rows = [json.loads(line) for line in open(sys.argv[1])]; "
        "datasets.DatasetDict({sys.argv[3]: datasets.Dataset.from_list(rows)}).push_to_hub(sys.argv[2])"
    )
    done = subprocess.run([*CODEUF[:1], "-c", script, str(rows), repo, split], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr


def parquet_rows(data: bytes, tmp_path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    path = tmp_path / "shard.parquet"
    path.write_bytes(data)
    return pq.read_table(path).to_pylist()


def test_push_uploads_the_rows_and_codeufs_card_and_never_the_token(hub: FakeHub, tmp_path: Path) -> None:
    out = tmp_path / "b"
    done = codeuf("binarize", "--input", str(TINY), "--out", str(out), "--push-to-hub", "someone/prefs",
                  env=hub_env(hub, tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr

    repo = hub.repos["someone/prefs"]
    shards = [p for p in repo.files if p.startswith("data/train-") and p.endswith(".parquet")]
    assert len(shards) == 1
    local = [json.loads(line) for line in (out / "binarized" / "train.jsonl").read_text().splitlines()]
    uploaded = parquet_rows(repo.files[shards[0]], tmp_path)
    assert [(r["instruction"], r["chosen"], r["rejected"]) for r in uploaded] == [
        (r["instruction"], r["chosen"], r["rejected"]) for r in local
    ]
    card = repo.files["README.md"].decode()
    ours = (out / "binarized" / "README.md").read_text()
    assert card.split("\n---\n", 1)[1].strip() == ours.split("\n---\n", 1)[1].strip()  # codeuf's text
    header = card.split("\n---\n", 1)[0]
    assert "pretty_name: CodeUltraFeedback-style binarized preferences" in header  # codeuf's keys
    assert "dataset_info:" in header and "configs:" in header  # and those describing the shards
    assert repo.commits[-1] == "Dataset card written by codeuf" and not repo.private

    assert hub.requests and not any(TOKEN.encode() in r.body for r in hub.requests)
    writes = [r for r in hub.requests if r.path.endswith(("/repos/create", "/preupload/main", "/commit/main"))]
    assert writes and all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in writes)
    assert TOKEN not in done.stdout + done.stderr
    # no progress bars or library chatter when not on a terminal: codeuf's own warnings on the tiny data only
    assert all(line.startswith("warning: ") for line in done.stderr.splitlines()), done.stderr


def test_run_pushes_the_feedback_and_the_pairs_as_released(hub: FakeHub, tmp_path: Path) -> None:
    """`codeuf run --push-to-hub REPO`: the feedback to REPO and the pairs to REPO_binarized, train and test."""
    import yaml

    from tests.integration.test_pipeline import server_config

    with FakeServer() as server:
        config = tmp_path / "run.yaml"
        config.write_text(yaml.safe_dump(server_config(server.url, tmp_path / "run", n=20, test_fraction=0.25)))
        done = codeuf("run", str(config), "--push-to-hub", "someone/cuf", env=hub_env(hub, tmp_path))
    assert done.returncode == 0, done.stderr
    assert "pushed: someone/cuf, someone/cuf_binarized" in done.stdout
    feedback, pairs = hub.repos["someone/cuf"].files, hub.repos["someone/cuf_binarized"].files
    assert [p for p in feedback if p.endswith(".parquet")] == ["data/train-00000-of-00001.parquet"]
    assert sorted(p for p in pairs if p.endswith(".parquet")) == [
        "data/test-00000-of-00001.parquet", "data/train-00000-of-00001.parquet"]  # fmt: skip
    for files, folder in ((feedback, "feedback"), (pairs, "binarized")):
        local = (tmp_path / "run" / folder / "README.md").read_text().split("\n---\n", 1)[1]
        assert files["README.md"].decode().split("\n---\n", 1)[1] == local
        for split_file in (tmp_path / "run" / folder).glob("*.jsonl"):
            rows = parquet_rows(files[f"data/{split_file.stem}-00000-of-00001.parquet"], tmp_path)
            assert len(rows) == len(split_file.read_text().splitlines()) > 0


def test_private_makes_a_private_repo(hub: FakeHub, tmp_path: Path) -> None:
    done = codeuf("binarize", "--input", str(TINY), "--out", str(tmp_path / "b"), "--push-to-hub", "someone/secret",
                  "--private", env=hub_env(hub, tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert hub.repos["someone/secret"].private


def test_push_again_replaces_the_shards_and_keeps_one_card(hub: FakeHub, tmp_path: Path) -> None:
    env = hub_env(hub, tmp_path)
    for _ in range(2):
        done = codeuf("binarize", "--input", str(TINY), "--out", str(tmp_path / "b"), "--push-to-hub", "someone/p",
                      env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
    files = sorted(hub.repos["someone/p"].files)
    assert files == [".gitattributes", "README.md", "data/train-00000-of-00001.parquet"]


def test_a_hub_dataset_is_a_source_like_a_local_file(hub: FakeHub, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in TINY.read_text().splitlines()]
    env = hub_env(hub, tmp_path)
    upload(TINY, "someone/feedback", "train", env)
    from_hub = codeuf("binarize", "--input", "someone/feedback", "--out", str(tmp_path / "hub"), env=env)
    from_file = codeuf("binarize", "--input", str(TINY), "--out", str(tmp_path / "file"), env=env)
    assert from_hub.returncode == 0 and from_file.returncode == 0, from_hub.stderr + from_file.stderr
    # no progress bars or library warnings off a terminal: codeuf's own warnings on the tiny data only
    assert all(line.startswith("warning: ") for line in from_hub.stderr.splitlines()), from_hub.stderr
    hub_pairs = (tmp_path / "hub" / "binarized" / "train.jsonl").read_text()
    assert hub_pairs == (tmp_path / "file" / "binarized" / "train.jsonl").read_text()
    assert len(hub_pairs.splitlines()) == 2 and len(rows) >= 2
    assert any(r.path.startswith("/datasets/someone/feedback/resolve/") for r in hub.requests)  # read from the hub


def test_a_missing_hub_dataset_is_one_line(hub: FakeHub, tmp_path: Path) -> None:
    done = codeuf("binarize", "--input", "someone/missing", "--out", str(tmp_path / "b"), env=hub_env(hub, tmp_path))
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "cannot load 'someone/missing'" in line and "DatasetNotFoundError" in line and TOKEN not in line
    assert not (tmp_path / "b").exists()


def test_codal_answer_reads_coseal_codal_bench_from_the_hub_by_default(hub: FakeHub, tmp_path: Path) -> None:
    """Without --bench, CODAL-Bench is `coseal/codal-bench`, split `test`, as a user online would get it."""
    bench = REPO / "src" / "codeuf" / "data" / "builtin" / "codal_mini.jsonl"
    env = hub_env(hub, tmp_path)
    script = (
        "import datasets, json, sys; rows = [json.loads(l) for l in open(sys.argv[1])]; "
        "datasets.DatasetDict({'test': datasets.Dataset.from_list(rows)}).push_to_hub('coseal/codal-bench')"
    )
    pushed = subprocess.run([*CODEUF[:1], "-c", script, str(bench)], env=env, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    with FakeServer() as server:
        done = codeuf("codal", "answer", "--model", f"openai:coder@{server.url}", "--out", str(tmp_path / "a"),
                      env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in (tmp_path / "a" / "answers.jsonl").read_text().splitlines()]
    instructions = [json.loads(line)["instruction"] for line in bench.read_text().splitlines()]
    assert len(answers) == len(instructions) == 10 and all(a["error"] is None for a in answers)
    sent = [b["messages"][-1]["content"] for b in server.bodies]
    assert all(any(instruction in text for text in sent) for instruction in instructions)  # each item asked


def test_a_refused_push_is_one_line_without_the_token(hub: FakeHub, tmp_path: Path) -> None:
    hub.fail["commit"] = (403, 100)
    done = codeuf("binarize", "--input", str(TINY), "--out", str(tmp_path / "b"), "--push-to-hub", "someone/x",
                  env=hub_env(hub, tmp_path))  # fmt: skip
    assert done.returncode == 1
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and "cannot push" in lines[0] and "someone/x" in lines[0] and "403" in lines[0]
    assert TOKEN not in done.stderr and "codeufsecret" not in done.stderr
    assert (tmp_path / "b" / "binarized" / "train.jsonl").exists()  # the local dataset is kept


def test_the_viewer_opens_a_hub_dataset_in_the_released_schema(hub: FakeHub, tmp_path: Path) -> None:
    env = hub_env(hub, tmp_path)
    upload(TINY, "coseal/tiny-feedback", "train", env)
    page = tmp_path / "view.html"
    done = codeuf("view", "coseal/tiny-feedback", "--html", str(page), env=env)
    assert done.returncode == 0, done.stderr
    html = page.read_text()
    for row in map(json.loads, TINY.read_text().splitlines()):
        assert json.dumps(row["instruction"])[1:30] in html  # every record is in the page
