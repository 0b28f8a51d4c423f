"""Statistics of a built dataset and the dataset card (README.md) that reports them."""

from __future__ import annotations

import ast
import json
from collections import Counter, defaultdict
from typing import Any

from codeuf.data.schema import NA, CodeTests, FeedbackRecord
from codeuf.preferences import PREFERENCE_NAMES
from codeuf.stats import interval_text


def feedback_stats(records: list[FeedbackRecord]) -> dict[str, Any]:
    per_preference = Counter(r.preference for r in records)
    by_model: dict[str, Counter[str]] = defaultdict(Counter)
    by_preference: dict[str, Counter[str]] = defaultdict(Counter)
    annotations = na = generation_errors = 0
    for record in records:
        generation_errors += len(record.errors)
        for a in record.annotations:
            by_model[a.model][_bucket(a.rating)] += 1
            by_preference[record.preference][_bucket(a.rating)] += 1
            annotations += 1
            na += a.rating == NA
    judge_calls = sum(len(r.judgements) for r in records)
    tests = test_stats(records)
    judge_errors = sum(1 for r in records for j in r.judgements if j.error)
    return {
        "records": len(records),
        "per_preference": {p: per_preference.get(p, 0) for p in PREFERENCE_NAMES},
        "annotations": annotations,
        "na": na,
        "na_rate": na / annotations if annotations else None,
        "generation_errors": generation_errors,
        "judge_calls": judge_calls,
        "judge_calls_with_unreadable_ratings": judge_errors,
        "ratings_by_model": {m: dict(sorted(c.items())) for m, c in sorted(by_model.items())},
        "ratings_by_preference": {p: dict(sorted(c.items())) for p, c in sorted(by_preference.items())},
        "tests": tests,
    }


def test_stats(records: list[Any]) -> dict[str, Any]:
    """Where the records' tests came from, and what test synthesis (codeuf tests) kept and dropped, for the
    manifest and the card."""
    origins = Counter((r.tests.origin.split(":")[0] if r.tests else "none") for r in records)
    synthesized = [r.tests for r in records if r.tests and r.tests.synthesis]
    reasons: Counter[str] = Counter()
    for tests in synthesized:
        for reason in tests.reasons:
            reasons[_reason_kind(reason)] += 1
    given = [r.tests for r in records if r.tests and r.tests.checked == "reference" and not r.tests.synthesis]
    return {
        "origins": dict(origins),
        "with_tests": sum(1 for r in records if r.has_tests),
        "given_checked": len(given),
        "given_dropped": sum(t.dropped for t in given),
        "given_emptied": sum(1 for t in given if not t.runnable),
        "not_runnable": dict(
            Counter(r.tests.unrunnable.split(":")[0] for r in records if r.tests and not r.tests.runnable)
        ),
        "synthesized_records": len(synthesized),
        "validations": dict(Counter(t.synthesis.validation for t in synthesized)),
        "candidates": sum(len(t.synthesis.candidates) for t in synthesized),
        "kept": sum(_test_count(t) for t in synthesized if t.code.strip()),
        "dropped": sum(t.dropped for t in synthesized),
        "drop_reasons": dict(reasons.most_common()),
    }


def _test_count(tests: CodeTests) -> int:
    """Written tests are one statement each (Python's may span lines), one line each in other languages."""
    if tests.language == "python":
        return len(ast.parse(tests.code).body)
    return sum(1 for line in tests.code.splitlines() if line.strip())


_REASON_KINDS = (
    "assertion line",
    "the reference solution fails it",
    "not kept by",
    "not valid Python",
    "does not call",
    "not one assert statement",
    "a duplicate",
    "unreadable",
    "only",
    "no reference",
    "named no function",
)


def _reason_kind(reason: str) -> str:
    return next((kind for kind in _REASON_KINDS if kind in reason), "other")


def _bucket(rating: str) -> str:
    """Exact ratings as they are; a fractional mean falls in the bucket of its rounded value."""
    if rating == NA:
        return NA
    value = float(rating)
    return rating if value.is_integer() else f"~{round(value)}"


def _table(rows: dict[str, dict[str, int]]) -> str:
    columns = sorted({k for counts in rows.values() for k in counts}, key=lambda k: (k == NA, k))
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, counts in rows.items():
        lines.append(f"| {name} | " + " | ".join(str(counts.get(c, 0)) for c in columns) + " |")
    return "\n".join(lines)


