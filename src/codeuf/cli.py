"""The `codeuf` command line: each command parses options, calls one library function, prints.

Heavy modules are imported inside commands so that `codeuf --help` starts fast.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from codeuf import __version__
from codeuf.errors import CodeufError

app = typer.Typer(
    help="codeuf: CodeUltraFeedback as a toolkit - preference data, CODAL-Bench, alignment of code LLMs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: this Typer's rich help prints "<bool>" after every flag
)
llm_app = typer.Typer(help="The LLM layer on its own: batches of requests to any backend.", no_args_is_help=True,
                      rich_markup_mode=None)  # fmt: skip
app.add_typer(llm_app, name="llm")
codal_app = typer.Typer(help="CODAL-Bench: answer, grade against references, report.", no_args_is_help=True,
                        rich_markup_mode=None)  # fmt: skip
app.add_typer(codal_app, name="codal")
train_app = typer.Typer(
    help="Alignment with TRL and a PEFT LoRA (SFT, DPO, KTO, ORPO, CPO, SimPO), from YAML recipes (paper-sft, "
    "paper-dpo, cpu-ALGORITHM).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(train_app, name="train")
batches_app = typer.Typer(help="Provider batch APIs: the batches a run submitted.", no_args_is_help=True,
                          rich_markup_mode=None)  # fmt: skip
app.add_typer(batches_app, name="batches")


BatchApiOpt = Annotated[
    bool,
    typer.Option("--batch-api", help="Send the requests to batch-capable models (openai:, anthropic:) through the "
                 "provider's batch API: half the price, answers within 24 hours; a rerun attaches to open batches."),
]  # fmt: skip


def _version(value: bool) -> None:
    if value:
        typer.echo(f"codeuf {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """codeuf: CodeUltraFeedback as a toolkit."""


def _finite(value: float | None) -> float | None:
    """Click's ranges let nan and inf through; no setting of codeuf takes them."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Model spec, e.g. llamacpp:default, openai:NAME@URL.")]
