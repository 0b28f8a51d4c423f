import json
from pathlib import Path

import pytest

from codeuf.config import default_config, load_config, with_overrides
from codeuf.data.schema import FeedbackRecord, GenerationRecord
from codeuf.data.sources import BUILTIN_INSTRUCTIONS, load_instructions, load_records
from codeuf.errors import InputError
from codeuf.preferences import get_preference
from codeuf.prompts import render
from codeuf.stages.instructions import has_cjk

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "data" / "codeultrafeedback_tiny.jsonl"


def test_builtin_sample_is_large_diverse_and_clean() -> None:
    rows = load_instructions(None)
    texts = [r.text for r in rows]
    assert len(rows) >= 50 and len(set(texts)) == len(texts) and not any(has_cjk(t) for t in texts)
    for language in ("Python", "JavaScript", "SQL", "Rust", "Go", "Java", "C++", "Bash", "TypeScript", "Haskell"):
        assert any(language in t for t in texts), language
    assert BUILTIN_INSTRUCTIONS.is_file()


def test_local_formats_load(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"prompt": "a"}, {"prompt": "b"}]
    (tmp_path / "x.json").write_text(json.dumps(rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "x.parquet")
    for name in ("x.json", "x.parquet"):
        assert [r.text for r in load_instructions(tmp_path / name, column="prompt")] == ["a", "b"]


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        (b'{"instruction": "a"}\n{"text": "b"}\n', ":2: field 'instruction': missing column"),
        (b'{"instruction": 5}\n', ":1: field 'instruction': expected a string"),
        (b"", "empty"),
        (b'{"instruction": "a"}\n\xff\xfe\n', ":2: not valid UTF-8"),
        (b'{"instruction": "a"\n', ":1: not valid JSON"),
        (b"[1, 2]\n", ":1: expected a JSON object"),
    ],
)
def test_bad_sources_give_one_line(tmp_path: Path, content: bytes, expect: str) -> None:
    path = tmp_path / "src.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        load_instructions(path)
    assert expect in str(info.value) and "\n" not in str(info.value) and str(path) in str(info.value)


def test_missing_source_and_unsupported_type(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_instructions(tmp_path / "nope.jsonl")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(InputError, match="unsupported file type"):
        load_instructions(tmp_path / "x.txt")


def test_released_schema_loads_as_records() -> None:
    records = load_records(TINY, FeedbackRecord)
    assert [r.preference for r in records] == ["readability", "explanation", "complexity"]
    assert records[0].annotations[2].rating == "N/A" and records[0].id
    assert len(load_records(TINY, GenerationRecord)) == 3


def test_released_schema_errors_name_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    lines = TINY.read_text().splitlines()
    broken = json.loads(lines[1])
    broken["responses"][0].pop("response")
    bad.write_text(lines[0] + "\n" + json.dumps(broken) + "\n")
    with pytest.raises(InputError) as info:
        load_records(bad, GenerationRecord)
    assert ":2: field 'responses.0.response'" in str(info.value)


def test_paper_config_loads() -> None:
    config = load_config(REPO / "configs" / "paper.yaml")
    assert len(config.pool) == 14 and config.n == 10000 and config.judges[0].temperature == 0.0
    assert config.source == "ise-uiuc/Magicoder-Evol-Instruct-110K" and config.ties == "keep"


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("n: 5\nfoo: 1\n", "field 'foo': Extra inputs are not permitted"),
        ("n: many\n", "field 'n'"),
        ("pool: {a: {spec: 'openai:x'}}\n", "field 'pool'"),
        ("n: [\n", "not valid YAML"),
        ("- 1\n", "expected a mapping"),
    ],
)
def test_bad_configs_give_one_line(tmp_path: Path, text: str, expect: str) -> None:
    path = tmp_path / "c.yaml"
    base = "judges: ['llamacpp:default']\npool: {a: {spec: 'openai:x'}, b: {spec: 'openai:y'}}\n"
    path.write_text(text if text.startswith(("- ", "n: [")) or "pool" in text else base + text)
    with pytest.raises(InputError) as info:
        load_config(path)
    assert expect in str(info.value) and "\n" not in str(info.value)


