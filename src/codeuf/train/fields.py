"""What every recipe adds to TRL's config: the model, the adapter and the data (no TRL import here)."""

from __future__ import annotations

import dataclasses

PAPER_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclasses.dataclass
class ModelFields:
    """What to train, with what adapter and on what data (everything else is TRL's own config)."""

    model: str = dataclasses.field(
        default="default",
        metadata={"help": "The embedded default, a .gguf (converted once), a model folder or a hub id."},
    )
    chat_template: str | None = dataclasses.field(
        default=None, metadata={"help": "A Jinja chat template, or the path of a .jinja file; else the tokenizer's."}
    )
    use_peft: bool = dataclasses.field(default=True, metadata={"help": "Train a LoRA adapter (else all weights)."})
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_target_modules: list[str] = dataclasses.field(default_factory=lambda: list(PAPER_TARGETS))
    load_in_4bit: bool = dataclasses.field(
        default=False, metadata={"help": "QLoRA: 4-bit NF4 base weights (needs a GPU and bitsandbytes)."}
    )
    dataset: str | None = dataclasses.field(
        default=None, metadata={"help": "Data: a codeuf output folder, a file (.jsonl/.json/.parquet) or a hub id."}
    )
    dataset_train_split: str = "train"
    dataset_test_split: str | None = dataclasses.field(
        default="test", metadata={"help": "Held-out split for evaluation; empty or missing means none."}
    )
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    max_prompt_length: int | None = dataclasses.field(
        default=None, metadata={"help": "Pairs whose prompt is longer (in tokens) are left out, and counted."}
    )
