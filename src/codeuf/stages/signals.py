"""Warnings on the signals a dataset's pairs rest on: what a researcher would otherwise find only by reading
JSONL (identical pairs, a judge that follows the order it is shown, N/A ratings, one model winning
everything, intervals over a handful of items, empty held-out splits).

Each warning names its figure and where to look; binarize prints them, and the cards, the manifest and the
terminal summary carry them. `--strict` (or `strict: true`) turns any warning into exit 7 for pipelines.
The thresholds are settings (`warn:` in a run config, `codeuf.config.WarnThresholds`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from codeuf.stats import too_few


@dataclass(frozen=True)
class Signal:
    """One warning: a stable code for scripts, the figure it is about, and one line for a person."""

    code: str
    figure: float | int | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def feedback_signals(stats: dict[str, Any], flips: dict[str, Any], warn: Any) -> list[Signal]:
    """Warnings on a feedback dataset: N/A ratings and the judge's flip rate between orders."""
    found = []
    na_rate = stats.get("na_rate")
    if na_rate is not None and na_rate > warn.na_rate:
        found.append(Signal("na_rate", round(na_rate, 4),
                            f"{na_rate:.1%} of the ratings are N/A ({stats['na']} of {stats['annotations']}), above "
                            f"{warn.na_rate:.0%}: the judge's raw answers are in annotations.jsonl "
                            "(`judgements`)"))  # fmt: skip
    rate = flips.get("flip_rate")
    if rate is not None and rate > warn.flip_rate:
        found.append(Signal("flip_rate", round(rate, 4),
                            f"the judge's flip rate is {rate:.1%} ({flips['flips']} of {flips['comparable_pairs']} "
                            f"comparable pairs reverse when the order changes), above {warn.flip_rate:.0%}: its "
                            "ratings follow the position of a response more than its content "
                            "(feedback/README.md)"))  # fmt: skip
    return found


def pair_signals(stats: dict[str, Any], splits: dict[str, list[dict[str, Any]]], warn: Any) -> list[Signal]:
    """Warnings on binarized pairs: identical pairs dropped, orders that disagree, one model winning nearly
    every pair, an empty held-out split, judge-tests agreement over too few records."""
    found = []
    if stats.get("dropped_identical"):
        found.append(Signal("identical_pairs", stats["dropped_identical"],
                            f"{stats['dropped_identical']} pairs dropped whose chosen and rejected responses are the "
                            "same text (after whitespace): they teach nothing (binarized/README.md)"))  # fmt: skip
    if stats.get("order_disagreements"):
        kept = "dropped" if stats.get("order_disagreements_dropped") else "kept and flagged `orders_disagree`"
        found.append(Signal("order_disagreements", stats["order_disagreements"],
                            f"{stats['order_disagreements']} pairs whose judge orders disagree on chosen and rejected "
                            f"({kept}; `order_disagreements: drop` drops them)"))  # fmt: skip
    rows = [row for split in splits.values() for row in split]
    if len(rows) >= 2:
        model, wins = Counter(row["model_chosen"] for row in rows).most_common(1)[0]
        if wins / len(rows) > warn.model_win_share:
            found.append(Signal("model_wins", round(wins / len(rows), 4),
                                f"{model} is chosen in {wins} of {len(rows)} pairs ({wins / len(rows):.0%}, above "
                                f"{warn.model_win_share:.0%}): the pairs may teach 'be {model}' more than the "
                                "preference"))  # fmt: skip
    if rows and not splits.get("test"):
        found.append(Signal("empty_test_split", 0,
                            f"the held-out split is empty ({len(rows)} pairs, test_fraction rounds to 0): training "
                            "will report no held-out reward accuracy"))  # fmt: skip
    vs = stats.get("judge_vs_tests") or {}
    for key, what in (("agreement", "judge-tests agreement"), ("pass_rate_agreement", "judge-pass-rate agreement")):
        estimate = vs.get(key)
        if too_few(estimate, warn.min_n):
            found.append(Signal(f"{key}_n", estimate["n"],
                                f"the {what} rests on n = {estimate['n']} records (fewer than {warn.min_n}): "
                                "too few for an interval"))  # fmt: skip
    return found


def lines(signals: list[dict[str, Any]]) -> list[str]:
    """Warnings as the lines a command prints."""
    return [f"warning: {s['message']}" for s in signals]