ConcurrencyOpt = Annotated[int, typer.Option(min=1, help="Requests in flight per backend.")]
WorkersOpt = Annotated[int | None, typer.Option(min=1, help="Sandbox processes [default: CPU count].")]
TemperatureOpt = Annotated[
    float | None, typer.Option(min=0, max=2, callback=_finite, help="[default: 0 for one sample, else 0.8]")
]
CacheOpt = Annotated[Path | None, typer.Option(help="SQLite cache file [default: $CODEUF_CACHE_DIR/llm.sqlite].")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")]
RefreshOpt = Annotated[bool, typer.Option("--refresh", help="Ignore cached results and replace them.")]
TimeoutOpt = Annotated[float, typer.Option(min=0.1, callback=_finite, help="Seconds per attempt (HTTP backends).")]
RetriesOpt = Annotated[int, typer.Option(min=0, help="Retries on 429, 5xx, timeouts, connection errors.")]
ProgressOpt = Annotated[bool | None, typer.Option("--progress/--no-progress", help="Progress bar [default: on a TTY].")]
PrivateOpt = Annotated[bool, typer.Option("--private", help="With --push-to-hub: a repo it creates is private.")]


def _push_target(repo: str | None, private: bool) -> str | None:
    """Checked before any work: --private alone would be an option silently ignored."""
    if private and not repo:
        from codeuf.errors import InputError

        raise InputError("needs --push-to-hub REPO", field="--private")
    return repo


JudgeOpt = Annotated[
    list[str] | None, typer.Option("--judge", help="Judge model spec with default settings; repeat for several.")
]
JudgeConfigOpt = Annotated[
    list[str] | None,
    typer.Option("--judge-config", help="A judge file, or a shipped judge: paper, embedded, embedded-logprobs, "
                 "gpt-4.1, claude-sonnet-4.5; repeat for several."),
]  # fmt: skip
ExecutorOpt = Annotated[
    str | None,
    typer.Option(help="Where sandbox jobs and in-process models run: local, ray (a local cluster started on demand), "
                 "auto (a running one), HOST:PORT or ray://HOST:PORT [default: $CODEUF_RAY_ADDRESS, else local]."),
]  # fmt: skip


def batch_settings(folder: Path, enabled: bool):  # type: ignore[no-untyped-def]
    """The batch API settings of a command that writes `folder` (its journal there), or None."""
    from codeuf.llm.batch.providers import batch_plan

    return batch_plan(folder, enabled, [])[0]


def _executing(name: str | None):  # type: ignore[no-untyped-def]
    """The context a command's work runs in: this machine, or a Ray cluster (imported only then)."""
    from codeuf.cluster import parse_executor, using

    return using(parse_executor(name))


JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON (for scripts) instead of text.")]


def _print(result: Any, as_json: bool) -> None:
    """A library function's typed result (codeuf.results): JSON for scripts, else its text."""
    text = result.to_json() if as_json else result.text()
    typer.echo(text, nl=not text.endswith("\n"))


MethodOpt = Annotated[str | None, typer.Option(help="json, logprobs or pairwise [default: the judge's].")]
JudgeTokensOpt = Annotated[int | None, typer.Option(min=16, help="Judge's new tokens [default: the judge's].")]
RationaleOpt = Annotated[
    int | None, typer.Option(min=0, help="Longest rationale, a schema maxLength; 0: none [default: the judge's].")
]


@llm_app.command("batch")
def llm_batch(
    model: ModelOpt,
    in_path: Annotated[Path, typer.Option("--in", help="Requests, OpenAI Batch API input format (JSONL).")],
    out_path: Annotated[Path, typer.Option("--out", help="Results, OpenAI Batch API output format (JSONL).")],
    concurrency: ConcurrencyOpt = 8,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    refresh: RefreshOpt = False,
    timeout: TimeoutOpt = 120.0,
    max_retries: RetriesOpt = 6,
    prices: Annotated[Path | None, typer.Option(help="YAML {model: {input: USD/Mtok, output: USD/Mtok}}.")] = None,
    replicas: Annotated[
        int, typer.Option(min=1, help="With --executor ray: actors serving an in-process model (llamacpp:, hf:).")
    ] = 1,
    parallel: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Sequences an in-process llama.cpp model decodes together "
            "(default: CODEUF_LLAMACPP_PARALLEL or 8; 1: one request at a time).",
        ),
    ] = None,
    batch_api: BatchApiOpt = False,
    executor: ExecutorOpt = None,
    progress: ProgressOpt = None,
) -> None:
    """Answer every request of a batch file; rerun after a crash to finish the rest."""
    with _executing(executor):
        from codeuf.errors import CallsFailedError
        from codeuf.llm.batch.command import BatchOptions, batch_command

        summary, failures = batch_command(
            BatchOptions(
                model=model,
                in_path=in_path,
                out_path=out_path,
                concurrency=concurrency,
                cache=cache,
                use_cache=not no_cache,
                refresh=refresh,
                timeout=timeout,
                max_retries=max_retries,
                prices=prices,
                progress=progress,
                replicas=replicas,
                parallel=parallel,
                batch_api=batch_api,
            )
        )
        typer.echo(summary)
        if failures:
            raise CallsFailedError(failures)


ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML run config [default: the demo's].")]


@app.command("run")
def run(
    config_arg: Annotated[
        Path | None,
        typer.Argument(metavar="CONFIG", help="YAML run config, as --config [default: the embedded offline demo]."),
    ] = None,
    config: ConfigOpt = None,
    out: Annotated[Path | None, typer.Option(help="Run folder (overrides the config).")] = None,
    n: Annotated[int | None, typer.Option(min=1, help="Instructions to keep (overrides the config).")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Requests in flight per backend.")] = None,
    batch_api: BatchApiOpt = False,
    executor: ExecutorOpt = None,
    progress: ProgressOpt = None,
    push_to_hub: Annotated[
        str | None,
        typer.Option("--push-to-hub", help="Upload the feedback to REPO and the pairs to REPO_binarized."),
    ] = None,
    private: PrivateOpt = False,
    force: ForceOpt = False,
    strict: StrictOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Build a preference dataset: instructions -> generate -> annotate -> binarize."""
    if config_arg is not None and config is not None:
        raise typer.BadParameter("give the config once: as --config or as the argument", param_hint="--config")
    config = config or config_arg
    push_to_hub = _push_target(push_to_hub, private)
    with _executing(executor):
        from codeuf.data.save import push_to_hub as push
        from codeuf.errors import CallsFailedError, EmptyOutputError
        from codeuf.report.summary import print_run_summary
        from codeuf.stages.pipeline import dropped_summary, run_pipeline

        settings, recorded = _settings(config, force, out=out, n=n, concurrency=concurrency,
                                       batch_api=batch_api or None, strict=strict or None)  # fmt: skip
        summary = run_pipeline(settings, progress=progress, recorded=recorded)
        if as_json:
            typer.echo(summary.to_json())
        else:
            print_run_summary(summary)
        if summary.failures:
            raise CallsFailedError(summary.failures)  # nothing incomplete is pushed
        if not summary.binarized["written"]:
            raise EmptyOutputError(f"0 pairs of {summary.binarized['records']} records "
                                   f"({dropped_summary(summary.binarized)}): nothing to train on")  # fmt: skip
        _warn(summary.warnings, settings.strict, echo=False)  # the summary has printed them
        if push_to_hub:
            push(summary.out / "feedback", push_to_hub, private=private)
            push(summary.out / "binarized", f"{push_to_hub}_binarized", private=private)
            typer.echo(f"pushed: {push_to_hub}, {push_to_hub}_binarized")


OutOpt = Annotated[Path | None, typer.Option(help="Run folder (overrides the config).")]
PushOpt = Annotated[str | None, typer.Option("--push-to-hub", help="Also upload the dataset to this hub repo.")]
InputOpt = Annotated[
    str | None,
    typer.Option("--input", help="Input: a .jsonl/.json/.parquet file, a saved dataset folder or a hub id "
                 "[default: the previous stage's output in the run folder]."),
]  # fmt: skip


ForceOpt = Annotated[
    bool,
    typer.Option("--force", help="Rewrite a run folder's outputs under a config that differs from the one it was "
                 "made with (without it, that is refused; without --config, the folder's own config is used)."),
]  # fmt: skip
StrictOpt = Annotated[bool, typer.Option("--strict", help="Exit 7 when the run's signals draw warnings.")]


def _settings(config: Path | None, force: bool = False, **overrides: object):  # type: ignore[no-untyped-def]
    """The config a command runs with: its run folder's own (from manifest.json) unless --config names one,
    with the options given applied; and the folder's recorded config, for the manifest's `changes`."""
    from codeuf.config import resolve_config

    return resolve_config(config, force=force, **overrides)


def _warn(warnings: list[dict], strict: bool, echo: bool = True) -> None:
    """Print a command's warnings on stderr; under --strict they fail it (exit 7), after its outputs are written."""
    from codeuf.stages.signals import lines

    for line in lines(warnings) if echo else []:
        typer.echo(line, err=True)
    if strict and warnings:
        from codeuf.errors import StrictWarningsError

        raise StrictWarningsError(warnings)


@app.command("instructions")
def instructions_command(
    config: ConfigOpt = None,
    out: OutOpt = None,
    source: Annotated[str | None, typer.Option(help="Hub id or local file [default: built-in sample].")] = None,
    column: Annotated[str | None, typer.Option(help="Column holding the instruction.")] = None,
    split: Annotated[str | None, typer.Option(help="Split of a hub dataset.")] = None,
    n: Annotated[int | None, typer.Option(min=1, help="Instructions to keep.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for shuffling and model assignment.")] = None,
    force: ForceOpt = False,
) -> None:
    """Stage 1: CJK filter, de-duplication, seeded sample, preferences and models per instruction."""
    from codeuf.stages.pipeline import stage_instructions

    settings, recorded = _settings(config, force, out=out, source=source, column=column, split=split, n=n, seed=seed)
    path, stats = stage_instructions(settings, recorded)
    typer.echo(f"{stats['kept']} instructions ({stats['dropped_cjk']} with CJK and "
               f"{stats['dropped_duplicates']} duplicates dropped of {stats['source']}): {path}")  # fmt: skip


@app.command("tests")
def tests_command(
    config: ConfigOpt = None,
    out: OutOpt = None,
    input: InputOpt = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Test writer's model spec (overrides the config's).")
    ] = None,
    count: Annotated[int | None, typer.Option(min=1, max=50, help="Tests asked for per instruction.")] = None,
    agreement: Annotated[
        str | None,
        typer.Option(help="Without a reference solution: codet, majority or none (see the README)."),
    ] = None,
    workers: WorkersOpt = None,
    batch_api: BatchApiOpt = False,
    executor: ExecutorOpt = None,
    progress: ProgressOpt = None,
    force: ForceOpt = False,
) -> None:
    """Stage 1b: a model writes tests for instructions without any; a test is kept once validated."""
    with _executing(executor):
        from codeuf.stages.pipeline import stage_tests

        settings, recorded = _settings(config, force, out=out, execution_workers=workers, batch_api=batch_api or None)
        synthesis = settings.synthesize_tests.model_dump() if settings.synthesize_tests else {}
        given = {k: v for k, v in {"spec": model, "count": count, "agreement": agreement}.items() if v is not None}
        if given or synthesis:
            from codeuf.config import with_overrides

            settings = with_overrides(settings, synthesize_tests={**synthesis, **given})
        path, stats = stage_tests(settings, input, progress, recorded)
        validations = ", ".join(f"{k} {v}" for k, v in sorted(stats["validations"].items())) or "none"
        typer.echo(f"{stats['with_tests']} instructions with tests; written by the model: "
                   f"{stats['synthesized_records']} records, {stats['kept']} tests kept of {stats['candidates']} "
                   f"runnable ({validations}): {path}")  # fmt: skip


@app.command("generate")
def generate_command(
    config: ConfigOpt = None,
    out: OutOpt = None,
    input: InputOpt = None,
    progress: ProgressOpt = None,
    batch_api: BatchApiOpt = False,
    executor: ExecutorOpt = None,
    force: ForceOpt = False,
) -> None:
    """Stage 2: one response per (instruction, assigned model), a principle as system prompt."""
    with _executing(executor):
        from codeuf.stages.pipeline import stage_generate

        settings, recorded = _settings(config, force, out=out, batch_api=batch_api or None)
        typer.echo(f"generations: {stage_generate(settings, input, progress, recorded)}")


@app.command("execute")
def execute_command(
    config: ConfigOpt = None,
    out: OutOpt = None,
    input: InputOpt = None,
    workers: WorkersOpt = None,
    executor: ExecutorOpt = None,
    progress: ProgressOpt = None,
    force: ForceOpt = False,
) -> None:
    """Stage 2b: run each response against its instruction's tests in the sandbox."""
    with _executing(executor):
        from codeuf.stages.pipeline import stage_execute

        settings, recorded = _settings(config, force, out=out, execution_workers=workers)
        path = stage_execute(settings, input, progress, recorded)
        typer.echo(f"executions: {path}")


@app.command("annotate")
def annotate_command(
    config: ConfigOpt = None,
    out: OutOpt = None,
    input: InputOpt = None,
    judge: JudgeOpt = None,
    judge_config: JudgeConfigOpt = None,
    method: MethodOpt = None,
    judge_max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", min=16, help="Judge's new tokens [default: the judge's].")
    ] = None,
    rationale_chars: RationaleOpt = None,
    orders: Annotated[int | None, typer.Option(min=1, help="Orders per judge; ratings are averaged.")] = None,
    batch_api: BatchApiOpt = False,
    executor: ExecutorOpt = None,
    progress: ProgressOpt = None,
    push_to_hub: PushOpt = None,
    private: PrivateOpt = False,
    force: ForceOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Stage 3: the judge rates every response 1-5 on the instruction's preference rubric."""
    push_to_hub = _push_target(push_to_hub, private)
    with _executing(executor):
        from codeuf.config import with_overrides
        from codeuf.data.save import push_to_hub as push
        from codeuf.judging import resolve_judges, with_settings
        from codeuf.stages.pipeline import stage_annotate

        settings, recorded = _settings(config, force, out=out, orders=orders, batch_api=batch_api or None,
                                       strict=strict or None)  # fmt: skip
        judges = resolve_judges(judge, judge_config) if judge or judge_config else settings.judges
        judges = with_settings(judges, method=method, max_tokens=judge_max_tokens, rationale_chars=rationale_chars)
        settings = with_overrides(settings, judges=[j.model_dump() for j in judges])
        path, warnings = stage_annotate(settings, input, progress, recorded)
        typer.echo(f"feedback dataset: {path}")
        _warn(warnings, settings.strict)
        if push_to_hub:
            push(path, push_to_hub, private=private)


