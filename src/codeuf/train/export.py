"""`codeuf export`: merge a LoRA adapter into its base and write a GGUF for llama.cpp.

The GGUF is written by llama.cpp's own converter (`convert_hf_to_gguf.py` with its `gguf-py`),
taken from the llama-cpp-python source distribution of the installed version: `fetch_converter`
downloads that sdist from the package index once (`make` does it at install) and keeps only
the converter, under `<venv>/share/codeuf/`. `$CODEUF_GGUF_CONVERTER` may name another
llama.cpp checkout instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from codeuf.errors import CodeufError, InputError, MissingDependencyError
from codeuf.io import atomic_dir, atomic_file
from codeuf.results import Exported

OUTTYPES = ("f32", "f16", "bf16", "q8_0")
_MEMBERS = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")


def _llama_cpp_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama_cpp_python")
    except PackageNotFoundError as exc:
        raise MissingDependencyError("llama-cpp-python", "llamacpp") from exc


def converter_dir() -> Path:
    override = os.environ.get("CODEUF_GGUF_CONVERTER")
    if override:
        return Path(override)
    return Path(sys.prefix) / "share" / "codeuf" / f"llama.cpp-{_llama_cpp_version()}"


def fetch_converter(quiet: bool = False) -> Path:
    """llama.cpp's converter for the installed llama-cpp-python version (downloaded once)."""
    target = converter_dir()
    if (target / "convert_hf_to_gguf.py").is_file():
        return target
    version = _llama_cpp_version()
    with tempfile.TemporaryDirectory(prefix="codeuf-sdist-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   f"llama-cpp-python=={version}", "-d", tmp]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        archives = list(Path(tmp).glob("*.tar.gz"))
        if done.returncode != 0 or not archives:
            last = (done.stderr.strip().splitlines() or ["no archive"])[-1]
            raise CodeufError(f"cannot download the llama-cpp-python {version} source for its GGUF converter: {last}")
        with atomic_dir(target) as work, tarfile.open(archives[0]) as archive:
            prefix = f"{archive.getnames()[0].split('/')[0]}/vendor/llama.cpp/"
            members = [m for m in archive.getmembers() if m.name.startswith(prefix)
                       and m.name[len(prefix):].startswith(_MEMBERS) and (m.isfile() or m.isdir())]  # fmt: skip
            for member in members:
                member.name = member.name[len(prefix) :]
            archive.extractall(work, members=members, filter="data")
    if not quiet:
        print(f"GGUF converter: {target}")
    return target


def merge_adapter(adapter: str | Path, out: str | Path) -> Path:
    """Base model + LoRA adapter, merged, saved as a plain folder with the adapter's tokenizer. The adapter's
    config is read (and refused in one line) before torch is imported."""
    from codeuf.io import read_json_file

    adapter, out = Path(adapter), Path(out)
    config = read_json_file(adapter / "adapter_config.json")
    base = config.get("base_model_name_or_path") if isinstance(config, dict) else None
    if not isinstance(base, str) or not base:
        raise InputError("no base_model_name_or_path", path=adapter / "adapter_config.json")
    import torch
    import transformers
    from peft import PeftModel

    model = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    tokenizer_source = adapter if (adapter / "tokenizer_config.json").is_file() else Path(base)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tokenizer_source))
    from codeuf.train.convert import save_folder

    return save_folder(model, tokenizer, out)


def to_gguf(folder: str | Path, out: str | Path, outtype: str = "f16") -> Path:
    """A Hugging Face model folder as one GGUF file, written whole or not at all."""
    if outtype not in OUTTYPES:
        raise InputError(f"unknown GGUF type {outtype!r} (use {', '.join(OUTTYPES)})", field="outtype")
    converter = fetch_converter(quiet=True)
    out = Path(out)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(converter / "gguf-py"), str(converter)])}
    with atomic_file(out) as tmp:
        command = [sys.executable, str(converter / "convert_hf_to_gguf.py"), str(folder), "--outfile", str(tmp),
                   "--outtype", outtype]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0 or not tmp.stat().st_size:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise CodeufError(f"llama.cpp's converter failed on {folder}: {last}")
    return out


def export(model: str | Path, out: str | Path, outtype: str = "f16", merged: str | Path | None = None) -> Exported:
    """An adapter folder (merged first) or a full model folder, as a GGUF at `out`; the merged
    Hugging Face folder is kept at `merged` (default: beside the GGUF) for the `hf:` backend."""
    model = Path(model)
    if not model.is_dir():
        raise InputError("not a model or adapter folder", path=model)
    out = Path(out)
    folder = model
    if (model / "adapter_config.json").is_file():
        folder = merge_adapter(model, merged or out.with_suffix("").with_name(out.stem + "-hf"))
    elif not (model / "config.json").is_file():
        raise InputError("neither an adapter (adapter_config.json) nor a model (config.json)", path=model)
    to_gguf(folder, out, outtype)
    return Exported(gguf=out, hf=folder, bytes=out.stat().st_size)