def test_overrides_are_validated() -> None:
    assert with_overrides(default_config(), n=3).n == 3
    with pytest.raises(InputError, match="ties"):
        with_overrides(default_config(), ties="maybe")
    with pytest.raises(InputError, match="exceeds the pool"):
        with_overrides(default_config(), models_per_instruction=9)


def test_prompt_templates_render_and_can_be_overridden(tmp_path: Path) -> None:
    context = {"preference": get_preference("style"), "instruction": "Sort.", "responses": ["A", "B"]}
    text = render("annotate.j2", None, **context)
    assert "## Response 2\nB" in text and '"response_1", "response_2"' in text and "idiom" in text
    (tmp_path / "annotate.j2").write_text("custom {{ instruction }} {{ responses|length }}")
    assert render("annotate.j2", tmp_path, **context) == "custom Sort. 2"
    with pytest.raises(InputError):
        render("annotate.j2", tmp_path / "missing", **context)


def test_shipped_judges_load_and_bad_judge_files_are_one_line(tmp_path: Path) -> None:
    from codeuf.judging import load_judges, shipped_judges

    assert shipped_judges() == ["claude-sonnet-4.5", "embedded", "embedded-logprobs", "gpt-4.1", "paper"]
    for name in shipped_judges():
        [judge] = load_judges(name)
        assert judge.name and judge.temperature == 0.0
    [paper] = load_judges("paper")
    assert (paper.spec, paper.method, paper.reference) == ("openai:gpt-3.5-turbo", "json", "gpt-4-turbo")
    assert load_judges("gpt-4.1")[0].method == "logprobs" and load_judges("claude-sonnet-4.5")[0].method == "json"
    several = tmp_path / "two.yaml"
    several.write_text("reference: gpt-3.5-turbo\njudges: [{spec: 'openai:a'}, {spec: 'openai:b', reference: c}]\n")
    assert [j.reference for j in load_judges(several)] == ["gpt-3.5-turbo", "c"]
    bad = tmp_path / "j.yaml"
    for text, where in (("judges: [{spec: 'openai:x', temprature: 0}]\n", r"j\.yaml:1: field 'judges\.0\.temprature'"),
                        ("spec: openai:x\nmethod: vibes\n", r"j\.yaml:2: field 'method': unknown method 'vibes'"),
                        ("spec: openai:x\nrationale_chars: -1\n", r"j\.yaml:2: field 'rationale_chars'")):  # fmt: skip
        bad.write_text(text)
        with pytest.raises(InputError, match=where):
            load_judges(bad)
    with pytest.raises(InputError, match="no shipped judge 'nope'"):
        load_judges("nope")


def test_init_writes_a_commented_config_that_loads_with_the_given_source_and_server(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from codeuf.config import load_config, write_starter_config
    from codeuf.errors import InputError

    path = tmp_path / "mine.yaml"
    source = str(tmp_path / "my data: v1.jsonl")  # a colon and a space stay one YAML string
    written = write_starter_config(path, source=source, server="http://10.0.0.7:8001/v1", model="qwen-coder")
    loaded = load_config(path)
    assert loaded == written and loaded.source == source
    assert {m.spec for m in loaded.pool.values()} == {"openai:qwen-coder@http://10.0.0.7:8001/v1"}
    assert [j.spec for j in loaded.judges] == ["openai:qwen-coder@http://10.0.0.7:8001/v1"]
    assert loaded.pool["code"].prefill == "```python\n" and loaded.pool["code"].stop == ["```"]
    text = path.read_text()
    assert text.count("\n# ") >= 10  # commented: every section says what its keys do
    with pytest.raises(InputError, match="already exists"):
        write_starter_config(path, source="x.jsonl", server="http://h/v1", model="m")
    assert load_config(path).source == source  # left as it was
    with pytest.raises(InputError, match=r"field 'pool\.chat\.spec'"):  # a bad URL is refused, and nothing written
        write_starter_config(tmp_path / "bad.yaml", source="x.jsonl", server="not a url", model="m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.yaml"]
