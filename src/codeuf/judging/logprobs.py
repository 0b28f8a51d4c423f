"""The `logprobs` method: a rating is the expectation over the rating tokens' probabilities (G-Eval, Liu et al.
2023; AlpacaEval's weighted judges), renormalised over the values of the scale.

The judge answers as with `json` (a constrained object; a rationale where `rationale_chars` asks for one) and
returns the top log-probabilities of every token. At the token where each rating's value starts, every
alternative that continues the text up to there is read as a value of the scale; their probabilities,
renormalised over the valid values, are the rating's distribution, stored with the verdict, and its mean is
the rating ("3.42"). Where no alternative is a valid value, the rating is N/A, counted like any other.

"10" is one token for OpenAI's and Anthropic's tokenizers but two ("1", "0") for Gemma's, Llama 2's or
Qwen's. Where it may be two (the backend says its tokenizer splits digits, or the alternatives hold no "10"
token and the backend can continue a request), the probability of "1" is split between 1 and 10 by the
probability of "0" after "1": read from the next step when the judge wrote "1", else asked of the model with
one more call that continues the answer after "1" (`Backend.continuation`). An HTTP chat backend cannot be
continued; there "10" is taken to be one token, as it is for the OpenAI and Anthropic APIs.
"""

from __future__ import annotations

import math
import re
from typing import Any

from codeuf.data.schema import NA, format_rating
from codeuf.judging.methods import JudgingMethod, Pending
from codeuf.judging.tasks import JudgingTask
from codeuf.judging.verdict import Verdict, read_json
from codeuf.llm.types import LLMRequest, LLMResult, TokenLogprob

_DIGITS = re.compile(r"\d+")


class LogprobsMethod(JudgingMethod):
    name = "logprobs"
    needs_logprobs = True

    def read(
        self, task: JudgingTask, result: LLMResult, n: int, backend: Any, request: LLMRequest
    ) -> Verdict | Pending:
        verdict = read_json(task, result, n)
        if verdict.failed:
            return verdict
        if not result.logprobs:
            return _all_na(verdict, "the backend returned no log-probabilities")
        tokens = result.logprobs
        joined = "".join(t.token for t in tokens)
        split = getattr(backend, "splits_digits", None)
        state: dict[str, Any] = {"slots": []}
        probes: list[tuple[int, LLMRequest]] = []
        for slot in range(n):
            reading = _read_slot(task, tokens, joined, slot, n, split, backend, request)
            state["slots"].append(reading)
            if reading.get("probe") is not None:
                probes.append((slot, reading.pop("probe")))
        state["verdict"] = verdict
        if probes:
            return Pending(result, probes, state)
        return self.settle(task, Pending(result, [], state), {}, n)

    def settle(self, task: JudgingTask, pending: Pending, probes: dict[int, LLMResult], n: int) -> Verdict:
        verdict: Verdict = pending.state["verdict"]
        ratings, distributions, reasons = [], [], []
        for slot, reading in enumerate(pending.state["slots"]):
            distribution, why = _distribution(task, reading, probes.get(slot))
            distributions.append(distribution)
            if distribution:
                ratings.append(format_rating(sum(float(v) * p for v, p in distribution.items())))
            else:
                ratings.append(NA)
                reasons.append(f"rating {slot + 1}: {why}")
        error = "; ".join(reasons) or None
        return Verdict(ratings, verdict.rationales, distributions, error=error,
                       raw=pending.result.text if error else None)  # fmt: skip


def _distribution(task: JudgingTask, reading: dict[str, Any], probe: LLMResult | None) -> tuple[dict[str, float], str]:
    """A rating's distribution over the scale, or ({}, why there is none)."""
    if reading.get("error"):
        return {}, reading["error"]
    mass = dict(reading["mass"])
    ambiguous = reading.get("ambiguous", 0.0)
    if ambiguous:
        zero = reading.get("zero_after_one")
        if zero is None and probe is not None and probe.ok and probe.logprobs:
            zero = _zero_after_one(token_alternatives(probe.logprobs[0]))
        if zero is None:
            return {}, "cannot tell 1 from 10 (no distribution after 1)"
        mass["1"] = mass.get("1", 0.0) + ambiguous * (1 - zero)
        mass["10"] = mass.get("10", 0.0) + ambiguous * zero
    distribution = _normalised(mass, task.scale)
    return distribution, "" if distribution else "no value of the scale among the top log-probabilities"