def stage_usage(entry: dict[str, Any]) -> dict[str, str]:
    """A stage's usage (the manifest's `stages` entry) as table cells: tokens, batch calls, cost."""
    usage = entry.get("usage", {}).values()
    batched = sum(u.get("batch_requests", 0) for u in usage)
    batches = sum(u.get("batches", 0) for u in usage)
    costs = [u["cost_usd"] for u in usage if u.get("cost_usd") is not None]
    calls = f"{batched} call{'s' * (batched != 1)}"
    through = (f"{calls} in {batches} batch{'es' * (batches != 1)}" if batches else
               f"{calls}, answered by batches of an earlier run (now cached)")  # fmt: skip
    cost = sum(costs)
    return {
        "prompt": str(sum(u.get("prompt_tokens", 0) for u in usage)),
        "completion": str(sum(u.get("completion_tokens", 0) for u in usage)),
        "batched": through if batched or batches else "none",
        "cost": "no price given" if not costs else f"{cost:.4f}" if cost >= 0.01 else f"{cost:.2g}",
    }


def _usage_table(stages: dict[str, Any]) -> str:
    lines = [
        "| stage | calls | errors | wall time (s) | prompt tokens | completion tokens | through a batch API "
        "| cost (USD) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for stage, entry in stages.items():
        cells = stage_usage(entry)
        lines.append(f"| {stage} | {entry['calls']} | {entry['errors']} | {entry['wall_time_s']} | {cells['prompt']} "
                     f"| {cells['completion']} | {cells['batched']} | {cells['cost']} |")  # fmt: skip
    return "\n".join(lines)


def feedback_card(config: dict[str, Any], stats: dict[str, Any], stages: dict[str, Any], flips: dict[str, Any]) -> str:
    na_rate = "n/a" if stats["na_rate"] is None else f"{stats['na_rate']:.1%}"
    flip = (
        "not measured (one order per judge)"
        if flips["flip_rate"] is None
        else (f"{flips['flip_rate']:.1%} ({flips['flips']} of {flips['comparable_pairs']} comparable pairs)")
    )
    return f"""---
pretty_name: CodeUltraFeedback-style preference data (codeuf)
tags: [codeultrafeedback, preference dataset, llm-as-a-judge, code generation, codeuf]
---
# Coding-preference feedback built with codeuf

Schema of `coseal/CodeUltraFeedback`: `instruction, preference, models, responses[{{model, response}}],
annotations[{{model, rating, rationale}}]` (`rating` is "1".."5", a mean such as "3.5" when several orders or
judges rated, or "N/A" when no rating could be read). Extra columns: `id`, `principles` (the system prompt of
each model), `errors` (models that gave no response), `judgements` (every judge call: order shown, ratings,
raw text when unreadable).

{_warnings_section(stats.get("warnings"))}{_plots_section(stats)}{_biases_section(stats.get("biases"))}## Statistics

- records: {stats["records"]}; per preference: {", ".join(f"{k} {v}" for k, v in stats["per_preference"].items())}
- annotations: {stats["annotations"]}; N/A: {stats["na"]} ({na_rate}); generation errors: {stats["generation_errors"]}
- judge calls: {stats["judge_calls"]}, of which with unreadable ratings: {stats["judge_calls_with_unreadable_ratings"]}
- position-bias flip rate: {flip}
{_test_origin_lines(stats.get("tests") or {})}
Ratings per model:

{_table(stats["ratings_by_model"])}

Ratings per preference:

{_table(stats["ratings_by_preference"])}

Calls, tokens and wall time per stage:

{_usage_table(stages)}

## Configuration

<details><summary>The run's configuration (JSON)</summary>

```json
{json.dumps(config, indent=2, default=str)}
```

</details>
"""


def bias_lines(biases: dict[str, Any], pairs_longer: dict[str, Any] | None = None) -> list[str]:
    """The biases as lines for a card or the terminal."""
    lines = []
    flips = biases.get("flip_rate") or {}
    if flips.get("value") is not None:
        lines.append(f"- position: flip rate between orders: {interval_text(flips, 3)} (records with comparable "
                     f"pairs: {flips['n']})")  # fmt: skip
    for judge, figures in (biases.get("position") or {}).items():
        means = ", ".join(f"{i + 1}: {interval_text(m, 2)}" for i, m in enumerate(figures["mean_by_position"]))
        lines.append(f"- position ({judge}): mean rating by position shown: {means}; first minus last: "
                     f"{interval_text(figures['first_minus_last'], 2)}")  # fmt: skip
    length = biases.get("length") or {}
    if length:
        lines.append(f"- length: rank correlation of rating and length within a record: "
                     f"{interval_text(length['rating_length_spearman'], 2)} (over {length['records_defined']} of "
                     f"{length['records']} records, where ratings and lengths vary)")  # fmt: skip
    if pairs_longer:
        lines.append(f"- length: pairs whose chosen response is the longer: {interval_text(pairs_longer, 2)}")
    for judge, figures in (biases.get("self_preference") or {}).items():
        if "own_minus_other" in figures:
            lines.append(f"- self-preference ({judge}, {figures['family']}): own family's mean rating minus the "
                         f"others': {interval_text(figures['own_minus_other'], 2)}")  # fmt: skip
        else:
            lines.append(f"- self-preference ({judge}): not measured: {figures['note']}")
    return lines


def _longer_line(stats: dict[str, Any]) -> str:
    """Length control's effect (where it ran) and the share of pairs whose chosen response is the longer."""
    longer, control = stats.get("chosen_longer") or {}, stats.get("length_control")
    text = ""
    if control and control["fitted"]:
        text = (f"- length control ({control['mode']}, after AlpacaEval 2's length-controlled fit): length "
                f"coefficient {control['beta']:.3f} over {control['observations']} rated response pairs; "
                f"{control['pairs_explained_by_length']} pairs explained by length alone; {control['pairs_changed']} "
                "pairs changed\n")  # fmt: skip
    elif control:
        text = f"- length control ({control['mode']}): not fitted: {control['note']}\n"
    if longer.get("value") is not None:
        text += f"- pairs whose chosen response is the longer one (a judge's length bias): {interval_text(longer)}\n"
    return text


def _plots_section(stats: dict[str, Any]) -> str:
    """Small inline SVG plots (ratings per model and per preference, the mean rating by position shown), first."""
    from codeuf import svg

    buckets = sorted({k for c in stats["ratings_by_model"].values() for k in c}, key=lambda k: (k == NA, k))
    if not buckets:
        return ""
    plots = [svg.stacked_counts("Ratings per model", stats["ratings_by_model"], buckets),
             svg.stacked_counts("Ratings per preference", stats["ratings_by_preference"], buckets)]  # fmt: skip
    for judge, figures in ((stats.get("biases") or {}).get("position") or {}).items():
        rows = [(f"position {i + 1}", m) for i, m in enumerate(figures["mean_by_position"])]
        plots.append(svg.estimates(f"Mean rating by position shown ({judge})", rows, 0, 5))
    return "## At a glance\n\n" + "\n".join(plots) + "\n\n"


def _biases_section(biases: dict[str, Any] | None) -> str:
    """The judge's biases, measured on this run (measured by codeuf.stages.biases), each with its 95% interval."""
    if not biases:
        return ""
    return "## Judge biases, measured on this run\n\n" + "\n".join(bias_lines(biases)) + "\n\n"


def _disputed(stats: dict[str, Any]) -> str:
    return "dropped" if stats.get("order_disagreements_dropped") else "kept, flagged `orders_disagree`"


def _warnings_section(warnings: list[dict[str, Any]] | None) -> str:
    """The card's warnings, first: what a researcher should know before using the data (see
    codeuf.stages.signals)."""
    if not warnings:
        return ""
    return "## Warnings\n\n" + "".join(f"- **{w['code']}**: {w['message']}\n" for w in warnings) + "\n"


def _test_origin_lines(tests: dict[str, Any]) -> str:
    """The card's lines on where tests came from (nothing when no record has tests or synthesis)."""
    if not tests.get("with_tests") and not tests.get("synthesized_records"):
        return ""
    origins = ", ".join(f"{k} {v}" for k, v in sorted(tests["origins"].items()))
    lines = [f"- records with tests: {tests['with_tests']} (origin of the tests: {origins})"]
    if tests.get("given_checked"):
        lines.append(f"- given tests run against the reference solution first: {tests['given_checked']} records; "
                     f"tests dropped because the solution fails them: {tests['given_dropped']}; records left with "
                     f"none: {tests['given_emptied']}")  # fmt: skip
    if tests.get("not_runnable"):
        lines.append("- records whose tests do not run: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(tests["not_runnable"].items())))  # fmt: skip
    if tests["synthesized_records"]:
        validations = ", ".join(f"{k} {v}" for k, v in sorted(tests["validations"].items()))
        reasons = ", ".join(f"{k}: {v}" for k, v in tests["drop_reasons"].items()) or "none"
        lines.append(f"- tests written by a model: {tests['synthesized_records']} records, {tests['candidates']} "
                     f"runnable candidates, {tests['kept']} kept ({validations}); dropped: {reasons}")  # fmt: skip
    return "\n".join(lines) + "\n"


def _tests_lines(stats: dict[str, Any]) -> str:
    """The card's lines on tests: pairs per criterion, and how the judge's ratings relate to the tests."""
    per = stats.get("pairs_per_criterion") or {}
    lines = [f"- criterion: {stats.get('criterion', 'judge')}; pairs per criterion: "
             + (", ".join(f"{k} {v}" for k, v in per.items()) or "none")]  # fmt: skip
    if stats.get("dropped_no_pass_fail") or stats.get("dropped_no_tests"):
        lines.append(f"- dropped with no passing and failing response to contrast: {stats['dropped_no_pass_fail']}; "
                     f"without tests (for a tests criterion): {stats['dropped_no_tests']}")  # fmt: skip
    vs = stats.get("judge_vs_tests") or {}
    if vs.get("pass_fail_pairs"):
        a, t = vs["agreement"], vs["ties"]
        lines.append(
            f"- judge-tests agreement: over {vs['pass_fail_pairs']} pairs of a passing and a failing response "
            f"({vs['records_with_pass_and_fail']} records), the judge rates the passing one higher in "
            f"{interval_text(a)} (equal ratings: {t['value']:.3f}); a top-rated response fails its tests in "
            f"{vs['top_rated_fails']:.3f} of those records"
        )
    if vs.get("pass_rate_pairs"):
        a, t = vs["pass_rate_agreement"], vs["pass_rate_ties"]
        lines.append(f"- judge-pass-rate agreement: over {vs['pass_rate_pairs']} pairs of responses whose pass rates "
                     f"differ, the judge rates the one passing more tests higher in {interval_text(a)} "
                     f"(equal ratings: {t['value']:.3f})")  # fmt: skip
    rates = stats.get("pass_rates_per_language") or {}
    if rates:
        lines.append("- responses passing all their tests, per language: "
                     + "; ".join(f"{k} {interval_text(v)} (n = {v['n']})" for k, v in rates.items()))  # fmt: skip
    check = stats.get("pair_check")
    if check:
        lines.append(f"- pair check by {check['judge']} (pairwise, both orders): {check['agrees']} pairs confirmed and "
                     f"kept; dropped: {check['disagrees']} where the judge prefers the rejected response or the orders "
                     f"disagree, {check['tie']} ties, {check['unreadable']} unreadable")  # fmt: skip
    return "\n".join(lines) + "\n"


def binarized_card(config: dict[str, Any], stats: dict[str, Any], trl: bool = False) -> str:
    schema = (
        "TRL's conversational preference format: `prompt`, `chosen`, `rejected` as message lists, plus "
        "`preference`; `DPOTrainer` takes it as it is."
        if trl
        else "Schema of `coseal/CodeUltraFeedback_binarized`: the feedback columns plus `chosen, rejected, "
        "rating_chosen, rating_rejected, model_chosen, model_rejected` (ratings are numbers: means over orders or "
        "judges can be fractional)."
    )
    return f"""---
pretty_name: CodeUltraFeedback-style binarized preferences (codeuf)
tags: [codeultrafeedback, dpo, preference dataset, codeuf]
---
# Binarized coding preferences built with codeuf

{schema}

Chosen is a highest-rated response and rejected a lowest-rated one (ties broken at random with the seed);
N/A ratings are left out. Split train/test stratified by preference.

{_warnings_section(stats.get("warnings"))}## Statistics

- feedback records: {stats["records"]}; pairs: {stats["pairs"]} (train {stats["train"]}, test {stats["test"]})
- dropped because every readable rating was equal: {stats["dropped_ties"]} (kept ties: {stats["kept_ties"]})
- dropped below the minimum margin: {stats["dropped_margin"]}
- dropped with fewer than two readable ratings: {stats["dropped_too_few_ratings"]}
- dropped because chosen and rejected are the same text: {stats.get("dropped_identical", 0)}
- pairs whose judge orders disagree: {stats.get("order_disagreements", 0)} ({_disputed(stats)})
{_longer_line(stats)}{_tests_lines(stats)}
## Configuration

<details><summary>The run's configuration (JSON)</summary>

```json
{json.dumps(config, indent=2, default=str)}
```

</details>
"""
