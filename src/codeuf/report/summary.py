"""The terminal summary that `codeuf run` ends with."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from codeuf.data.card import stage_usage
from codeuf.data.schema import NA
from codeuf.stages.pipeline import RunSummary
from codeuf.stats import interval_text


def print_run_summary(summary: RunSummary, console: Console | None = None) -> None:
    console = console or Console()
    feedback, pairs = summary.feedback, summary.binarized
    table = Table(title="Ratings per model (counts)")
    buckets = sorted({k for c in feedback["ratings_by_model"].values() for k in c}, key=lambda k: (k == NA, k))
    table.add_column("model")
    for bucket in buckets:
        table.add_column(bucket, justify="right")
    for model, counts in feedback["ratings_by_model"].items():
        table.add_row(model, *(str(counts.get(b, 0)) for b in buckets))
    console.print(table)
    console.print(_stages_table(summary))
    na_rate = "n/a" if feedback["na_rate"] is None else f"{feedback['na_rate']:.1%}"
    flip = summary.flips["flip_rate"]
    console.print(
        f"instructions: {summary.instructions['kept']} (per preference: "
        + ", ".join(f"{k} {v}" for k, v in feedback["per_preference"].items())
        + f")\nannotations: {feedback['annotations']}, N/A {feedback['na']} ({na_rate}); "
        f"flip rate: {'not measured' if flip is None else f'{flip:.1%}'}\n"
        f"pairs: {pairs['pairs']} (train {pairs['train']}, test {pairs['test']}); "
        f"ties dropped {pairs['dropped_ties']}, "
        f"below margin {pairs['dropped_margin']}, too few ratings {pairs['dropped_too_few_ratings']}\n"
        f"wall time: {summary.wall_time_s:.1f} s"
    )
    for line in _test_lines(summary):
        console.print(line)
    if feedback.get("biases"):
        from codeuf.data.card import bias_lines

        console.print("judge biases (95% intervals):", highlight=False)
        for line in bias_lines(feedback["biases"], pairs.get("chosen_longer")):
            console.print("  " + line.removeprefix("- "), highlight=False)
    if not pairs.get("written", True):
        console.print("[bold red]no pair was made: the folder's earlier pairs, if any, are left as they were[/]")
    for warning in summary.warnings:
        console.print(f"[yellow]warning ({warning['code']}): {warning['message']}[/]", highlight=False)
    out = summary.out.resolve()
    console.print(f"feedback dataset:  {out / 'feedback'}  (card: {out / 'feedback' / 'README.md'})")
    console.print(f"binarized dataset: {out / 'binarized'}  (card: {out / 'binarized' / 'README.md'})")
    console.print(f"TRL DPO dataset:   {out / 'binarized_trl'}")
    console.print(f"manifest:          {out / 'manifest.json'}")


def _stages_table(summary: RunSummary) -> Table:
    """Calls, errors, time and tokens per stage; batch calls and cost where a run has them."""
    cells = {name: stage_usage(entry) for name, entry in summary.stages.items()}
    batched = any(c["batched"] != "none" for c in cells.values())
    priced = any(c["cost"] != "no price given" for c in cells.values())
    table = Table(title="Stages")
    columns = ["stage", "calls", "errors", "wall time (s)", "tokens (prompt/completion)"]
    columns += ["through a batch API"] * batched + ["cost (USD)"] * priced
    for column in columns:
        table.add_column(column)
    for name, entry in summary.stages.items():
        c = cells[name]
        tokens = f"{c['prompt']}/{c['completion']}"
        row = [name, str(entry["calls"]), str(entry["errors"]), str(entry["wall_time_s"]), tokens]
        table.add_row(*row, *[c["batched"]] * batched, *[c["cost"]] * priced)
    return table


def _test_lines(summary: RunSummary) -> list[str]:
    """What the tests said, where responses ran against them: outcomes, pairs per criterion, and how the
    judge's ratings relate to the tests."""
    executions, pairs = summary.executions or {}, summary.binarized
    outcomes = executions.get("responses") or {}
    if not outcomes:
        return []
    counted = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(outcomes.items()))
    lines = [f"executions: {sum(outcomes.values())} responses of {executions['records_with_tests']} records with "
             f"tests: {counted}"]  # fmt: skip
    per = pairs.get("pairs_per_criterion") or {}
    lines.append("pairs per criterion: " + (", ".join(f"{k} {v}" for k, v in per.items()) or "none"))
    vs = pairs.get("judge_vs_tests") or {}
    checks = (
        ("agreement", "pass_fail_pairs", "a passing over a failing response"),
        ("pass_rate_agreement", "pass_rate_pairs", "the response passing more tests"),
    )
    for key, pairs_key, what in checks:
        estimate = vs.get(key) or {}
        if estimate.get("value") is None:
            lines.append(f"judge rates {what} higher: undefined (no such pair)")
        else:
            lines.append(f"judge rates {what} higher: {interval_text(estimate)} over {vs[pairs_key]} pairs")
    return lines