def _all_na(verdict: Verdict, why: str) -> Verdict:
    n = len(verdict.ratings)
    return Verdict([NA] * n, verdict.rationales, [{}] * n, error=why, raw=verdict.raw)


def _value_offsets(task: JudgingTask, joined: str, n: int) -> list[int | None]:
    """Where each rating's value starts in the answer's text (None where the answer holds no such key)."""
    offsets: list[int | None] = []
    key = re.compile(rf'"{task.key}"\s*:\s*"')
    start = 0
    for slot in task.slots(n):
        if slot:
            found = joined.find(f'"{slot}"', start)
            if found < 0:
                offsets.append(None)
                continue
            start = found
        match = key.search(joined, start)
        offsets.append(match.end() if match else None)
        if match:
            start = match.end()
    return offsets


def _read_slot(task: JudgingTask, tokens: list[TokenLogprob], joined: str, slot: int, n: int, split: bool | None,
               backend: Any, request: LLMRequest) -> dict[str, Any]:  # fmt: skip
    """The probability mass of each value at a rating's position, and what is left to resolve."""
    offset = _value_offsets(task, joined, n)[slot]
    if offset is None:
        return {"error": "no rating in the answer"}
    found = _token_at(tokens, offset)
    if found is None:
        return {"error": "no rating in the answer"}
    index, position = found
    prefix = joined[position:offset]
    alternatives = dict(token_alternatives(tokens[index]))
    mass: dict[str, float] = {}
    ambiguous = 0.0
    has_ten = False
    for text, probability in alternatives.items():
        if not text.startswith(prefix):
            continue
        value, complete = _value(text[len(prefix) :])
        has_ten |= value == "10"
        if value is None:
            continue
        if not complete and any(v != value and v.startswith(value) for v in task.scale):
            ambiguous += probability
        elif value in task.scale:
            mass[value] = mass.get(value, 0.0) + probability
    reading: dict[str, Any] = {"mass": mass}
    if not ambiguous:
        return reading
    if split is not False and not has_ten:  # "10" may be two tokens: P("0" after "1") splits "1"
        reading["ambiguous"] = ambiguous
        chosen = tokens[index].token
        written = _value(chosen[len(prefix) :])[0] if chosen.startswith(prefix) else None
        if written == "1" and index + 1 < len(tokens):
            reading["zero_after_one"] = _zero_after_one(token_alternatives(tokens[index + 1]))
            return reading
        probe = backend.continuation(request, joined[:offset] + "1") if hasattr(backend, "continuation") else None
        if probe is not None:
            reading["probe"] = probe
            return reading
        if split:
            return {"error": "cannot tell 1 from 10: this backend cannot be asked for the digit after 1"}
        del reading["ambiguous"]
    mass["1"] = mass.get("1", 0.0) + ambiguous  # "10" is its own token here (as for the HTTP chat APIs)
    return reading


def _token_at(tokens: list[TokenLogprob], offset: int) -> tuple[int, int] | None:
    """(index, start) of the token that holds character `offset` of the joined tokens."""
    position = 0
    for index, token in enumerate(tokens):
        if position + len(token.token) > offset:
            return index, position
        position += len(token.token)
    return None


def token_alternatives(token: TokenLogprob) -> list[tuple[str, float]]:
    """(text, probability) of the chosen token and its top alternatives."""
    seen = {token.token: math.exp(token.logprob)}
    for text, logprob in token.top.items():
        seen.setdefault(text, math.exp(logprob))
    return list(seen.items())


def _value(text: str) -> tuple[str | None, bool]:
    """The digits a token starts with, and whether the value is complete (something other than a digit follows
    within the token)."""
    match = _DIGITS.match(text)
    if match is None:
        return None, True
    return match.group(0), match.end() < len(text)


def _zero_after_one(alternatives: list[tuple[str, float]]) -> float | None:
    """P("0" | "1" was written): the mass of tokens going on with a 0 against those that end the value."""
    zero = sum(p for text, p in alternatives if text.startswith("0"))
    end = sum(p for text, p in alternatives if text and not text[:1].isdigit())
    return zero / (zero + end) if zero + end > 0 else None


def _normalised(mass: dict[str, float], scale: tuple[str, ...]) -> dict[str, float]:
    total = sum(p for v, p in mass.items() if v in scale)
    if total <= 0:
        return {}
    return {v: mass[v] / total for v in scale if mass.get(v)}
