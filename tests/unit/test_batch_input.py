import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codeuf.errors import InputError
from codeuf.llm.batch.files import output_line, read_batch
from codeuf.llm.types import LLMError, LLMResult


def line(custom_id: str = "a", **body: object) -> dict:
    body = {"messages": [{"role": "user", "content": "hi"}], **body}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def write(tmp_path: Path, *lines: object, raw: bytes | None = None) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_bytes(raw if raw is not None else "".join(json.dumps(x) + "\n" for x in lines).encode())
    return path


def test_reads_chat_and_completion_lines(tmp_path) -> None:
    schema = {"type": "object", "properties": {"r": {"enum": ["1", "2"]}}}
    path = write(
        tmp_path,
        line("a", max_tokens=5, temperature=0, stop="\n", seed=3, logprobs=True, top_logprobs=2),
        line("b", response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}),
        {"custom_id": "c", "method": "POST", "url": "/v1/completions", "body": {"prompt": "def f(", "max_tokens": 9}},
        line("d", messages=[{"role": "developer", "content": [{"type": "text", "text": "sys"}]}]),
    )
    items = read_batch(path)
    a, b, c, d = (request for _, _, request in items)
    assert (a.max_tokens, a.temperature, a.stop, a.seed, a.logprobs) == (5, 0.0, ["\n"], 3, 2)
    assert b.json_schema == schema and b.temperature == 1.0
    assert c.prompt == "def f(" and c.max_tokens == 9
    assert d.messages[0].role == "system" and d.messages[0].content == "sys"


@pytest.mark.parametrize(
    ("content", "where", "field"),
    [
        (b'{"custom_id": "a"\n', ":1:", None),
        (json.dumps(line(max_tokens="5")).encode(), ":1:", "body.max_tokens"),
        (json.dumps(line(temperature=3)).encode(), ":1:", "body.temperature"),
        (json.dumps(line(messages=[])).encode(), ":1:", "body.messages"),
        (json.dumps(line(messages=[{"role": "robot", "content": "x"}])).encode(), ":1:", "body.messages.0.role"),
        (json.dumps(line(frequency_penalty=1)).encode(), ":1:", "body.frequency_penalty"),
        (json.dumps({**line(), "url": "/v1/embeddings"}).encode(), ":1:", "url"),
        (json.dumps({"method": "POST", "url": "/v1/chat/completions", "body": {}}).encode(), ":1:", "custom_id"),
        (json.dumps(line()).encode() + b"\n" + json.dumps(line()).encode(), ":2:", "custom_id"),
        (json.dumps(line()).encode() + b"\n\xff\xfe\n", ":2:", None),
        (json.dumps(line(response_format={"type": "json_schema"})).encode(), ":1:", "body"),
    ],
)
def test_bad_lines_name_file_line_and_field(tmp_path, content: bytes, where: str, field: str | None) -> None:
    path = write(tmp_path, raw=content)
    with pytest.raises(InputError) as info:
        read_batch(path)
    message = str(info.value)
    assert str(path) + where in message and "\n" not in message
    if field:
        assert f"field '{field}'" in message


def test_empty_file(tmp_path) -> None:
    with pytest.raises(InputError, match="empty"):
        read_batch(write(tmp_path, raw=b"\n  \n"))


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_give_requests_or_one_input_error(tmp_path, data: bytes) -> None:
    path = write(tmp_path, raw=data)
    try:
        read_batch(path)
    except InputError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
        max_leaves=8,
    )
)
def test_any_json_body_gives_a_request_or_one_input_error(tmp_path_factory, body: object) -> None:
    path = tmp_path_factory.mktemp("b") / "in.jsonl"
    path.write_text(json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": body}))
    try:
        read_batch(path)
    except InputError as exc:
        assert "\n" not in str(exc)


def test_output_lines_have_the_batch_shape() -> None:
    ok = output_line("a", "/v1/chat/completions", "v1:k", "m", LLMResult(text="hi", finish_reason="stop"))
    assert ok["custom_id"] == "a" and ok["error"] is None and ok["response"]["status_code"] == 200
    assert ok["response"]["body"]["choices"][0]["message"] == {"role": "assistant", "content": "hi"}
    failed = output_line(
        "a", "/v1/chat/completions", "v1:k", "m", LLMResult(error=LLMError(kind="server", message="x", status_code=503))
    )
    assert failed["error"] == {"code": "server", "message": "x"} and failed["response"]["status_code"] == 503
    assert failed["id"] == ok["id"]  # stable: derived from the request, not from the outcome
