"""MBPP+ (EvalPlus, v0.2.0): 378 problems, MBPP's tests plus 35x more inputs."""

from __future__ import annotations

from codeuf.evals.tasks.evalplus import EvalPlusTask


class MbppPlus(EvalPlusTask):
    name = "mbpp+"
    release = (
        "MBPP_OVERRIDE_PATH",
        "https://github.com/evalplus/mbppplus_release/releases/download/v0.2.0/MbppPlus.jsonl.gz",
    )
