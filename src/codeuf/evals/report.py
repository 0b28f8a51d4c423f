"""CODAL-Bench scores: per preference and overall, each with a 95% bootstrap interval; N/A counted
apart (or, when asked, as 0 like the paper's script); a paired bootstrap test for two models."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeuf.data.schema import NA
from codeuf.errors import InputError
from codeuf.evals.codal import CodalAnswer, CodalGrade, CodalItem, read_folder_records
from codeuf.io import atomic_write_text
from codeuf.llm.spec import short_name
from codeuf.preferences import PREFERENCE_NAMES
from codeuf.stats import bootstrap_mean, paired_bootstrap


@dataclass
class GradedRun:
    model: str
    judge: str
    grades: list[CodalGrade]
    items: dict[str, CodalItem]
    answers: dict[str, CodalAnswer]


def load_runs(dirs: list[Path]) -> list[GradedRun]:
    runs = []
    for folder in dirs:
        folder = Path(folder)
        files = sorted((folder / "grades").glob("*.jsonl")) if (folder / "grades").is_dir() else []
        if not files:
            raise InputError("no grades: run `codeuf codal grade` on this folder first", path=folder)
        items = {i.id: i for i in read_folder_records(folder / "bench.jsonl", CodalItem)}
        answers = {a.id: a for a in read_folder_records(folder / "answers.jsonl", CodalAnswer)}
        for path in files:
            grades = list({g.id: g for g in read_folder_records(path, CodalGrade)}.values())
            if grades:
                runs.append(GradedRun(grades[0].model, grades[0].judge, grades, items, answers))
    return runs


def _value(rating: str, na_as_zero: bool) -> float | None:
    if rating == NA:
        return 0.0 if na_as_zero else None
    return float(rating)


def score_run(run: GradedRun, *, na_as_zero: bool = False, seed: int = 0) -> dict[str, Any]:
    def estimate(grades: list[CodalGrade]) -> dict[str, Any]:
        values = [v for g in grades if (v := _value(g.rating, na_as_zero)) is not None]
        result = bootstrap_mean(values, seed=seed).as_dict()
        result["na"] = sum(g.rating == NA for g in grades)
        result["items"] = len(grades)
        return result

    return {
        "model": run.model,
        "judge": run.judge,
        "overall": estimate(run.grades),
        "per_preference": {p: estimate([g for g in run.grades if g.preference == p]) for p in PREFERENCE_NAMES},
    }


def compare(a: GradedRun, b: GradedRun, *, na_as_zero: bool = False, seed: int = 0) -> dict[str, Any]:
    """Paired bootstrap of a - b over items both graded (numerically) by the same judge."""

    def test(preference: str | None) -> dict[str, Any] | None:
        left = {g.id: g for g in a.grades if preference in (None, g.preference)}
        right = {g.id: g for g in b.grades if preference in (None, g.preference)}
        pairs = [
            (x, y)
            for i in sorted(left.keys() & right.keys())
            if (x := _value(left[i].rating, na_as_zero)) is not None
            and (y := _value(right[i].rating, na_as_zero)) is not None
        ]
        if not pairs:
            return None
        return paired_bootstrap([x for x, _ in pairs], [y for _, y in pairs], seed=seed).as_dict()

    return {
        "a": a.model,
        "b": b.model,
        "judge": a.judge,
        "overall": test(None),
        "per_preference": {p: test(p) for p in PREFERENCE_NAMES},
    }


def build_report(dirs: list[Path], *, na_as_zero: bool = False, seed: int = 0) -> dict[str, Any]:
    runs = load_runs(dirs)
    scores = [score_run(r, na_as_zero=na_as_zero, seed=seed) for r in runs]
    comparisons = []
    by_judge: dict[str, list[GradedRun]] = {}
    for run in runs:
        by_judge.setdefault(run.judge, []).append(run)
    for judged in by_judge.values():
        if len(judged) == 2:
            comparisons.append(compare(judged[0], judged[1], na_as_zero=na_as_zero, seed=seed))
    items = []
    for run in runs:
        for grade in run.grades:
            item = run.items.get(grade.id)
            answer = run.answers.get(grade.id)
            reference = item.references.get(grade.reference_model, "") if item else ""
            items.append(
                {
                    "id": grade.id,
                    "model": run.model,
                    "judge": run.judge,
                    "preference": grade.preference,
                    "instruction": item.instruction if item else "",
                    "reference": reference,
                    "answer": answer.answer if answer else "",
                    "rating": grade.rating,
                    "rationale": grade.rationale,
                }
            )
    return {"na_as_zero": na_as_zero, "scores": scores, "comparisons": comparisons, "items": items}


def fmt(value: float | None, digits: int = 2) -> str:
    return "N/A" if value is None else f"{value:.{digits}f}"


def to_csv(report: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["model", "judge", "scope", "mean", "ci_low", "ci_high", "n", "na", "items"])
    for score in report["scores"]:
        scopes = [("overall", score["overall"]), *score["per_preference"].items()]
        for scope, e in scopes:
            writer.writerow([score["model"], score["judge"], scope, e["value"], e["ci_low"], e["ci_high"], e["n"],
                             e["na"], e["items"]])  # fmt: skip
    return buffer.getvalue()


def write_report_files(report: dict[str, Any], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "csv": out / "report.csv"}
    atomic_write_text(paths["json"], json.dumps(report, indent=2) + "\n")
    atomic_write_text(paths["csv"], to_csv(report))
    return paths


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="CODAL-Bench" + (" (N/A counted as 0)" if report["na_as_zero"] else " (N/A excluded)"))
    models = [short_name(s["model"]) for s in report["scores"]]
    judges = [short_name(s["judge"]) for s in report["scores"]]
    table.add_column("model", no_wrap=True, min_width=max(map(len, models), default=5))
    table.add_column("judge", no_wrap=True, min_width=min(24, max(map(len, judges), default=5)))
    for name in ("overall", *PREFERENCE_NAMES):
        table.add_column(name, justify="right")
    table.add_column("N/A", justify="right")
    for score, model, judge in zip(report["scores"], models, judges, strict=True):
        cells = [score["overall"], *score["per_preference"].values()]
        table.add_row(model, judge,
                      *(f"{fmt(e['value'])} [{fmt(e['ci_low'])}, {fmt(e['ci_high'])}]" for e in cells),
                      f"{score['overall']['na']}/{score['overall']['items']}")  # fmt: skip
    console.print(table)
    for c in report["comparisons"]:
        o = c["overall"]
        if o:
            interval = f"[{o['ci_low']:+.2f}, {o['ci_high']:+.2f}]"
            console.print(
                f"{c['a']} - {c['b']} ({c['judge']}): {o['difference']:+.2f} {interval}, "
                f"p = {o['p_value']:.3f}, n = {o['n']}"
            )
