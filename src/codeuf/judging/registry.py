"""The judging methods by name: a new method is one module plus one line here, or, from another package, an
entry point in the group `codeuf.judging_methods` (codeuf.plugins)."""

from __future__ import annotations

from typing import Any

from codeuf.plugins import GROUPS, Registry

BUILTIN: dict[str, str] = {
    "json": "codeuf.judging.methods:JsonMethod",
    "logprobs": "codeuf.judging.logprobs:LogprobsMethod",
    "pairwise": "codeuf.judging.methods:PairwiseMethod",
}


def _plugin(point: Any) -> str:
    point.load()  # fails here, not at the first judgement, where the package is broken
    return str(point.value)


METHODS: Registry[str] = Registry(GROUPS["judging_methods"], BUILTIN, _plugin)
