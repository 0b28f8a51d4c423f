"""`codeuf judge-eval`: how far a judge can be trusted, measured against people's labels or against tests.

Labels:
- pairwise files (`instruction, response_a, response_b, label` with label a, b or tie; optional `preference`);
- pointwise files (`instruction, response, score`; optional `preference`);
- a `codeuf run` folder whose responses ran against tests (`executions.jsonl`): every pair of a passing and
  a failing response to one instruction is a pairwise label, the passing one better (which one is shown
  first is drawn with the seed).

Pairwise labels are judged in both orders, by the judge's method: `json` and `logprobs` rate the two responses
1-5 in one call (the `rate` task, as `codeuf annotate` does) and the higher rating wins (equal: a tie);
`pairwise` asks which is better (the `compare` task). Position consistency is how often the two orders give
the same verdict; the verdict is that shared verdict, and a tie when the orders disagree. Agreement with ties
compares it with every label; agreement without ties only where neither the label nor the verdict is a tie
(as MT-Bench reports); the tie rate is the share of tie verdicts. Pointwise labels are graded 1-10 (`score`)
and compared by Spearman and Kendall (tau-b). Every figure has a 95% bootstrap interval; unreadable verdicts
are counted and reported as a rate, never guessed.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

from codeuf.data.schema import NA, rating_value
from codeuf.data.sources import iter_rows
from codeuf.errors import InputError
from codeuf.judging import JudgeConfig, Verdict, compare_job, compares, rate_job, run_judge_jobs, score_job
from codeuf.judging.verdict import winner
from codeuf.preferences import PREFERENCES
from codeuf.results import Estimate, JudgeEval, JudgeReport
from codeuf.session import StageSession
from codeuf.stats import bootstrap_statistic, kendall_tau_b, spearman

PAIRWISE_METRICS = ("agreement_with_ties", "agreement_without_ties", "position_consistency", "tie_rate",
                    "unreadable_rate")  # fmt: skip
POINTWISE_METRICS = ("spearman", "kendall_tau_b", "unreadable_rate")


def load_labels(path: Path, seed: int = 0) -> tuple[str, list[dict[str, Any]]]:
    """("pairwise" | "pointwise", rows), validated; one InputError for the first bad row. A run folder gives
    pairwise rows from its test results."""
    if Path(path).is_dir():
        return "pairwise", labels_from_tests(Path(path), seed)
    rows, kind = [], None
    for where, number, row in iter_rows(path):
        row_kind = "pairwise" if "response_a" in row else "pointwise" if "response" in row else None
        if row_kind is None:
            raise InputError("expected response_a/response_b/label or response/score", path=where, line=number)
        kind = kind or row_kind
        if row_kind != kind:
            raise InputError(f"a {row_kind} row in a {kind} file", path=where, line=number)
        _check_row(row, kind, where, number)
        rows.append(row)
    if not rows:
        raise InputError("no labels: the file is empty", path=path)
    return kind or "pairwise", rows


def _check_row(row: dict[str, Any], kind: str, where: str, number: int) -> None:
    fields = ("instruction", "response_a", "response_b") if kind == "pairwise" else ("instruction", "response")
    for field in fields:
        if not isinstance(row.get(field), str):
            raise InputError("missing or not a string", path=where, line=number, field=field)
    if kind == "pairwise" and row.get("label") not in ("a", "b", "tie"):
        raise InputError("must be a, b or tie", path=where, line=number, field="label")
    score = row.get("score")
    if kind == "pointwise" and (isinstance(score, bool) or not isinstance(score, (int, float))
                                or not math.isfinite(score)):  # fmt: skip
        raise InputError("must be a finite number", path=where, line=number, field="score")
    if row.get("preference") not in (None, *PREFERENCES):
        raise InputError(f"unknown preference {row['preference']!r}", path=where, line=number, field="preference")


def labels_from_tests(folder: Path, seed: int = 0) -> list[dict[str, Any]]:
    """Pairwise labels from a run's executions: a passing response is better than a failing one."""
    from codeuf.data.schema import GenerationRecord
    from codeuf.io import RecordLog

    path = folder / "executions.jsonl"
    if not path.is_file():
        raise InputError("not a run folder with test results (no executions.jsonl): run codeuf execute first",
                         path=folder, field="--labels")  # fmt: skip
    rows = []
    for row in RecordLog(path).read().values():
        record = GenerationRecord.model_validate(row)
        texts = {r.model: r.response for r in record.responses}
        passed = [e.model for e in record.executions if e.status == "passed"]
        failed = [e.model for e in record.executions if e.status in ("failed", "timeout") and e.total]
        for good in passed:
            for bad in failed:
                first_good = random.Random(f"{seed}:{record.id}:{good}:{bad}").random() < 0.5
                a, b = (good, bad) if first_good else (bad, good)
                label = "a" if first_good else "b"
                rows.append({"instruction": record.instruction, "preference": record.preference, "id": record.id,
                             "response_a": texts[a], "response_b": texts[b], "label": label})  # fmt: skip
    if not rows:
        raise InputError("no pair of a passing and a failing response in this run's test results", path=path)
    return rows


