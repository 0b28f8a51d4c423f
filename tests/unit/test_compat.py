"""The tree's old import paths keep working for one release, with a DeprecationWarning, and give the very
modules at the new paths (the same classes)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from codeuf._compat import MOVED, new_name

CODE = """
import warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    from codeuf.bench.tasks.stdio import StdioTask as Old
    from codeuf.executor import sandbox_pool as old_pool
    from codeuf.llm_batch import batch_command as old_command
    from codeuf.llm.batchapi import BatchSettings as OldSettings
from codeuf.evals.tasks.stdio import StdioTask
from codeuf.cluster import sandbox_pool
from codeuf.llm.batch.command import batch_command
from codeuf.llm.batch.providers import BatchSettings
import codeuf.evals.tasks.stdio as module
assert Old is StdioTask and old_pool is sandbox_pool and old_command is batch_command and OldSettings is BatchSettings
assert module.__spec__.name == "codeuf.evals.tasks.stdio"
messages = [str(w.message) for w in caught if w.category is DeprecationWarning]
print(len(messages)); print(messages[0])
"""


def test_old_paths_warn_and_give_the_same_modules() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "6"  # codeuf.bench, .tasks, .tasks.stdio, executor, llm_batch, llm.batchapi
    assert out[1] == "codeuf.bench is now codeuf.evals; the old name will be removed in codeuf 0.3"


@pytest.mark.parametrize(("old", "new"), [("codeuf.bench.codal", "codeuf.evals.codal"), ("codeuf.benchmarks", None),
                                          ("codeuf.executor", "codeuf.cluster"), ("codeuf.evals", None)])  # fmt: skip
def test_new_name(old: str, new: str | None) -> None:
    assert new_name(old) == new and all(new_name(k) for k in MOVED)
