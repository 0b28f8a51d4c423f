"""The recipe classes: each algorithm's TRL config plus codeuf's model, LoRA and data fields. They are built
from the table in codeuf.train.algorithms when first asked for, and found again by name at module level (a
module `__getattr__`), so that the Trainer can pickle them into training_args.bin. Imported only when training."""

from __future__ import annotations

import dataclasses
from typing import Any

from codeuf.train.algorithms import ALGORITHMS, get_algorithm, load_class
from codeuf.train.fields import ModelFields

_BUILT: dict[str, type] = {}


def recipe_class(name: str) -> type:
    """`<Name>Recipe`: ModelFields + the algorithm's TRL config, TensorBoard logs and every step logged."""
    algorithm = get_algorithm(name)
    if name not in _BUILT:
        config = load_class(algorithm.config)
        cls = dataclasses.make_dataclass(
            _class_name(name),
            [("report_to", None | str | list[str], dataclasses.field(default="tensorboard")),
             ("logging_steps", float, dataclasses.field(default=1))],
            bases=(ModelFields, config),
        )  # fmt: skip
        cls.__module__ = __name__
        _BUILT[name] = cls
    return _BUILT[name]


def _class_name(name: str) -> str:
    return f"{name.upper()}Recipe"


def __getattr__(attribute: str) -> Any:
    """`codeuf.train.configs.DPORecipe` and the others, as pickle looks them up."""
    for name in ALGORITHMS:
        if attribute == _class_name(name):
            return recipe_class(name)
    raise AttributeError(attribute)
