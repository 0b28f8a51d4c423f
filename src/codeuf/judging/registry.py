"""The judging methods by name: a new method is one module plus one line here."""

from __future__ import annotations

METHODS: dict[str, str] = {
    "json": "codeuf.judging.methods:JsonMethod",
    "logprobs": "codeuf.judging.logprobs:LogprobsMethod",
    "pairwise": "codeuf.judging.methods:PairwiseMethod",
}
