"""codeuf from Python: the three things a researcher scripts, each what a command does, returning a typed
result (codeuf.results) instead of printing. `import codeuf` then `codeuf.run(...)`, `codeuf.evaluate(...)`,
`codeuf.judge_eval(...)`; docs/api.md has an example of each, which a test runs.

Errors are the CLI's: codeuf.errors.InputError (bad input, one line naming the file, line and field),
CallsFailedError (some calls failed after retries: what succeeded is written, call again to retry them),
BackendDownError, FolderBusyError, EmptyOutputError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codeuf.cluster import parse_executor, using
from codeuf.config import RunConfig
from codeuf.results import CodalScores, JudgeEval, PassAtK
from codeuf.stages.pipeline import RunSummary


def run(config: RunConfig | dict[str, Any] | str | Path | None = None, *, force: bool = False,
        progress: bool = False, executor: str | None = None, **overrides: Any) -> RunSummary:  # fmt: skip
    """Build a preference dataset, as `codeuf run`: a RunConfig, a mapping of its keys, a YAML file, or None
    for the offline demo; keyword arguments override single keys (`n=2`, `out="runs/x"`). A run folder made
    with another configuration is refused unless `force`, as on the command line. The summary's `failures`
    names calls that failed (their records are left for the next call)."""
    from codeuf.config import config_changes, default_config, load_config, recorded_config, with_overrides
    from codeuf.config.reader import validated
    from codeuf.errors import InputError
    from codeuf.stages.pipeline import run_pipeline

    if isinstance(config, (str, Path)):
        config = load_config(config)
    elif isinstance(config, dict):
        config = validated(RunConfig, config)
    config = with_overrides(config or default_config(), **overrides)
    recorded = recorded_config(Path(config.out))
    differ = sorted(config_changes(recorded, config))
    if differ and not force:
        raise InputError(f"this run was made with another configuration (it differs in {', '.join(differ)}); "
                         "give force=True to rewrite it, or another out", path=Path(config.out) / "manifest.json",
                         field=differ[0])  # fmt: skip
    with using(parse_executor(executor)):
        return run_pipeline(config, progress=progress, recorded=recorded)


def evaluate(task: str, model: str | None = None, *, samples: str | Path | None = None,
             data: str | Path | None = None, out: str | Path | None = None, n_samples: int = 1,
             temperature: float | None = None, mode: str | None = None, max_tokens: int | None = None,
             limit: int | None = None, judges: list[str] | None = None, workers: int | None = None,
             concurrency: int = 8, progress: bool = False,
             executor: str | None = None) -> PassAtK | CodalScores:  # fmt: skip
    """A benchmark task, as `codeuf eval --task`. Executed ones (`humaneval+`, `mbpp+`, `humaneval`, `stdio`, or
    a plugin's): a model's samples generated (`model`) or read (`samples`, EvalPlus's format), run in the
    sandbox, pass@k with intervals (PassAtK). Judged ones (`codal`): `model` answers, each of `judges` (names,
    files or specs, as in judge_eval) grades against the references, and the report is written (CodalScores)."""
    from codeuf.evals.run import evaluate_task

    with using(parse_executor(executor)):
        specs, files = _judge_names(judges or [])
        return evaluate_task(task, model=model, judge=specs, judge_config=files,
                             samples=Path(samples) if samples else None, data=data,
                             out=Path(out) if out is not None else None, n_samples=n_samples,
                             temperature=temperature, mode=mode, max_tokens=max_tokens, limit=limit,
                             workers=workers, concurrency=concurrency, progress=progress)  # fmt: skip


def judge_eval(labels: str | Path, judges: list[str], *, method: str | None = None,
               out: str | Path = "runs/judge-eval", max_tokens: int | None = None,
               rationale_chars: int | None = None, concurrency: int = 8, seed: int = 0,
               progress: bool = False) -> JudgeEval:  # fmt: skip
    """Measure judges against labels (a pairwise or pointwise file) or a run folder's tests, as `codeuf
    judge-eval`: each of `judges` is a shipped judge's name, a judge file, or a model spec (`provider:model`)."""
    from codeuf.evals.judge_eval import judge_eval_folder
    from codeuf.judging import resolve_judges

    resolved = resolve_judges(*_judge_names(judges), method=method, max_tokens=max_tokens,
                              rationale_chars=rationale_chars)  # fmt: skip
    return judge_eval_folder(Path(labels), resolved, Path(out), concurrency=concurrency, seed=seed,
                             progress=progress)  # fmt: skip


def _judge_names(names: list[str]) -> tuple[list[str], list[str]]:
    """Judges named by model spec (a `provider:` and no such file), then by shipped name or file: what the
    command line takes as --judge and --judge-config."""
    specs = [j for j in names if ":" in j and not Path(j).exists()]
    return specs, [j for j in names if j not in specs]
