"""The stages of dataset construction: instructions -> tests -> generate -> execute -> annotate -> binarize.

Each stage is a plain function over records; `codeuf.stages.pipeline.run_pipeline` chains them. `tests`
(codeuf.stages.synthesize) and `execute` run only where instructions have, or get, tests.
"""

from codeuf.stages.annotate import annotate_responses
from codeuf.stages.binarize import binarize_feedback
from codeuf.stages.generate import generate_responses
from codeuf.stages.instructions import build_instruction_pool
from codeuf.stages.pipeline import run_pipeline

__all__ = [
    "annotate_responses",
    "binarize_feedback",
    "build_instruction_pool",
    "generate_responses",
    "run_pipeline",
]
