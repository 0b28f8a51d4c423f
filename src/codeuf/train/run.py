"""`codeuf train ALGORITHM`: the algorithm's TRL trainer (codeuf.train.algorithms: SFT, DPO, KTO, ORPO, CPO,
SimPO) with a PEFT LoRA (QLoRA on a GPU).

The output folder gets the adapter (or the full model with `use_peft: false`) and the tokenizer
with its chat template, `recipe.yaml` (every setting, resolved), TensorBoard logs under `runs/`
(unless `report_to` says otherwise) and, written last and atomically, `metrics.json`: the train
log, and for DPO the reward accuracy and margins on the held-out split.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from codeuf.errors import CodeufError, MissingDependencyError
from codeuf.io import atomic_write_text

log = logging.getLogger("codeuf.train")


def _imports() -> Any:
    try:
        import peft
        import torch
        import transformers
        import trl
    except ModuleNotFoundError as exc:
        raise MissingDependencyError(exc.name or "trl", "train") from exc
    return torch, transformers, trl, peft


def prompt_filter(rows: list[dict[str, Any]], tokenizer: Any, limit: int | None) -> tuple[list[dict[str, Any]], int]:
    """Rows whose templated prompt fits in `limit` tokens, and how many were left out."""
    if not limit:
        return rows, 0
    kept = [
        r
        for r in rows
        if len(tokenizer.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=True)) <= limit
    ]
    return kept, len(rows) - len(kept)


def _quantization(recipe: Any, torch: Any, transformers: Any) -> Any:
    if not recipe.load_in_4bit:
        return None
    try:
        import bitsandbytes
    except ModuleNotFoundError:
        bitsandbytes = None
    if not torch.cuda.is_available() or bitsandbytes is None:
        log.warning("load_in_4bit needs a GPU and bitsandbytes: training LoRA on unquantized weights instead")
        return None
    return transformers.BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16 if recipe.bf16 else torch.float16,
    )


def _report_to(recipe: Any) -> None:
    targets = recipe.report_to if isinstance(recipe.report_to, list) else [recipe.report_to]
    if "tensorboard" in targets:
        try:
            import tensorboard  # noqa: F401
        except ModuleNotFoundError:
            log.warning("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
            recipe.report_to = [t for t in targets if t != "tensorboard"] or ["none"]


def load_model_and_tokenizer(recipe: Any) -> tuple[Any, Any, str]:
    from codeuf.train.convert import resolve_trainable

    torch, transformers, _, _ = _imports()
    path = resolve_trainable(recipe.model, recipe.chat_template)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    if recipe.chat_template:
        tokenizer.chat_template = recipe.chat_template
    if not getattr(tokenizer, "chat_template", None):
        raise CodeufError(f"{recipe.model}: the tokenizer has no chat template; set chat_template in the recipe")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    quantization = _quantization(recipe, torch, transformers)
    dtype = torch.bfloat16 if recipe.bf16 else torch.float16 if recipe.fp16 else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype}
    if quantization is not None:
        kwargs["quantization_config"] = quantization
    model = transformers.AutoModelForCausalLM.from_pretrained(path, **kwargs)
    return model, tokenizer, path


def lora_config(recipe: Any) -> Any:
    if not recipe.use_peft:
        return None
    _, _, _, peft = _imports()
    return peft.LoraConfig(
        r=recipe.lora_r,
        lora_alpha=recipe.lora_alpha,
        lora_dropout=recipe.lora_dropout,
        target_modules=recipe.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def build_trainer(kind: str, recipe: Any, train_rows: list, eval_rows: list | None) -> tuple[Any, dict[str, Any]]:
    """The TRL trainer for the recipe, and facts about the data (counts, left-out pairs)."""
    from datasets import Dataset

    from codeuf.train.algorithms import get_algorithm, load_class

    _imports()
    algorithm = get_algorithm(kind)
    _report_to(recipe)
    model, tokenizer, path = load_model_and_tokenizer(recipe)
    info: dict[str, Any] = {"model_path": path, "algorithm": kind}
    if algorithm.data != "completion":
        train_rows, info["train_prompt_too_long"] = prompt_filter(train_rows, tokenizer, recipe.max_prompt_length)
        if eval_rows:
            eval_rows, info["eval_prompt_too_long"] = prompt_filter(eval_rows, tokenizer, recipe.max_prompt_length)
    if not train_rows:
        raise CodeufError("no training rows left after max_prompt_length")
    info.update(train_rows=len(train_rows), eval_rows=len(eval_rows or []))
    trainer_class = load_class(algorithm.trainer)
    trainer = trainer_class(
        model=model,
        args=recipe,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tokenizer,
        peft_config=lora_config(recipe),
    )
    return trainer, info


def recipe_dict(recipe: Any) -> dict[str, Any]:
    """Every setting, as YAML-safe values."""
    out = {}
    for field in dataclasses.fields(recipe):
        value = getattr(recipe, field.name)
        if hasattr(value, "value"):
            value = value.value
        if isinstance(value, int | float | str | bool | type(None)) or (
            isinstance(value, list | dict) and json.dumps(value, default=lambda _: None)
        ):
            out[field.name] = value
    return out


def train(kind: str, recipe: Any) -> dict[str, Any]:
    """Train as the recipe says with the algorithm `kind`; returns (and writes) the metrics."""
    import yaml

    from codeuf.train.data import load_pairs

    check_model(recipe.model)
    train_rows, eval_rows = load_pairs(
        kind, recipe.dataset, recipe.dataset_train_split, recipe.dataset_test_split,
        recipe.max_train_samples, recipe.max_eval_samples,
    )  # fmt: skip
    out = Path(recipe.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if is_main_process():
        atomic_write_text(out / "recipe.yaml", yaml.safe_dump(recipe_dict(recipe), sort_keys=False))
    started = time.perf_counter()
    trainer, info = build_trainer(kind, recipe, train_rows, eval_rows)
    result = trainer.train(resume_from_checkpoint=recipe.resume_from_checkpoint)
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        trainer.processing_class.save_pretrained(str(out))
    metrics: dict[str, Any] = {
        "kind": kind,
        "model": recipe.model,
        "dataset": recipe.dataset,
        **info,
        "train": result.metrics,
        "log_history": trainer.state.log_history,
    }
    if trainer.eval_dataset is not None:
        metrics["eval"] = trainer.evaluate()
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    metrics["processes"] = trainer.accelerator.num_processes
    if trainer.is_world_process_zero():
        atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2, default=str) + "\n")
    return metrics


def check_model(model: str) -> None:
    """A model named by a path must be there, before anything is written (recipe.yaml, the output folder)."""
    from codeuf.errors import InputError

    name = model.removeprefix("hf:")
    local = name.startswith(("/", "./", "../", "~")) or name.endswith(".gguf")
    if local and not Path(name).expanduser().exists():
        raise InputError("no such file or folder (a model is `default`, a .gguf file, a folder or a hub id)",
                         path=name, field="model")  # fmt: skip


def losses(metrics: dict[str, Any]) -> list[float]:
    """The logged training losses, step by step."""
    return [float(e["loss"]) for e in metrics.get("log_history", []) if "loss" in e]


def is_main_process() -> bool:
    """False in the other processes under `accelerate launch`/torchrun, so that one process writes and reports
    (known before the trainer exists, unlike `trainer.is_world_process_zero()`)."""
    return int(os.environ.get("RANK", "0")) == 0
