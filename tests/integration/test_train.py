"""SFT, DPO, KTO, ORPO, CPO and SimPO of the embedded model on the CPU, for real: two steps each, the adapter saved,
reloaded and merged, the merged model exported to GGUF and served by the llamacpp and hf backends;
and one DPO step in two processes under `accelerate launch` (gloo)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytest.importorskip("llama_cpp")
from codeuf.train.run import losses
from tests.conftest import CODEUF, cli_env
from tests.fakehub import FakeHub

pytestmark = pytest.mark.timeout(2400)  # a training subprocess may take 1800 s, the conversion 900 s

PAIRS = [
    ("Write a Python function that returns the square of a number.", "def square(x):\n    return x * x\n",
     "square"),
    ("Write a Python function that reverses a string.", "def reverse(s):\n    return s[::-1]\n", "no"),
    ("Write a Python function that sums a list of numbers.", "def total(xs):\n    return sum(xs)\n", "sum it"),
    ("Write a Python function that checks whether a number is even.", "def even(n):\n    return n % 2 == 0\n",
     "even?"),
    ("Write a Python function that returns the maximum of two numbers.", "def top(a, b):\n    return max(a, b)\n",
     "max"),
    ("Write a Python function that counts vowels in a string.",
     "def vowels(s):\n    return sum(c in 'aeiou' for c in s)\n", "count"),
]  # fmt: skip


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded model converted once, and a small binarized set in the released schema (train + test)."""
    root = tmp_path_factory.mktemp("train")
    done = subprocess.run([*CODEUF, "convert", "default", "--out", str(root / "base")], capture_output=True,
                          text=True, env=cli_env(), timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [{"instruction": q, "preference": "instruction-following", "chosen": good, "rejected": bad}
            for q, good, bad in PAIRS]  # fmt: skip
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:4]))
    (root / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[4:]))
    return root


def train(work: Path, kind: str, out: Path, *extra: str, launcher: list[str] | None = None,
          env: dict[str, str] | None = None) -> dict:  # fmt: skip
    command = [*(launcher or CODEUF), "train", kind, "--recipe", f"cpu-{kind}", "--model", str(work / "base"),
               "--dataset", str(work / "train.jsonl"), "--output_dir", str(out), *extra]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env or cli_env(), timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


def test_sft_two_steps(work: Path) -> None:
    metrics = train(work, "sft", work / "sft")
    values = losses(metrics)
    assert len(values) == 2 and all(math.isfinite(v) for v in values) and values[0] != values[1]
    assert (work / "sft" / "adapter_model.safetensors").is_file()
    assert list((work / "sft" / "runs").rglob("events.out.tfevents.*")), "no TensorBoard log"


def test_dpo_two_steps_then_export_round_trip(work: Path) -> None:
    out = work / "dpo"
    metrics = train(work, "dpo", out, "--dataset_test_split", str(work / "test.jsonl"))
    values = losses(metrics)
    assert len(values) == 2 and all(math.isfinite(v) for v in values) and values[0] != values[1]
    assert abs(values[0] - math.log(2)) < 1e-3  # step 1: policy == reference, so the DPO loss is log 2
    evaluation = metrics["eval"]
    assert metrics["eval_rows"] == 2 and 0 <= evaluation["eval_rewards/accuracies"] <= 1
    assert math.isfinite(evaluation["eval_rewards/margins"])

    # the adapter reloads onto its base, and merging changes the weights it targets
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(work / "base"), dtype=torch.float32)
    reloaded = PeftModel.from_pretrained(base, str(out))
    assert any("lora_A" in name for name, _ in reloaded.named_parameters())

    gguf = work / "trained.gguf"
    done = subprocess.run([*CODEUF, "export", str(out), "--out", str(gguf), "--outtype", "f16"], capture_output=True,
                          text=True, env=cli_env(), timeout=1800)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    merged = work / "trained-hf"
    key = "model.layers.0.self_attn.q_proj.weight"
    before, after = load_file(work / "base" / "model.safetensors")[key], load_file(merged / "model.safetensors")[key]
    assert before.shape == after.shape and not torch.equal(before, after)

    requests = work / "requests.jsonl"
    body = {"messages": [{"role": "user", "content": PAIRS[0][0]}], "max_tokens": 24, "temperature": 0}
    requests.write_text(json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
                                    "body": body}) + "\n")  # fmt: skip
    for spec in (f"llamacpp:{gguf}", f"hf:{merged}"):
        results = work / f"out-{spec.split(':')[0]}.jsonl"
        done = subprocess.run([*CODEUF, "llm", "batch", "--model", spec, "--in", str(requests), "--out",
                               str(results), "--no-progress"], capture_output=True, text=True, env=cli_env(),
                              timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        answer = json.loads(results.read_text())["response"]["body"]["choices"][0]["message"]["content"]
        assert answer.strip(), spec


@pytest.mark.parametrize("algorithm", ["kto", "orpo", "cpo", "simpo"])
def test_other_preference_algorithms_two_steps(work: Path, algorithm: str) -> None:
    """Each algorithm of the table trains from the same pairs (KTO unpairs them) and learns something."""
    out = work / algorithm
    metrics = train(work, algorithm, out, "--dataset_test_split", str(work / "test.jsonl"))
    values = losses(metrics)
    assert metrics["algorithm"] == algorithm and len(values) == 2
    assert all(math.isfinite(v) for v in values) and values[0] != values[1]
    assert metrics["train_rows"] == (8 if algorithm == "kto" else 4)  # 4 pairs; for KTO, 8 labelled responses
    assert (out / "adapter_model.safetensors").is_file()
    recipe = (out / "recipe.yaml").read_text()
    if algorithm == "simpo":
        assert "loss_type: simpo" in recipe and "cpo_alpha: 0.0" in recipe


def test_dpo_step_in_two_processes_with_accelerate(work: Path) -> None:
    accelerate = shutil.which("accelerate", path=str(Path(CODEUF[0]).parent))
    if accelerate is None:
        pytest.skip("accelerate is not installed")
    config = Path(__file__).resolve().parents[2] / "configs" / "accelerate" / "cpu-2proc.yaml"
    out = work / "dpo-2proc"
    metrics = train(work, "dpo", out, "--max_steps", "1", "--dataset_test_split", "",
                    launcher=[accelerate, "launch", "--config_file", str(config), "-m", "codeuf"])  # fmt: skip
    assert metrics["processes"] == 2
    assert len(losses(metrics)) == 1 and math.isfinite(losses(metrics)[0])
    assert (out / "adapter_model.safetensors").is_file()


def test_trl_push_to_hub_uploads_the_adapter_and_never_the_token(work: Path, tmp_path: Path) -> None:
    """TRL's own hub settings, against a hub written in the test suite on 127.0.0.1 (tests/fakehub.py)."""
    token = "hf_codeufsecrettoken123"
    out = tmp_path / "pushed"
    with FakeHub() as hub:
        env = cli_env(**hub.env(), HF_TOKEN=token, HF_HOME=str(tmp_path / "hf_home"))
        train(work, "dpo", out, "--push_to_hub", "true", "--hub_model_id", "someone/adapter", env=env)
    files = hub.repos["someone/adapter"].files
    assert files["adapter_model.safetensors"] == (out / "adapter_model.safetensors").read_bytes()
    assert files["adapter_config.json"] == (out / "adapter_config.json").read_bytes()
    assert b"hub_model_id: someone/adapter" in files["recipe.yaml"]
    assert not any(token.encode() in data for data in files.values())  # recipe.yaml, training_args.bin, card
    assert not any(token.encode() in r.body for r in hub.requests)
