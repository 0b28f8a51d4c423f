"""Judging: the one place that builds judge prompts, asks, and reads verdicts (json, logprobs, pairwise).

- `config`: judges as files (`JudgeConfig`, shipped judges under `judges/`), their defaults, once.
- `tasks`: what is asked (rate 1-5, grade 1-10 against a reference, score 1-10, compare two answers).
- `methods` + `registry`: how a verdict is read; `logprobs`: ratings weighted by the tokens' probabilities.
- `run`: judge calls for a task's data, run through a session, verdicts handed back one by one.
"""

from codeuf.judging.config import (
    DEFAULT_REFERENCE,
    JudgeConfig,
    judge_from_spec,
    load_judges,
    resolve_judges,
    shipped_judges,
    with_settings,
)
from codeuf.judging.run import (
    JudgeJob,
    check_backend,
    compare_job,
    compares,
    grade_job,
    method_for,
    rate_job,
    run_judge_jobs,
    score_job,
)
from codeuf.judging.tasks import TASKS, rated_item
from codeuf.judging.verdict import Verdict

__all__ = [
    "DEFAULT_REFERENCE", "TASKS", "JudgeConfig", "JudgeJob", "Verdict", "check_backend", "compare_job", "compares",
    "grade_job",
    "judge_from_spec", "load_judges", "method_for", "rate_job", "rated_item", "resolve_judges", "run_judge_jobs",
    "score_job", "shipped_judges", "with_settings",
]  # fmt: skip
