"""codeuf: CodeUltraFeedback as a toolkit.

Build coding-preference datasets with a pool of LLMs and an LLM judge, benchmark models on
CODAL-Bench, and align code LLMs with SFT and DPO. See the README for the two commands that
set everything up (`make demo`, `make test`).
"""

__version__ = "0.1.0"

from codeuf import _compat

_compat.install()  # old import paths (codeuf.bench, codeuf.executor, ...) for one release, with a warning
