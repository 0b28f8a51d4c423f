"""`codeuf judge-eval`: how far a judge can be trusted, measured against labels.

Pairwise files (`instruction, response_a, response_b, label` with label a, b or tie; optional
`preference`): every pair is judged in both orders. Position consistency is how often the two
orders give the same verdict; the judge's verdict is that shared verdict, and a tie when the orders
disagree. Agreement with ties compares it with every label; agreement without ties only where
neither the label nor the verdict is a tie (as MT-Bench reports).
Pointwise files (`instruction, response, score`; optional `preference`): the judge grades 1-10, and
Spearman and Kendall (tau-b) correlations with the scores are reported.
Every figure has a 95% bootstrap interval; unreadable verdicts are counted, never guessed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from codeuf.bench.codal import grade_schema, parse_grade
from codeuf.data.schema import NA
from codeuf.data.sources import iter_rows
from codeuf.errors import InputError
from codeuf.llm.types import LLMRequest, LLMResult, Message
from codeuf.preferences import PREFERENCES, get_preference
from codeuf.prompts import render
from codeuf.stages.session import StageSession
from codeuf.stats import bootstrap_statistic, kendall_tau_b, spearman

VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"winner": {"type": "string", "enum": ["A", "B", "tie"]}, "rationale": {"type": "string",
                   "maxLength": 300}},
    "required": ["winner", "rationale"],
    "additionalProperties": False,
}  # fmt: skip


def load_labels(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """("pairwise" | "pointwise", rows), validated; one InputError for the first bad row."""
    rows, kind = [], None
    for where, number, row in iter_rows(path):
        row_kind = "pairwise" if "response_a" in row else "pointwise" if "response" in row else None
        if row_kind is None:
            raise InputError("expected response_a/response_b/label or response/score", path=where, line=number)
        kind = kind or row_kind
        if row_kind != kind:
            raise InputError(f"a {row_kind} row in a {kind} file", path=where, line=number)
        fields = ("instruction", "response_a", "response_b") if kind == "pairwise" else ("instruction", "response")
        for field in fields:
            if not isinstance(row.get(field), str):
                raise InputError("missing or not a string", path=where, line=number, field=field)
        if kind == "pairwise" and row.get("label") not in ("a", "b", "tie"):
            raise InputError("must be a, b or tie", path=where, line=number, field="label")
        if kind == "pointwise" and (
            isinstance(row.get("score"), bool)
            or not isinstance(row.get("score"), (int, float))
            or not math.isfinite(row["score"])
        ):
            raise InputError("must be a finite number", path=where, line=number, field="score")
        if row.get("preference") not in (None, *PREFERENCES):
            raise InputError(f"unknown preference {row['preference']!r}", path=where, line=number, field="preference")
        rows.append(row)
    if not rows:
        raise InputError("no labels: the file is empty", path=path)
    return kind or "pairwise", rows


def _preference(row: dict[str, Any]) -> Any:
    return get_preference(row["preference"]) if row.get("preference") else None


def _verdict(result: LLMResult, swapped: bool) -> str | None:
    """The winner as a label of the original order (a, b, tie), or None when unreadable."""
    winner = result.parsed.get("winner") if result.ok and isinstance(result.parsed, dict) else None
    if winner not in ("A", "B", "tie"):
        return None
    if winner == "tie":
        return "tie"
    return {"A": "b", "B": "a"}[winner] if swapped else {"A": "a", "B": "b"}[winner]


def evaluate_pairwise(rows: list[dict[str, Any]], judge: Any, session: StageSession, seed: int = 0) -> dict[str, Any]:
    backend = session.backend(judge.spec)
    jobs = []
    for row in rows:
        for first, second in (("response_a", "response_b"), ("response_b", "response_a")):
            prompt = render("judge_pairwise.j2", None, preference=_preference(row), instruction=row["instruction"],
                            response_a=row[first], response_b=row[second])  # fmt: skip
            request = LLMRequest(messages=[Message(role="user", content=prompt)], json_schema=VERDICT_SCHEMA,
                                 temperature=judge.temperature, max_tokens=judge.max_tokens)  # fmt: skip
            jobs.append((backend, request))
    results = session.run("judge-eval", jobs)
    verdicts = [(_verdict(results[2 * i], False), _verdict(results[2 * i + 1], True)) for i in range(len(rows))]
    return {"kind": "pairwise", "judge": judge.label, **pairwise_metrics([r["label"] for r in rows], verdicts, seed)}


def pairwise_metrics(labels: list[str], verdicts: list[tuple[str | None, str | None]], seed: int = 0) -> dict[str, Any]:
    """Metrics from each pair's label and its verdicts in the original and the swapped order."""
    pairs = []
    for label, (forward, backward) in zip(labels, verdicts, strict=True):
        readable = forward is not None and backward is not None
        combined = (forward if forward == backward else "tie") if readable else None
        pairs.append({"label": label, "forward": forward, "backward": backward, "verdict": combined})
    read = [p for p in pairs if p["verdict"] is not None]
    no_ties = [p for p in read if p["label"] != "tie" and p["verdict"] != "tie"]

    def rate(items: list[dict[str, Any]], hit: Any) -> dict[str, Any]:
        return bootstrap_statistic(items, lambda s: sum(map(hit, s)) / len(s) if s else None, seed=seed).as_dict()

    return {
        "pairs": len(pairs),
        "unreadable": len(pairs) - len(read),
        "agreement_with_ties": rate(read, lambda p: p["verdict"] == p["label"]),
        "agreement_without_ties": rate(no_ties, lambda p: p["verdict"] == p["label"]),
        "position_consistency": rate(read, lambda p: p["forward"] == p["backward"]),
        "verdicts": pairs,
    }


def evaluate_pointwise(rows: list[dict[str, Any]], judge: Any, session: StageSession, seed: int = 0) -> dict[str, Any]:
    backend = session.backend(judge.spec)
    jobs = []
    for row in rows:
        prompt = render("judge_pointwise.j2", None, preference=_preference(row), instruction=row["instruction"],
                        response=row["response"])  # fmt: skip
        jobs.append((backend, LLMRequest(messages=[Message(role="user", content=prompt)],
                                         json_schema=grade_schema(judge.rationale_chars),
                                         temperature=judge.temperature, max_tokens=judge.max_tokens)))  # fmt: skip
    ratings = [parse_grade(r)[0] for r in session.run("judge-eval", jobs)]
    points = [(float(row["score"]), float(r)) for row, r in zip(rows, ratings, strict=True) if r != NA]

    def correlation(fn: Any) -> dict[str, Any]:
        return bootstrap_statistic(points, lambda s: fn([x for x, _ in s], [y for _, y in s]), seed=seed).as_dict()

    return {
        "kind": "pointwise",
        "judge": judge.label,
        "items": len(rows),
        "unreadable": len(rows) - len(points),
        "spearman": correlation(spearman),
        "kendall_tau_b": correlation(kendall_tau_b),
        "ratings": ratings,
    }
