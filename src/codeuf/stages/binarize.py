"""Stage 4: binarize ratings into chosen/rejected pairs for DPO.

Chosen is a highest-rated response, rejected a lowest-rated one, ties between equally rated
responses broken with the seeded RNG; N/A ratings are left out. When every readable rating is the
same, the paper keeps a pair anyway; here `ties="drop"` (the default) drops it and counts it.
Pairs whose margin is below `min_margin` are dropped and counted too. The split into train and
test is stratified by preference.

Where responses were run against tests (`codeuf execute`), a pair can be chosen by them instead:
`tests`: the higher pass rate wins and the judge breaks ties (responses not executed are left out);
`tests-then-judge`: chosen passes all its tests and is the best-rated of those that do, rejected fails at
least one (the worst-rated of those). `auto` (the default) takes the strongest evidence each record has:
tests-then-judge where a response passes all its tests and another does not, else tests where the executed
responses' pass rates differ, else the judge (records without tests, or whose responses the tests cannot
tell apart). Each pair records the criterion that made it and, where there are tests, the execution
results of both responses.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
from typing import Any, Literal

from codeuf.data.schema import Execution, FeedbackRecord, rating_value

Criterion = Literal["auto", "judge", "tests", "tests-then-judge"]
CRITERIA = ("auto", "judge", "tests", "tests-then-judge")


def binarize_feedback(
    records: list[FeedbackRecord],
    *,
    seed: int,
    ties: Literal["keep", "drop"] = "drop",
    min_margin: float = 0.0,
    test_fraction: float = 0.05,
    criterion: Criterion = "auto",
    order_disagreements: Literal["flag", "drop"] = "flag",
    length_control: Literal["off", "drop", "weight"] = "off",
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Returns ({"train": rows, "test": rows}, statistics).

    A pair whose chosen and rejected texts are the same (after whitespace) is dropped and counted: it
    teaches nothing. A pair on which a judge's orders disagree (one order rates chosen higher, another
    rejected) is counted, and kept with `orders_disagree` set or dropped (`order_disagreements`)."""
    counts: Counter[str] = Counter()
    rows = []
    for record in records:
        rng = random.Random(f"{seed}:binarize:{record.id}")
        executed = _executed(record)
        chosen_by = _strongest(executed) if criterion == "auto" else criterion
        if chosen_by != "judge" and not executed:
            counts["dropped_no_tests"] += 1
            continue
        if chosen_by == "judge":
            row = _judge_pair(record, rng, ties, min_margin, counts)
        else:
            row = _tests_pair(record, executed, rng, chosen_by, counts)
        if row is None or not _keep(record, row, order_disagreements, counts):
            continue
        row["criterion"] = chosen_by
        counts[f"pairs_{chosen_by}"] += 1
        rows.append(row)
    controlled = None
    if length_control != "off":
        from codeuf.stages.length_control import control_pairs, fit_length_model

        rows, controlled = control_pairs(rows, fit_length_model(records), length_control)
    splits = stratified_split(rows, test_fraction, seed)
    stats = {
        "records": len(records),
        "pairs": len(rows),
        "train": len(splits["train"]),
        "test": len(splits["test"]),
        **{k: counts.get(k, 0) for k in ("dropped_ties", "kept_ties", "dropped_margin", "dropped_too_few_ratings")},
        "criterion": criterion,
        "pairs_per_criterion": {c: counts[f"pairs_{c}"] for c in CRITERIA[1:] if counts[f"pairs_{c}"]},
        **{
            k: counts.get(k, 0)
            for k in ("dropped_no_tests", "dropped_no_pass_fail", "dropped_identical", "order_disagreements")
        },
        "order_disagreements_dropped": order_disagreements == "drop",
        "judge_vs_tests": judge_vs_tests(records, seed),
        "pass_rates_per_language": pass_rates_per_language(records, seed),
        "chosen_longer": chosen_longer(rows, seed),
        "length_control": controlled,
    }
    return splits, stats


