"""The training algorithms, one table: each names its TRL trainer and config, the data it takes and the
defaults that make it what it is. `codeuf train NAME`, the recipes and the loop all read it, so adding an
algorithm TRL has is one entry here (and a shipped `cpu-NAME` recipe to test it with)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from codeuf.plugins import GROUPS, Registry


@dataclass(frozen=True)
class Algorithm:
    name: str
    trainer: str
    """"module:Class" of the TRL trainer."""
    config: str
    """"module:Class" of its TRL config, which the recipe extends."""
    data: Literal["completion", "pairs", "unpaired"]
    """completion: prompt + completion (SFT); pairs: prompt, chosen, rejected; unpaired: prompt, completion and a
    desirable/undesirable label (KTO; codeuf unpairs preference pairs for it)."""
    summary: str
    defaults: dict[str, Any] = field(default_factory=dict)
    """Settings that make this algorithm out of a shared trainer (SimPO is CPO's trainer with loss_type simpo)."""


BUILTIN: dict[str, Algorithm] = {a.name: a for a in (
    Algorithm("sft", "trl:SFTTrainer", "trl:SFTConfig", "completion", "supervised fine-tuning on the completions"),
    Algorithm("dpo", "trl:DPOTrainer", "trl:DPOConfig", "pairs",
              "Direct Preference Optimization (loss_type: sigmoid, ipo, hinge, robust, ...)"),
    Algorithm("kto", "trl:KTOTrainer", "trl:KTOConfig", "unpaired",
              "Kahneman-Tversky Optimization: each response desirable or not"),
    Algorithm("orpo", "trl.experimental.orpo:ORPOTrainer", "trl.experimental.orpo:ORPOConfig", "pairs",
              "Odds-Ratio Preference Optimization: SFT and preference in one loss, no reference model"),
    Algorithm("cpo", "trl.experimental.cpo:CPOTrainer", "trl.experimental.cpo:CPOConfig", "pairs",
              "Contrastive Preference Optimization, no reference model"),
    Algorithm("simpo", "trl.experimental.cpo:CPOTrainer", "trl.experimental.cpo:CPOConfig", "pairs",
              "SimPO: length-normalised and reference-free (CPO's trainer, loss_type simpo, cpo_alpha 0)",
              {"loss_type": "simpo", "cpo_alpha": 0.0}),
)}  # fmt: skip


def _plugin(point: Any) -> Algorithm:
    algorithm = point.load()
    if not isinstance(algorithm, Algorithm):
        raise TypeError(f"{point.value} is not a codeuf Algorithm")
    return algorithm


ALGORITHMS = Registry(GROUPS["algorithms"], BUILTIN, _plugin)
"""The built-ins, then the algorithms other packages declare as entry points in `codeuf.algorithms`."""


def get_algorithm(name: str) -> Algorithm:
    from codeuf.errors import InputError

    if name not in ALGORITHMS:
        raise InputError(f"unknown training algorithm {name!r} (known: {', '.join(ALGORITHMS)})", field="algorithm")
    return ALGORITHMS[name]


def load_class(path: str) -> Any:
    """The class a "module:Class" path names (TRL's experimental trainers warn when imported: not here)."""
    import importlib
    import warnings

    module, _, name = path.partition(":")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(importlib.import_module(module), name)