@app.command("binarize")
def binarize_command(
    config: ConfigOpt = None,
    out: OutOpt = None,
    input: InputOpt = None,
    ties: Annotated[str | None, typer.Option(help="keep or drop pairs whose ratings are all equal.")] = None,
    min_margin: Annotated[
        float | None, typer.Option(min=0, callback=_finite, help="Smallest rating gap to keep a pair.")
    ] = None,
    criterion: Annotated[
        str | None,
        typer.Option(
            help="judge, tests, tests-then-judge, or auto (tests-then-judge where responses ran against "
            "tests, judge elsewhere)."
        ),
    ] = None,
    order_disagreements: Annotated[
        str | None,
        typer.Option(help="flag (keep, marked orders_disagree) or drop the pairs whose judge orders disagree."),
    ] = None,
    length_control: Annotated[
        str | None,
        typer.Option(help="off, drop (pairs whose choice length alone explains) or weight (a length_weight column)."),
    ] = None,
    push_to_hub: PushOpt = None,
    private: PrivateOpt = False,
    force: ForceOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Stage 4: chosen/rejected pairs, train/test split stratified by preference."""
    push_to_hub = _push_target(push_to_hub, private)
    from codeuf.data.save import push_to_hub as push
    from codeuf.stages.pipeline import dropped_summary, stage_binarize

    settings, recorded = _settings(config, force, out=out, ties=ties, min_margin=min_margin, criterion=criterion,
                                   order_disagreements=order_disagreements, length_control=length_control,
                                   strict=strict or None)  # fmt: skip
    path, stats = stage_binarize(settings, input, recorded)
    typer.echo(f"{stats['pairs']} pairs of {stats['records']} records (train {stats['train']}, test {stats['test']}; "
               f"{dropped_summary(stats)}): {path}")  # fmt: skip
    _warn(stats["warnings"], settings.strict)
    if push_to_hub:
        push(path, push_to_hub, private=private)


BenchOpt = Annotated[
    str | None,
    typer.Option("--bench", help="Bench file or folder in the released schema [default: coseal/codal-bench]."),
]


@codal_app.command("answer")
def codal_answer(
    model: ModelOpt,
    out: Annotated[Path, typer.Option(help="Folder for this model's answers.")],
    bench: BenchOpt = None,
    name: Annotated[str | None, typer.Option(help="Model name in reports [default: the spec].")] = None,
    format: Annotated[str | None, typer.Option(help="Prompt format for a raw prompt [default: chat].")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="New tokens per answer.")] = 1024,
    concurrency: ConcurrencyOpt = 8,
    batch_api: BatchApiOpt = False,
    executor: ExecutorOpt = None,
    progress: ProgressOpt = None,
) -> None:
    """Answer every problem: the preference's principle before the instruction, greedy decoding."""
    with _executing(executor):
        from codeuf.evals.codal import answer_folder

        done, total = answer_folder(model, out, bench, name=name, prompt_format=format, max_tokens=max_tokens,
                                    concurrency=concurrency, progress=progress, batch_api=batch_api)  # fmt: skip
        typer.echo(f"{done} of {total} answers: {out / 'answers.jsonl'}")


@codal_app.command("grade")
def codal_grade(
    answers: Annotated[Path, typer.Option(help="A folder made by `codeuf codal answer`.")],
    judge: JudgeOpt = None,
    judge_config: JudgeConfigOpt = None,
    method: MethodOpt = None,
    reference: Annotated[
        str | None,
        typer.Option(help="Reference model whose answer the judge sees [default: the judge's, else gpt-4-turbo]."),
    ] = None,
    max_tokens: JudgeTokensOpt = None,
    rationale_chars: RationaleOpt = None,
    batch_api: BatchApiOpt = False,
    concurrency: ConcurrencyOpt = 8,
    progress: ProgressOpt = None,
) -> None:
    """Grade each answer 1-10 against the reference, on its preference's criteria."""
    from codeuf.evals.codal import grade_folder
    from codeuf.judging import resolve_judges

    judges = resolve_judges(judge, judge_config, method=method, max_tokens=max_tokens, rationale_chars=rationale_chars)
    for line in grade_folder(answers, judges, reference, concurrency, progress, batch_api=batch_api):
        typer.echo(line)


@codal_app.command("report")
def codal_report(
    dirs: Annotated[list[Path], typer.Argument(help="Answer folders with grades.")],
    out: Annotated[Path, typer.Option(help="Folder for report.json and report.csv.")] = Path("runs/codal-report"),
    html: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report here.")] = None,
    na_as_zero: Annotated[bool, typer.Option("--na-as-zero", help="Count N/A as 0 (the paper's script).")] = False,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Scores per preference and overall with 95% bootstrap CIs, N/A counts, paired test for two models."""
    import json

    from codeuf.evals.report import build_report, print_report, write_report_files

    report = build_report(dirs, na_as_zero=na_as_zero, seed=seed)
    paths = write_report_files(report, out)
    if as_json:  # the scores and comparisons; every graded item is in report.json
        typer.echo(json.dumps({k: report[k] for k in ("na_as_zero", "scores", "comparisons")}, indent=2))
        return
    print_report(report)
    typer.echo(f"numbers: {paths['json']} and {paths['csv']}")
    if html:
        from codeuf.report.html import write_html

        typer.echo(f"HTML report: {write_html(report, html)}")


@app.command("judge-eval")
def judge_eval(
    labels: Annotated[
        Path,
        typer.Option(
            help="Pairwise (response_a, response_b, label) or pointwise (response, score) labels, or a "
            "`codeuf run` folder whose responses ran against tests (passing beats failing)."
        ),
    ],
    judge: JudgeOpt = None,
    judge_config: JudgeConfigOpt = None,
    method: MethodOpt = None,
    out: Annotated[Path, typer.Option(help="Folder for one report per judge and the cache.")] = Path("runs/judge-eval"),
    max_tokens: JudgeTokensOpt = None,
    rationale_chars: RationaleOpt = None,
    concurrency: ConcurrencyOpt = 8,
    seed: Annotated[int, typer.Option(help="Bootstrap seed, and the order of test-made pairs.")] = 0,
    progress: ProgressOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure judges against labels or tests: agreement, position consistency, tie and unreadable rates."""
    from codeuf.evals.judge_eval import judge_eval_folder
    from codeuf.judging import resolve_judges

    judges = resolve_judges(judge, judge_config, method=method, max_tokens=max_tokens, rationale_chars=rationale_chars)
    result = judge_eval_folder(labels, judges, out, concurrency=concurrency, seed=seed, progress=progress)
    _print(result, as_json)


@app.command("view")
def view_command(
    source: Annotated[
        str, typer.Argument(help="A run folder, a saved feedback dataset, a JSONL/Parquet file or a hub id.")
    ],
    html: Annotated[
        Path | None, typer.Option("--html", help="Write one self-contained HTML file (works offline) instead.")
    ] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 [default: a free one].")] = 0,
    open_browser: Annotated[bool, typer.Option("--open/--no-open", help="Open the page in a browser.")] = True,
) -> None:
    """A run in the browser: records side by side with ratings, rationales and test results; filters;
    plots; the judge's biases."""
    from codeuf.report.viewer import load_view, serve, write_html

    view = load_view(source)
    if html is not None:
        typer.echo(f"viewer: {write_html(view, html)}")
        return

    def ready(url: str) -> None:
        typer.echo(f"viewer: {url} (Ctrl-C to stop)")
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    serve(view, port, ready)


@app.command("languages")
def languages_command() -> None:
    """The languages codeuf runs responses in: their fence labels, test forms, and whether their toolchain is
    on this machine (or the command that installs it)."""
    from codeuf.sandbox import languages

    for name, language in languages.REGISTRY.items():
        forms = ["asserts" if language.tests_program or name == "python" else "",
                 "cases" if language.calls_program or name == "python" else "",
                 "schema+rows" if language.schema_tests else "stdio"]  # fmt: skip
        state = language.toolchain.missing or "ready: " + ", ".join(language.toolchain.paths.values() or ["python"])
        typer.echo(f"{name:<11} fences {','.join(language.fences):<40} tests {'/'.join(f for f in forms if f):<20} "
                   f"{state}")  # fmt: skip


@app.command("serve")
def serve_command(
    model: Annotated[str, typer.Argument(help="A GGUF file, or 'default' for the embedded Gemma 3 270M.")] = "default",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    alias: Annotated[
        str | None,
        typer.Option(help="The model's name in requests [default: gemma for the embedded model, else its stem]."),
    ] = None,
    n_ctx: Annotated[int, typer.Option("--n-ctx", min=1, help="Context length.")] = 8192,
    chat_format: Annotated[
        str | None,
        typer.Option(
            help="llama-cpp-python's chat format [default: gemma for the embedded model, whose GGUF has no "
            "chat template; else the GGUF's own template]."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the server's command instead of running it.")] = (
        False
    ),
) -> None:
    """Serve a GGUF (the embedded model by default) behind an OpenAI-compatible API: llama-cpp-python's server,
    with the model's path and chat format filled in. Point any codeuf command at it with the spec it prints."""
    import os
    import shlex

    from codeuf.llm.llamacpp import server_command

    command, alias = server_command(model, host=host, port=port, alias=alias, n_ctx=n_ctx, chat_format=chat_format)
    if dry_run:
        typer.echo(shlex.join(command))
        return
    typer.echo(f"serving {model} at http://{host}:{port}/v1; its spec: openai:{alias}@http://{host}:{port}/v1",
               err=True)  # fmt: skip
    os.execv(command[0], command)


@app.command("init")
def init_command(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("codeuf.yaml"),
    source: Annotated[
        str, typer.Option(help="Instructions: a .jsonl/.json/.parquet file, a dataset folder or a hub id.")
    ] = "builtin:tasks",
    server: Annotated[str, typer.Option(help="An OpenAI-compatible server's base URL.")] = "http://127.0.0.1:8000/v1",
    model: Annotated[str, typer.Option(help="The model's name on that server.")] = "gemma",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write a complete, commented run config for your own instructions and server, ready for `codeuf run`."""
    from codeuf.config import write_starter_config

    write_starter_config(path, source=source, server=server, model=model, force=force)
    typer.echo(f"wrote {path}: edit it, then `codeuf run --config {path}` (serve a model first: `codeuf serve`)")


@app.command("eval")
def eval_command(
    task: Annotated[
        str,
        typer.Option(
            "--task",
            "-t",
            help="A benchmark task: humaneval+, mbpp+, humaneval, stdio (executed), codal "
            "(judged), or one a plugin adds; an unknown name lists those installed.",
        ),
    ],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model spec to answer with.")] = None,
    data: Annotated[str | None, typer.Option(help="A local file (or, for codal, folder) of the task's format.")] = None,
    samples: Annotated[Path | None, typer.Option(help="Executed tasks: score these samples instead.")] = None,
    n_samples: Annotated[int, typer.Option(min=1, help="Executed tasks: samples per problem.")] = 1,
    temperature: TemperatureOpt = None,
    mode: Annotated[str | None, typer.Option(help="chat or completion [default: the task's and model's].")] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="New tokens per answer [default: 512; codal 1024].")] = (
        None
    ),
    limit: Annotated[int | None, typer.Option(min=1, help="Executed tasks: only the first N problems.")] = None,
    judge: JudgeOpt = None,
    judge_config: JudgeConfigOpt = None,
    method: MethodOpt = None,
    out: Annotated[Path | None, typer.Option(help="Output folder [default: runs/<task>].")] = None,
    workers: WorkersOpt = None,
    concurrency: ConcurrencyOpt = 8,
    executor: ExecutorOpt = None,
    progress: ProgressOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate a model on a benchmark task: executed ones (pass@k in the sandbox) or CODAL-Bench (answer, grade
    against references, report). `codeuf humaneval` and `codeuf codal` are the same, under their own names."""
    from codeuf.evals.run import evaluate_task

    with _executing(executor):
        result = evaluate_task(task, model=model, judge=judge, judge_config=judge_config, method=method,
                               samples=samples, data=data, out=out,
                               n_samples=n_samples, temperature=temperature, mode=mode, max_tokens=max_tokens,
                               limit=limit, workers=workers, concurrency=concurrency, progress=progress)  # fmt: skip
    _print(result, as_json)


@app.command("humaneval")
def humaneval(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model spec to generate with.")] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            help="A benchmark: humaneval+, mbpp+, humaneval (the original), stdio (programs on stdin/stdout) "
            "[default: humaneval+; offline without --data or HUMANEVAL_OVERRIDE_PATH, the original HumanEval]."
        ),
    ] = None,
    data: Annotated[Path | None, typer.Option(help="A local file of the benchmark's format.")] = None,
    samples: Annotated[Path | None, typer.Option(help="Evaluate EvalPlus samples.jsonl instead of generating.")] = None,
    n_samples: Annotated[int, typer.Option(min=1, help="Samples per task.")] = 1,
    temperature: TemperatureOpt = None,
    mode: Annotated[
        str | None,
        typer.Option(help="chat or completion [default: completion for the embedded base model, else chat]."),
    ] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="New tokens per sample.")] = 512,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N tasks (a quick check).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for samples, per-task results and the summary.")] = Path(
        "runs/humaneval"
    ),
    workers: WorkersOpt = None,
    concurrency: ConcurrencyOpt = 8,
    executor: ExecutorOpt = None,
    progress: ProgressOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Functional correctness: generate, sanitize, execute in a sandbox, pass@k (EvalPlus's verdicts)."""
    with _executing(executor):
        from codeuf.evals.humaneval_run import HumanEvalOptions, run_humaneval

        result = run_humaneval(
            HumanEvalOptions(
                model=model,
                dataset=dataset,
                data=data,
                samples=samples,
                n_samples=n_samples,
                temperature=temperature,
                mode=mode,
                max_tokens=max_tokens,
                limit=limit,
                out=out,
                workers=workers,
                concurrency=concurrency,
                progress=progress,
            )
        )
        _print(result, as_json)


_SHIPPED_RECIPES = sorted(p.stem for p in (Path(__file__).parent / "train" / "recipes").glob("*.yaml"))
RecipeOpt = Annotated[
    str | None,
    typer.Option(help="YAML recipe (TRL's config plus model, LoRA and data fields), or a shipped one: "
                 + ", ".join(_SHIPPED_RECIPES) + "."),
]  # fmt: skip
_OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}
TrainHelpOpt = Annotated[
    bool,
    typer.Option("--help", is_eager=True, help="Show this message and every setting (TRL's and codeuf's), and exit."),
]


