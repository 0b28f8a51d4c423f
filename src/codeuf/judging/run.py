"""Judge calls, built and run: what every command that judges uses (annotate, codal grade, judge-eval, the loop,
binarize's pair check). A command gives the task's data; this module renders the judge's prompt, asks, and
reads the verdict with the judge's method."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeuf.errors import InputError
from codeuf.judging.config import JudgeConfig
from codeuf.judging.methods import JudgingMethod, Pending, get_method
from codeuf.judging.tasks import TASKS, JudgingTask
from codeuf.judging.verdict import Verdict, failed_verdict
from codeuf.llm.types import LLMRequest, LLMResult
from codeuf.preferences import get_preference
from codeuf.prompts import render

_WHAT = {"rate": "annotate", "grade": "grade CODAL-Bench answers", "score": "grade one answer",
         "compare": "compare two answers"}  # fmt: skip


@dataclass
class JudgeJob:
    judge: JudgeConfig
    task: JudgingTask
    n: int
    request: LLMRequest


def judge_job(judge: JudgeConfig, task_name: str, *, n: int = 1, prompts: Path | None = None,
              **context: Any) -> JudgeJob:  # fmt: skip
    """One judge call for a task: the judge's template (its own folder, else `prompts`, else the built-in one)
    rendered with `context`, and the request its method makes of it."""
    task = TASKS[task_name]
    method = method_for(judge, task_name)
    prompt = render(task.template, judge.prompts or prompts, **context)
    return JudgeJob(judge, task, n, method.request(judge, task, prompt, n))


def method_for(judge: JudgeConfig, task_name: str) -> JudgingMethod:
    method = get_method(judge.method)
    if task_name not in method.tasks:
        instead = "pairwise" if task_name == "compare" else "json or logprobs"
        raise InputError(f"judge {judge.label!r}: the {judge.method} method cannot {_WHAT[task_name]} (use "
                         f"{instead})", field="method")  # fmt: skip
    return method


def compares(judge: JudgeConfig) -> bool:
    """Whether the judge's method compares two responses (a pairwise verdict) rather than rating them: what
    the method can do (its `tasks`), not its name, so a plugin's comparing method is used the same way."""
    return "compare" in get_method(judge.method).tasks


def check_backend(judge: JudgeConfig, backend: Any) -> None:
    """A judge whose method needs what its backend lacks is one line before any call."""
    if get_method(judge.method).needs_logprobs and not backend.supports_logprobs:
        raise InputError(f"judge {judge.label!r}: the logprobs method needs log-probabilities, which the "
                         f"{backend.name} backend does not return (use method: json)", field="method")  # fmt: skip


def rate_job(judge: JudgeConfig, preference: str, instruction: str, responses: list[str],
             evidence: list[str | None] | None = None, prompts: Path | None = None) -> JudgeJob:  # fmt: skip
    """`codeuf annotate`: several responses rated 1-5 on the preference's rubric (evidence: test results)."""
    return judge_job(judge, "rate", n=len(responses), prompts=prompts, preference=get_preference(preference),
                     instruction=instruction, responses=responses,
                     evidence=evidence if judge.show_tests and evidence else [None] * len(responses))  # fmt: skip


def grade_job(judge: JudgeConfig, preference: str, instruction: str, reference: str, answer: str,
              prompts: Path | None = None) -> JudgeJob:  # fmt: skip
    """`codeuf codal grade`: one answer graded 1-10 against the reference answer."""
    return judge_job(judge, "grade", prompts=prompts, preference=get_preference(preference), instruction=instruction,
                     reference=reference, answer=answer)  # fmt: skip


def score_job(judge: JudgeConfig, preference: str | None, instruction: str, response: str) -> JudgeJob:
    """`codeuf judge-eval`: one answer graded 1-10, no reference."""
    return judge_job(judge, "score", preference=get_preference(preference) if preference else None,
                     instruction=instruction, response=response)  # fmt: skip


def compare_job(judge: JudgeConfig, preference: str | None, instruction: str, first: str, second: str) -> JudgeJob:
    """Pairwise: which of two answers is better (the caller asks both orders)."""
    return judge_job(judge, "compare", preference=get_preference(preference) if preference else None,
                     instruction=instruction, response_a=first, response_b=second)  # fmt: skip


def run_judge_jobs(session: Any, stage: str, jobs: list[JudgeJob], on_verdict: Callable[[int, Verdict], None]) -> None:
    """Run the calls through the session (cache, retries, concurrency, ledger); `on_verdict(index, verdict)` for
    each job as its verdict is read. Verdicts that need more of the distribution (the logprobs method, where
    "10" is two tokens) are completed by a second round of calls, cached like the first."""
    backends = {spec: session.backend(spec) for spec in {j.judge.spec for j in jobs}}
    for judge in {j.judge.label: j.judge for j in jobs}.values():
        check_backend(judge, backends[judge.spec])
    pending: dict[int, Pending] = {}

    def on_result(index: int, result: LLMResult) -> None:
        job = jobs[index]
        outcome = get_method(job.judge.method).read(job.task, result, job.n, backends[job.judge.spec], job.request)
        if isinstance(outcome, Pending):
            pending[index] = outcome
        else:
            on_verdict(index, outcome)

    session.run(stage, [(backends[j.judge.spec], j.request) for j in jobs], on_result)
    if pending:
        _settle(session, stage, jobs, pending, backends, on_verdict)


def _settle(session: Any, stage: str, jobs: list[JudgeJob], pending: dict[int, Pending], backends: dict[str, Any],
            on_verdict: Callable[[int, Verdict], None]) -> None:  # fmt: skip
    slots = [(index, slot) for index, p in pending.items() for slot, _ in p.probes]
    requests = [(backends[jobs[index].judge.spec], request) for index, p in pending.items() for _, request in p.probes]
    answers: dict[int, dict[int, LLMResult]] = {index: {} for index in pending}

    def on_probe(k: int, result: LLMResult) -> None:
        index, slot = slots[k]
        answers[index][slot] = result
        if len(answers[index]) == len(pending[index].probes):
            job = jobs[index]
            failed = next((r for r in answers[index].values() if not r.ok), None)
            if failed is not None:  # the record is not finished: the next run asks again
                on_verdict(index, failed_verdict(failed, job.n))
            else:
                on_verdict(index, get_method(job.judge.method).settle(job.task, pending[index], answers[index], job.n))

    session.run(f"{stage}-probes", requests, on_probe)
