import pytest

from codeuf.errors import InputError
from codeuf.llm.formats import FORMATS, get_format, merge_system
from codeuf.llm.spec import ModelSpec, parse_spec
from codeuf.llm.types import Message, parse_json_output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("llamacpp:default", ModelSpec("llamacpp", "default")),
        ("llamacpp:/m/x.gguf", ModelSpec("llamacpp", "/m/x.gguf")),
        ("openai:gpt-4o-mini", ModelSpec("openai", "gpt-4o-mini")),
        ("openai:cl-7b@http://127.0.0.1:8000/v1", ModelSpec("openai", "cl-7b", ("http://127.0.0.1:8000/v1",))),
        ("openai:m@http://a:1/v1/, http://b:2/v1", ModelSpec("openai", "m", ("http://a:1/v1", "http://b:2/v1"))),
        ("anthropic:claude-3-haiku-20240307", ModelSpec("anthropic", "claude-3-haiku-20240307")),
        ("hf:/models/gemma", ModelSpec("hf", "/models/gemma")),
    ],
)
def test_parse_spec(text: str, expected: ModelSpec) -> None:
    assert parse_spec(text) == expected
    assert parse_spec(str(expected)) == expected


@pytest.mark.parametrize(
    "text", ["", "gpt-4", "foo:bar", "openai:", "openai:m@", "openai:m@ftp://x", "openai:@http://a"]
)
def test_bad_spec_is_one_line_input_error(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_spec(text)
    assert "\n" not in str(info.value)


def test_system_prompt_is_folded_for_formats_without_a_system_turn() -> None:
    messages = [Message(role="system", content="Be brief."), Message(role="user", content="Sort a list.")]
    assert merge_system(messages) == [Message(role="user", content="Be brief.\n\nSort a list.")]
    gemma = get_format("gemma").render(messages)
    assert gemma == "<start_of_turn>user\nBe brief.\n\nSort a list.<end_of_turn>\n<start_of_turn>model\n"
    chatml = get_format("chatml").render(messages)
    assert chatml.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nSort a list.")
    assert chatml.endswith("<|im_start|>assistant\n")
    llama2 = get_format("llama2").render(messages)
    assert llama2 == "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nSort a list. [/INST]"
    assert (
        get_format("alpaca").render(messages).endswith("### Instruction:\nBe brief.\n\nSort a list.\n\n### Response:\n")
    )


def test_every_format_renders_a_conversation() -> None:
    messages = [
        Message(role="system", content="S"),
        Message(role="user", content="U1"),
        Message(role="assistant", content="A1"),
        Message(role="user", content="U2"),
    ]
    for fmt in FORMATS.values():
        text = fmt.render(messages)
        assert text.index("U1") < text.index("A1") < text.index("U2"), fmt.name


def test_unknown_format() -> None:
    with pytest.raises(InputError, match="unknown prompt format"):
        get_format("nope")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"rating": "4"}', {"rating": "4"}),
        ('Sure!\n```json\n{"rating": "2"}\n```\nDone.', {"rating": "2"}),
        ('The answer is {"rating": "5", "why": "ok"} as asked', {"rating": "5", "why": "ok"}),
    ],
)
def test_tolerant_json_parsing(text: str, value: object) -> None:
    assert parse_json_output(text) == (value, None)


def test_unparseable_json_gives_a_reason_not_a_value() -> None:
    value, reason = parse_json_output('{"rating": "4", "rationale": "cut sho')
    assert value is None and reason is not None and "not valid JSON" in reason