def _train(kind: str, recipe: str | None, ctx: typer.Context) -> None:
    from codeuf.train.recipe import load_recipe
    from codeuf.train.run import is_main_process, losses, train

    config = load_recipe(kind, recipe, list(ctx.args))
    metrics = train(kind, config)
    if not is_main_process():
        return  # under `accelerate launch`, the main process reports
    steps = [round(v, 4) for v in losses(metrics)]
    typer.echo(f"{kind}: {metrics['train_rows']} rows, {len(steps)} logged steps, loss {steps[:1]} -> {steps[-1:]}")
    if not metrics.get("eval_rows"):
        typer.echo(f"warning: the held-out split is empty (eval_rows: 0 in {config.dataset}): no held-out reward "
                   "accuracy; give the dataset a test split (binarize's test_fraction)", err=True)  # fmt: skip
    evaluation = metrics.get("eval") or {}
    if "eval_rewards/accuracies" in evaluation:
        typer.echo(
            f"held-out ({metrics['eval_rows']} pairs): reward accuracy {evaluation['eval_rewards/accuracies']:.3f}, "
            f"margin {evaluation['eval_rewards/margins']:.4f}"
        )
    typer.echo(f"adapter and metrics: {config.output_dir}")


def _train_command(name: str, summary: str) -> None:
    """`codeuf train NAME`, from the table of algorithms."""

    def command(ctx: typer.Context, recipe: RecipeOpt = None, help_: TrainHelpOpt = False) -> None:
        if help_:  # the usual help, then every setting (TRL's and codeuf's), which needs trl to list
            typer.echo(ctx.get_help())
            from codeuf.train.recipe import settings_help

            typer.echo("\n" + settings_help(name))
            raise typer.Exit()
        _train(name, recipe, ctx)

    command.__doc__ = f"{summary} (TRL); any setting can follow as --name value (all listed below)."
    train_app.command(name, context_settings=_OVERRIDES, add_help_option=False)(command)


