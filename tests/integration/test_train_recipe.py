"""Recipes: TRL's config classes plus model, LoRA and data fields, one schema for YAML and overrides
(they need trl, and `codeuf train` subprocesses import it: not unit tests)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytest.importorskip("trl")

from codeuf.errors import InputError
from codeuf.train.recipe import build_recipe, load_recipe, recipe_values
from tests.conftest import CODEUF, cli_env


def test_paper_recipes_carry_the_papers_settings() -> None:
    sft = recipe_values("sft", "paper-sft")
    dpo = recipe_values("dpo", "paper-dpo")
    lora = {"load_in_4bit": True, "lora_r": 64, "lora_alpha": 128, "lora_dropout": 0.0}
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    for values in (sft, dpo):
        assert {k: values[k] for k in lora} == lora and values["lora_target_modules"] == targets
        assert values["model"] == "codellama/CodeLlama-7b-Instruct-hf"
        assert values["lr_scheduler_type"] == "cosine" and values["warmup_steps"] == 0.1
        assert values["bf16"] is True and values["activation_checkpointing"] is True and values["max_length"] == 2048
    assert (sft["learning_rate"], sft["num_train_epochs"], sft["per_device_train_batch_size"]) == (2e-4, 5, 8)
    assert sft["gradient_accumulation_steps"] == 8
    assert (dpo["beta"], dpo["learning_rate"], dpo["num_train_epochs"]) == (0.1, 5e-5, 3)
    assert (dpo["per_device_train_batch_size"], dpo["gradient_accumulation_steps"]) == (2, 16)
    assert dpo["max_prompt_length"] == 1024


def test_cpu_recipe_builds_a_trl_config_and_overrides_win(tmp_path: Path) -> None:
    recipe = load_recipe("dpo", "cpu-dpo", ["--learning_rate", "1e-5", "--lora_target_modules", "q_proj", "k_proj",
                                            "--beta=0.3", "--use_peft", "--output_dir", str(tmp_path)])  # fmt: skip
    from trl import DPOConfig

    assert isinstance(recipe, DPOConfig)
    assert (recipe.learning_rate, recipe.beta, recipe.use_peft) == (1e-5, 0.3, True)
    assert recipe.lora_target_modules == ["q_proj", "k_proj"] and recipe.lora_r == 8
    assert recipe.report_to == ["tensorboard"] and recipe.bf16 is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lerning_rate: 1.0e-4\n", r"r\.yaml:2: field 'lerning_rate': unknown setting .*did you mean 'learning_rate'"),
        ("learning_rate: fast\n", r"r\.yaml:2: field 'learning_rate': expected a number, got 'fast'"),
        ("max_steps: 1.5\n", r"r\.yaml:2: field 'max_steps': expected an integer"),
        ("lr_scheduler_type: wavy\n", r"field 'lr_scheduler_type': expected one of linear"),
        ("use_peft: maybe\n", r"field 'use_peft': expected true or false"),
        ("lora_target_modules: 3\n", r"field 'lora_target_modules': expected a string"),
        ("beta: [1\n", r"r\.yaml:\d+: not valid YAML"),
        ("hub_token: hf_secrettoken123\n", r"r\.yaml:2: field 'hub_token': a token is never a setting.*HF_TOKEN"),
    ],
)
def test_bad_recipes_are_one_line_naming_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("model: default\n" + text)
    with pytest.raises(InputError, match=expected) as caught:
        build_recipe("dpo", recipe_values("dpo", path), path)
    assert "\n" not in str(caught.value) and "secrettoken" not in str(caught.value)


def test_paper_recipe_builds_here_with_use_cpu_set_for_a_gpu_less_machine() -> None:
    import torch

    recipe = load_recipe("dpo", "paper-dpo", ["--output_dir", "unused"])
    assert recipe.bf16 is True and recipe.use_cpu is (not torch.cuda.is_available())
    assert recipe.activation_checkpointing is True and recipe.max_prompt_length == 1024


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--dataset", "/no/such/folder"], "/no/such/folder: file or folder not found"),
        (["--dataset", ""], "field 'dataset': required"),
        (["--lerning_rate", "3"], "command line: field 'lerning_rate': unknown setting"),
        (["--hub_token", "hf_secrettoken123"], "command line: field 'hub_token': a token is never a setting"),
        (
            ["--recipe", "nope"],
            "nope: recipe not found (shipped: cpu-cpo, cpu-dpo, cpu-kto, cpu-orpo, cpu-sft, "
            "cpu-simpo, paper-dpo, paper-sft)",
        ),
    ],
)
def test_train_command_fails_fast_with_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    recipe = [] if "--recipe" in args else ["--recipe", "cpu-dpo"]
    done = subprocess.run([*CODEUF, "train", "dpo", *recipe, *args, "--output_dir", str(tmp_path / "o")],
                          capture_output=True, text=True, env=cli_env(), timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and expected in done.stderr
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_train_help_lists_every_setting_grouped_as_trls_scripts_do() -> None:
    from dataclasses import fields

    from codeuf.train.recipe import recipe_class

    out = subprocess.run([*CODEUF, "train", "dpo", "--help"], capture_output=True, text=True, env=cli_env(),
                         check=True).stdout  # fmt: skip
    groups = [line for line in out.splitlines() if line.endswith("):") and not line.startswith(" ")]
    assert [g.split(" (")[0] for g in groups] == ["codeuf: the model, the adapter and the data",
        "codeuf: defaults over TRL's", "TRL: DPOConfig", "transformers: TrainingArguments"]  # fmt: skip
    listed = {line.split()[0][2:] for line in out.splitlines() if line.startswith("  --")}
    settable = {f.name for f in fields(recipe_class("dpo")) if f.init}
    assert {"beta", "loss_type", "learning_rate", "lora_r", "dataset", "max_prompt_length"} <= listed
    assert len(settable - listed) <= 3, settable - listed  # fields HfArgumentParser does not expose, if any
    assert "--lora_r  [an integer; default: 8]" in out and "--recipe" in out
