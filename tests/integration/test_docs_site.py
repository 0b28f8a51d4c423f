"""The docs site builds in strict mode (a broken link or anchor, or a snippet whose file is gone, fails), and
its worked examples are the tested code: the extending page includes the example plugin's source."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def test_the_site_builds_strict_with_the_plugin_source_included(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists() and shutil.which("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install 'codeuf[docs]')")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    site = tmp_path / "site"
    done = subprocess.run([str(mkdocs if mkdocs.exists() else "mkdocs"), "build", "--strict", "--site-dir", str(site)],
                          cwd=REPO, capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    for page in ("index.html", "tutorial/index.html", "api/index.html", "reference/cli/index.html",
                 "extending/index.html", "results/index.html", "guide/own-data/index.html"):  # fmt: skip
        assert (site / page).is_file(), page
    extending = (site / "extending" / "index.html").read_text()
    plugin = (REPO / "tests" / "plugins" / "codeuf-example-plugin" / "codeuf_example_plugin.py").read_text()
    assert "class EchoBackend" in plugin and "EchoBackend" in extending and "dpo-hinge" in extending
    own_data = (site / "guide" / "own-data" / "index.html").read_text()
    assert "models_per_instruction" in own_data  # the starter config, included from the file codeuf init writes
