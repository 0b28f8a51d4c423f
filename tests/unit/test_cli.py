import subprocess
import sys

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
