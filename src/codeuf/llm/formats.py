"""Prompt formats: turn chat messages into one raw prompt for models served without a chat API.

The embedded Gemma GGUF has no chat template, so it needs Gemma's; the paper's pool also had
base and older instruct models with per-family formats (CodeLlama `[INST]`, WizardCoder and
DeepSeek-Coder `### Instruction/### Response`, Llama-2-chat `<<SYS>>`, ChatML). A format that
has no system turn gets the system prompt put before the first user message.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from codeuf.errors import InputError
from codeuf.llm.types import Message


@dataclass(frozen=True)
class PromptFormat:
    name: str
    template: str
    stop: tuple[str, ...]
    native_system: bool = False

    def render(self, messages: list[Message]) -> str:
        if not self.native_system:
            messages = merge_system(messages)
        return _compile(self.template).render(messages=[m.model_dump() for m in messages], bos_token="",
                                              add_generation_prompt=True)  # fmt: skip


def cut_at_stop(text: str, stops: list[str]) -> str | None:
    """The text before the first stop string in it, or None when it holds none (in-process backends cut
    their own output; HTTP servers do it themselves)."""
    hit = min((text.find(s) for s in stops if s and s in text), default=-1)
    return text[:hit] if hit >= 0 else None


def merge_system(messages: list[Message]) -> list[Message]:
    """Fold system messages into the first user message, for formats without a system turn."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    rest = [m for m in messages if m.role != "system"]
    if not system:
        return rest
    if rest and rest[0].role == "user":
        return [Message(role="user", content=f"{system}\n\n{rest[0].content}"), *rest[1:]]
    return [Message(role="user", content=system), *rest]


@cache
def _compile(template: str):  # type: ignore[no-untyped-def]
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True).from_string(
        template
    )


GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set prefix = messages[0]['content'] + '\n\n' -%}{%- set turns = messages[1:] -%}"
    "{%- else -%}{%- set prefix = '' -%}{%- set turns = messages -%}{%- endif -%}"
    "{%- for message in turns -%}"
    "{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else 'user') + '\n' }}"
    "{{ (prefix if loop.first and message['role'] == 'user' else '') + message['content'] + '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)
"""Gemma's turns, written as a Hugging Face chat template: the `gemma` prompt format renders it (without BOS,
which llama.cpp adds), and `codeuf convert` puts it in the folders it writes. A system message goes before the
first user turn."""

FORMATS: dict[str, PromptFormat] = {
    f.name: f
    for f in [
        PromptFormat("gemma", GEMMA_CHAT_TEMPLATE, stop=("<end_of_turn>", "<start_of_turn>")),
        PromptFormat(
            "chatml",
            "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
            "<|im_start|>assistant\n",
            stop=("<|im_end|>", "<|im_start|>"),
            native_system=True,
        ),
        PromptFormat(
            "llama2",
            "{% for m in messages %}{% if m.role == 'system' %}[INST] <<SYS>>\n{{ m.content }}\n<</SYS>>\n\n"
            "{% elif m.role == 'user' %}{% if loop.index0 == 0 or messages[loop.index0 - 1].role != 'system' %}"
            "[INST] {% endif %}{{ m.content }} [/INST]{% else %} {{ m.content }} </s>{% endif %}{% endfor %}",
            stop=("</s>", "[INST]"),
            native_system=True,
        ),
        PromptFormat(
            "codellama",
            "{% for m in messages %}{% if m.role == 'user' %}[INST] {{ m.content }} [/INST]"
            "{% else %} {{ m.content }} </s>{% endif %}{% endfor %}",
            stop=("</s>", "[INST]"),
        ),
        PromptFormat(
            "mistral",
            "{% for m in messages %}{% if m.role == 'user' %}[INST] {{ m.content }} [/INST]"
            "{% else %}{{ m.content }}</s>{% endif %}{% endfor %}",
            stop=("</s>", "[INST]"),
        ),
        PromptFormat(
            "alpaca",
            "Below is an instruction that describes a task. Write a response that appropriately completes "
            "the request.\n\n{% for m in messages %}{% if m.role == 'user' %}### Instruction:\n{{ m.content }}\n\n"
            "### Response:\n{% else %}{{ m.content }}\n\n{% endif %}{% endfor %}",
            stop=("### Instruction:",),
        ),
        PromptFormat(
            "deepseek-coder",
            "{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n{% elif m.role == 'user' %}"
            "### Instruction:\n{{ m.content }}\n### Response:\n{% else %}{{ m.content }}\n<|EOT|>\n{% endif %}"
            "{% endfor %}",
            stop=("<|EOT|>", "### Instruction:"),
            native_system=True,
        ),
        PromptFormat(
            "plain",
            "{% for m in messages %}{{ m.content }}\n\n{% endfor %}",
            stop=(),
        ),
    ]
}


def get_format(name: str) -> PromptFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise InputError(f"unknown prompt format {name!r} (known: {', '.join(FORMATS)})", field="format") from None
