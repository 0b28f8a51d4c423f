"""HumanEval+ (EvalPlus, v0.1.10): 164 problems, HumanEval's tests plus 80x more inputs."""

from __future__ import annotations

from codeuf.evals.tasks.evalplus import EvalPlusTask


class HumanEvalPlus(EvalPlusTask):
    name = "humaneval+"
    release = (
        "HUMANEVAL_OVERRIDE_PATH",
        "https://github.com/evalplus/humanevalplus_release/releases/download/v0.1.10/HumanEvalPlus.jsonl.gz",
    )