def _rate_verdict(verdict: Verdict, swapped: bool) -> str | None:
    """The better of two rated responses as a label of the original order, or None when a rating is unreadable."""
    first, second = (rating_value(r) for r in verdict.ratings)
    if first is None or second is None:
        return None
    if first == second:
        return "tie"
    better_first = first > second
    return ("b" if better_first else "a") if swapped else ("a" if better_first else "b")


def evaluate_pairwise(rows: list[dict[str, Any]], judge: JudgeConfig, session: StageSession,
                      seed: int = 0) -> dict[str, Any]:  # fmt: skip
    jobs = []
    for row in rows:
        for first, second in (("response_a", "response_b"), ("response_b", "response_a")):
            if compares(judge):
                jobs.append(compare_job(judge, row.get("preference"), row["instruction"], row[first], row[second]))
            else:
                jobs.append(rate_job(judge, row.get("preference") or "instruction-following", row["instruction"],
                                     [row[first], row[second]]))  # fmt: skip
    verdicts: dict[int, Verdict] = {}
    run_judge_jobs(session, "judge-eval", jobs, verdicts.__setitem__)
    read = winner if compares(judge) else _rate_verdict
    pairs = [(read(verdicts[2 * i], False), read(verdicts[2 * i + 1], True)) for i in range(len(rows))]
    return {"kind": "pairwise", "judge": judge.label, "method": judge.method,
            **pairwise_metrics([r["label"] for r in rows], pairs, seed)}  # fmt: skip


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
        "tie_rate": rate(read, lambda p: p["verdict"] == "tie"),
        "unreadable_rate": rate(pairs, lambda p: p["verdict"] is None),
        "verdicts": pairs,
    }


def evaluate_pointwise(rows: list[dict[str, Any]], judge: JudgeConfig, session: StageSession,
                       seed: int = 0) -> dict[str, Any]:  # fmt: skip
    if compares(judge):
        raise InputError(f"judge {judge.label!r}: a pairwise judge cannot grade pointwise labels (use json or "
                         "logprobs)", field="method")  # fmt: skip
    jobs = [score_job(judge, row.get("preference"), row["instruction"], row["response"]) for row in rows]
    verdicts: dict[int, Verdict] = {}
    run_judge_jobs(session, "judge-eval", jobs, verdicts.__setitem__)
    ratings = [verdicts[i].ratings[0] for i in range(len(rows))]
    points = [(float(row["score"]), float(r)) for row, r in zip(rows, ratings, strict=True) if r != NA]

    def correlation(fn: Any) -> dict[str, Any]:
        return bootstrap_statistic(points, lambda s: fn([x for x, _ in s], [y for _, y in s]), seed=seed).as_dict()

    unreadable = [r == NA for r in ratings]
    return {
        "kind": "pointwise",
        "judge": judge.label,
        "method": judge.method,
        "items": len(rows),
        "unreadable": sum(unreadable),
        "unreadable_rate": share(unreadable, seed),
        "spearman": correlation(spearman),
        "kendall_tau_b": correlation(kendall_tau_b),
        "ratings": ratings,
    }