def chosen_longer(rows: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """The share of pairs whose chosen response is longer than the rejected one (characters), with its
    interval: a judge that prefers length shows it here (codeuf.stages.biases)."""
    from codeuf.stats import bootstrap_mean

    longer = [float(len(row["chosen"]) > len(row["rejected"])) for row in rows]
    return bootstrap_mean(longer, seed=seed).as_dict()


def pass_rates_per_language(records: list[Any], seed: int = 0) -> dict[str, Any]:
    """Per language the responses ran in: how many ran, and the share that passed all their tests (with a
    95% bootstrap interval)."""
    from codeuf.stats import bootstrap_mean

    outcomes: dict[str, list[float]] = defaultdict(list)
    for record in records:
        for execution in record.executions:
            if execution.status != "not_executed" and execution.total > 0:
                outcomes[execution.language or "python"].append(float(execution.status == "passed"))
    return {language: bootstrap_mean(values, seed=seed).as_dict() for language, values in sorted(outcomes.items())}


def _keep(record: FeedbackRecord, row: dict[str, Any], order_disagreements: str, counts: Counter[str]) -> bool:
    """Whether a pair stays: not two copies of one text, and (under `drop`) not one the judge's orders dispute."""
    if " ".join(row["chosen"].split()) == " ".join(row["rejected"].split()):
        counts["dropped_identical"] += 1
        return False
    row["orders_disagree"] = orders_disagree(record, row["model_chosen"], row["model_rejected"])
    if row["orders_disagree"]:
        counts["order_disagreements"] += 1
    return not (row["orders_disagree"] and order_disagreements == "drop")


def orders_disagree(record: FeedbackRecord, chosen: str, rejected: str) -> bool:
    """Some judge rated chosen above rejected in one order and below it in another."""
    said: dict[str, set[int]] = defaultdict(set)
    for judgement in record.judgements:
        ratings = dict(zip(judgement.order, map(rating_value, judgement.ratings), strict=False))
        a, b = ratings.get(chosen), ratings.get(rejected)
        if a is not None and b is not None and a != b:
            said[judgement.judge].add(1 if a > b else -1)
    return any(len(signs) > 1 for signs in said.values())


def _executed(record: FeedbackRecord) -> dict[str, Execution]:
    """The responses that ran against tests (passed, failed or timed out), by model."""
    return {e.model: e for e in record.executions if e.status != "not_executed" and e.total > 0}


def _strongest(executed: dict[str, Execution]) -> str:
    """`auto`: the strongest criterion the executions can decide (see the module's docstring)."""
    passed = {e.status == "passed" for e in executed.values()}
    if passed == {True, False}:
        return "tests-then-judge"
    if len({e.passed / e.total for e in executed.values()}) > 1:
        return "tests"
    return "judge"


def _ratings(record: FeedbackRecord) -> dict[str, float]:
    failed = record.failed()
    return {
        a.model: v for a in record.annotations if (v := rating_value(a.rating)) is not None and a.model not in failed
    }


def _tests_pair(record: FeedbackRecord, executed: dict[str, Execution], rng: random.Random, criterion: str,
                counts: Counter[str]) -> dict[str, Any] | None:  # fmt: skip
    ratings = _ratings(record)
    if criterion == "tests":
        rate = {m: e.passed / e.total for m, e in executed.items()}
        best, worst = max(rate.values()), min(rate.values())
        if best == worst:
            counts["dropped_no_pass_fail"] += 1
            return None
        top = [m for m in rate if rate[m] == best]
        bottom = [m for m in rate if rate[m] == worst]
    else:
        top = [m for m, e in executed.items() if e.status == "passed"]
        bottom = [m for m, e in executed.items() if e.status != "passed"]
        if not top or not bottom:
            counts["dropped_no_pass_fail"] += 1
            return None
    chosen = _pick(top, ratings, rng, best=True)
    rejected = _pick(bottom, ratings, rng, best=False)
    texts = {r.model: r.response for r in record.responses}
    return _row(record, texts, chosen, rejected, ratings.get(chosen), ratings.get(rejected))


def _pick(models: list[str], ratings: dict[str, float], rng: random.Random, *, best: bool) -> str:
    """The best- (or worst-) rated of `models`, the seed breaking ties; unrated ones only when none is rated."""
    rated = [m for m in models if m in ratings]
    if not rated:
        return rng.choice(sorted(models))
    target = (max if best else min)(ratings[m] for m in rated)
    return rng.choice(sorted(m for m in rated if ratings[m] == target))


def _judge_pair(record: FeedbackRecord, rng: random.Random, ties: str, min_margin: float,
                counts: Counter[str]) -> dict[str, Any] | None:  # fmt: skip
    texts = {r.model: r.response for r in record.responses}
    rated = list(_ratings(record).items())
    if len(rated) < 2:
        counts["dropped_too_few_ratings"] += 1
        return None
    best = max(v for _, v in rated)
    worst = min(v for _, v in rated)
    if best == worst:
        if ties == "drop":
            counts["dropped_ties"] += 1
            return None
        counts["kept_ties"] += 1
        chosen, rejected = rng.sample([m for m, _ in rated], 2)
    else:
        chosen = rng.choice([m for m, v in rated if v == best])
        rejected = rng.choice([m for m, v in rated if v == worst])
    if best - worst < min_margin:
        counts["dropped_margin"] += 1
        return None
    return _row(record, texts, chosen, rejected, best, worst)


def judge_vs_tests(records: list[FeedbackRecord], seed: int = 0) -> dict[str, Any]:
    """How the judge's ratings relate to the tests, over records whose responses ran against tests.

    `agreement`: over pairs of responses of one record where one passed and one failed, both rated, the
    share the judge rates the passing one higher (equal ratings count as not higher; `ties` is their
    share), with a 95% bootstrap interval over records. `top_rated_fails`: the share of records with a
    passing and a failing response in which a top-rated response fails. `pass_rate_agreement`: the same
    share over pairs of responses whose pass rates differ (the one passing more of its tests should be
    rated higher), which is defined where no response passes everything."""
    from codeuf.stats import bootstrap_statistic

    per_record: list[tuple[int, int, int]] = []  # (pass-fail pairs, judge higher on the pass, equal)
    by_rate: list[tuple[int, int, int]] = []  # the same over pairs whose pass rates differ
    top_fails = contrasted = 0
    for record in records:
        executed, ratings = _executed(record), _ratings(record)
        rated = [(e.passed / e.total, ratings[m]) for m, e in executed.items() if m in ratings]
        differing = [(a, b) if x > y else (b, a) for (x, a), (y, b) in itertools.combinations(rated, 2) if x != y]
        if differing:
            by_rate.append((len(differing), sum(a > b for a, b in differing), sum(a == b for a, b in differing)))
        passing = [m for m, e in executed.items() if e.status == "passed" and m in ratings]
        failing = [m for m, e in executed.items() if e.status != "passed" and m in ratings]
        if not passing or not failing:
            continue
        pairs = [(ratings[p], ratings[f]) for p in passing for f in failing]
        per_record.append((len(pairs), sum(a > b for a, b in pairs), sum(a == b for a, b in pairs)))
        contrasted += 1
        top = max(ratings[m] for m in passing + failing)
        top_fails += any(ratings[m] == top for m in failing)

    def share(index: int):  # type: ignore[no-untyped-def]
        def statistic(sample: list[tuple[int, int, int]]) -> float | None:
            total = sum(s[0] for s in sample)
            return sum(s[index] for s in sample) / total if total else None

        return statistic

    return {
        "records_with_pass_and_fail": contrasted,
        "pass_fail_pairs": sum(r[0] for r in per_record),
        "agreement": bootstrap_statistic(per_record, share(1), seed=seed).as_dict(),
        "ties": bootstrap_statistic(per_record, share(2), seed=seed).as_dict(),
        "top_rated_fails": top_fails / contrasted if contrasted else None,
        "pass_rate_pairs": sum(r[0] for r in by_rate),
        "pass_rate_agreement": bootstrap_statistic(by_rate, share(1), seed=seed).as_dict(),
        "pass_rate_ties": bootstrap_statistic(by_rate, share(2), seed=seed).as_dict(),
    }


def _row(record: FeedbackRecord, texts: dict[str, str], chosen: str, rejected: str, best: float | None,
         worst: float | None) -> dict:  # fmt: skip
    released = {
        "id": record.id,
        "instruction": record.instruction,
        "preference": record.preference,
        "models": record.models,
        "responses": [r.model_dump() for r in record.responses],
        "annotations": [a.model_dump() for a in record.annotations],
        "chosen": texts[chosen],
        "rejected": texts[rejected],
        "rating_chosen": best,
        "rating_rejected": worst,
        "model_chosen": chosen,
        "model_rejected": rejected,
    }
    executions = {e.model: e.model_dump() for e in record.executions}
    released["execution_chosen"] = executions.get(chosen)
    released["execution_rejected"] = executions.get(rejected)
    return released


def stratified_split(rows: list[dict[str, Any]], test_fraction: float, seed: int) -> dict[str, list[dict[str, Any]]]:
    """round(total * fraction) rows go to test, shared among preferences in proportion to their size
    (largest remainder), each preference shuffled with the seed."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["preference"]].append(row)
    names = sorted(groups)
    quotas = {p: len(groups[p]) * test_fraction for p in names}
    n_test = {p: int(quotas[p]) for p in names}
    left = round(len(rows) * test_fraction) - sum(n_test.values())
    for p in sorted(names, key=lambda p: (-(quotas[p] - n_test[p]), p))[: max(0, left)]:
        n_test[p] += 1
    train: list[dict[str, Any]] = []
    test: list[dict[str, Any]] = []
    for preference in names:
        group = groups[preference]
        random.Random(f"{seed}:split:{preference}").shuffle(group)
        test.extend(group[: n_test[preference]])
        train.extend(group[n_test[preference] :])
    return {"train": train, "test": test}


def trl_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TRL's conversational preference format, which DPOTrainer takes as it is."""
    return [
        {
            "prompt": [{"role": "user", "content": row["instruction"]}],
            "chosen": [{"role": "assistant", "content": row["chosen"]}],
            "rejected": [{"role": "assistant", "content": row["rejected"]}],
            "preference": row["preference"],
        }
        for row in rows
    ]


def check_pairs(
    splits: dict[str, list[dict[str, Any]]], judge: Any, session: Any
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """A pairwise judge's check of each pair: chosen and rejected compared in both orders; a pair is kept only
    when both orders prefer the chosen response (a disagreement, a tie, or an unreadable verdict drops it, and
    is counted). Each kept pair records the check. A failed call drops nothing: CallsFailedError follows."""
    from codeuf.judging import compare_job, run_judge_jobs
    from codeuf.judging.verdict import Verdict, winner

    rows = [(split, row) for split, items in splits.items() for row in items]
    jobs = [compare_job(judge, row["preference"], row["instruction"], first, second) for _, row in rows
            for first, second in ((row["chosen"], row["rejected"]), (row["rejected"], row["chosen"]))]  # fmt: skip
    verdicts: dict[int, Verdict] = {}
    run_judge_jobs(session, "pair-check", jobs, verdicts.__setitem__)
    counts: Counter[str] = Counter()
    kept: dict[str, list[dict[str, Any]]] = {split: [] for split in splits}
    for i, (split, row) in enumerate(rows):
        first, second = verdicts.get(2 * i), verdicts.get(2 * i + 1)
        if first is None or second is None or first.failed or second.failed:
            kept[split].append(row)  # not checked: the call failed, and the command says so
            counts["not_checked"] += 1
            continue
        said = (winner(first, False), winner(second, True))
        outcome = ("unreadable" if None in said else "agrees" if said == ("a", "a") else
                   "tie" if "tie" in said and "b" not in said else "disagrees")  # fmt: skip
        counts[outcome] += 1
        if outcome == "agrees":
            kept[split].append({**row, "pair_check": judge.label})
    return kept, {"judge": judge.label, **{k: counts.get(k, 0) for k in ("agrees", "disagrees", "tie", "unreadable",
                                                                        "not_checked")}}  # fmt: skip
