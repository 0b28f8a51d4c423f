"""The viewer's data, without a browser: model output is escaped (a response is untrusted text), code is
highlighted, the judge-tests disagreement flag, and the JSON embedded in the page cannot close its script."""

from __future__ import annotations

from codeuf.report.viewer import _script_json, judge_tests_disagree, render_text


def test_model_output_is_escaped_in_prose_and_in_code() -> None:
    html = render_text("Hi <script>alert(1)</script>\n\n```python\nx = '<img src=x onerror=alert(1)>'\n```\n")
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and 'class="hl"' in html


def test_the_embedded_json_cannot_end_its_script_element() -> None:
    text = _script_json({"response": "</script><script>alert(1)</script><!--"})
    assert "</script>" not in text and "<!--" not in text


def test_judge_and_tests_disagree_when_a_failing_response_is_rated_above_a_passing_one() -> None:
    executions = {"a": ["passed", 3, 3, "python"], "b": ["failed", 1, 3, "python"], "c": ["not_executed", 0, 0, ""]}
    assert judge_tests_disagree({"a": 2.0, "b": 4.0, "c": 5.0}, executions)
    assert not judge_tests_disagree({"a": 4.0, "b": 2.0, "c": 5.0}, executions)
    assert not judge_tests_disagree({"a": None, "b": 4.0}, executions)  # N/A is no rating
