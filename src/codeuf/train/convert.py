"""GGUF to a plain Hugging Face folder, once, cached.

transformers loads a GGUF (dequantizing it) but refuses to train or save a GGUF-quantized model.
`convert_gguf` loads it once and saves an ordinary folder (float32 safetensors, the tokenizer and a
chat template), which training, merging and the `hf:` backend then use like any other model. The
embedded default's GGUF has no chat template, so Gemma's goes into the folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from codeuf.errors import CodeufError, InputError
from codeuf.io import atomic_dir, cache_dir
from codeuf.llm.formats import GEMMA_CHAT_TEMPLATE

DEFAULT_NAMES = ("default", "llamacpp:default")


def models_dir() -> Path:
    return cache_dir() / "models"


def gguf_path(name: str) -> Path | None:
    """The GGUF file that `name` designates (the embedded default, `llamacpp:PATH` or a .gguf path), else None."""
    if name in DEFAULT_NAMES:
        from codeuf.llm.llamacpp import default_model_path

        return default_model_path()
    name = name.removeprefix("llamacpp:")
    if name.endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise InputError("no GGUF file there", path=path)
        return path.resolve()
    return None


def resolve_trainable(name: str, chat_template: str | None = None) -> str:
    """A model that transformers can train: a GGUF is converted (cached); a folder or hub id is returned as is."""
    gguf = gguf_path(name)
    if gguf is None:
        return name.removeprefix("hf:")
    return str(convert_gguf(gguf, chat_template=chat_template))


def _key(gguf: Path, chat_template: str | None) -> str:
    stat = gguf.stat()
    text = json.dumps([str(gguf), stat.st_size, stat.st_mtime_ns, chat_template, 1])
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _drop_gguf_quantizer(model) -> None:  # type: ignore[no-untyped-def]
    """Forget that the model came from a GGUF. Without GGUF matmul kernels transformers dequantizes
    every weight to plain tensors, so this is only the bookkeeping that blocks saving and training."""
    import torch

    odd = [n for n, m in model.named_modules() if type(m).__module__.startswith("transformers.integrations.gguf")]
    if odd or any(p.dtype not in (torch.float32, torch.float16, torch.bfloat16) for p in model.parameters()):
        raise CodeufError("the GGUF weights were kept in quantized blocks; uninstall `kernels` to convert")
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def save_folder(model, tokenizer, out: Path, marker: dict | None = None) -> Path:  # type: ignore[no-untyped-def]
    """Save a model and its tokenizer as a folder that appears whole or not at all (built beside, renamed)."""
    with atomic_dir(out) as work:
        model.save_pretrained(work)
        tokenizer.save_pretrained(work)
        if marker is not None:
            (work / ".codeuf-complete").write_text(json.dumps(marker) + "\n")
    return out


def convert_gguf(gguf: str | Path, out: str | Path | None = None, *, chat_template: str | None = None) -> Path:
    """Save the GGUF as a plain Hugging Face folder at `out` (default: the models cache) and return it.

    Done once: an existing complete folder is reused. The folder appears whole or not at all (built
    beside its place, then renamed). The chat template is `chat_template`, else the GGUF's, else Gemma's
    for a Gemma model."""
    gguf = Path(gguf).expanduser().resolve()
    if not gguf.is_file():
        raise InputError("no GGUF file there", path=gguf)
    target = Path(out) if out is not None else models_dir() / f"{gguf.stem}-{_key(gguf, chat_template)}"
    if (target / "config.json").is_file() and (target / ".codeuf-complete").is_file():
        return target
    try:
        import torch
        import transformers
    except ModuleNotFoundError as exc:
        from codeuf.errors import MissingDependencyError

        raise MissingDependencyError("transformers and torch", "hf") from exc

    try:
        kwargs = {"gguf_file": gguf.name}
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
        model = transformers.AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kwargs)
        _drop_gguf_quantizer(model)
        template = chat_template or getattr(tokenizer, "chat_template", None)
        if not template and "gemma" in model.config.model_type:
            template = GEMMA_CHAT_TEMPLATE
        if template:
            tokenizer.chat_template = template
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        save_folder(model, tokenizer, target, marker={"source": str(gguf)})
    except CodeufError:
        raise
    except Exception as exc:
        raise CodeufError(f"cannot convert {gguf}: {type(exc).__name__}: {exc}") from None
    return target