def _register_train_commands() -> None:
    from codeuf.train.algorithms import ALGORITHMS

    for algorithm in ALGORITHMS.values():
        _train_command(algorithm.name, algorithm.summary[:1].upper() + algorithm.summary[1:])


_register_train_commands()


@app.command("convert")
def convert(
    model: Annotated[str, typer.Argument(help="A .gguf file, or `default` for the embedded model.")] = "default",
    out: Annotated[Path | None, typer.Option(help="Folder to write [default: the models cache].")] = None,
    chat_template: Annotated[Path | None, typer.Option(help="A Jinja chat template file.")] = None,
) -> None:
    """GGUF to a plain Hugging Face folder (float32, tokenizer, chat template) that can be trained."""
    from codeuf.errors import InputError
    from codeuf.train.convert import convert_gguf, gguf_path

    gguf = gguf_path(model)
    if gguf is None:
        raise InputError("expected a .gguf file or `default`", field="model")
    template = None
    if chat_template is not None:
        from codeuf.io import read_input_bytes

        try:
            template = read_input_bytes(chat_template).decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("not valid UTF-8", path=chat_template, field="--chat-template") from None
    if out is not None:
        from codeuf.io import check_writable_dir

        check_writable_dir(out, "--out")
    typer.echo(f"Hugging Face folder: {convert_gguf(gguf, out, chat_template=template)}")


