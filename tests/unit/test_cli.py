import subprocess
import sys

import pytest

from codeuf import __version__
from tests.conftest import CODEUF

HEAVY = [
    "llama_cpp",
    "openai",
    "anthropic",
    "torch",
    "transformers",
    "datasets",
    "numpy",
    "httpx",
    "pydantic",
    "ray",
    "trl",
    "aiohttp",
]


def test_help_imports_no_heavy_module() -> None:
    code = (
        "import sys\nfrom codeuf.cli import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('loaded:', [m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "loaded: []"


def test_version() -> None:
    out = subprocess.run([*CODEUF, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"codeuf {__version__}"


def test_llm_batch_help_lists_the_options() -> None:
    out = subprocess.run([*CODEUF, "llm", "batch", "--help"], capture_output=True, text=True, check=True).stdout
    for option in ("--model", "--in", "--out", "--concurrency", "--cache", "--no-cache", "--refresh", "--timeout"):
        assert option in out


def test_the_recipe_option_names_every_recipe_that_ships() -> None:
    from pathlib import Path

    import codeuf

    shipped = sorted(p.stem for p in (Path(codeuf.__file__).parent / "train" / "recipes").glob("*.yaml"))
    done = subprocess.run([*CODEUF, "train", "dpo", "--help"], capture_output=True, text=True, timeout=60,
                          env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0 and len(shipped) == 8
    import re

    text = re.sub(r"-\s+", "-", " ".join(done.stdout.split()))  # the help wraps lines, within names too
    assert all(name in text for name in shipped), text


@pytest.mark.integration  # three processes that import llama.cpp: seconds, not milliseconds
def test_serve_fills_in_the_path_and_the_chat_format(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")
    model = tmp_path / "coder-7b.Q4_K_M.gguf"
    model.write_bytes(b"GGUF")
    out = subprocess.run([*CODEUF, "serve", str(model), "--port", "9001", "--dry-run"], capture_output=True,
                         text=True, check=True).stdout.split()  # fmt: skip
    assert out[1:3] == ["-m", "llama_cpp.server"] and out[out.index("--model") + 1] == str(model)
    assert out[out.index("--model_alias") + 1] == "coder-7b.Q4_K_M" and out[out.index("--port") + 1] == "9001"
    assert "--chat_format" not in out  # a GGUF's own chat template is used
    named = subprocess.run([*CODEUF, "serve", str(model), "--chat-format", "chatml", "--dry-run"],
                           capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert named[named.index("--chat_format") + 1] == "chatml"
    missing = subprocess.run([*CODEUF, "serve", str(tmp_path / "none.gguf")], capture_output=True, text=True)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no GGUF file at" in missing.stderr
