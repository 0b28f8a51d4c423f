"""codeuf: CodeUltraFeedback as a toolkit.

Build coding-preference datasets with a pool of LLMs and an LLM judge, benchmark models on
CODAL-Bench, and align code LLMs with SFT and DPO. See the README for the two commands that
set everything up (`make demo`, `make test`).
"""

__version__ = "0.1.0"

from codeuf import _compat

_compat.install()  # old import paths (codeuf.bench, codeuf.executor, ...) for one release, with a warning


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    """codeuf.run, codeuf.evaluate and codeuf.judge_eval (codeuf.api), imported when first used, so that
    `import codeuf` and `codeuf --help` stay light."""
    if name in {"run", "evaluate", "judge_eval"}:
        from codeuf import api

        return getattr(api, name)
    raise AttributeError(f"module 'codeuf' has no attribute {name!r}")