@app.command("export")
def export(
    model: Annotated[Path | None, typer.Argument(help="An adapter folder (merged first) or a model folder.")] = None,
    out: Annotated[Path | None, typer.Option(help="The GGUF file to write.")] = None,
    outtype: Annotated[str, typer.Option(help="f32, f16, bf16 or q8_0.")] = "f16",
    merged: Annotated[
        Path | None, typer.Option(help="Where the merged folder goes [default: beside the GGUF].")
    ] = None,
    fetch_converter: Annotated[
        bool, typer.Option("--fetch-converter", help="Only download llama.cpp's converter (done by make).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Merge a LoRA adapter and write a GGUF, served by `llamacpp:PATH` (and the folder by `hf:PATH`)."""
    from codeuf.train import export as exporting

    if fetch_converter:
        exporting.fetch_converter()
        return
    if model is None or out is None:
        from codeuf.errors import InputError

        raise InputError("give MODEL and --out FILE.gguf", field="model" if model is None else "--out")
    from codeuf.io import check_output_file

    check_output_file(out, "--out")
    _print(exporting.export(model, out, outtype, merged), as_json)


@app.command("sft-data")
def sft_data_command(
    source: Annotated[str, typer.Option("--source", help="Evol-Instruct-style data: a file, folder or hub id.")],
    exclude: Annotated[list[str], typer.Option(help="CodeUltraFeedback data whose instructions to remove.")],
    out: Annotated[Path, typer.Option(help="JSONL to write.")],
    column: Annotated[str, typer.Option(help="Instruction column of the source.")] = "instruction",
) -> None:
    """The paper's SFT set: the source minus every instruction of the given CodeUltraFeedback data."""
    from codeuf.io import check_output_file, write_jsonl_atomic
    from codeuf.train.data import sft_data

    check_output_file(out, "--out")
    rows, stats = sft_data(source, exclude, column)
    write_jsonl_atomic(out, rows)
    typer.echo(
        f"{stats['kept']} of {stats['source_rows']} rows kept ({stats['removed']} removed, "
        f"{stats['excluded_instructions']} instructions excluded): {out}"
    )


@app.command("loop")
def loop(
    config_arg: Annotated[
        Path | None,
        typer.Argument(metavar="CONFIG", help="YAML loop config, as --config [default: the embedded CPU loop]."),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML loop config.")] = None,
    out: Annotated[Path | None, typer.Option(help="Loop folder (overrides the config).")] = None,
    progress: ProgressOpt = None,
) -> None:
    """The loop closed: build data, DPO the model, compare base and trained on CODAL-Bench and HumanEval+."""
    from codeuf.train.loop import load_loop_config, print_comparison, run_loop

    if config_arg is not None and config is not None:
        raise typer.BadParameter("give the config once: as --config or as the argument", param_hint="--config")
    settings = load_loop_config(config or config_arg)
    if out is not None:
        settings = settings.model_copy(update={"out": out})
    print_comparison(run_loop(settings, progress=progress))


def _usage_line(exc: Exception) -> str:
    """A click usage error (a bad value, a missing or unknown option) as one line, without Typer's box."""
    message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return f"{message}{hint}"


def _fail(message: str, code: int) -> None:
    from codeuf.secrets import redact

    print(f"codeuf: error: {redact(' '.join(message.split()))}", file=sys.stderr)
    sys.exit(code)


@functools.cache
def _command():  # type: ignore[no-untyped-def]
    """The click command tree, built from the Typer app once per process (building it takes ~10 ms)."""
    import typer.main

    return typer.main.get_command(app)


def main() -> None:
    """Entry point: user errors become one line on stderr and a non-zero exit (see codeuf.errors for the codes)."""
    try:  # recent Typer versions vendor click
        from typer._click import exceptions as click_errors
    except ImportError:  # pragma: no cover - older Typer
        from click import exceptions as click_errors

    try:
        code = _command().main(prog_name="codeuf", standalone_mode=False)
    except CodeufError as exc:
        _fail(str(exc), exc.exit_code)
    except click_errors.NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click_errors.UsageError as exc:
        _fail(_usage_line(exc), 2)
    except click_errors.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        print("codeuf: interrupted; rerun the same command to resume", file=sys.stderr)
        sys.exit(130)
    except OSError as exc:  # the machine refused (a full disk, a permission taken away mid-run)
        where = f": {exc.filename}" if exc.filename else ""
        _fail(f"{exc.strerror or type(exc).__name__}{where}", 1)
    sys.exit(code if isinstance(code, int) else 0)


@batches_app.command("status")
def batches_status(
    run: Annotated[Path, typer.Argument(help="A run folder (or its batches.jsonl).")], as_json: JsonOpt = False
) -> None:
    """Every batch the run submitted, and the provider's status of the open ones."""
    from codeuf.llm.batch.command import batches_report

    _print(batches_report(run), as_json)


@batches_app.command("cancel")
def batches_cancel(
    run: Annotated[Path, typer.Argument(help="A run folder (or its batches.jsonl).")],
    wait: Annotated[
        float, typer.Option(min=0, callback=_finite, help="Seconds to wait for the provider to finish cancelling.")
    ] = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Cancel the run's open batches; the next run of its command sends again what they did not answer."""
    from codeuf.llm.batch.command import batches_report

    _print(batches_report(run, cancel=True, wait_s=wait), as_json)
