"""What codeuf's library functions return: typed results that the CLI renders as text (`text()`) or, with
`--json`, as JSON (`to_json()`), and that Python callers read by attribute (codeuf.api)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict


class Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2)

    def text(self) -> str:
        raise NotImplementedError


class Estimate(Result):
    """A figure with its 95% bootstrap interval over `n` items (value None: undefined, e.g. no item)."""

    value: float | None
    low: float | None = None
    high: float | None = None
    n: int | None = None

    def __str__(self) -> str:
        if self.value is None:
            return "n/a"
        interval = "" if self.low is None else f" [{self.low:.3f}, {self.high:.3f}]"
        return f"{self.value:.3f}{interval}"


class PassAtK(Result):
    """An executed benchmark (`codeuf eval --task humaneval+|mbpp+|stdio|...`): pass@k on the base tests and,
    for the + sets, on base and plus tests, each with its interval over tasks."""

    task: str
    data: str
    tasks: int
    samples_per_task: int
    base: dict[str, Estimate]
    plus: dict[str, Estimate] | None = None
    out: Path
    notice: str = ""

    @classmethod
    def from_summary(cls, summary: dict[str, Any], out: Path, notice: str = "") -> PassAtK:
        def estimates(label: str) -> dict[str, Estimate]:
            cis = summary["ci"][label]
            return {k: Estimate(value=v, low=cis[k][0], high=cis[k][1], n=summary["tasks"])
                    for k, v in summary[label].items()}  # fmt: skip

        return cls(task=summary["dataset"], data=summary["data"], tasks=summary["tasks"],
                   samples_per_task=summary["samples_per_task"], base=estimates("base"),
                   plus=estimates("plus") if "plus" in summary else None, out=out, notice=notice)  # fmt: skip

    def text(self) -> str:
        name, n = self.task.rstrip("+"), self.samples_per_task
        lines = [f"{self.task} ({self.tasks} tasks, {n} sample{'s' if n != 1 else ''} each)"]
        for title, scores in ((f"{name} (base tests)", self.base), (f"{name}+ (base + plus tests)", self.plus)):
            if scores is not None:
                lines.append(title + ": " + ", ".join(f"{k} = {v}" for k, v in scores.items()))
        lines.append(f"results: {self.out / 'results.jsonl'}\nsummary: {self.out / 'summary.json'}")
        return self.notice + "\n".join(lines)


class JudgeReport(Result):
    """One judge measured against labels (`codeuf judge-eval`): its metrics with intervals; the per-pair verdicts
    and the rest of the report are in `details` (and in OUT/<judge>.json)."""

    judge: str
    method: str
    kind: str
    metrics: dict[str, Estimate]
    details: dict[str, Any]


class JudgeEval(Result):
    """Every judge of a `codeuf judge-eval` run, side by side (`table`: OUT/comparison.md)."""

    kind: str
    reports: list[JudgeReport]
    table: str
    out: Path

    def text(self) -> str:
        return self.table + f"reports: {self.out}\n"


class BatchStatus(Result):
    """One provider batch a run submitted (`codeuf batches status`): its state, as recorded or as the provider
    reports it now, and the errors the provider gave."""

    batch: str
    spec: str
    requests: int
    status: str
    open: bool
    answered: int | None = None
    errored: int = 0
    first_error: str | None = None
    batch_errors: list[str] = []

    def text(self) -> str:
        status = self.status + (f", {self.answered} answered" if self.answered and not self.open else "")
        lines = [f"{self.batch}  {self.spec}  {self.requests} requests  {status}"]
        if self.errored:
            lines.append(f"    {self.errored} requests errored at the provider; the first: {self.first_error or ''}")
        lines += [f"    the provider failed the batch: {error}" for error in self.batch_errors]
        return "\n".join(lines)


class BatchesReport(Result):
    """Every batch of a run (`codeuf batches status|cancel`)."""

    batches: list[BatchStatus]

    def text(self) -> str:
        return "\n".join(b.text() for b in self.batches) or "no batches"


class Exported(Result):
    """`codeuf export`: the GGUF (served by `llamacpp:PATH`) and the merged Hugging Face folder (`hf:PATH`)."""

    gguf: Path
    hf: Path
    bytes: int

    def text(self) -> str:
        return (f"GGUF: {self.gguf} ({self.bytes / 1e6:.0f} MB); merged folder: {self.hf}\n"
                f"serve it: --model llamacpp:{self.gguf}  or  --model hf:{self.hf}")  # fmt: skip


class CodalScore(Result):
    """One model's CODAL-Bench grades by one judge: the 1-10 mean overall and per preference, with intervals
    over items; N/A grades are counted and left out of the means."""

    model: str
    judge: str
    overall: Estimate
    per_preference: dict[str, Estimate]
    na: int
    items: int


class CodalScores(Result):
    """A judged benchmark run (`codeuf eval --task codal`): the answers, their grades and the report, in `out`."""

    task: str
    scores: list[CodalScore]
    out: Path

    @classmethod
    def from_report(cls, task: str, report: dict[str, Any], out: Path) -> CodalScores:
        def estimate(e: dict[str, Any]) -> Estimate:
            return Estimate(value=e["value"], low=e["ci_low"], high=e["ci_high"], n=e["n"])

        scores = [CodalScore(model=s["model"], judge=s["judge"], overall=estimate(s["overall"]),
                             per_preference={p: estimate(e) for p, e in s["per_preference"].items()},
                             na=s["overall"]["na"], items=s["overall"]["items"]) for s in report["scores"]]  # fmt: skip
        return cls(task=task, scores=scores, out=out)

    def text(self) -> str:
        lines = []
        for s in self.scores:
            lines.append(f"{self.task}: {s.model} graded by {s.judge}: overall {s.overall} (1-10; N/A {s.na} of "
                         f"{s.items}, left out)")  # fmt: skip
            lines += [f"  {p}: {e}" for p, e in s.per_preference.items()]
        lines.append(f"answers and grades: {self.out}\nreport: {self.out / 'report'}")
        return "\n".join(lines)
