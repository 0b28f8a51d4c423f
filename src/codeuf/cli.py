"""The `codeuf` command line: each command parses options, calls one library function, prints.

Heavy modules are imported inside commands so that `codeuf --help` starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from codeuf import __version__
from codeuf.errors import CodeufError

app = typer.Typer(
    help="codeuf: CodeUltraFeedback as a toolkit - preference data, CODAL-Bench, alignment of code LLMs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
llm_app = typer.Typer(help="The LLM layer on its own: batches of requests to any backend.", no_args_is_help=True)
app.add_typer(llm_app, name="llm")


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


ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Model spec, e.g. llamacpp:default, openai:NAME@URL.")]
ConcurrencyOpt = Annotated[int, typer.Option(min=1, help="Requests in flight per backend.")]
CacheOpt = Annotated[Path | None, typer.Option(help="SQLite cache file [default: $CODEUF_CACHE_DIR/llm.sqlite].")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")]
RefreshOpt = Annotated[bool, typer.Option("--refresh", help="Ignore cached results and replace them.")]
TimeoutOpt = Annotated[float, typer.Option(min=0.1, help="Seconds per attempt (HTTP backends).")]
RetriesOpt = Annotated[int, typer.Option(min=0, help="Retries on 429, 5xx, timeouts, connection errors.")]
ProgressOpt = Annotated[bool | None, typer.Option("--progress/--no-progress", help="Progress bar [default: on a TTY].")]


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
    progress: ProgressOpt = None,
) -> None:
    """Answer every request of a batch file; rerun after a crash to finish the rest."""
    from codeuf.llm.session import BatchOptions, batch_command

    summary = batch_command(
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
        )
    )
    typer.echo(summary)


@app.command("run")
def run(
    config: Annotated[Path | None, typer.Argument(help="YAML run config [default: the embedded offline demo].")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder (overrides the config).")] = None,
    n: Annotated[int | None, typer.Option(min=1, help="Instructions to keep (overrides the config).")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Requests in flight per backend.")] = None,
    progress: ProgressOpt = None,
) -> None:
    """Build a preference dataset: instructions -> generate -> annotate -> binarize."""
    from codeuf.config import default_config, load_config
    from codeuf.report.summary import print_run_summary
    from codeuf.stages.pipeline import run_pipeline

    settings = load_config(config) if config else default_config()
    overrides = {k: v for k, v in {"out": out, "n": n, "concurrency": concurrency}.items() if v is not None}
    settings = settings.model_copy(update=overrides)
    print_run_summary(run_pipeline(settings, progress=progress))


def main() -> None:
    """Entry point: user errors become one line on stderr and a non-zero exit."""
    try:
        app()
    except CodeufError as exc:
        from codeuf.secrets import redact

        print(f"codeuf: error: {redact(str(exc))}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("codeuf: interrupted; rerun the same command to resume", file=sys.stderr)
        sys.exit(130)
