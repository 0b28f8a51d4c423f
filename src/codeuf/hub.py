"""The Hugging Face Hub as codeuf meets it: its libraries kept quiet, and a failure as one line's reason.

huggingface_hub retries a request that cannot connect five times, logging a warning for each attempt; with
those warnings on the terminal, a failure would be a page of retries before codeuf's one line."""

from __future__ import annotations

import sys

from codeuf.secrets import redact


def quiet(with_datasets: bool = False) -> None:
    """huggingface_hub's warnings (retries, fallbacks) off the terminal, and its progress bars (and those of
    `datasets`) unless stderr is a terminal, as codeuf's own: errors still raise."""
    from huggingface_hub.utils import disable_progress_bars
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()
    on_terminal = sys.stderr.isatty()
    if not on_terminal:
        disable_progress_bars()
    if with_datasets:
        import datasets

        datasets.logging.set_verbosity_error()
        if not on_terminal:
            datasets.disable_progress_bars()


def reason(exc: BaseException, limit: int = 200) -> str:
    """The exception as part of one line: its class and message, whitespace collapsed, secrets redacted, cut."""
    text = redact(" ".join(str(exc).split()))
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
