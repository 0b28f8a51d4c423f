"""Python: recognised here like every language; its tests run through the sandbox's function calls
(codeuf.execution.checks), and a whole script through the same interpreter as codeuf."""

from __future__ import annotations

import os
import sys

from codeuf.sandbox.languages.base import Language

LANGUAGE = Language(
    name="python", title="Python", fences=("python", "py", "python3", "pycon", "ipython"), tools=(),
    install="", source="main.py",
    markers=(r"^\s*def\s+\w+\s*\(.*\)\s*(->\s*[^:]+)?:\s*$", r"^\s*(import\s+\w+|from\s+[\w.]+\s+import\b)",
             r"\bprint\(", r"^\s*(class\s+\w+.*|if\s+__name__\s*==.*|for\s+\w+\s+in\s+.*):\s*$", r"\bself\.\w+"),
    run=lambda tools, source: [os.path.abspath(sys.executable), "-I", source], threads=64,
    # numpy's OpenBLAS starts a thread per core at import: one, as the sandbox's Python children have
    env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
)  # fmt: skip
