"""The recipe classes: TRL's configs plus codeuf's model, LoRA and data fields (module-level, so that
the Trainer can pickle them into training_args.bin). Imported only when training."""

from __future__ import annotations

import dataclasses

from trl import DPOConfig, SFTConfig

from codeuf.train.recipe import ModelFields


@dataclasses.dataclass
class SFTRecipe(ModelFields, SFTConfig):
    report_to: None | str | list[str] = "tensorboard"  # noqa: RUF036  (this order is what HfArgumentParser reads)
    logging_steps: float = 1


@dataclasses.dataclass
class DPORecipe(ModelFields, DPOConfig):
    report_to: None | str | list[str] = "tensorboard"  # noqa: RUF036  (this order is what HfArgumentParser reads)
    logging_steps: float = 1
