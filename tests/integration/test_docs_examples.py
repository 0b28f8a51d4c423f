"""The Python examples of the docs run as they are: every ```python block of docs/api.md, in order, in one
process, in an empty folder (offline, on the embedded model)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, cli_env


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", page.read_text(), re.DOTALL | re.MULTILINE)


def test_api_page_examples_run(tmp_path: Path, gguf_path: str) -> None:
    blocks = python_blocks(REPO / "docs" / "api.md")
    assert len(blocks) == 3
    script = tmp_path / "examples.py"
    script.write_text("\n\n".join(blocks))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          env=cli_env(), timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "stdio (12 tasks, 1 sample each)" in done.stdout
    assert len((tmp_path / "runs" / "api-demo" / "feedback" / "train.jsonl").read_text().splitlines()) == 2
    assert (tmp_path / "runs" / "judge-eval" / "comparison.md").is_file()
