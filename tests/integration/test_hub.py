"""The Hugging Face Hub both ways, against a hub written in the test suite on 127.0.0.1
(`tests/fakehub.py`): `--push-to-hub` uploads the dataset and codeuf's card; a hub dataset is a source."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CODEUF, cli_env
from tests.fakehub import FakeHub

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
    assert repo.commits[-1] == "Dataset card written by codeuf"

    assert hub.requests and not any(TOKEN.encode() in r.body for r in hub.requests)
    writes = [r for r in hub.requests if r.path.endswith(("/repos/create", "/preupload/main", "/commit/main"))]
    assert writes and all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in writes)
    assert TOKEN not in done.stdout + done.stderr
    assert done.stderr == ""  # no progress bars or library chatter when not on a terminal


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
    pushed = subprocess.run(
        [*CODEUF[:1], "-c", "import datasets, json, sys; "
         "datasets.Dataset.from_list([json.loads(l) for l in open(sys.argv[1])]).push_to_hub('someone/feedback')",
         str(TINY)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    from_hub = codeuf("binarize", "--input", "someone/feedback", "--out", str(tmp_path / "hub"), env=env)
    from_file = codeuf("binarize", "--input", str(TINY), "--out", str(tmp_path / "file"), env=env)
    assert from_hub.returncode == 0 and from_file.returncode == 0, from_hub.stderr + from_file.stderr
    hub_pairs = (tmp_path / "hub" / "binarized" / "train.jsonl").read_text()
    assert hub_pairs == (tmp_path / "file" / "binarized" / "train.jsonl").read_text()
    assert len(hub_pairs.splitlines()) == 2 and len(rows) >= 2
    assert any(r.path.startswith("/datasets/someone/feedback/resolve/") for r in hub.requests)  # read from the hub


def test_a_refused_push_is_one_line_without_the_token(hub: FakeHub, tmp_path: Path) -> None:
    hub.fail["commit"] = (403, 100)
    done = codeuf("binarize", "--input", str(TINY), "--out", str(tmp_path / "b"), "--push-to-hub", "someone/x",
                  env=hub_env(hub, tmp_path))  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot push" in lines[0] and "someone/x" in lines[0] and "403" in lines[0]
    assert TOKEN not in done.stderr and "codeufsecret" not in done.stderr
    assert (tmp_path / "b" / "binarized" / "train.jsonl").exists()  # the local dataset is kept