def share(flags: list[bool], seed: int = 0) -> dict[str, Any]:
    """The share of True with its bootstrap interval."""
    return bootstrap_statistic(flags, lambda s: sum(s) / len(s) if s else None, seed=seed).as_dict()


def evaluate_judge(kind: str, rows: list[dict[str, Any]], judge: JudgeConfig, session: StageSession,
                   seed: int = 0) -> dict[str, Any]:  # fmt: skip
    evaluate = evaluate_pairwise if kind == "pairwise" else evaluate_pointwise
    return evaluate(rows, judge, session, seed)


def comparison_table(results: list[dict[str, Any]]) -> str:
    """Several judges side by side: one row per judge, each figure with its interval (markdown)."""
    kind = results[0]["kind"]
    metrics = PAIRWISE_METRICS if kind == "pairwise" else POINTWISE_METRICS
    lines = ["| judge | method | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for result in results:
        cells = []
        for metric in metrics:
            e = result[metric]
            value = "n/a" if e["value"] is None else f"{e['value']:.3f}"
            interval = "" if e["ci_low"] is None else f" [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"
            cells.append(f"{value}{interval} (n={e['n']})")
        lines.append(f"| {result['judge']} | {result['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def judge_eval_folder(labels: Path, judges: list[JudgeConfig], out: Path, *, concurrency: int = 8, seed: int = 0,
                      progress: bool | None = None) -> JudgeEval:  # fmt: skip
    """`codeuf judge-eval`: each judge measured on the labels, one report per judge (OUT/<judge>.json, and
    OUT/judge_eval.json for the first), and the judges side by side (OUT/comparison.md); returns the table."""
    import json

    from codeuf.evals.codal import slug
    from codeuf.io import atomic_write_text, check_writable_dir
    from codeuf.judging import check_backend, method_for

    check_writable_dir(out, "--out")
    kind, rows = load_labels(labels, seed)
    for judge in judges:
        method_for(judge, "compare" if compares(judge) else "score" if kind == "pointwise" else "rate")
    session = StageSession(out / "cache.sqlite", concurrency, progress)
    for judge in judges:
        check_backend(judge, session.backend(judge.spec))
    results = []
    with session.working_in(out):
        for judge in judges:
            results.append(evaluate_judge(kind, rows, judge, session, seed))
        session.raise_if_failed()  # no metric from a judge whose answers are missing: a rerun completes it
        for result in results:
            atomic_write_text(out / f"{slug(result['judge'])}.json", json.dumps(result, indent=2) + "\n")
        atomic_write_text(out / "judge_eval.json", json.dumps(results[0], indent=2) + "\n")
        table = comparison_table(results)
        atomic_write_text(out / "comparison.md", table)
    return JudgeEval(kind=kind, reports=[judge_report(r) for r in results], table=table, out=out)


def judge_report(result: dict[str, Any]) -> JudgeReport:
    """A judge's report dict as a typed result: its headline metrics apart, the rest in `details`."""
    names = PAIRWISE_METRICS if result["kind"] == "pairwise" else POINTWISE_METRICS
    metrics = {name: Estimate(value=e["value"], low=e["ci_low"], high=e["ci_high"], n=e["n"])
               for name in names if isinstance(e := result.get(name), dict)}  # fmt: skip
    details = {k: v for k, v in result.items() if k not in {*names, "judge", "method", "kind"}}
    return JudgeReport(judge=result["judge"], method=result["method"], kind=result["kind"], metrics=metrics,
                       details=details)  # fmt: skip
