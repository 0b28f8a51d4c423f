"""A judge's known biases, measured on every run: position, length and self-preference.

Each figure has a 95% bootstrap interval over records, and goes to the feedback card, `manifest.json` and
the terminal summary, so that a researcher decides whether to trust the pairs before reading them.

- **Position.** The mean rating a judge gives at each position of the order it was shown the responses in
  (over all its judgements), and the difference between the first and the last position. With several
  orders, the flip rate (codeuf.stages.annotate.flip_rate) says how often the verdict reverses.
- **Length.** Within each record, the rank correlation (Spearman) between a response's final rating and its
  length in characters, averaged over the records where it is defined (two or more rated responses whose
  ratings and lengths both vary). Over the binarized pairs: the share whose chosen response is the longer one
  (codeuf.stages.binarize). Judges are known to prefer longer answers (Dubois et al., 2024, "Length-Controlled
  AlpacaEval"; Saito et al., 2023).
- **Self-preference.** Where a judge's model family (GPT, Claude, Gemma, Llama, Qwen, ...: from its name and
  spec) is also in the pool: the judge's mean rating of its own family's responses minus its mean rating of
  the others', within the records that hold both (Panickssery et al., 2024, "LLM Evaluators Recognize and
  Favor Their Own Generations").
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from codeuf.data.schema import FeedbackRecord, rating_value
from codeuf.stats import bootstrap_sums, spearman

FAMILIES = (
    ("gpt", r"\bgpt|chatgpt|\bo[134](-mini)?\b|openai/gpt"),
    ("claude", r"claude"),
    ("gemini", r"gemini"),
    ("gemma", r"gemma|llamacpp:default"),
    ("llama", r"llama|codellama"),
    ("qwen", r"qwen"),
    ("deepseek", r"deepseek"),
    ("mistral", r"mistral|mixtral|codestral"),
    ("phi", r"\bphi[-_0-9]"),
    ("starcoder", r"starcoder"),
    ("wizardcoder", r"wizard"),
)
"""Model families, matched (in this order) against a model's name and spec. `llamacpp:default` is the embedded
Gemma 3 270M."""


def family(*names: str) -> str | None:
    """The family of a model from its names and spec, or None where none matches."""
    text = " ".join(names).lower()
    for name, pattern in FAMILIES:
        if re.search(pattern, text):
            return name
    return None


def measure_biases(records: list[FeedbackRecord], specs: dict[str, str] | None = None,
                   seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """Position, length and self-preference figures of a feedback dataset. `specs`: model and judge names to
    their specs (families are read from both)."""
    specs = specs or {}
    return {
        "position": position_bias(records, seed),
        "flip_rate": flip_interval(records, seed),
        "length": length_bias(records, seed),
        "self_preference": self_preference(records, specs, seed),
    }


def position_bias(records: list[FeedbackRecord], seed: int = 0) -> dict[str, Any]:
    """Per judge: the mean rating at each position shown, and first minus last, with intervals over records."""
    judges = sorted({j.judge for r in records for j in r.judgements})
    out = {}
    for judge in judges:
        per_record = []
        for record in records:
            seen: dict[int, list[float]] = defaultdict(list)
            for judgement in record.judgements:
                if judgement.judge != judge:
                    continue
                for position, rating in enumerate(judgement.ratings):
                    value = rating_value(rating)
                    if value is not None:
                        seen[position].append(value)
            if seen:
                per_record.append(seen)
        positions = max((max(s) for s in per_record), default=-1) + 1
        columns = {}
        for p in range(positions):
            columns[f"sum{p}"] = [sum(s.get(p, [])) for s in per_record]
            columns[f"n{p}"] = [len(s.get(p, [])) for s in per_record]
        means = [_estimate(columns, lambda t, p=p: t[f"sum{p}"] / t[f"n{p}"], seed, p) for p in range(positions)]
        last = positions - 1
        gap = (_estimate(columns, lambda t, z=last: t["sum0"] / t["n0"] - t[f"sum{z}"] / t[f"n{z}"], seed, 0, last)
               if last > 0 else {"value": None, "ci_low": None, "ci_high": None, "n": len(per_record)})  # fmt: skip
        out[judge] = {"mean_by_position": means, "first_minus_last": gap}
    return out


def _estimate(columns: dict[str, list[float]], statistic: Any, seed: int, *positions: int) -> dict[str, Any]:
    """A ratio-of-sums statistic over the records that have a rating at each of `positions`."""
    keep = [i for i in range(len(next(iter(columns.values()), []))) if all(columns[f"n{p}"][i] for p in positions)]
    kept = {k: [v[i] for i in keep] for k, v in columns.items()}
    return bootstrap_sums(kept, statistic, seed=seed).as_dict()


def flip_interval(records: list[FeedbackRecord], seed: int = 0) -> dict[str, Any]:
    """The flip rate between orders (codeuf.stages.annotate.flip_rate) with its interval over records."""
    from codeuf.stages.annotate import flip_rate

    counts = [c for c in map(lambda r: flip_rate([r]), records) if c["comparable_pairs"]]
    columns = {"flips": [c["flips"] for c in counts], "pairs": [c["comparable_pairs"] for c in counts]}
    return bootstrap_sums(columns, lambda t: t["flips"] / t["pairs"], seed=seed).as_dict()


def length_bias(records: list[FeedbackRecord], seed: int = 0) -> dict[str, Any]:
    """The within-record rank correlation between rating and length, averaged over records."""
    correlations = []
    for record in records:
        texts = {r.model: len(r.response) for r in record.responses}
        rated = [(rating_value(a.rating), texts.get(a.model)) for a in record.annotations]
        pairs = [(v, n) for v, n in rated if v is not None and n is not None]
        if len(pairs) >= 2:
            rho = spearman([float(n) for _, n in pairs], [v for v, _ in pairs])
            if rho is not None:
                correlations.append(rho)
    ones = [1.0] * len(correlations)
    estimate = bootstrap_sums({"rho": correlations, "n": ones}, lambda t: t["rho"] / t["n"], seed=seed).as_dict()
    return {"rating_length_spearman": estimate, "records_defined": len(correlations), "records": len(records)}


def self_preference(records: list[FeedbackRecord], specs: dict[str, str], seed: int = 0) -> dict[str, Any]:
    """Per judge whose family is known: own family's mean rating minus the others', where the pool has both."""
    out: dict[str, Any] = {}
    judges = sorted({j.judge for r in records for j in r.judgements})
    for judge in judges:
        mine = family(judge, specs.get(judge, ""))
        if mine is None:
            out[judge] = {"family": None, "note": "the judge's model family is not known"}
            continue
        per_record = []
        for record in records:
            own, other = [], []
            for judgement in (j for j in record.judgements if j.judge == judge):
                for model, rating in zip(judgement.order, judgement.ratings, strict=False):
                    value = rating_value(rating)
                    if value is not None:
                        (own if family(model, specs.get(model, "")) == mine else other).append(value)
            if own and other:
                per_record.append((own, other))
        if not per_record:
            out[judge] = {"family": mine, "note": f"no record rates both a {mine} model and another family's"}
            continue
        columns = {"own": [sum(o) for o, _ in per_record], "own_n": [len(o) for o, _ in per_record],
                   "other": [sum(t) for _, t in per_record], "other_n": [len(t) for _, t in per_record]}  # fmt: skip
        estimate = bootstrap_sums(columns, lambda t: t["own"] / t["own_n"] - t["other"] / t["other_n"],
                                  seed=seed).as_dict()  # fmt: skip
        out[judge] = {"family": mine, "own_minus_other": estimate}
    return out
