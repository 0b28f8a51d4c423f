"""Dataset construction end to end: the embedded model, a loopback server, kills and resumes."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from codeuf.config import JudgeConfig, PoolModel, RunConfig
from codeuf.stages.pipeline import run_pipeline
from tests.conftest import CODEUF, cli_env
from tests.fakeserver import FakeServer

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
RELEASED_FEEDBACK = {"instruction", "preference", "models", "responses", "annotations"}
RELEASED_BINARIZED = RELEASED_FEEDBACK | {
    "chosen", "rejected", "rating_chosen", "rating_rejected", "model_chosen", "model_rejected",
}  # fmt: skip


def server_config(url: str, out: Path, n: int = 10, **extra: object) -> dict:
    return {
        "n": n,
        "seed": 7,
        "pool": {f"model-{i}": {"spec": f"openai:model-{i}@{url}", "max_tokens": 32} for i in range(5)},
        "judges": [{"spec": f"openai:judge@{url}", "name": "judge"}],
        "out": str(out),
        "concurrency": 4,
        "test_fraction": 0.2,
        **extra,
    }


def check_outputs(out: Path) -> None:
    import datasets

    feedback = datasets.load_from_disk(str(out / "feedback" / "hf"))["train"]
    assert set(feedback.column_names) >= RELEASED_FEEDBACK
    for row in feedback:
        for annotation in row["annotations"]:  # a rating, a mean of ratings, or N/A: never anything else
            rating = annotation["rating"]
            assert rating == "N/A" or 1.0 <= float(rating) <= 5.0, rating
        assert [r["model"] for r in row["responses"]] == row["models"]
    binarized = datasets.load_from_disk(str(out / "binarized" / "hf"))
    assert set(binarized["train"].column_names) >= RELEASED_BINARIZED
    trl = datasets.load_from_disk(str(out / "binarized_trl" / "hf"))
    assert {"prompt", "chosen", "rejected"} <= set(trl["train"].column_names)
    assert trl["train"][0]["prompt"][0]["role"] == "user"
    for folder in ("feedback", "binarized", "binarized_trl"):
        assert (out / folder / "README.md").read_text().startswith("---\n")
    assert (out / "binarized" / "train.parquet").exists()


def test_embedded_end_to_end_and_rerun_is_free(tmp_path: Path, gguf_path: str) -> None:
    config = RunConfig(
        n=2,
        pool={
            "greedy": PoolModel(spec="llamacpp:default", temperature=0, max_tokens=24),
            "sampled": PoolModel(spec="llamacpp:default", temperature=0.8, max_tokens=24),
            "alpaca": PoolModel(spec="llamacpp:default", format="alpaca", temperature=0.3, max_tokens=24),
        },
        models_per_instruction=3,
        judges=[JudgeConfig(spec="llamacpp:default", max_tokens=200, rationale_chars=24)],
        out=tmp_path / "run",
    )
    summary = run_pipeline(config)
    assert summary.feedback["records"] == 2 and summary.feedback["annotations"] == 6
    assert summary.feedback["na"] == 0, "constrained judge output must always parse"
    assert summary.stages["generate"]["calls"] == 6 and summary.stages["annotate"]["calls"] == 2
    check_outputs(tmp_path / "run")
    again = run_pipeline(config)
    assert again.stages["generate"]["calls"] == 0 and again.stages["annotate"]["calls"] == 0
    assert again.binarized == summary.binarized


def test_loopback_pool_same_seed_same_dataset(tmp_path: Path) -> None:
    with FakeServer() as server:
        first = run_pipeline(RunConfig.model_validate(server_config(server.url, tmp_path / "a", orders=2)))
        second = run_pipeline(RunConfig.model_validate(server_config(server.url, tmp_path / "b", orders=2)))
    check_outputs(tmp_path / "a")
    for name in ("binarized/train.jsonl", "binarized/test.jsonl", "feedback/train.jsonl"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text(), name
    assert first.feedback["per_preference"] == dict.fromkeys(
        ["instruction-following", "readability", "complexity", "style", "explanation"], 2
    )
    assert first.flips["comparable_pairs"] > 0 and first.flips["flip_rate"] is not None
    assert first.binarized["test"] >= 1 and first.binarized == second.binarized
    models = {m for row in map(json.loads, (tmp_path / "a/feedback/train.jsonl").read_text().splitlines())
              for m in row["models"]}  # fmt: skip
    assert len(models) == 5


def wait_for(predicate, seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + seconds
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("stage", ["generate", "annotate"])
def test_kill_in_a_stage_then_resume(tmp_path: Path, stage: str) -> None:
    with FakeServer(latency=0.05) as server:
        config = tmp_path / "c.yaml"
        config.write_text(yaml.safe_dump(server_config(server.url, tmp_path / "run", concurrency=2)))
        proc = subprocess.Popen([*CODEUF, "run", str(config)], env=cli_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)  # fmt: skip

        def judged() -> int:
            return sum(1 for b in server.bodies if "response_format" in b)

        if stage == "generate":
            wait_for(lambda: sum(server.completed.values()) >= 12)
        else:
            wait_for(lambda: judged() >= 4)
        server.holding = True
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        server.holding = False
        time.sleep(0.2)
        assert not (tmp_path / "run" / "binarized").exists()
        rerun = subprocess.run(
            [*CODEUF, "run", str(config)], env=cli_env(), capture_output=True, text=True, timeout=120
        )
        assert rerun.returncode == 0, rerun.stderr
        assert max(server.completed.values()) == 1, "a completed call was made twice"
    with FakeServer() as clean:
        reference = run_pipeline(RunConfig.model_validate(server_config(clean.url, tmp_path / "ref", concurrency=2)))
    for name in ("binarized/train.jsonl", "binarized/test.jsonl"):
        assert (tmp_path / "run" / name).read_text() == (tmp_path / "ref" / name).read_text()
    assert reference.binarized["pairs"] > 0


def test_released_schema_file_reannotates_and_binarizes(tmp_path: Path) -> None:
    tiny = REPO / "tests" / "data" / "codeultrafeedback_tiny.jsonl"
    with FakeServer() as server:
        out = tmp_path / "re"
        annotate = subprocess.run(
            [*CODEUF, "annotate", "--input", str(tiny), "--out", str(out), "--judge", f"openai:judge@{server.url}"],
            env=cli_env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert annotate.returncode == 0, annotate.stderr
        judged = [b for b in server.bodies if "response_format" in b]
        assert len(judged) == 3
    binarize = subprocess.run([*CODEUF, "binarize", "--out", str(out), "--ties", "keep"], env=cli_env(),
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    assert binarize.returncode == 0, binarize.stderr
    rows = [json.loads(x) for x in (out / "feedback" / "train.jsonl").read_text().splitlines()]
    assert [r["instruction"] for r in rows] == [json.loads(x)["instruction"] for x in tiny.read_text().splitlines()]
    assert all(len(r["annotations"]) == len(r["models"]) for r in rows)
    assert (
        sum(1 for _ in (out / "binarized" / "train.jsonl").open())
        + sum(1 for _ in (out / "binarized" / "test.jsonl").open())
        == 3
    )


def test_bad_source_is_one_line(tmp_path: Path) -> None:
    source = tmp_path / "src.jsonl"
    source.write_bytes(b'{"prompt": "x"}\n')
    result = subprocess.run([*CODEUF, "instructions", "--source", str(source), "--out", str(tmp_path / "o")],
                            env=cli_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert f"{source}:1: field 'instruction'" in result.stderr
    assert not (tmp_path / "o").exists()


def test_saved_folder_is_an_input_and_push_failure_is_one_line(tmp_path: Path) -> None:
    from codeuf.data.schema import FeedbackRecord
    from codeuf.data.sources import load_records

    tiny = REPO / "tests" / "data" / "codeultrafeedback_tiny.jsonl"
    out = tmp_path / "b"
    first = subprocess.run([*CODEUF, "binarize", "--input", str(tiny), "--out", str(out)], env=cli_env(),
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert len(load_records(out / "binarized", FeedbackRecord)) == 2  # a saved DatasetDict folder reads back
    pushed = subprocess.run(
        [*CODEUF, "binarize", "--input", str(tiny), "--out", str(out), "--push-to-hub", "someone/x"],
        env=cli_env(HF_HUB_OFFLINE="1", HF_TOKEN="hf_codeufsecrettoken123"), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert pushed.returncode == 1 and "cannot push" in pushed.stderr
    errors = [line for line in pushed.stderr.strip().splitlines() if not line.startswith("warning: ")]
    assert len(errors) == 1 and "codeufsecret" not in pushed.stderr  # one error line, beside codeuf's warnings
